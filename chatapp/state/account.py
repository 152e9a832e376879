"""/profile and /settings: edit your profile, change your password."""

from __future__ import annotations

from typing import Any

import reflex as rx

from chatapp import wire
from chatapp.services import accounts, media, profiles
from chatapp.services.errors import FieldErrors, ServiceError
from chatapp.services.events import NotAnnounced
from chatapp.state import passwords, uploads
from chatapp.state.db_call import db_call
from chatapp.state.hashing import TabGone
from chatapp.state.session import SessionState
from chatapp.storage import get_storage


def _text(form: dict[str, Any], name: str, limit: int) -> str:
    value = form.get(name, "") if isinstance(form, dict) else ""
    return value[:limit] if isinstance(value, str) else ""


class ProfileState(rx.State):
    name: str = ""
    bio: str = ""
    name_error: str = ""
    bio_error: str = ""
    form_error: str = ""
    saved: str = ""
    busy: bool = False
    avatar_upload: dict[str, Any] = {}  # the new picture being attached (state/uploads.py)
    _upload_gen: int = 0

    @rx.event(background=True)
    async def attach_avatar(self, chunks: rx.UploadChunkIterator):  # type: ignore[no-untyped-def]
        async with self:
            session = await self.get_state(SessionState)
            uid = await session._current_user_id()
            self._upload_gen += 1
            gen = self._upload_gen
            if uid:
                self.avatar_upload = uploads.progressed({}, {"progress": 0})
        result = await uploads.take(chunks, owner_id=uid, purpose="avatar")
        if result is None:
            return
        async with self:
            if gen == self._upload_gen:
                self.avatar_upload = result

    @rx.event
    def avatar_progress(self, progress: dict[str, Any]) -> None:
        self.avatar_upload = uploads.progressed(self.avatar_upload, progress)

    @rx.event
    def avatar_rejected(self, files: list[Any]) -> None:
        self._upload_gen += 1
        self.avatar_upload = uploads.rejected(files)

    @rx.event
    async def load(self):  # type: ignore[no-untyped-def]
        session = await self.get_state(SessionState)
        uid = await session._current_user_id()
        if not uid:
            return
        user = await db_call(accounts.get_user, user_id=uid)
        if user:
            self.name, self.bio = user.display_name, user.bio
        self.name_error = self.bio_error = self.form_error = self.saved = ""
        self.avatar_upload = {}

    @rx.event
    async def save(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        session = await self.get_state(SessionState)
        uid = await session._current_user_id()
        if not uid:
            yield rx.redirect("/login")
            return
        self.name_error = self.bio_error = self.form_error = self.saved = ""
        name, bio = _text(form, "display_name", 200), _text(form, "bio", 2000)
        avatar_id = str(self.avatar_upload.get("id") or "")
        if self.avatar_upload.get("busy"):
            self.form_error = "The avatar is still uploading. Save again when it is ready."
            return
        _, _, errors = profiles.validate_profile(name, bio)
        if errors:
            self._show(errors)
            return
        self.busy = True
        yield
        try:
            update = await db_call(
                profiles.update_profile,
                user_id=uid,
                display_name=name,
                bio=bio,
                avatar_media_id=avatar_id or None,
            )
        except NotAnnounced as exc:
            update = exc.result  # saved; contacts see it at their next load
        except FieldErrors as exc:
            self._show(exc.errors)
            self.busy = False
            return
        except ServiceError as exc:
            self.form_error = str(exc)
            self.busy = False
            return
        if update.replaced_avatar:
            # The old picture goes once the new one is committed (Cloudinary: destroy the asset).
            await db_call(
                media.delete_media, media_id=update.replaced_avatar, storage=get_storage()
            )
        user = update.user
        self.name, self.bio = user.display_name, user.bio
        session.display_name = user.display_name
        session.initials = wire.initials(user.display_name)
        session.avatar = media.thumb_url(user.avatar_ref)
        self.busy = False
        self.saved = "Saved. Your contacts see the change right away."
        self.avatar_upload = {}

    def _show(self, errors: dict[str, str]) -> None:
        self.name_error = errors.get("display_name", "")
        self.bio_error = errors.get("bio", "")


class SettingsState(rx.State):
    current_error: str = ""
    new_error: str = ""
    message: str = ""
    busy: bool = False
    read_receipts: bool = True

    @rx.event
    async def load_settings(self):  # type: ignore[no-untyped-def]
        session = await self.get_state(SessionState)
        uid = await session._current_user_id()
        if uid:
            self.read_receipts = await db_call(profiles.read_receipts, user_id=uid)

    @rx.event
    async def set_read_receipts(self, value: bool):  # type: ignore[no-untyped-def]
        """ "Send read receipts": off, others do not see when you read, nor you when they do."""
        session = await self.get_state(SessionState)
        uid = await session._current_user_id()
        if not uid:
            return rx.redirect("/login")
        self.read_receipts = await db_call(profiles.set_read_receipts, user_id=uid, on=bool(value))
        return None

    @rx.event
    async def change_password(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        session = await self.get_state(SessionState)
        uid = await session._current_user_id()
        if not uid:
            yield rx.redirect("/login")
            return
        self.current_error = self.new_error = self.message = ""
        current, new = _text(form, "current_password", 256), _text(form, "new_password", 256)
        if not current:
            self.current_error = "Enter your current password."
            return
        self.busy = True
        yield
        try:
            revoked = await passwords.change_password(
                user_id=uid,
                keep_session_id=session._session_id,
                current=current,
                new=new,
                token=self.router.session.client_token,
            )
        except TabGone:
            return
        except FieldErrors as exc:
            self.current_error = exc.errors.get("current", "")
            self.new_error = exc.errors.get("new", "")
            self.busy = False
            return
        except ServiceError as exc:  # too many wrong guesses, the server is busy
            self.current_error = str(exc)
            self.busy = False
            return
        self.busy = False
        others = (
            f" {revoked} other session{'s' if revoked != 1 else ''} logged out." if revoked else ""
        )
        self.message = "Password changed." + others
        yield [rx.set_value("field-current_password", ""), rx.set_value("field-new_password", "")]
