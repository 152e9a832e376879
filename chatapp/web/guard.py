"""The outermost layer of every request: cross-origin rules and security headers.

* A request or websocket whose ``Origin`` is not the app's own is refused (403) before any
  route, Reflex's CORS handling or the websocket sees it. The app's own origin is the one it is
  served from (scheme + ``Host`` of the request; behind a proxy the ASGI server's proxy-header
  handling supplies the scheme) unless ``ALLOWED_ORIGINS`` lists them explicitly. Requests
  without an ``Origin`` (page loads, images, scripts, non-browser clients) pass; routes that
  set cookies or change state additionally call :func:`same_origin` (see auth_routes.py).
* Every HTTP response gets a Content-Security-Policy the generated Reflex app works under
  (the inline boot scripts of each page are allowed by their hashes), frame
  ancestors 'none', nosniff, a same-origin Referrer-Policy and, in production, HSTS.

This wraps the whole ASGI app (see chatapp.chatapp.ChatApp), so it also covers Reflex's own
endpoints: the websocket, /_upload, /ping and the static frontend.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from functools import lru_cache
from typing import Any

from chatapp.observability import logs, shutdown
from chatapp.settings import get_settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REFUSED = b"Cross-origin request refused."
_CSP = b"content-security-policy"
_SCRIPT_TAG_RE = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
_WS_SCHEME = {"ws": "http", "wss": "https"}
_REQUEST_ID_RE = re.compile(r"[\w.\-]{1,64}")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def served_origin(scope: Scope) -> str:
    """The origin this request was addressed to: ``scheme://host[:port]`` (lower case)."""
    scheme = str(scope.get("scheme", "http"))
    scheme = _WS_SCHEME.get(scheme, scheme)
    host = (_header(scope, b"host") or "").strip()
    return f"{scheme}://{host}".lower()


@lru_cache(maxsize=1)
def _configured_origins() -> frozenset[str]:
    """ALLOWED_ORIGINS, plus what rxconfig gave Reflex (the dev frontend in development)."""
    origins = set(get_settings().allowed_origin_list)
    try:
        from reflex.config import get_config

        extra = get_config().cors_allowed_origins
    except Exception:  # no Reflex config (unit tests of this module)
        extra = ()
    origins.update(o.rstrip("/").lower() for o in extra if o != "*")
    return frozenset(origins)


def origin_allowed(origin: str, scope: Scope) -> bool:
    origin = origin.strip().rstrip("/").lower()
    if origin in _configured_origins():
        return True
    # Without an explicit list the app's own origin is the only one.
    return not get_settings().allowed_origin_list and origin == served_origin(scope)


def same_origin(scope: Scope) -> bool:
    """A state-changing request must say where it came from, and it must be here.

    Browsers send ``Origin`` on every POST and ``Sec-Fetch-Site`` on every request; a request
    with neither did not come from a page we can vouch for (a hostile page cannot remove them).
    """
    origin = _header(scope, b"origin")
    if origin is not None:
        return origin_allowed(origin, scope)
    return _header(scope, b"sec-fetch-site") == "same-origin"


def check_socket_origins(app: Any) -> None:
    """Give Reflex's Socket.IO server the same origin rule (defence in depth behind
    :class:`Guard`). Reflex would hand it the CORS list, which cannot name "the origin this
    request was served from"."""
    sio = getattr(app, "sio", None)
    if sio is None:
        return

    def allowed(origin: str, environ: dict[str, Any]) -> bool:
        return origin_allowed(origin, environ.get("asgi.scope") or {})

    sio.eio.cors_allowed_origins = allowed


# Security headers ----------------------------------------------------------------------------
def inline_script_hashes(html: bytes) -> list[str]:
    """CSP sources (``'sha256-…'``) for every inline script of one HTML document."""
    found: set[str] = set()
    for body in _SCRIPT_TAG_RE.findall(html):
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        found.add(f"'sha256-{digest}'")
    return sorted(found)


