"""Group conversations: create, members and roles, leave, rename, picture, settings, delete.

Every change runs in the caller's unit of work and starts by locking the group's row (the same
lock a send takes, messages.py), so changes to one group, and sends into it, happen one at a
time: two admins removing the same member, or an owner leaving while promoting someone, end in
one consistent state. Changes are idempotent: asking for what is already so changes nothing and
says nothing. Who may do what is services/membership.py's table. Each change is told to the
group as a system line ("alice added bob") and a ``group`` event (names, pictures, roles), both
published on commit to the members' open tabs, and to whoever was just removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, col, select

from chatapp.models import Conversation, ConversationMember, Media, User, utcnow
from chatapp.services.dto import GroupOut, MemberOut, PersonOut
from chatapp.services.errors import FieldErrors, NotAllowed, ServiceError
from chatapp.services.events import send_event_on_commit
from chatapp.services.media import thumb_url
from chatapp.services.membership import (
    ADMIN,
    MEMBER,
    MODERATOR,
    NOT_A_MEMBER,
    OWNER,
    RANK,
    ROLES,
    Action,
    may,
    may_remove,
    may_set_role,
    require_member,
)
from chatapp.services.messages import post_system_line
from chatapp.services.profiles import clean_name

MAX_NAME = 64
MAX_MEMBERS = 256
ROLE_WORDS = {ADMIN: "an admin", MODERATOR: "a moderator", MEMBER: "a member"}


def clean_group_name(raw: str) -> str:
    """A group name as a display name is cleaned (no invisible or bidirectional controls),
    1–64 characters; FieldErrors on the field "name" otherwise."""
    name = clean_name(str(raw or ""))
    if not 1 <= len(name) <= MAX_NAME:
        raise FieldErrors({"name": f"A group name must be 1–{MAX_NAME} characters."})
    return name


# Reading ---------------------------------------------------------------------------------------
def group_info(*, session: Session, user_id: int, conversation_id: int) -> GroupOut:
    """The group as a current member sees it (Group info); NotAllowed for anyone else (a
    former member keeps the history, not the member list)."""
    conv = _group(session, conversation_id)
    me = require_member(session=session, user_id=user_id, conversation_id=conversation_id)
    return _out(session, conv, me.role)


def _members(session: Session, conversation_id: int) -> list[tuple[ConversationMember, User]]:
    rows = session.exec(
        select(ConversationMember, User)
        .join(User, col(User.id) == col(ConversationMember.user_id))
        .where(
            ConversationMember.conversation_id == conversation_id,
            col(ConversationMember.left_at).is_(None),
        )
    ).all()
    return sorted(rows, key=lambda r: (RANK.get(r[0].role, 9), _since(r[0]), r[0].user_id))


def _since(m: ConversationMember) -> float:
    return m.joined_at.timestamp()


def _out(session: Session, conv: Conversation, my_role: str) -> GroupOut:
    assert conv.id is not None
    return GroupOut(
        id=conv.id,
        name=conv.title or "",
        picture_ref=conv.picture_ref,
        members_can_add=conv.members_can_add,
        archived=conv.archived_at is not None,
        members=[
            MemberOut(PersonOut.of(u), m.role, m.joined_at) for m, u in _members(session, conv.id)
        ],
        my_role=my_role,
    )


# Creating --------------------------------------------------------------------------------------
def create_group(
    *,
    session: Session,
    user_id: int,
    name: str,
    member_ids: Iterable[int],
    picture_ref: str | None = None,
) -> GroupOut:
    """A new group: the creator is its owner, the others members (who see it from the start)."""
    title = clean_group_name(name)
    others = _people(session, member_ids, exclude=user_id)
    if len(others) + 1 > MAX_MEMBERS:
        raise ServiceError(f"A group can have at most {MAX_MEMBERS} members.")
    me = session.get(User, user_id)
    if me is None:
        raise NotAllowed(NOT_A_MEMBER)
    picture = _picture(session, user_id, picture_ref) if picture_ref else None
    conv = Conversation(kind="group", title=title, creator_id=user_id, picture_ref=picture)
    session.add(conv)
    session.flush()
    assert conv.id is not None
    now = utcnow()
    session.add(
        ConversationMember(conversation_id=conv.id, user_id=user_id, role=OWNER, joined_at=now)
    )
    for u in others:
        assert u.id is not None
        session.add(ConversationMember(conversation_id=conv.id, user_id=u.id, joined_at=now))
    session.flush()
    roles = {user_id: OWNER, **{u.id or 0: MEMBER for u in others}}
    _announce(session, conv, roles)
    _line(session, conv, user_id, "created", f"{me.display_name} created the group")
    if others:
        _line(session, conv, user_id, "added", f"{me.display_name} added {_names(others)}")
    return _out(session, conv, OWNER)


# Changing members ------------------------------------------------------------------------------
def add_members(
    *, session: Session, user_id: int, conversation_id: int, member_ids: Iterable[int]
) -> GroupOut:
    """Add people (owner and admins; members too with "Members can add people"). They read
    the group from now on (not what was said before they came). Someone already in it is
    skipped; someone who had left comes back the same way."""
    conv, me = _locked(session, user_id, conversation_id)
    if not may(me.role, Action.ADD, members_can_add=conv.members_can_add):
        raise NotAllowed("Only the group's admins can add people.")
    people = _people(session, member_ids, exclude=user_id)
    current = {m.user_id for m, _u in _members(session, conversation_id)}
    new = [u for u in people if u.id not in current]
    if not new:
        return _out(session, conv, me.role)
    if len(current) + len(new) > MAX_MEMBERS:
        raise ServiceError(f"A group can have at most {MAX_MEMBERS} members.")
    now = utcnow()
    for u in new:
        assert u.id is not None
        row = session.get(ConversationMember, (conversation_id, u.id))
        if row is None:
            row = ConversationMember(conversation_id=conversation_id, user_id=u.id)
        row.role, row.joined_at, row.left_at, row.history_until_id = MEMBER, now, None, None
        row.history_from_id = conv.last_message_id or 0
        row.last_read_message_id = conv.last_message_id
        session.add(row)
    session.flush()
    _announce(session, conv, {u.id or 0: MEMBER for u in new})
    actor = _name(session, user_id)
    _line(session, conv, user_id, "added", f"{actor} added {_names(new)}")
    return _out(session, conv, me.role)


def remove_member(
    *, session: Session, user_id: int, conversation_id: int, member_id: int
) -> GroupOut:
    """Remove someone (a member or moderator: owner and admins; an admin: the owner). Their
    open tabs stop receiving at once; the history up to this line stays readable to them."""
    conv, me = _locked(session, user_id, conversation_id)
    if member_id == user_id:
        raise ServiceError("Use Leave group to leave.")
    target = session.get(ConversationMember, (conversation_id, member_id))
    if target is None or target.left_at is not None:
        return _out(session, conv, me.role)  # (already gone: nothing to do)
    if not may_remove(me.role, target.role):
        raise NotAllowed(
            "Only the owner can remove an admin."
            if target.role == ADMIN
            else "The owner cannot be removed."
            if target.role == OWNER
            else "Only the group's admins can remove people."
        )
    text = f"{_name(session, user_id)} removed {_name(session, member_id)}"
    _depart(session, conv, target, user_id, "removed", text)
    return _out(session, conv, me.role)


def leave_group(*, session: Session, user_id: int, conversation_id: int) -> None:
    """Leave. An owner's group passes to the longest-standing admin, else the longest-standing
    member; the last one out archives it (nothing is deleted)."""
    try:
        conv, me = _locked(session, user_id, conversation_id)
    except NotAllowed:
        member = session.get(ConversationMember, (conversation_id, user_id))
        if member is not None and member.left_at is not None:
            return  # left already
        raise
    heir = None
    if me.role == OWNER:
        rest = [m for m, _u in _members(session, conversation_id) if m.user_id != user_id]
        admins = [m for m in rest if m.role == ADMIN]
        pool = admins or rest
        heir = min(pool, key=lambda m: (_since(m), m.user_id)) if pool else None
    _depart(session, conv, me, user_id, "left", f"{_name(session, user_id)} left")
    if heir is not None:
        heir.role = OWNER
        session.add(heir)
        session.flush()
        _announce(session, conv, {heir.user_id: OWNER})
        _line(
            session, conv, heir.user_id, "owner", f"{_name(session, heir.user_id)} is now the owner"
        )
    elif not _members(session, conversation_id):
        conv.archived_at = utcnow()
        session.add(conv)
        session.flush()


def set_role(
    *, session: Session, user_id: int, conversation_id: int, member_id: int, role: str
) -> GroupOut:
    """Make someone an admin, a moderator or a member again (the table in membership.py)."""
    conv, me = _locked(session, user_id, conversation_id)
    if role not in ROLES or role == OWNER:
        raise ServiceError("Unknown role.")
    target = session.get(ConversationMember, (conversation_id, member_id))
    if target is None or target.left_at is not None:
        raise ServiceError("That person is not in this group.")
    if target.role == role:
        return _out(session, conv, me.role)
    if member_id == user_id or not may_set_role(me.role, target.role, role):
        raise NotAllowed(
            "Only the owner can change admins."
            if ADMIN in (role, target.role)
            else "Only the group's admins can change roles."
        )
    target.role = role
    session.add(target)
    session.flush()
    _announce(session, conv, {member_id: role})
    text = f"{_name(session, user_id)} made {_name(session, member_id)} {ROLE_WORDS[role]}"
    _line(session, conv, user_id, "role", text)
    return _out(session, conv, me.role)


def transfer_ownership(
    *, session: Session, user_id: int, conversation_id: int, member_id: int
) -> GroupOut:
    """The owner hands the group to another member and becomes an admin."""
    conv, me = _locked(session, user_id, conversation_id)
    if not may(me.role, Action.OWNER_ONLY):
        raise NotAllowed("Only the owner can transfer ownership.")
    target = session.get(ConversationMember, (conversation_id, member_id))
    if target is None or target.left_at is not None or member_id == user_id:
        raise ServiceError("Pick another member of the group.")
    me.role, target.role = ADMIN, OWNER
    session.add_all([me, target])
    session.flush()
    _announce(session, conv, {user_id: ADMIN, member_id: OWNER})
    text = f"{_name(session, user_id)} made {_name(session, member_id)} the owner"
    _line(session, conv, user_id, "owner", text)
    return _out(session, conv, ADMIN)


def delete_group(*, session: Session, user_id: int, conversation_id: int) -> None:
    """The owner deletes the group for everyone: its messages, members and images go (their
    files are removed by housekeeping with the other orphans). Open tabs drop it at once."""
    conv, me = _locked(session, user_id, conversation_id)
    if not may(me.role, Action.OWNER_ONLY):
        raise NotAllowed("Only the owner can delete the group.")
    everyone = list(
        session.exec(
            select(ConversationMember.user_id).where(
                ConversationMember.conversation_id == conversation_id
            )
        ).all()
    )
    for m in session.exec(select(Media).where(Media.conversation_id == conversation_id)).all():
        m.conversation_id = None  # an orphan now: housekeeping deletes its files and row
        session.add(m)
    session.flush()
    session.delete(conv)
    session.flush()
    send_event_on_commit(everyone, {"type": "group", "conv": conversation_id, "deleted": True})


# Name, picture, settings -----------------------------------------------------------------------
def update_group(
    *,
    session: Session,
    user_id: int,
    conversation_id: int,
    name: str | None = None,
    picture_ref: str | None = None,
    members_can_add: bool | None = None,
) -> GroupOut:
    """Rename, change or remove the picture (``picture_ref=""``), change "Members can add
    people" (owner and admins)."""
    conv, me = _locked(session, user_id, conversation_id)
    if not may(me.role, Action.EDIT_INFO):
        raise NotAllowed("Only the group's admins can change its name, picture or settings.")
    # Everything is checked before anything changes: a refusal leaves the group as it was.
    title = clean_group_name(name) if name is not None else None
    picture = _picture(session, user_id, picture_ref) if picture_ref else None
    actor = _name(session, user_id)
    lines: list[tuple[str, str]] = []
    if title is not None and title != conv.title:
        conv.title = title
        lines.append(("renamed", f"{actor} renamed the group to “{title}”"))
    if picture_ref is not None and picture != conv.picture_ref:
        conv.picture_ref = picture
        what = "changed" if picture else "removed"
        lines.append(("picture", f"{actor} {what} the group picture"))
    if members_can_add is not None and bool(members_can_add) != conv.members_can_add:
        conv.members_can_add = bool(members_can_add)
        state = "on" if conv.members_can_add else "off"
        lines.append(("settings", f"{actor} turned {state} “Members can add people”"))
    if lines:
        session.add(conv)
        session.flush()
        _announce(session, conv, {})
        for kind, text in lines:
            _line(session, conv, user_id, kind, text)
    return _out(session, conv, me.role)


