"""The role table of issue 12 (services/membership.py), every cell, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chatapp.models import ConversationMember
from chatapp.services.membership import (
    ADMIN,
    MEMBER,
    MODERATOR,
    OWNER,
    ROLES,
    Action,
    may,
    may_remove,
    may_set_role,
    window,
)

# Action -> the roles that may do it (the table, read literally).
TABLE: dict[Action, set[str]] = {
    Action.ADD: {OWNER, ADMIN},
    Action.REMOVE: {OWNER, ADMIN},
    Action.REMOVE_ADMIN: {OWNER},
    Action.SET_ADMIN: {OWNER},
    Action.SET_MODERATOR: {OWNER, ADMIN},
    Action.DELETE_ANY: {OWNER, ADMIN, MODERATOR},
    Action.EDIT_INFO: {OWNER, ADMIN},
    Action.OWNER_ONLY: {OWNER},
}


def test_the_table_names_every_action() -> None:
    assert set(TABLE) == set(Action)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(Action))
def test_may(role: str, action: Action) -> None:
    assert may(role, action) is (role in TABLE[action])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(Action))
def test_members_can_add_opens_adding_to_members_and_nothing_else(
    role: str, action: Action
) -> None:
    # The table: "add members" for a member is the setting "Members can add people"; the
    # moderator column says "–" (see the report: a moderator may then do less than a member).
    expected = role in TABLE[action] or (action is Action.ADD and role == MEMBER)
    assert may(role, action, members_can_add=True) is expected


@pytest.mark.parametrize("role", ["", "former", "superuser", "Owner"])
def test_unknown_roles_may_do_nothing(role: str) -> None:
    for action in Action:
        assert not may(role, action, members_can_add=True)
    for target in ROLES:
        assert not may_remove(role, target)
        for new in ROLES:
            assert not may_set_role(role, target, new)


# Removing: a member or moderator by owner and admins, an admin by the owner, the owner never.
REMOVE = {MEMBER: {OWNER, ADMIN}, MODERATOR: {OWNER, ADMIN}, ADMIN: {OWNER}, OWNER: set()}


@pytest.mark.parametrize("target", ROLES)
@pytest.mark.parametrize("role", ROLES)
def test_may_remove(role: str, target: str) -> None:
    assert may_remove(role, target) is (role in REMOVE[target])


# Changing a role (target's role, new role) -> who may: admin in or out by the owner,
# moderator in or out by owner and admins, ownership never (it is transferred).
SET_ROLE = {
    (MEMBER, ADMIN): {OWNER},
    (ADMIN, MEMBER): {OWNER},
    (MODERATOR, ADMIN): {OWNER},
    (ADMIN, MODERATOR): {OWNER},
    (MEMBER, MODERATOR): {OWNER, ADMIN},
    (MODERATOR, MEMBER): {OWNER, ADMIN},
}


@pytest.mark.parametrize(
    ("role", "target", "new"),
    # (the same role twice is nothing to change: the service answers without asking)
    [(r, t, n) for r in ROLES for t in ROLES for n in ROLES if t != n],
)
def test_may_set_role(role: str, target: str, new: str) -> None:
    assert may_set_role(role, target, new) is (role in SET_ROLE.get((target, new), set()))


def test_may_set_role_refuses_unknown_roles() -> None:
    assert not may_set_role(OWNER, MEMBER, "superuser")
    assert not may_set_role(OWNER, MEMBER, "")


def _member(**kw: object) -> ConversationMember:
    return ConversationMember(conversation_id=1, user_id=2, **kw)


def test_window() -> None:
    now = datetime.now(UTC)
    assert window(_member()) == (0, None)  # a direct conversation: everything
    assert window(_member(history_from_id=7)) == (7, None)  # added later
    # A former member: up to the line that said so.
    assert window(_member(history_from_id=7, left_at=now, history_until_id=12)) == (7, 12)
    # history_until_id counts only once they left (a re-added member reads on).
    assert window(_member(history_from_id=20, history_until_id=12)) == (20, None)
