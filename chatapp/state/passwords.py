"""Log-in, sign-up and password change as the forms run them: database steps in the database
pool, bcrypt steps in the hashing pool (state/hashing.py), never one inside the other.

Each flow is: limits and look-ups (database pool, cheap, refuses a flood before any bcrypt),
then bcrypt for the asking tab (hashing pool: skipped if the tab has gone), then the write
(database pool). The service functions are the same ones the synchronous compositions in
services/accounts.py and services/profiles.py use.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from chatapp.services import accounts, dto, profiles
from chatapp.services.events import NotAnnounced
from chatapp.state.db_call import db_call, limit_call
from chatapp.state.hashing import get_hash_pool, hash_call


def slot() -> AbstractAsyncContextManager[None]:
    """Hold one for the whole flow (begin_* to complete_*): at most HASH_QUEUE_MAX flows are
    under way; beyond that the answer is "busy" before any work (state/hashing.py)."""
    return get_hash_pool().slot()


async def admit(*, address: str) -> None:
    """The per-address attempt limit, before anything else: refused attempts never reach the
    database pool. (Memory counts are asked on the event loop; Redis ones in a thread.)"""
    await limit_call(accounts.admit_attempt, address=address)


async def begin_log_in(*, login: str, address: str) -> dto.LoginCheck:
    """The attempt limit, the locks and the account's look-up; Throttled before any bcrypt."""
    await admit(address=address)
    return await db_call(accounts.begin_log_in, login=login, address=address)


async def complete_log_in(
    *, check: dto.LoginCheck, password: str, address: str, user_agent: str, token: str
) -> str:
    """bcrypt for the tab `token`, then the outcome: the one-time ticket of a new session,
    AuthFailed, Throttled ("busy") or TabGone."""
    ok = await hash_call(
        accounts.check_password, token=token, password=password, password_hash=check.password_hash
    )
    return await db_call(
        accounts.finish_log_in, check=check, ok=ok, address=address, user_agent=user_agent
    )


async def begin_sign_up(
    *, username: str, email: str, password: str, address: str
) -> tuple[str, str]:
    """The attempt limit, then shape, the sign-up limit and uniqueness (database pool): the
    normalised (username, email)."""
    await admit(address=address)
    return await db_call(
        accounts.begin_sign_up, username=username, email=email, password=password, address=address
    )


async def complete_sign_up(
    *, username: str, email: str, password: str, user_agent: str, token: str
) -> str:
    """bcrypt for the tab `token`, then the account and its first session's one-time ticket;
    FieldErrors (lost a race for the name), Throttled ("busy") or TabGone."""
    password_hash = await hash_call(accounts.hash_new_password, token=token, password=password)
    return await db_call(
        accounts.create_user_and_start_session,
        username=username,
        email=email,
        password_hash=password_hash,
        user_agent=user_agent,
    )


async def change_password(
    *, user_id: int, keep_session_id: str, current: str, new: str, token: str
) -> int:
    """How many other sessions were logged out; FieldErrors, Throttled or TabGone."""
    async with slot():
        stored = await db_call(profiles.begin_password_change, user_id=user_id, new=new)
        ok = await hash_call(
            accounts.check_password, token=token, password=current, password_hash=stored
        )
        new_hash = (
            await hash_call(accounts.hash_new_password, token=token, password=new) if ok else ""
        )
    try:
        return await db_call(
            profiles.finish_password_change,
            user_id=user_id,
            keep_session_id=keep_session_id,
            current_ok=ok,
            checked_hash=stored,
            new_hash=new_hash,
        )
    except NotAnnounced as exc:
        # Changed, and the other sessions revoked; their tabs find out at their next event
        # (each re-checks its session) instead of at once.
        return int(exc.result)