# Helpers ---------------------------------------------------------------------------------------
def _group(session: Session, conversation_id: int, *, lock: bool = False) -> Conversation:
    stmt = select(Conversation).where(Conversation.id == conversation_id)
    if lock:
        # Read the row as locked, not the session's cached copy: a send updates it with SQL
        # (messages.py), so a copy held since would have an older last message.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    conv = session.exec(stmt).first()
    if conv is None or conv.kind != "group":
        raise NotAllowed(NOT_A_MEMBER)
    return conv


def _locked(
    session: Session, user_id: int, conversation_id: int
) -> tuple[Conversation, ConversationMember]:
    """The group, locked for this change, and the acting user's current membership (read
    after the lock, so it is the role at this moment)."""
    conv = _group(session, conversation_id, lock=True)
    member = require_member(session=session, user_id=user_id, conversation_id=conversation_id)
    session.refresh(member)
    if member.left_at is not None:
        raise NotAllowed(NOT_A_MEMBER)
    return conv, member


def _people(session: Session, ids: Iterable[int], *, exclude: int) -> list[User]:
    wanted = {int(i) for i in ids if int(i) != exclude}
    if len(wanted) > MAX_MEMBERS:
        raise ServiceError(f"A group can have at most {MAX_MEMBERS} members.")
    if not wanted:
        return []
    found = list(session.exec(select(User).where(col(User.id).in_(wanted))).all())
    if len(found) != len(wanted):
        raise ServiceError("Some of those people do not exist.")
    return sorted(found, key=lambda u: u.display_name.lower())


