"""Per-address limits on the running backend (issue 11, findings 7 and 8), driven over Reflex's
websocket protocol from distinct loopback addresses (bench/flood.py's AuthTab).

On main: five wrong passwords from anyone locked the real owner out; one guess on each of
many accounts was never limited; 40 accounts from one address in 3.5 s.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from bench.flood import TICKET, AuthTab
from chatapp.db import make_engine
from chatapp.services import accounts
from tests.e2e.conftest import AppServer

pytestmark = pytest.mark.e2e

PW = "the owner's password"


@pytest.fixture(scope="module")
def engine(strict_server: AppServer):  # type: ignore[no-untyped-def]
    e = make_engine(strict_server.database_url)
    yield e
    e.dispose()


def _user(engine: sa.Engine, prefix: str = "ow") -> str:
    name = f"{prefix}{secrets.token_hex(4)}"
    with Session(engine) as s:
        accounts.sign_up(session=s, username=name, email=f"{name}@x.example", password=PW)
        s.commit()
    return name


async def _attempts(tab: AuthTab, attempts: list[tuple[str, ...]]) -> list[str]:
    """Each attempt in turn (log-in: (login, password); sign-up: (user, email, password))."""
    await tab.connect()
    out = []
    for attempt in attempts:
        answer = tab.outcome()
        if len(attempt) == 2:
            tab.log_in(*attempt)
        else:
            tab.sign_up(*attempt)
        out.append(await asyncio.wait_for(answer, 60))
    tab.close()
    return out


def run(server: AppServer, address: str, attempts: list[tuple[str, ...]], page: str) -> list[str]:
    tab = AuthTab(port=server.port, local_host=address, page=page)
    return asyncio.run(_attempts(tab, attempts))


def test_wrong_passwords_from_elsewhere_do_not_lock_the_owner_out(
    strict_server: AppServer, engine: sa.Engine
) -> None:
    alice = _user(engine)
    attacker = run(strict_server, "127.0.0.60", [(alice, "guess-number-1")] * 7, "/login")
    assert attacker[0] == accounts.BAD_LOGIN
    assert "Too many" in attacker[-1], attacker  # the attacker's address is locked out...
    owner = run(strict_server, "127.0.0.61", [(alice, PW)], "/login")
    assert owner == [TICKET], owner  # ...the owner, from their own address, is not


def test_one_guess_on_many_accounts_is_limited_per_address(
    strict_server: AppServer, engine: sa.Engine
) -> None:
    names = [_user(engine, "sp") for _ in range(14)]
    answers = run(strict_server, "127.0.0.62", [(n, "Winter2026!") for n in names], "/login")
    assert answers[0] == accounts.BAD_LOGIN
    refused = [a for a in answers if "Too many" in a]
    assert refused, answers
    assert len(answers) - len(refused) <= 10, answers  # at most 10 guesses a minute got through
    # Another address is not affected.
    assert run(strict_server, "127.0.0.63", [(names[0], PW)], "/login") == [TICKET]


def test_sign_ups_per_address_are_limited(strict_server: AppServer, engine: sa.Engine) -> None:
    tag = secrets.token_hex(3)
    wanted = [
        (f"su{tag}{i:02d}", f"su{tag}{i:02d}@x.example", "sign-up-password") for i in range(13)
    ]
    answers = run(strict_server, "127.0.0.64", wanted, "/signup")
    made = [a for a in answers if a == TICKET]
    assert 1 <= len(made) <= 10, answers
    assert all("Too many" in a for a in answers[len(made) :]), answers
    with engine.connect() as c:
        n = c.execute(
            sa.text("SELECT COUNT(*) FROM users WHERE username LIKE :p"), {"p": f"su{tag}%"}
        ).scalar()
    assert n == len(made)
    # Someone else's network can still sign up.
    other = (f"sx{tag}", f"sx{tag}@x.example", "sign-up-password")
    assert run(strict_server, "127.0.0.65", [other], "/signup") == [TICKET]


class _Refusals:
    """Counts what the tab was told (the load tool's sink interface)."""

    def __init__(self) -> None:
        self.refused = 0

    def delivered(self, tab: object, item: object, frame_bytes: int) -> None: ...
    def confirmed(self, tab: object, item: object) -> None: ...

    def error(self, tab: object, what: str) -> None:
        if "text back in the composer" in what:
            self.refused += 1


@pytest.fixture(scope="module")
def send_limited_server(e2e_db_url: str) -> Iterator[AppServer]:
    """The backend with the default message limit (SEND_BURST, SENDS_PER_MINUTE)."""
    server = AppServer(
        e2e_db_url,
        log_name="sendlimit",
        backend_only=True,
        extra_env={"SEND_BURST": "30", "SEND_BURST_SECONDS": "10", "SENDS_PER_MINUTE": "120"},
    )
    server.start()
    yield server
    server.stop()
    server.remove_web_dir()


def test_a_message_flood_is_cut_to_the_burst(send_limited_server: AppServer, engine) -> None:  # type: ignore[no-untyped-def]
    """Finding 8: one user stored and delivered 1,000 messages in 1.5 s. Now a burst of
    SEND_BURST (30) goes through, then each further send is refused with the text given back
    to the composer and a message saying how long to wait; nothing of it is stored."""
    from bench.db import make_user
    from bench.load import make_body
    from bench.tabs import ChatappTab
    from chatapp.services import conversations

    users = [make_user(engine, f"{prefix}{secrets.token_hex(4)}") for prefix in ("fa", "fb")]
    a, b = users
    with Session(engine) as s:
        conversations.open_direct(session=s, user_id=a.id, other_user_id=b.id)
        s.commit()
    sink = _Refusals()
    tag = secrets.token_hex(4)

    async def flood() -> str:
        tab = ChatappTab(index=0, user=a, peer=b, port=send_limited_server.port, sink=sink)  # type: ignore[arg-type]
        await tab.connect()
        await tab.open_conversation()
        cids = [f"{tag}{i:04d}" for i in range(45)]
        for cid in cids:
            tab.send(make_body(cid), cid)
        answered = tab.expect(lambda op: op.get("t") == "msg" and op["item"]["cid"] == cids[29])
        await asyncio.wait_for(answered, 30)
        for _ in range(100):  # every send answered: 30 stored, 15 refused
            if sink.refused >= 15:
                break
            await asyncio.sleep(0.1)
        tab.close()
        return tab.notice

    notice = asyncio.run(flood())
    with engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT COUNT(*) FROM messages WHERE client_id LIKE :t"), {"t": f"{tag}%"}
        ).scalar()
    assert stored == 30
    assert sink.refused == 15
    assert "sending messages too fast" in notice
