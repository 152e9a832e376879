"""The MediaStorage protocol and the factory that picks an implementation from settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str  # where the storage keeps it (a relative path, or a Cloudinary public id)
    bytes: int


class MediaStorage(Protocol):
    name: str

    def put(self, key: str, data: bytes, *, mime: str, private: bool) -> StoredObject:
        """Store `data` under `key` (blocking: call it from a worker thread)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A file to stream for `key`, or None when the storage serves by URL instead."""
        ...

    def delivery_url(self, key: str, *, private: bool) -> str | None:
        """A (signed, for private objects) URL to redirect an authorised viewer to."""
        ...

    def delete(self, key: str, *, private: bool) -> None: ...

    def image_origins(self) -> list[str]:
        """Origins the browser loads images from besides the app itself (for the CSP)."""
        ...


@lru_cache(maxsize=1)
def get_storage() -> MediaStorage:
    from chatapp.settings import get_settings

    s = get_settings()
    if s.cloudinary_url:
        from chatapp.storage.cloudinary_store import CloudinaryStorage

        return CloudinaryStorage(s.cloudinary_url)
    from chatapp.storage.local import LocalStorage

    return LocalStorage(s.media_dir)
