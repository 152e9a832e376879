"""Cross-origin rules against the running app (issue 11, findings 4, 5 and 9's headers).

A page on another origin (another port of the same host counts) must not read, upload or log
anyone out with their cookie, must not open the websocket, and must not log a victim into an
account of its choosing (log-in CSRF). Every response carries the security headers.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from importlib.metadata import version

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from bench.sio import SioClient
from chatapp.db import make_engine
from chatapp.services import accounts, conversations, media
from chatapp.storage.local import LocalStorage
from tests.e2e.conftest import AppServer, free_port
from tests.support.images import png

pytestmark = pytest.mark.e2e

PW = "correct horse battery"


def _foreign(server: AppServer) -> list[str]:
    """Origins that are not the app's: another port of the same host, another site, null."""
    return [f"http://127.0.0.1:{free_port()}", "https://evil.example", "null"]


def _user_with_session(engine: sa.Engine) -> tuple[int, str]:
    name = f"xo{secrets.token_hex(4)}"
    with Session(engine, expire_on_commit=False) as s:
        user = accounts.sign_up(session=s, username=name, email=f"{name}@x.example", password=PW)
        ticket = accounts.start_session(session=s, user_id=user.id)
        issued = accounts.activate_session(session=s, ticket=ticket)
        assert issued is not None
        s.commit()
    return user.id, issued.token


def _pending_ticket(engine: sa.Engine) -> str:
    """A ticket as an attacker would get one for their own account (log in, don't redeem)."""
    name = f"xa{secrets.token_hex(4)}"
    with Session(engine, expire_on_commit=False) as s:
        user = accounts.sign_up(session=s, username=name, email=f"{name}@x.example", password=PW)
        ticket = accounts.start_session(session=s, user_id=user.id)
        s.commit()
    return ticket


def _live(engine: sa.Engine, token: str) -> bool:
    with Session(engine) as s:
        return accounts.resolve_session(session=s, token=token) is not None


@pytest.fixture(scope="module")
def engine(app_server: AppServer):  # type: ignore[no-untyped-def]
    e = make_engine(app_server.database_url)
    yield e
    e.dispose()


def _cookie(token: str) -> dict[str, str]:
    return {"cookie": f"chatapp_session={token}"}


# Finding 4: CORS and the websocket -----------------------------------------------------------
def test_http_refuses_foreign_origins_and_never_reflects_them(
    app_server: AppServer, engine: sa.Engine
) -> None:
    uid, token = _user_with_session(engine)
    with Session(engine, expire_on_commit=False) as s:
        other, _ = _user_with_session(engine)
        conv = conversations.open_direct(session=s, user_id=uid, other_user_id=other)
        s.commit()
        # A private chat image of this user, stored where the server reads its media.
        m = media.store_upload(
            session=s,
            owner_id=uid,
            purpose="chat",
            data=png(),
            storage=LocalStorage(app_server.media_dir),
        )
        media.claim_for_message(session=s, media_id=m.id, sender_id=uid, conversation_id=conv)
        s.commit()
    own = app_server.url
    with httpx.Client(base_url=own, timeout=20) as http:
        # The owner's own page reads it.
        ok = http.get(f"/media/{m.id}/full", headers={**_cookie(token), "origin": own})
        assert ok.status_code == 200, ok.text
        for evil in _foreign(app_server):
            r = http.get(f"/media/{m.id}/full", headers={**_cookie(token), "origin": evil})
            assert r.status_code == 403, (evil, r.status_code)
            assert "access-control-allow-origin" not in r.headers
            assert r.content != ok.content
            # Preflight for an upload with credentials: no permission granted.
            pre = http.options(
                "/api/media?purpose=chat",
                headers={
                    "origin": evil,
                    "access-control-request-method": "POST",
                    "access-control-request-headers": "content-type",
                },
            )
            assert pre.headers.get("access-control-allow-origin") not in (evil, "*")
            assert pre.status_code >= 400
            # The upload itself, as a simple cross-site request, is refused and stores nothing.
            up = http.post(
                "/api/media?purpose=chat",
                content=png(),
                headers={**_cookie(token), "origin": evil, "content-type": "text/plain"},
            )
            assert up.status_code == 403
            assert "access-control-allow-origin" not in up.headers
            # Logging the user out from a foreign page is refused too.
            out = http.post("/auth/logout", headers={**_cookie(token), "origin": evil})
            assert out.status_code == 403
            assert _live(engine, token)
    with engine.connect() as c:
        uploads = c.execute(sa.text("SELECT COUNT(*) FROM media WHERE owner_id=:u"), {"u": uid})
        assert uploads.scalar() == 1


def _ws_connect(server: AppServer, origin: str, token: str) -> str:
    """Open the app's websocket with this Origin; returns "" when accepted, else why not."""

    async def attempt() -> str:
        client = SioClient(namespace="/_event", on_event=lambda *_: None)
        try:
            await client.connect(
                "127.0.0.1",
                server.port,
                path="/_event",
                query={"token": secrets.token_hex(8)},
                headers={**_cookie(token), "origin": origin},
                subprotocols=[version("reflex")],
            )
        except (ConnectionError, TimeoutError) as exc:
            return str(exc) or type(exc).__name__
        finally:
            client.close()
        return ""

    return asyncio.run(attempt())


def test_websocket_refuses_foreign_origins(app_server: AppServer, engine: sa.Engine) -> None:
    _, token = _user_with_session(engine)
    assert _ws_connect(app_server, app_server.url, token) == ""
    for evil in _foreign(app_server):
        why = _ws_connect(app_server, evil, token)
        assert why, f"websocket from {evil} was accepted"


