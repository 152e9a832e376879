"""A small local stand-in for Cloudinary's Upload API and its delivery CDN.

The official SDK reaches it through its own API-host setting::

    CLOUDINARY_URL=cloudinary://KEY:SECRET@demo?upload_prefix=http://127.0.0.1:PORT

What it implements, checked independently of the SDK (nothing here calls the SDK's signing code):

* ``POST /v1_1/<cloud>/<resource_type>/upload`` and ``.../destroy``: multipart/form-data,
  ``api_key`` must match, the request must be signed per Cloudinary's documented scheme (every
  parameter except ``file``, ``cloud_name``, ``resource_type``, ``api_key`` and ``signature``,
  empty values dropped, sorted by key, joined as ``k=v`` with ``&``, the API secret appended,
  SHA-1 hex) and the timestamp must be within an hour. Uploaded bytes are kept in memory.
  Errors look like Cloudinary's: ``{"error": {"message": ...}}`` with a 4xx status.
* ``GET /v1_1/<cloud>/image/download?...``: a signed link to a private or authenticated
  asset (``private_download_url``), refused once its ``expires_at`` has passed.
* ``GET /<cloud>/image/<type>/[s--SIG--/][v<version>/]<public_id>.<ext>``: delivery. ``upload``
  assets are public; ``authenticated`` and ``private`` ones need a valid URL signature (first 8
  characters of the URL-safe base64 SHA-1 of ``<public_id>.<ext>`` + API secret).

Every request is recorded (:attr:`CloudinaryStandIn.requests`) so tests can assert on them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from PIL import Image, UnidentifiedImageError
from python_multipart.multipart import MultipartParser, parse_options_header

# Parameters that are sent but never signed (Cloudinary's "Generating authentication signatures").
UNSIGNED_PARAMS = frozenset({"file", "cloud_name", "resource_type", "api_key", "signature"})
MAX_CLOCK_SKEW = 3600  # seconds: Cloudinary refuses requests signed more than an hour ago
DELIVERY_TYPES = ("upload", "authenticated", "private")
BOOLEAN_PARAMS = frozenset(
    {"overwrite", "invalidate", "unique_filename", "use_filename", "backup", "faces", "exif"}
)
UPLOAD_PARAMS = frozenset(
    {"timestamp", "public_id", "type", "folder", "format", "tags", "context", *BOOLEAN_PARAMS}
)
DESTROY_PARAMS = frozenset({"timestamp", "public_id", "type", "invalidate"})
API_PATH_RE = re.compile(r"^/v1_1/(?P<cloud>[^/]+)/(?P<resource_type>[a-z]+)/(?P<action>[a-z_]+)$")
PUBLIC_ID_RE = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_.\-]+)*$")
URL_SIGNATURE_RE = re.compile(r"^s--(?P<sig>[A-Za-z0-9_\-]{8})--$")
FORMATS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
MIME = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}


# The two signature schemes, implemented from Cloudinary's documentation ---------------------
def string_to_sign(params: dict[str, str]) -> str:
    """``k=v`` pairs of the signable, non-empty parameters, sorted by key, joined with ``&``."""
    pairs = sorted((k, v) for k, v in params.items() if k not in UNSIGNED_PARAMS and v != "")
    return "&".join(f"{k}={v}" for k, v in pairs)


def api_signature(params: dict[str, str], api_secret: str) -> str:
    """Upload API request signature: SHA-1 hex of the string to sign + the API secret."""
    return hashlib.sha1((string_to_sign(params) + api_secret).encode()).hexdigest()  # noqa: S324


def url_signature(signed_part: str, api_secret: str) -> str:
    """Delivery URL signature: 8 chars of URL-safe base64 SHA-1 of the path part + secret."""
    digest = hashlib.sha1((signed_part + api_secret).encode()).digest()  # noqa: S324
    return base64.urlsafe_b64encode(digest)[:8].decode()


@dataclass(frozen=True)
class DeliveryPath:
    cloud: str
    resource_type: str
    type: str
    signature: str | None
    version: str | None
    public_id: str
    format: str | None

    @property
    def signed_part(self) -> str:
        """What a delivery signature covers: ``<public_id>[.<format>]`` (no version)."""
        return f"{self.public_id}.{self.format}" if self.format else self.public_id


def parse_delivery_url(url: str) -> DeliveryPath:
    """Split ``https://host/<cloud>/<rtype>/<type>/[s--SIG--/][vN/]<public_id>.<ext>``."""
    parts = unquote(urlsplit(url).path).lstrip("/").split("/")
    if len(parts) < 4:
        raise ValueError(f"not a delivery URL: {url!r}")
    cloud, rtype, dtype, *rest = parts
    signature = None
    if rest and (m := URL_SIGNATURE_RE.fullmatch(rest[0])):
        signature = m["sig"]
        rest = rest[1:]
    version = None
    if rest and re.fullmatch(r"v\d+", rest[0]):
        version = rest[0][1:]
        rest = rest[1:]
    if not rest:
        raise ValueError(f"no public id in {url!r}")
    tail = "/".join(rest)
    public_id, dot, fmt = tail.rpartition(".")
    if not dot or "/" in fmt:
        public_id, fmt = tail, ""
    return DeliveryPath(cloud, rtype, dtype, signature, version, public_id, fmt or None)