def _document_hashes(body: bytes, encoding: str) -> list[str]:
    try:
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding not in ("", "identity"):
            return []
    except (OSError, EOFError):
        return []
    return inline_script_hashes(body)


@lru_cache(maxsize=1)
def _image_sources() -> tuple[str, ...]:
    from chatapp.storage import get_storage

    return tuple(get_storage().image_origins())


def content_security_policy(scope: Scope, script_hashes: Iterable[str] = ()) -> str:
    s = get_settings()
    host = (_header(scope, b"host") or "").strip()
    ws = f" ws://{host} wss://{host}" if host and re.fullmatch(r"[\w.\-:\[\]]+", host) else ""
    scripts = " ".join(
        # Reflex runs rx.call_script payloads with eval(): 'unsafe-eval' is the price of
        # the four one-line browser reads (see DESIGN §3). Inline scripts only by hash.
        ["'self'", "'unsafe-eval'", *script_hashes]
    )
    images = " ".join(["'self'", "data:", "blob:", *_image_sources()])
    directives = [
        "default-src 'self'",
        f"script-src {scripts}",
        # Radix Themes and emotion write style attributes and <style> tags at run time.
        "style-src 'self' 'unsafe-inline'",
        f"img-src {images}",
        "font-src 'self' data:",
        f"connect-src 'self'{ws}",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    if s.is_production:
        directives.append("upgrade-insecure-requests")
    return "; ".join(directives)


def security_headers(scope: Scope, script_hashes: Iterable[str] = ()) -> list[tuple[bytes, bytes]]:
    headers = [
        (_CSP, content_security_policy(scope, script_hashes).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    ]
    if get_settings().is_production:
        headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
    return headers


class Guard:
    """ASGI middleware: refuse foreign origins, add the security headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # Every log line of this request (or websocket connection) names it. The server runs
        # each in its own task, so the binding ends with it.
        given = _header(scope, b"x-request-id") or ""
        logs.bind(request_id=given if _REQUEST_ID_RE.fullmatch(given) else secrets.token_hex(8))
        origin = _header(scope, b"origin")
        refused = origin is not None and not origin_allowed(origin, scope)
        if kind == "websocket":
            if shutdown.draining():
                # This worker is going away: the tab reconnects to another replica.
                await receive()
                await send({"type": "websocket.close", "code": 1012})
                return
            if refused:
                # Closing before accepting makes the server answer the handshake with 403.
                await receive()
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope)
        if refused:
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(REFUSED)).encode()),
                        (b"cache-control", b"no-store"),
                        (b"vary", b"Origin"),
                        *extra,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": REFUSED})
            return

        # An HTML document is held back until its body is complete, so that its policy names
        # exactly the inline scripts it carries (Reflex's build puts a few boot scripts in
        # every page; hashing what is served stays right even if .web is rebuilt under us).
        held: Message | None = None
        parts: list[bytes] = []

        def with_headers(message: Message, headers: list[tuple[bytes, bytes]]) -> Message:
            present = {bytes(k).lower() for k, _ in message.get("headers", ())}
            message["headers"] = [
                *message.get("headers", ()),
                *((k, v) for k, v in headers if k not in present),
            ]
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                if message.get("status") == 304:
                    # Headers of a 304 replace the cached ones: leave the cached document's
                    # policy (which names its scripts) alone.
                    await send(with_headers(message, [h for h in extra if h[0] != _CSP]))
                    return
                ctype = _response_header(message, b"content-type")
                if ctype.startswith("text/html"):
                    held = message
                    return
                await send(with_headers(message, extra))
                return
            if held is not None and message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = b"".join(parts)
                hashes = _document_hashes(body, _response_header(held, b"content-encoding"))
                await send(with_headers(held, security_headers(scope, hashes)))
                held = None
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _response_header(message: Message, name: bytes) -> str:
    for key, value in message.get("headers", ()):
        if bytes(key).lower() == name:
            return bytes(value).decode("latin-1").strip().lower()
    return ""