# Finding 5: log-in CSRF ------------------------------------------------------------------------
def test_ticket_redemption_needs_json_from_the_same_origin(
    app_server: AppServer, engine: sa.Engine
) -> None:
    own = app_server.url
    with httpx.Client(base_url=own, timeout=20) as http:
        ticket = _pending_ticket(engine)
        body = json.dumps({"ticket": ticket})
        refused = [
            # A hostile page's form or no-cors fetch: text/plain, its own Origin.
            {"content-type": "text/plain", "origin": "https://evil.example"},
            {"content-type": "text/plain", "origin": f"http://127.0.0.1:{free_port()}"},
            # JSON from a foreign origin (would need CORS, which is refused anyway).
            {"content-type": "application/json", "origin": "https://evil.example"},
            # The right origin but not JSON.
            {"content-type": "text/plain", "origin": own},
            {"content-type": "application/x-www-form-urlencoded", "origin": own},
            # No Origin, and the browser says it came from another site.
            {"content-type": "application/json", "sec-fetch-site": "cross-site"},
            # No Origin and no Fetch metadata: not a browser request we can vouch for.
            {"content-type": "application/json"},
        ]
        for headers in refused:
            r = http.post("/auth/session", content=body, headers=headers)
            assert r.status_code in (403, 415), (headers, r.status_code, r.text)
            assert "set-cookie" not in r.headers, headers
        # The same ticket still works for the browser that asked for it: same origin, JSON.
        ok = http.post(
            "/auth/session",
            content=body,
            headers={
                "content-type": "application/json",
                "origin": own,
                "sec-fetch-site": "same-origin",
            },
        )
        assert ok.status_code == 200, ok.text
        assert "chatapp_session=" in ok.headers.get("set-cookie", "")


def test_logout_needs_the_same_origin(app_server: AppServer, engine: sa.Engine) -> None:
    _, token = _user_with_session(engine)
    with httpx.Client(base_url=app_server.url, timeout=20) as http:
        for headers in ({"sec-fetch-site": "cross-site"}, {}):
            r = http.post("/auth/logout", headers={**_cookie(token), **headers})
            assert r.status_code == 403, headers
            assert _live(engine, token)
        r = http.post("/auth/logout", headers={**_cookie(token), "sec-fetch-site": "same-origin"})
        assert r.status_code == 200
        assert not _live(engine, token)


def test_upload_needs_an_image_body_from_the_same_origin(
    app_server: AppServer, engine: sa.Engine
) -> None:
    uid, token = _user_with_session(engine)
    own = app_server.url
    with httpx.Client(base_url=own, timeout=20) as http:
        for headers in (
            {"content-type": "image/png"},  # no Origin, no Fetch metadata
            {"content-type": "image/png", "sec-fetch-site": "same-site"},
            {"content-type": "text/plain", "origin": own},  # a form could send this
        ):
            r = http.post(
                "/api/media?purpose=chat", content=png(), headers={**_cookie(token), **headers}
            )
            assert r.status_code in (403, 415), (headers, r.status_code)
        r = http.post(
            "/api/media?purpose=chat",
            content=png(),
            headers={**_cookie(token), "content-type": "image/png", "origin": own},
        )
        assert r.status_code == 200, r.text
    with engine.connect() as c:
        n = c.execute(sa.text("SELECT COUNT(*) FROM media WHERE owner_id=:u"), {"u": uid})
        assert n.scalar() == 1


# Finding 9: security headers on every response --------------------------------------------------
def test_security_headers_on_every_response(app_server: AppServer, engine: sa.Engine) -> None:
    _, token = _user_with_session(engine)
    with httpx.Client(base_url=app_server.url, timeout=20) as http:
        page = http.get("/login/")
        asset = (
            next(
                part.split('"')[0]
                for part in page.text.split('src="')[1:]
                if part.startswith("/assets/")
            )
            if 'src="/assets/' in page.text
            else "/favicon.ico"
        )
        responses = {
            "page": page,
            "root": http.get("/"),
            "unknown": http.get("/no/such/page"),
            "asset": http.get(asset),
            "ping": http.get("/ping"),
            "media 404": http.get("/media/nope/thumb", headers=_cookie(token)),
            "media anonymous": http.get("/media/nope/thumb"),
            "auth refused": http.post("/auth/session", content="{}"),
            "upload refused": http.post("/api/media?purpose=chat", content=b"x"),
            "cross-origin refused": http.get("/ping", headers={"origin": "https://evil.example"}),
            "reflex upload": http.post("/_upload", content=b""),
        }
    for what, r in responses.items():
        h = r.headers
        csp = h.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp, (what, csp)
        assert "default-src 'self'" in csp, (what, csp)
        assert "object-src 'none'" in csp, (what, csp)
        assert h.get("x-content-type-options") == "nosniff", what
        assert h.get("referrer-policy") == "same-origin", what
        assert h.get("x-frame-options") == "DENY", what
        # Development mode (this server): no HSTS, it would pin localhost to https.
        assert "strict-transport-security" not in h, what
    # Pages run no inline script the policy does not name, and never 'unsafe-inline' scripts.
    script_src = next(
        d
        for d in responses["page"].headers["content-security-policy"].split(";")
        if d.strip().startswith("script-src")
    )
    assert "'unsafe-inline'" not in script_src
    assert "'sha256-" in script_src
