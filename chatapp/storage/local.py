"""Local disk storage under MEDIA_DIR. Files are streamed by the authenticated /media route,
never exposed as static files."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from chatapp.storage.base import StoredObject

_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+)*$")


class LocalStorage:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        if not _KEY_RE.fullmatch(key) or ".." in key:
            raise ValueError(f"bad media key {key!r}")
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"bad media key {key!r}")
        return path

    def put(self, key: str, data: bytes, *, mime: str, private: bool) -> StoredObject:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file and rename: a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return StoredObject(key=key, bytes=len(data))

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def delivery_url(self, key: str, *, private: bool) -> str | None:
        return None

    def delete(self, key: str, *, private: bool) -> None:
        self._path(key).unlink(missing_ok=True)

    def image_origins(self) -> list[str]:
        return []  # streamed by /media on the app's own origin
