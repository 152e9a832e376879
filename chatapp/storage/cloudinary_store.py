"""Cloudinary storage through the official SDK.

Chat images are uploaded as ``type="authenticated"`` (not reachable by a plain URL) and shown
through signed links that expire (``private_download_url`` with ``expires_at``, after
SIGNED_URL_SECONDS) handed out only to authorised viewers: a plain signed delivery URL never
expires, so a leaked one would work for ever. Avatars are public. Every SDK call here blocks
on HTTP: callers run it in a worker thread, never on the event loop.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cloudinary
import cloudinary.uploader
import cloudinary.utils

from chatapp.storage.base import StoredObject


class CloudinaryStorage:
    name = "cloudinary"

    def __init__(self, url: str, *, link_seconds: int | None = None, **overrides: Any) -> None:
        if link_seconds is None:
            from chatapp.settings import get_settings

            link_seconds = get_settings().signed_url_seconds
        self.link_seconds = link_seconds
        # Parses cloudinary://key:secret@cloud[?upload_prefix=...] into a private config.
        self.config = cloudinary.Config()
        self.config._load_from_url(url)
        for k, v in overrides.items():
            setattr(self.config, k, v)

    def _opts(self) -> dict[str, Any]:
        c = self.config
        opts = {"cloud_name": c.cloud_name, "api_key": c.api_key, "api_secret": c.api_secret}
        # Pass every per-account setting explicitly: the SDK would otherwise fall back to its
        # process-global config for anything we leave out.
        for name in (
            "upload_prefix",
            "private_cdn",
            "secure_distribution",
            "cname",
            "signature_algorithm",
            "signature_version",
        ):
            value = getattr(c, name, None)
            if value not in (None, ""):
                opts[name] = value
        return opts

    @staticmethod
    def _public_id(key: str) -> str:
        return key.rsplit(".", 1)[0]  # Cloudinary keeps the format separately

    def put(self, key: str, data: bytes, *, mime: str, private: bool) -> StoredObject:
        result = cloudinary.uploader.upload(
            io.BytesIO(data),
            public_id=self._public_id(key),
            resource_type="image",
            type="authenticated" if private else "upload",
            overwrite=True,
            invalidate=True,
            **self._opts(),
        )
        if "public_id" not in result:
            raise RuntimeError(f"unexpected Cloudinary response: {result!r}")
        return StoredObject(key=key, bytes=int(result.get("bytes", len(data))))

    def local_path(self, key: str) -> Path | None:
        return None

    def delivery_url(self, key: str, *, private: bool) -> str | None:
        fmt = key.rsplit(".", 1)[-1] if "." in key else None
        if private:
            return str(
                cloudinary.utils.private_download_url(
                    self._public_id(key),
                    fmt,
                    resource_type="image",
                    type="authenticated",
                    expires_at=int(time.time()) + self.link_seconds,
                    **self._opts(),
                )
            )
        url, _ = cloudinary.utils.cloudinary_url(
            self._public_id(key),
            resource_type="image",
            type="upload",
            secure=True,
            format=fmt,
            **self._opts(),
        )
        return str(url)

    def image_origins(self) -> list[str]:
        """Where delivery URLs point (res.cloudinary.com, or the account's CDN name)."""
        origins: list[str] = []
        for url in (
            self.delivery_url("chat/x/probe.jpg", private=True),
            self.delivery_url("avatars/x/probe.jpg", private=False),
        ):
            parts = urlsplit(url or "")
            origin = f"{parts.scheme}://{parts.netloc}"
            if parts.netloc and origin not in origins:
                origins.append(origin)
        return origins

    def delete(self, key: str, *, private: bool) -> None:
        cloudinary.uploader.destroy(
            self._public_id(key),
            resource_type="image",
            type="authenticated" if private else "upload",
            invalidate=True,
            **self._opts(),
        )
