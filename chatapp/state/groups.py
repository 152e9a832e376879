"""Groups in a tab: the "New group" form and the "Group info" dialog.

Thin handlers: each takes the user from the server-side session, calls one service in
services/groups.py (which authorises by the member's current role, and tells the group on
commit), and copies the answer into small vars. Live changes by others reach an open Group info
through ChatState's delivery (``apply``); the sidebar and header follow the ``group`` events
there too.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from chatapp.realtime import get_hub
from chatapp.services import conversations, groups
from chatapp.services.dto import GroupOut, PersonOut
from chatapp.services.errors import FieldErrors, ServiceError
from chatapp.services.events import NotAnnounced
from chatapp.services.media import thumb_url
from chatapp.services.membership import ADMIN, MEMBER, MODERATOR, OWNER, RANK
from chatapp.state import uploads
from chatapp.state.db_call import db_call
from chatapp.state.session import SessionState
from chatapp.wire import GroupEvent, initials, person

MAX_PICKED = groups.MAX_MEMBERS - 1


def _member_view(p: PersonOut, role: str, online: bool) -> dict[str, Any]:
    return {**person(p, online), "role": role}


class GroupState(rx.State):
    # New group
    new_open: bool = False
    new_name: str = ""
    new_error: str = ""
    new_search: str = ""
    new_results: list[dict[str, Any]] = []
    new_picked: list[dict[str, Any]] = []
    picture: dict[str, Any] = {}  # the group picture being uploaded (state/uploads.py)
    # Group info
    info_open: bool = False
    conv: int = 0
    name: str = ""
    avatar: str = ""
    can_add: bool = False
    my_role: str = ""
    members: list[dict[str, Any]] = []
    info_error: str = ""
    add_search: str = ""
    add_results: list[dict[str, Any]] = []
    confirm: str = ""  # "leave" | "delete" while asking to confirm
    _upload_gen: int = 0

    async def _uid(self) -> int:
        session = await self.get_state(SessionState)
        return await session._current_user_id()

    # New group ---------------------------------------------------------------------------
    @rx.event
    def set_new_open(self, value: bool) -> None:
        self.new_open = bool(value)
        if self.new_open:
            self.new_name, self.new_error, self.new_search = "", "", ""
            self.new_results, self.new_picked, self.picture = [], [], {}

    @rx.event
    def set_new_name(self, value: str) -> None:
        self.new_name = str(value)[:200]

    @rx.event
    async def search_new(self, query: str):  # type: ignore[no-untyped-def]
        uid = await self._uid()
        if not uid:
            return
        self.new_search = str(query)[:50]
        picked = {p["id"] for p in self.new_picked}
        found = await self._search(uid, self.new_search)
        self.new_results = [p for p in found if p["id"] not in picked]

    async def _search(self, uid: int, query: str) -> list[dict[str, Any]]:
        if len(query.strip()) < conversations.SEARCH_MIN_CHARS:
            return []
        found = await db_call(conversations.search_people, user_id=uid, query=query)
        online = await get_hub().presence.online([p.id for p in found])
        return [dict(person(p, p.id in online)) for p in found]

    @rx.event
    def pick(self, user_id: int) -> None:
        """Add a search result to the people the new group starts with (only someone the
        search found: the service checks again that each exists)."""
        chosen = next((p for p in self.new_results if p.get("id") == user_id), None)
        if chosen is None or len(self.new_picked) >= MAX_PICKED:
            return
        self.new_picked = [*self.new_picked, chosen]
        self.new_results = [p for p in self.new_results if p.get("id") != user_id]

    @rx.event
    def unpick(self, user_id: int) -> None:
        self.new_picked = [p for p in self.new_picked if p.get("id") != user_id]

    @rx.event(background=True)
    async def attach_picture(self, chunks: rx.UploadChunkIterator):  # type: ignore[no-untyped-def]
        async with self:
            uid = await self._uid()
            self._upload_gen += 1
            gen = self._upload_gen
            if uid:
                self.picture = uploads.progressed({}, {"progress": 0})
        result = await uploads.take(chunks, owner_id=uid, purpose="avatar")
        if result is None:
            return
        async with self:
            if gen == self._upload_gen:
                self.picture = result

    @rx.event
    def picture_rejected(self, files: list[Any]) -> None:
        self._upload_gen += 1
        self.picture = uploads.rejected(files)

    @rx.event
    async def create(self, form: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
        uid = await self._uid()
        if not uid:
            return rx.redirect("/login")
        name = str((form or {}).get("name", self.new_name))
        if self.picture.get("busy"):
            self.new_error = "The picture is still uploading. Create when it is ready."
            return None
        try:
            made: GroupOut = await db_call(
                groups.create_group,
                user_id=uid,
                name=name,
                member_ids=[int(p["id"]) for p in self.new_picked],
                picture_ref=str(self.picture.get("id") or "") or None,
            )
        except NotAnnounced as exc:
            made = exc.result
        except FieldErrors as exc:
            self.new_error = next(iter(exc.errors.values()), str(exc))
            return None
        except ServiceError as exc:
            self.new_error = str(exc)
            return None
        self.new_open = False
        return rx.redirect(f"/c/{made.id}")

    # Group info --------------------------------------------------------------------------
    @rx.event
    async def open_info(self, conversation_id: int):  # type: ignore[no-untyped-def]
        uid = await self._uid()
        if not uid:
            return
        self.conv = int(conversation_id or 0)
        self.info_error, self.add_search, self.add_results, self.confirm = "", "", [], ""
        try:
            out = await db_call(groups.group_info, user_id=uid, conversation_id=self.conv)
        except ServiceError as exc:
            self.info_error = str(exc)
            self.members, self.my_role = [], ""
            self.info_open = True
            return
        await self._show(out)
        self.info_open = True

    @rx.event
    def set_info_open(self, value: bool) -> None:
        self.info_open = bool(value)
        self.confirm = ""

    async def _show(self, out: GroupOut) -> None:
        online = await get_hub().presence.online([m.person.id for m in out.members])
        self.conv = out.id
        self.name = out.name
        self.avatar = thumb_url(out.picture_ref)
        self.can_add = out.members_can_add
        self.my_role = out.my_role
        self.members = [_member_view(m.person, m.role, m.person.id in online) for m in out.members]

    async def _change(self, fn: Any, **kwargs: Any) -> None:
        """Run one group change for the open group and show the group as it is after it."""
        uid = await self._uid()
        if not uid or not self.conv:
            return
        self.info_error = ""
        try:
            out = await db_call(fn, user_id=uid, conversation_id=self.conv, **kwargs)
        except NotAnnounced as exc:
            out = exc.result
        except FieldErrors as exc:
            self.info_error = next(iter(exc.errors.values()), str(exc))
            return
        except ServiceError as exc:
            self.info_error = str(exc)
            return
        if isinstance(out, GroupOut):
            await self._show(out)

    @rx.event
    async def search_add(self, query: str):  # type: ignore[no-untyped-def]
        uid = await self._uid()
        if not uid:
            return
        self.add_search = str(query)[:50]
        inside = {m["id"] for m in self.members}
        self.add_results = [
            p for p in await self._search(uid, self.add_search) if p["id"] not in inside
        ]

    @rx.event
    async def add(self, user_id: int):  # type: ignore[no-untyped-def]
        target = int(user_id or 0)
        await self._change(groups.add_members, member_ids=[target])
        self.add_results = [p for p in self.add_results if p.get("id") != target]

    @rx.event
    async def remove(self, user_id: int):  # type: ignore[no-untyped-def]
        await self._change(groups.remove_member, member_id=int(user_id or 0))

    @rx.event
    async def set_role(self, user_id: int, role: str):  # type: ignore[no-untyped-def]
        await self._change(groups.set_role, member_id=int(user_id or 0), role=str(role))

    @rx.event
    async def transfer(self, user_id: int):  # type: ignore[no-untyped-def]
        await self._change(groups.transfer_ownership, member_id=int(user_id or 0))

    @rx.event
    async def rename(self, form: dict[str, Any]):  # type: ignore[no-untyped-def]
        await self._change(groups.update_group, name=str((form or {}).get("name", "")))

    @rx.event
    async def set_can_add(self, value: bool):  # type: ignore[no-untyped-def]
        await self._change(groups.update_group, members_can_add=bool(value))

    @rx.event
    async def use_picture(self):  # type: ignore[no-untyped-def]
        """Make the uploaded picture the group's."""
        if self.picture.get("busy") or not self.picture.get("id"):
            return
        await self._change(groups.update_group, picture_ref=str(self.picture["id"]))
        if not self.info_error:
            self.picture = {}

    @rx.event
    def ask(self, what: str) -> None:
        self.confirm = what if what in ("leave", "delete") else ""

    @rx.event
    async def leave(self):  # type: ignore[no-untyped-def]
        self.confirm = ""
        await self._change(groups.leave_group)
        if not self.info_error:
            self.info_open = False

    @rx.event
    async def delete(self):  # type: ignore[no-untyped-def]
        self.confirm = ""
        await self._change(groups.delete_group)
        if not self.info_error:
            self.info_open = False
            return rx.redirect("/")
        return None

    # Live (called by ChatState's delivery, the tab's state locked; no database here) -------
    def _apply(self, event: GroupEvent, uid: int) -> None:
        if event["conv"] != self.conv or not self.info_open:
            return
        self.name = event.get("title", self.name)
        self.avatar = event.get("avatar", self.avatar)
        self.can_add = event.get("can_add", self.can_add)
        members = {m["id"]: m for m in self.members}
        for change in event.get("members", []):
            if change["id"] == uid:
                self.my_role = change["role"]
            if not change["role"]:
                members.pop(change["id"], None)
            elif change["id"] in members:
                members[change["id"]] = {**members[change["id"]], "role": change["role"]}
            else:
                members[change["id"]] = {
                    "id": change["id"],
                    "name": change["name"],
                    "username": change["username"],
                    "initials": initials(change["name"]),
                    "avatar": change["avatar"],
                    "online": False,
                    "last_seen": 0,
                    "role": change["role"],
                }
        self.members = sorted(
            members.values(), key=lambda m: (RANK.get(m["role"], 9), m["name"].lower())
        )

    def _forget(self, conv: int) -> None:
        if conv == self.conv:
            self.info_open = False
            self.conv, self.members, self.my_role = 0, [], ""


ROLE_LABELS = {OWNER: "Owner", ADMIN: "Admin", MODERATOR: "Moderator", MEMBER: "Member"}
