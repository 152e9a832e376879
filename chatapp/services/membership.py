"""Who may do what in a conversation: membership, the history a member may read, and roles.

The one place for these rules (the state layer and the other services ask here):

- A **current member** (``left_at`` NULL) sends, receives new messages and reads.
- A **former member** (left or removed) keeps read access to the history up to the line that
  said they left (``history_until_id``), as in WhatsApp; nothing newer, no sending.
- A member added to a group later reads from the moment they were added (messages with an id
  above ``history_from_id``: the group's newest message when they were added). Direct
  conversations have no limits (both columns NULL).
- Roles in a group, and what each may do (issue 12's table). The owner is one person.
"""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Session, col, select

from chatapp.models import ConversationMember
from chatapp.services.errors import NotAllowed

OWNER, ADMIN, MODERATOR, MEMBER = "owner", "admin", "moderator", "member"
ROLES = (OWNER, ADMIN, MODERATOR, MEMBER)
# Longest-standing first within a rank: who becomes owner when the owner leaves.
RANK = {OWNER: 0, ADMIN: 1, MODERATOR: 2, MEMBER: 3}
NOT_A_MEMBER = "You are not in this conversation."
REMOVED = "You are no longer a member of this group."


class Action(StrEnum):
    ADD = "add members"
    REMOVE = "remove a member or moderator"
    REMOVE_ADMIN = "remove an admin"
    SET_ADMIN = "make or unmake an admin"
    SET_MODERATOR = "make or unmake a moderator"
    DELETE_ANY = "delete anyone's message"
    EDIT_INFO = "rename, change the picture or the settings"
    OWNER_ONLY = "transfer ownership or delete the group"


_ALLOWED: dict[Action, frozenset[str]] = {
    Action.ADD: frozenset({OWNER, ADMIN}),  # members too, with "Members can add people"
    Action.REMOVE: frozenset({OWNER, ADMIN}),
    Action.REMOVE_ADMIN: frozenset({OWNER}),
    Action.SET_ADMIN: frozenset({OWNER}),
    Action.SET_MODERATOR: frozenset({OWNER, ADMIN}),
    Action.DELETE_ANY: frozenset({OWNER, ADMIN, MODERATOR}),
    Action.EDIT_INFO: frozenset({OWNER, ADMIN}),
    Action.OWNER_ONLY: frozenset({OWNER}),
}


def may(role: str, action: Action, *, members_can_add: bool = False) -> bool:
    """Whether a current member with ``role`` may do ``action`` (the table is the rule)."""
    if action is Action.ADD and role == MEMBER and members_can_add:
        return True
    return role in _ALLOWED[action]


def may_remove(role: str, target_role: str) -> bool:
    """Removing someone: admins and moderators and members by owner/admin; admins by the
    owner only; the owner by nobody (they leave or transfer)."""
    if target_role == OWNER:
        return False
    if target_role == ADMIN:
        return may(role, Action.REMOVE_ADMIN)
    return may(role, Action.REMOVE)


def may_set_role(role: str, target_role: str, new_role: str) -> bool:
    """Changing someone's role among admin/moderator/member (ownership is transferred, never
    set): admin in or out by the owner; moderator in or out by owner or admin."""
    if OWNER in (target_role, new_role) or new_role not in ROLES:
        return False
    if ADMIN in (target_role, new_role):
        return may(role, Action.SET_ADMIN)
    return may(role, Action.SET_MODERATOR)


def membership(
    *, session: Session, user_id: int, conversation_id: int
) -> ConversationMember | None:
    return session.get(ConversationMember, (conversation_id, user_id))


def require_member(*, session: Session, user_id: int, conversation_id: int) -> ConversationMember:
    """A current member's row, or NotAllowed (the same answer whether or not the conversation
    exists; a former member is told they left)."""
    member = membership(session=session, user_id=user_id, conversation_id=conversation_id)
    if member is None:
        raise NotAllowed(NOT_A_MEMBER)
    if member.left_at is not None:
        raise NotAllowed(REMOVED)
    return member


def require_reader(*, session: Session, user_id: int, conversation_id: int) -> ConversationMember:
    """A current or former member's row (both read, within :func:`window`), or NotAllowed."""
    member = membership(session=session, user_id=user_id, conversation_id=conversation_id)
    if member is None:
        raise NotAllowed(NOT_A_MEMBER)
    return member


def window(member: ConversationMember) -> tuple[int, int | None]:
    """The ids a member may read: (above this id, up to this one or None for no end)."""
    until = member.history_until_id if member.left_at is not None else None
    return member.history_from_id or 0, until


def current_member_ids(*, session: Session, conversation_id: int) -> list[int]:
    """Everyone who receives the conversation's new messages."""
    return list(
        session.exec(
            select(ConversationMember.user_id).where(
                ConversationMember.conversation_id == conversation_id,
                col(ConversationMember.left_at).is_(None),
            )
        ).all()
    )


def current_member_windows(*, session: Session, conversation_id: int) -> list[tuple[int, int]]:
    """Each current member and the id above which they read (:func:`window`): a message with
    a larger id is theirs to receive; a member added later does not get older ones."""
    return [
        (user_id, low or 0)
        for user_id, low in session.exec(
            select(ConversationMember.user_id, ConversationMember.history_from_id).where(
                ConversationMember.conversation_id == conversation_id,
                col(ConversationMember.left_at).is_(None),
            )
        ).all()
    ]