def _picture(session: Session, user_id: int, media_id: str) -> str:
    m = session.get(Media, media_id)
    if m is None or m.owner_id != user_id or m.purpose != "avatar":
        raise ServiceError("Upload the picture again.")
    return m.id


def _name(session: Session, user_id: int) -> str:
    u = session.get(User, user_id)
    return u.display_name if u else "Someone"


def _names(people: list[User]) -> str:
    names = [u.display_name for u in people]
    if len(names) > 4:
        return f"{', '.join(names[:3])} and {len(names) - 3} others"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _depart(
    session: Session,
    conv: Conversation,
    member: ConversationMember,
    actor_id: int,
    kind: str,
    text: str,
) -> None:
    """A member leaves or is removed: no new messages from now on; they keep reading up to
    (and including) the line that says so."""
    assert conv.id is not None
    member.left_at = utcnow()
    member.role = MEMBER
    session.add(member)
    session.flush()
    _announce(session, conv, {member.user_id: ""}, also_to=[member.user_id], why=kind)
    line = _line(session, conv, actor_id, kind, text, also_to=[member.user_id])
    member.history_until_id = line
    member.last_read_message_id = max(member.last_read_message_id or 0, line)
    session.add(member)
    session.flush()


def _line(
    session: Session,
    conv: Conversation,
    actor_id: int,
    kind: str,
    text: str,
    also_to: list[int] | None = None,
) -> int:
    assert conv.id is not None
    out = post_system_line(
        session=session,
        conversation_id=conv.id,
        actor_id=actor_id,
        kind=kind,
        text=text,
        also_to=also_to,
    )
    conv.last_message_id = out.id
    return out.id


def _announce(
    session: Session,
    conv: Conversation,
    roles: dict[int, str],
    also_to: list[int] | None = None,
    why: str = "",
) -> None:
    """A ``group`` event to every current member (and ``also_to``): the group's name and
    picture, and whose role changed (``""``: no longer a member)."""
    assert conv.id is not None
    to = {m.user_id for m, _u in _members(session, conv.id)} | set(also_to or ()) | set(roles)
    people = (
        {u.id: u for u in session.exec(select(User).where(col(User.id).in_(list(roles)))).all()}
        if roles
        else {}
    )
    event: dict[str, Any] = {
        "type": "group",
        "conv": conv.id,
        "title": conv.title or "",
        "avatar": thumb_url(conv.picture_ref),
        "can_add": conv.members_can_add,
        "members": [
            {
                "id": uid,
                "role": role,
                "name": people[uid].display_name if uid in people else "",
                "username": people[uid].username if uid in people else "",
                "avatar": thumb_url(people[uid].avatar_ref) if uid in people else "",
            }
            for uid, role in roles.items()
        ],
    }
    if why:
        event["why"] = why  # "left" | "removed": what the departed member's tabs say
    send_event_on_commit(sorted(to), event)
