"""The guard's rules in isolation (the running app is covered by tests/e2e/test_cross_origin.py):
HSTS only in production, an explicit ALLOWED_ORIGINS list, inline-script hashes."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from chatapp.settings import Settings
from chatapp.web import guard

SECRET = "s" * 48


def _client(monkeypatch: pytest.MonkeyPatch, **settings: str) -> TestClient:
    s = Settings(jwt_secret=SECRET, **settings)  # type: ignore[arg-type]
    monkeypatch.setattr(guard, "get_settings", lambda: s)
    guard._configured_origins.cache_clear()
    monkeypatch.setattr(guard, "_image_sources", lambda: ())

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hi")

    app = Starlette(routes=[Route("/", hello, methods=["GET", "POST"])])
    return TestClient(guard.Guard(app), base_url="http://chat.test")


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    guard._configured_origins.cache_clear()
    yield
    guard._configured_origins.cache_clear()


def test_hsts_only_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    dev = _client(monkeypatch).get("/")
    assert "strict-transport-security" not in dev.headers
    assert "upgrade-insecure-requests" not in dev.headers["content-security-policy"]
    prod = _client(monkeypatch, app_env="production").get("/")
    assert prod.headers["strict-transport-security"].startswith("max-age=")
    assert "upgrade-insecure-requests" in prod.headers["content-security-policy"]


def test_default_allows_only_the_served_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    c = _client(monkeypatch)
    assert c.get("/", headers={"origin": "http://chat.test"}).status_code == 200
    for evil in ("http://chat.test:8080", "https://chat.test", "http://evil.test", "null"):
        r = c.get("/", headers={"origin": evil})
        assert r.status_code == 403, evil
        assert r.headers["x-frame-options"] == "DENY"  # refusals carry the headers too


def test_explicit_allowed_origins_replace_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    c = _client(monkeypatch, allowed_origins="https://chat.example.com, https://m.example.com/")
    for ok in ("https://chat.example.com", "https://M.example.com"):
        assert c.get("/", headers={"origin": ok}).status_code == 200, ok
    # The Host the request happened to use is no longer enough.
    assert c.get("/", headers={"origin": "http://chat.test"}).status_code == 403


def test_allowed_origins_setting_is_validated() -> None:
    with pytest.raises(ValueError, match="not an origin"):
        Settings(jwt_secret=SECRET, allowed_origins="chat.example.com/path")


def test_same_origin_needs_origin_or_fetch_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    _client(monkeypatch)

    def scope(*headers: tuple[bytes, bytes]) -> dict[str, object]:
        return {"type": "http", "scheme": "http", "headers": [(b"host", b"chat.test"), *headers]}

    assert guard.same_origin(scope((b"origin", b"http://chat.test")))
    assert guard.same_origin(scope((b"sec-fetch-site", b"same-origin")))
    assert not guard.same_origin(scope((b"sec-fetch-site", b"same-site")))
    assert not guard.same_origin(scope((b"sec-fetch-site", b"none")))
    assert not guard.same_origin(scope())
    # Origin decides when both are present.
    assert not guard.same_origin(
        scope((b"origin", b"http://evil.test"), (b"sec-fetch-site", b"same-origin"))
    )


def test_inline_script_hashes_match_what_browsers_compute() -> None:
    body = "window.__x = 1;\n"
    html = (
        f'<html><script>{body}</script><script type="module" src="/m.js"></script>'
        '<script id="k">requestAnimationFrame(function(){})</script></html>'
    )
    hashes = guard.inline_script_hashes(html.encode())
    expected = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    assert f"'sha256-{expected}'" in hashes
    assert len(hashes) == 2  # the external module script is not hashed


def test_each_page_names_its_own_inline_scripts(monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    from starlette.responses import Response

    s = Settings(jwt_secret=SECRET)
    monkeypatch.setattr(guard, "get_settings", lambda: s)
    monkeypatch.setattr(guard, "_image_sources", lambda: ())
    page = b"<html><script>boot(1)</script></html>"

    async def plain(request: Request) -> Response:
        return Response(page, media_type="text/html")

    async def zipped(request: Request) -> Response:
        return Response(
            gzip.compress(page), media_type="text/html", headers={"content-encoding": "gzip"}
        )

    app = Starlette(routes=[Route("/plain", plain), Route("/zipped", zipped)])
    client = TestClient(guard.Guard(app))
    [expected] = guard.inline_script_hashes(page)
    for path in ("/plain", "/zipped"):
        r = client.get(path)
        assert r.content == page  # body untouched (the client un-gzips)
        assert expected in r.headers["content-security-policy"], path
    script_src = next(
        d
        for d in client.get("/plain").headers["content-security-policy"].split(";")
        if d.strip().startswith("script-src")
    )
    assert "'unsafe-inline'" not in script_src


def test_not_modified_keeps_the_cached_pages_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 304's headers replace the cached ones: it must not send a policy without the
    page's script hashes (the browser would then refuse the cached page's boot scripts)."""
    from starlette.responses import Response

    s = Settings(jwt_secret=SECRET)
    monkeypatch.setattr(guard, "get_settings", lambda: s)
    monkeypatch.setattr(guard, "_image_sources", lambda: ())

    async def cached(request: Request) -> Response:
        return Response(status_code=304, headers={"content-type": "text/html", "etag": '"1"'})

    client = TestClient(guard.Guard(Starlette(routes=[Route("/", cached)])))
    r = client.get("/", headers={"if-none-match": '"1"'})
    assert r.status_code == 304
    assert "content-security-policy" not in r.headers
    assert r.headers["x-content-type-options"] == "nosniff"
