"""Image uploads through Reflex's own upload channel, without blocking the tab.

The browser streams the file with ``rx.upload_files_chunk`` (real progress events); the handler is
a background event, so the tab's other events (typing, sending, scrolling) keep flowing while the
bytes arrive and the image is decoded and re-encoded in a worker thread. Size and type are checked
here, on the server (``rx.upload(max_size=…)`` only guards the browser). Nothing is ever served
from Reflex's public upload folder: the stored image is viewed through /media/<id>/… only.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chatapp.observability import metrics
from chatapp.services import images, media
from chatapp.services.errors import ServiceError
from chatapp.state.db_call import db_call
from chatapp.storage import get_storage
from chatapp.wire import thumb_box

log = logging.getLogger(__name__)
ACCEPT = {
    "image/jpeg": [".jpg", ".jpeg"],
    "image/png": [".png"],
    "image/webp": [".webp"],
    "image/gif": [".gif"],
}
TOO_BIG = "Images can be at most 10 MB."


def started(name: str = "") -> dict[str, Any]:
    return {"name": name, "busy": True, "progress": 0, "error": "", "id": "", "thumb": ""}


def progressed(current: dict[str, Any], progress: Any) -> dict[str, Any]:
    try:
        fraction = float(progress.get("progress", 0)) if isinstance(progress, dict) else 0.0
    except (TypeError, ValueError):
        fraction = 0.0
    if current.get("id") or current.get("error"):
        return current  # a late progress report of an upload that has finished
    base = current if current.get("busy") else started(str(current.get("name", "")))
    return {**base, "progress": max(0, min(100, round(fraction * 100)))}


def failed(name: str, error: str) -> dict[str, Any]:
    return {"name": name, "busy": False, "progress": 0, "error": error, "id": "", "thumb": ""}


def rejected(files: Any) -> dict[str, Any]:
    """react-dropzone refused the file in the browser (type or size): say why."""
    name, codes = "", ""
    if isinstance(files, list) and files and isinstance(files[0], dict):
        name = str(files[0].get("file", {}).get("path", "") or "")
        codes = str(files[0].get("errors", ""))
    if "too-large" in codes:
        return failed(name, TOO_BIG)
    return failed(name, "That file is not a JPEG, PNG, WebP or GIF image.")


async def receive(chunks: Any) -> tuple[str, bytes, str]:
    """Read the streamed file: (name, bytes, error). Reads to the end (Reflex requires it) but
    keeps nothing past the size limit."""
    name, data, too_big, received = "", bytearray(), False, 0
    async for chunk in chunks:
        name = name or str(chunk.filename)[:120]
        received += len(chunk.data)
        if too_big or len(data) + len(chunk.data) > images.MAX_BYTES:
            too_big = True
            data.clear()
            continue
        data.extend(chunk.data)
    metrics.UPLOAD_BYTES.observe(received)
    if too_big:
        return name, b"", TOO_BIG
    if not data:
        return name, b"", "The file is empty."
    return name, bytes(data), ""


# Decoding and storing images runs here, never in the database pool: an image may wait for
# its turn in the image memory budget (services/images.py) without holding a database thread.
_MEDIA_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="media")


async def take(chunks: Any, *, owner_id: int, purpose: str) -> dict[str, Any] | None:
    """The whole upload: read the stream (always to the end), then store it. None when nobody
    is signed in (the bytes are read and dropped)."""
    name, data, error = await receive(chunks)
    if not owner_id:
        return None
    if error:
        return failed(name, error)
    return await store(owner_id=owner_id, purpose=purpose, name=name, data=data)


async def store(*, owner_id: int, purpose: str, name: str, data: bytes) -> dict[str, Any]:
    """Limits, then validate, re-encode and store (in a media thread), then record; the
    attachment as a tab shows it."""
    storage = get_storage()
    loop = asyncio.get_running_loop()
    try:
        await db_call(media.admit_upload, owner_id=owner_id, size=len(data))
        prepared = await loop.run_in_executor(
            _MEDIA_POOL,
            lambda: media.prepare_upload(purpose=purpose, data=data, storage=storage),
        )
        try:
            out = await db_call(media.record_upload, owner_id=owner_id, prepared=prepared)
        except BaseException:
            await loop.run_in_executor(
                _MEDIA_POOL, lambda: media.discard_prepared(prepared=prepared, storage=storage)
            )
            raise
    except ServiceError as exc:
        return failed(name, str(exc))
    except Exception:
        log.exception("storing an upload failed")
        return failed(name, "Could not store the image right now. Try again.")
    w, h = thumb_box(out.width, out.height)
    return {
        "name": name,
        "busy": False,
        "progress": 100,
        "error": "",
        "id": out.id,
        "thumb": out.thumb_url,
        "w": w,
        "h": h,
    }