# Multipart parsing (python-multipart) -------------------------------------------------------
@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    ctype, opts = parse_options_header(content_type)
    boundary = opts.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ValueError("expected multipart/form-data with a boundary")
    parts: list[Part] = []
    cur: dict[str, Any] = {}

    def on_part_begin() -> None:
        cur.clear()
        cur.update(headers={}, field=bytearray(), value=bytearray(), data=bytearray())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        cur["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        cur["value"] += data[start:end]

    def on_header_end() -> None:
        cur["headers"][bytes(cur["field"]).decode().lower()] = bytes(cur["value"]).decode()
        cur["field"], cur["value"] = bytearray(), bytearray()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        cur["data"] += data[start:end]

    def on_part_end() -> None:
        disposition, dopts = parse_options_header(cur["headers"].get("content-disposition"))
        if disposition != b"form-data" or b"name" not in dopts:
            raise ValueError("part without a form-data name")
        filename = dopts.get(b"filename")
        parts.append(
            Part(
                name=dopts[b"name"].decode(),
                filename=filename.decode() if filename is not None else None,
                content_type=cur["headers"].get("content-type"),
                data=bytes(cur["data"]),
            )
        )

    parser = MultipartParser(
        boundary,
        callbacks={  # type: ignore[arg-type]
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    parser.write(body)
    parser.finalize()
    return parts


# State ---------------------------------------------------------------------------------------
@dataclass
class Asset:
    public_id: str
    type: str
    resource_type: str
    data: bytes
    format: str
    width: int
    height: int
    version: int
    created_at: str


@dataclass
class RecordedRequest:
    method: str
    path: str
    action: str | None  # "upload", "destroy", "deliver", or None for an unknown path
    resource_type: str | None
    params: dict[str, str]  # every non-file form field, as sent
    files: dict[str, tuple[str | None, bytes]]
    headers: dict[str, str]
    status: int = 0
    response: dict[str, Any] | bytes = field(default_factory=dict)
    signature_valid: bool | None = None  # None when the check was not reached

    @property
    def file_bytes(self) -> bytes | None:
        f = self.files.get("file")
        return f[1] if f else None

    @property
    def error(self) -> str | None:
        if isinstance(self.response, dict) and "error" in self.response:
            return str(self.response["error"].get("message"))
        return None


class StandInError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class InjectedFailure:
    action: str
    when: Callable[[dict[str, str]], bool]
    status: int
    message: str
    remaining: int


class CloudinaryStandIn:
    def __init__(
        self,
        cloud_name: str = "demo",
        api_key: str = "123456789012345",
        api_secret: str = "standin-secret-abcdefghijklmnopq",  # noqa: S107 - test credential
    ) -> None:
        self.cloud_name = cloud_name
        self.api_key = api_key
        self.api_secret = api_secret
        self.assets: dict[tuple[str, str, str], Asset] = {}  # (resource_type, type, public_id)
        self.requests: list[RecordedRequest] = []
        self._failures: list[InjectedFailure] = []
        self._lock = threading.Lock()
        self._version = int(time.time())
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle --------------------------------------------------------------------------------
    def start(self) -> CloudinaryStandIn:
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="cloudinary-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> CloudinaryStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def cloudinary_url(self, *, api_key: str | None = None, api_secret: str | None = None) -> str:
        """A CLOUDINARY_URL pointing the SDK's upload API at this stand-in."""
        key = quote(api_key or self.api_key, safe="")
        secret = quote(self.api_secret if api_secret is None else api_secret, safe="")
        return f"cloudinary://{key}:{secret}@{self.cloud_name}?upload_prefix={self.base_url}"

    def local_delivery_url(self, url: str) -> str:
        """The same delivery URL served by this stand-in instead of res.cloudinary.com."""
        parts = urlsplit(url)
        return self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")

    # Test helpers -----------------------------------------------------------------------------
    def fail(
        self,
        action: str,
        *,
        when: Callable[[dict[str, str]], bool] = lambda _p: True,
        status: int = 500,
        message: str = "General Error",
        times: int = 1,
    ) -> None:
        """Fail the next `times` correctly signed `action` requests that match `when`."""
        with self._lock:
            self._failures.append(InjectedFailure(action, when, status, message, times))

    def calls(self, action: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.action == action]

    def asset(self, public_id: str, type: str = "upload") -> Asset | None:
        with self._lock:
            return self.assets.get(("image", type, public_id))

    def verify_delivery_url(self, url: str) -> DeliveryPath:
        """Parse a delivery URL and check its signature (raises ValueError when it is wrong)."""
        d = parse_delivery_url(url)
        if d.cloud != self.cloud_name:
            raise ValueError(f"wrong cloud {d.cloud!r}")
        if d.signature is None:
            raise ValueError("delivery URL is not signed")
        expected = url_signature(d.signed_part, self.api_secret)
        if not hmac.compare_digest(d.signature, expected):
            raise ValueError(f"bad URL signature {d.signature!r} (expected {expected!r})")
        return d

    # Request handling (called from the server threads) -------------------------------------------
    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(rec)

    def _handle_api(self, rec: RecordedRequest, cloud: str, action: str) -> dict[str, Any]:
        if cloud != self.cloud_name:
            raise StandInError(401, f"Invalid cloud_name {cloud}")
        if rec.resource_type != "image":
            raise StandInError(400, f"Unsupported resource type {rec.resource_type}")
        if action not in ("upload", "destroy"):
            raise StandInError(404, f"Unknown action {action}")
        self._authenticate(rec)
        self._check_params(rec, UPLOAD_PARAMS if action == "upload" else DESTROY_PARAMS)
        with self._lock:
            for failure in self._failures:
                if failure.action == action and failure.remaining > 0 and failure.when(rec.params):
                    failure.remaining -= 1
                    raise StandInError(failure.status, failure.message)
        return self._upload(rec) if action == "upload" else self._destroy(rec)

    def _authenticate(self, rec: RecordedRequest) -> None:
        p = rec.params
        if not p.get("api_key"):
            raise StandInError(401, "Must supply api_key")
        if not hmac.compare_digest(p["api_key"], self.api_key):
            raise StandInError(401, f"Unknown API key {p['api_key']}")
        if not p.get("signature"):
            raise StandInError(401, "Missing required parameter - signature")
        expected = api_signature(p, self.api_secret)
        rec.signature_valid = hmac.compare_digest(p["signature"].lower(), expected)
        if not rec.signature_valid:
            raise StandInError(
                401,
                f"Invalid Signature {p['signature']}. String to sign - '{string_to_sign(p)}'.",
            )
        ts = p.get("timestamp", "")
        if not ts.isdigit():
            raise StandInError(400, "Missing required parameter - timestamp")
        if abs(time.time() - int(ts)) > MAX_CLOCK_SKEW:
            raise StandInError(
                400, f"Stale request - reported time is {ts} which is more than 1 hour ago"
            )

    @staticmethod
    def _check_params(rec: RecordedRequest, allowed: frozenset[str]) -> None:
        for k, v in rec.params.items():
            if k in UNSIGNED_PARAMS:
                continue
            if k not in allowed:
                raise StandInError(400, f"Unsupported parameter {k}")
            if k in BOOLEAN_PARAMS and v not in ("0", "1", "true", "false"):
                raise StandInError(400, f"Invalid boolean value for {k}: {v}")
        dtype = rec.params.get("type", "upload")
        if dtype not in DELIVERY_TYPES:
            raise StandInError(400, f"Invalid type {dtype}")
        pid = rec.params.get("public_id")
        if pid is not None and (
            len(pid) > 255 or not PUBLIC_ID_RE.fullmatch(pid) or ".." in pid.split("/")
        ):
            raise StandInError(400, f"Invalid public_id {pid}")

    def _upload(self, rec: RecordedRequest) -> dict[str, Any]:
        p = rec.params
        if "file" in p:
            raise StandInError(400, "Remote or data-URI files are not supported by the stand-in")
        data = rec.file_bytes
        if not data:
            raise StandInError(400, "Missing required parameter - file")
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                fmt = FORMATS.get(im.format or "")
                width, height = im.size
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise StandInError(400, "Invalid image file") from None
        if fmt is None:
            raise StandInError(400, "Invalid image file")
        dtype = p.get("type", "upload")
        pid = p.get("public_id") or hashlib.sha1(data).hexdigest()[:20]  # noqa: S324
        if p.get("folder"):
            pid = f"{p['folder'].strip('/')}/{pid}"
        key = ("image", dtype, pid)
        overwrite = p.get("overwrite", "1") in ("1", "true")
        with self._lock:
            existing = self.assets.get(key)
            if existing is not None and not overwrite:
                return {**self._describe(existing, filename=rec.files["file"][0]), "existing": True}
            self._version = max(self._version + 1, int(time.time()))
            asset = Asset(
                public_id=pid,
                type=dtype,
                resource_type="image",
                data=data,
                format=fmt,
                width=width,
                height=height,
                version=self._version,
                created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            self.assets[key] = asset
        out = self._describe(asset, filename=rec.files["file"][0])
        if existing is not None:
            out["overwritten"] = True
        return out

    def _describe(self, a: Asset, *, filename: str | None) -> dict[str, Any]:
        path = f"{a.public_id}.{a.format}"
        signed = f"s--{url_signature(path, self.api_secret)}--/" if a.type != "upload" else ""
        tail = f"{self.cloud_name}/image/{a.type}/{signed}v{a.version}/{path}"
        response_sig = hashlib.sha1(  # noqa: S324 - Cloudinary's own response signature
            f"public_id={a.public_id}&version={a.version}{self.api_secret}".encode()
        ).hexdigest()
        return {
            "asset_id": hashlib.md5(f"{a.type}/{a.public_id}".encode()).hexdigest(),  # noqa: S324
            "public_id": a.public_id,
            "version": a.version,
            "version_id": hashlib.md5(f"{a.public_id}{a.version}".encode()).hexdigest(),  # noqa: S324
            "signature": response_sig,
            "width": a.width,
            "height": a.height,
            "format": a.format,
            "resource_type": a.resource_type,
            "created_at": a.created_at,
            "tags": [],
            "bytes": len(a.data),
            "type": a.type,
            "etag": hashlib.md5(a.data).hexdigest(),  # noqa: S324
            "placeholder": False,
            "url": f"http://res.cloudinary.com/{tail}",
            "secure_url": f"https://res.cloudinary.com/{tail}",
            "asset_folder": "",
            "display_name": a.public_id.rsplit("/", 1)[-1],
            "original_filename": (filename or "file").rsplit(".", 1)[0],
            "api_key": self.api_key,
        }

    def _destroy(self, rec: RecordedRequest) -> dict[str, Any]:
        pid = rec.params.get("public_id")
        if not pid:
            raise StandInError(400, "Missing required parameter - public_id")
        key = ("image", rec.params.get("type", "upload"), pid)
        with self._lock:
            found = self.assets.pop(key, None)
        return {"result": "ok" if found is not None else "not found"}

    def _download(self, rec: RecordedRequest, cloud: str) -> tuple[int, str, bytes]:
        """``GET /v1_1/<cloud>/image/download?...`` (``private_download_url``): a signed,
        expiring link to a private or authenticated asset."""
        p = rec.params
        try:
            if cloud != self.cloud_name:
                raise StandInError(401, f"Invalid cloud_name {cloud}")
            self._authenticate(rec)  # api_key and signature, as for the upload API
        except StandInError as exc:
            return exc.status, "text/plain", exc.message.encode()
        expires = p.get("expires_at") or str(int(p.get("timestamp", "0")) + MAX_CLOCK_SKEW)
        if not expires.isdigit() or time.time() > int(expires):
            return 401, "text/plain", b"Unauthorized: this link has expired"
        with self._lock:
            asset = self.assets.get(("image", p.get("type", "upload"), p.get("public_id", "")))
        if asset is None or (p.get("format") and p["format"] != asset.format):
            return 404, "text/plain", b"Resource not found"
        return 200, MIME[asset.format], asset.data

    def verify_download_url(self, url: str) -> dict[str, str]:
        """The parameters of a download URL whose signature is right (else ValueError)."""
        parts = urlsplit(url)
        m = API_PATH_RE.fullmatch(parts.path)
        if m is None or m["action"] != "download" or m["cloud"] != self.cloud_name:
            raise ValueError(f"not a download URL of this cloud: {url!r}")
        p = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if not hmac.compare_digest(p.get("signature", ""), api_signature(p, self.api_secret)):
            raise ValueError("bad download URL signature")
        return p

    def _deliver(self, path: str) -> tuple[int, str, bytes]:
        try:
            d = parse_delivery_url(path)
        except ValueError as exc:
            return 404, "text/plain", str(exc).encode()
        if d.cloud != self.cloud_name or d.resource_type != "image" or d.type not in DELIVERY_TYPES:
            return 404, "text/plain", b"Resource not found"
        if d.type != "upload":
            if d.signature is None or not hmac.compare_digest(
                d.signature, url_signature(d.signed_part, self.api_secret)
            ):
                return 401, "text/plain", b"Unauthorized: missing or bad URL signature"
        with self._lock:
            asset = self.assets.get(("image", d.type, d.public_id))
        if asset is None or (d.format and d.format != asset.format):
            return 404, "text/plain", b"Resource not found"
        return 200, MIME[asset.format], asset.data


class _Handler(BaseHTTPRequestHandler):
    owner: CloudinaryStandIn
    server_version = "CloudinaryStandIn/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output quiet
        return

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", hashlib.md5(body).hexdigest()[:16])  # noqa: S324
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        m = API_PATH_RE.fullmatch(parts.path)
        rec = RecordedRequest(
            "GET",
            self.path,
            "download" if m and m["action"] == "download" else "deliver",
            m["resource_type"] if m else None,
            {k: v[-1] for k, v in parse_qs(parts.query).items()} if m else {},
            {},
            {k.lower(): v for k, v in self.headers.items()},
        )
        if m and m["action"] == "download":
            status, ctype, body = self.owner._download(rec, m["cloud"])
        else:
            status, ctype, body = self.owner._deliver(self.path)
        rec.status, rec.response = status, body
        self.owner._record(rec)
        self._send(status, body, ctype)

    def do_POST(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = urlsplit(self.path).path
        m = API_PATH_RE.fullmatch(path)
        rec = RecordedRequest(
            "POST",
            path,
            m["action"] if m else None,
            m["resource_type"] if m else None,
            {},
            {},
            headers,
        )
        try:
            if m is None:
                raise StandInError(404, f"No route for {path}")
            length = headers.get("content-length", "")
            if not length.isdigit():
                raise StandInError(411, "Content-Length required")
            body = self.rfile.read(int(length))
            try:
                parts = parse_multipart(headers.get("content-type", ""), body)
            except Exception as exc:
                raise StandInError(400, f"Malformed multipart body: {exc}") from None
            for part in parts:
                if part.filename is not None:
                    rec.files[part.name] = (part.filename, part.data)
                else:
                    rec.params[part.name] = part.data.decode()
            result = self.owner._handle_api(rec, m["cloud"], m["action"])
            status = 200
        except StandInError as exc:
            status, result = exc.status, {"error": {"message": exc.message}}
        rec.status, rec.response = status, result
        self.owner._record(rec)
        self._send(status, json.dumps(result).encode(), "application/json; charset=utf-8")


@contextmanager
def running_standin(**kwargs: Any) -> Iterator[CloudinaryStandIn]:
    with CloudinaryStandIn(**kwargs) as standin:
        yield standin
