"""A local stand-in for a browser's push service (RFC 8030), and the browser's side of a
subscription (RFC 8291 keys).

:class:`Browser` makes what ``PushManager.subscribe()`` gives a page: a P-256 key pair
(``p256dh``, the public half) and a 16-byte ``auth`` secret, plus an endpoint on the stand-in.

:class:`PushServiceStandIn` receives what the server POSTs to that endpoint and checks it as a
real push service and browser would, independently of pywebpush (nothing here calls it):

* VAPID (RFC 8292): ``Authorization: vapid t=<JWT>, k=<public key>``; the JWT is ES256, signed
  by ``k``; its ``aud`` is the endpoint's origin, ``exp`` within 24 hours, ``sub`` a contact;
* ``Content-Encoding: aes128gcm``, a ``TTL``; the body decrypts (RFC 8188) with the browser's
  private key and auth secret into the JSON payload.

An endpoint whose path ends in ``/gone`` answers 410, ``/missing`` 404 (the subscription has
expired), ``/busy`` 429 and ``/broken`` 500 (the push service cannot take it now), ``/plain-ok``
200 and ``/choices`` 300 (ANSWERS); anything that fails a check answers 400 and is recorded in
:attr:`errors`.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ANSWERS = {
    "/gone": 410,
    "/missing": 404,
    "/busy": 429,
    "/broken": 500,
    "/plain-ok": 200,
    "/choices": 300,
}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """One browser's push subscription: its keys and its endpoint."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        return b64url(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )

    def subscription(self) -> dict[str, Any]:
        """As ``PushSubscription.toJSON()`` gives it to the page."""
        return {
            "endpoint": self.endpoint,
            "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)},
        }


@dataclass
class Received:
    path: str
    claims: dict[str, Any]
    vapid_key: str  # the k= of the Authorization header (the server's public key)
    headers: dict[str, str]
    payload: dict[str, Any]
    plaintext: bytes  # the decrypted body, as the browser's service worker gets it


class PushServiceStandIn:
    def __init__(self) -> None:
        self.browsers: dict[str, Browser] = {}  # path -> the browser that subscribed there
        self.received: list[Received] = []
        self.errors: list[str] = []
        self.requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def browser(self, name: str) -> Browser:
        """A new browser subscribed at ``/push/<name>``."""
        b = Browser(endpoint=f"{self.origin}/push/{name}")
        self.browsers[f"/push/{name}"] = b
        return b

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= n:
                    return list(self.received)
            time.sleep(0.02)
        return list(self.received)

    # The service ---------------------------------------------------------------------------
    def _check(self, path: str, headers: dict[str, str], body: bytes) -> Received:
        browser = self.browsers.get(path)
        if browser is None:
            raise ValueError(f"no subscription at {path}")
        if headers.get("content-encoding") != "aes128gcm":
            raise ValueError(f"content-encoding {headers.get('content-encoding')!r}")
        if not headers.get("ttl", "").isdigit():
            raise ValueError("no TTL")
        scheme, _, params = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError("Authorization is not vapid")
        fields = dict(p.strip().split("=", 1) for p in params.split(","))
        token, key = fields["t"], fields["k"]
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
        claims = jwt.decode(
            token,
            key=public,
            algorithms=["ES256"],
            audience=self.origin,  # the push service's own origin
            options={"require": ["aud", "exp", "sub"]},
        )
        if not 0 < claims["exp"] - time.time() <= 24 * 3600:
            raise ValueError(f"exp {claims['exp']} is not within 24 hours")
        if not str(claims["sub"]).startswith(("mailto:", "https:")):
            raise ValueError(f"sub {claims['sub']!r}")
        plain = http_ece.decrypt(
            body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
        )
        return Received(path, claims, key, headers, json.loads(plain), plain)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with standin._lock:
                    standin.requests += 1
                status = next((c for end, c in ANSWERS.items() if self.path.endswith(end)), 0)
                if status:
                    self.send_response(status)
                    self.end_headers()
                    return
                try:
                    got = standin._check(self.path, headers, body)
                except Exception as exc:
                    with standin._lock:
                        standin.errors.append(f"{self.path}: {exc!r}")
                    self.send_response(400)
                    self.end_headers()
                    return
                with standin._lock:
                    standin.received.append(got)
                self.send_response(201)
                self.send_header("Location", f"{standin.origin}/message/{len(standin.received)}")
                self.end_headers()

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def push_service() -> Iterator[PushServiceStandIn]:
    standin = PushServiceStandIn()
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()
