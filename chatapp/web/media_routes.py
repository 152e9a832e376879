"""HTTP routes for media: authenticated upload, and authorised viewing.

Uploads go over plain HTTP (not the websocket) so a slow upload never blocks the tab's other
events, and the browser can show real progress. Viewing always passes through here: local files
are streamed only to whoever may see them; Cloudinary objects get a redirect to a signed URL.
Never through Reflex's public /_upload.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from chatapp.db import session_scope
from chatapp.services import accounts, dto, images, media
from chatapp.services.errors import ServiceError
from chatapp.settings import get_settings
from chatapp.storage import get_storage

log = logging.getLogger(__name__)


def _viewer(request: Request) -> int:
    token = request.cookies.get(get_settings().session_cookie_name, "")
    if not token:
        return 0
    with session_scope() as db:
        current = accounts.resolve_session(session=db, token=token)
    return current.user.id if current else 0


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse(
        {"ok": False, "error": message}, status, headers={"Cache-Control": "no-store"}
    )


async def upload(request: Request) -> Response:
    """POST /api/media?purpose=chat|avatar with the raw image as the body (Content-Type
    image/..., from a page of this app: see auth_routes.cross_site_refusal)."""
    from chatapp.web.auth_routes import cross_site_refusal

    refusal = cross_site_refusal(request, body_type="image/")
    if refusal is not None:
        return refusal
    purpose = request.query_params.get("purpose", "")
    if purpose not in media.PURPOSES:
        return _error("Unknown upload purpose.", 400)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > images.MAX_BYTES:
        return _error("Images can be at most 10 MB.", 413)
    viewer = await run_in_threadpool(_viewer, request)
    if not viewer:
        return _error("Log in again to upload.", 401)

    def admit() -> None:  # before the body is even read: hourly limit and quota
        with session_scope() as db:
            size = int(declared) if declared.isdigit() else 0
            media.admit_upload(session=db, owner_id=viewer, size=size)

    try:
        await run_in_threadpool(admit)
    except ServiceError as exc:
        return _error(str(exc), 429)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > images.MAX_BYTES:
            return _error("Images can be at most 10 MB.", 413)

    def record(prepared: media.Prepared) -> dto.MediaOut:
        with session_scope() as db:
            return media.record_upload(session=db, owner_id=viewer, prepared=prepared)

    storage = get_storage()
    try:
        # Decoding happens with no database connection held (and within the shared image
        # memory budget, services/images.py).
        data = bytes(body)
        body.clear()
        prepared = await run_in_threadpool(
            lambda: media.prepare_upload(purpose=purpose, data=data, storage=storage)
        )
        try:
            out = await run_in_threadpool(record, prepared)
        except BaseException:
            await run_in_threadpool(
                lambda: media.discard_prepared(prepared=prepared, storage=storage)
            )
            raise
    except ServiceError as exc:
        return _error(str(exc), 400)
    except Exception:
        log.exception("storing an upload failed")
        return _error("Could not store the image right now. Try again.", 502)
    return JSONResponse(
        {"ok": True, "id": out.id, "thumb": out.thumb_url, "full": out.full_url},
        headers={"Cache-Control": "no-store"},
    )


async def view(request: Request) -> Response:
    """GET /media/{id}/{thumb|full}: only for those allowed to see it."""
    media_id = request.path_params["media_id"]
    variant = request.path_params["variant"]
    if variant not in ("thumb", "full"):
        return Response(status_code=404)

    def lookup() -> tuple[int, tuple[str, str] | None]:
        viewer = _viewer(request)
        if not viewer:
            return 0, None
        with session_scope() as db:
            row = media.viewable(session=db, viewer_id=viewer, media_id=media_id)
            if row is None:
                return viewer, None
            key = row.thumb_key if variant == "thumb" else row.full_key
            return viewer, (key, row.purpose)

    viewer, found = await run_in_threadpool(lookup)
    if not viewer:
        return Response("Log in to see this image.", status_code=403)
    if found is None:
        return Response("Not found.", status_code=404)
    key, purpose = found
    storage = get_storage()
    headers = {"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"}
    path = storage.local_path(key)
    if path is not None:
        ext = key.rsplit(".", 1)[-1]
        ctype = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
        return FileResponse(
            path, media_type=ctype.get(ext, "application/octet-stream"), headers=headers
        )
    url = storage.delivery_url(key, private=purpose == "chat")
    if not url:
        return Response("Not found.", status_code=404)
    # Reusable while the (expiring) link it points to still works.
    ttl = get_settings().signed_url_seconds // 2
    return RedirectResponse(
        url, status_code=302, headers={"Cache-Control": f"private, max-age={ttl}"}
    )


routes = [
    Route("/api/media", upload, methods=["POST"]),
    Route("/media/{media_id}/{variant}", view, methods=["GET"]),
]
