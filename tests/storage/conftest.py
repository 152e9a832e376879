"""Fixtures for the media storage tests: users with live sessions, the Cloudinary stand-in,
and a TestClient on the plain HTTP routes wired to the test database and a chosen storage."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from starlette.testclient import TestClient

from chatapp.services import accounts
from chatapp.settings import get_settings
from chatapp.storage.base import MediaStorage
from chatapp.storage.cloudinary_store import CloudinaryStorage
from tests.support.cloudinary_standin import CloudinaryStandIn

PW = "correct horse"


@pytest.fixture
def standin() -> Iterator[CloudinaryStandIn]:
    with CloudinaryStandIn() as s:
        yield s


@pytest.fixture
def cloud(standin: CloudinaryStandIn) -> CloudinaryStorage:
    return CloudinaryStorage(standin.cloudinary_url())


def make_user(db: Session, username: str) -> int:
    user = accounts.sign_up(
        session=db, username=username, email=f"{username}@example.com", password=PW
    )
    db.commit()
    return user.id


def login_token(db: Session, user_id: int) -> str:
    """A live session JWT for `user_id`, as the /auth/session route would set in the cookie."""
    ticket = accounts.start_session(session=db, user_id=user_id)
    issued = accounts.activate_session(session=db, ticket=ticket)
    assert issued is not None
    db.commit()
    return issued.token


def cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"{get_settings().session_cookie_name}={token}"}


def upload_headers(token: str, mime: str = "image/png") -> dict[str, str]:
    """What a browser sends with a same-origin upload: the cookie, the image's type and its
    Fetch metadata (cross-site uploads are refused, see chatapp/web/guard.py)."""
    return {**cookie(token), "Content-Type": mime, "Sec-Fetch-Site": "same-origin"}


def media_rows(engine: sa.Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(sa.text("SELECT COUNT(*) FROM media")).scalar_one())


@pytest.fixture
def routes_client(
    monkeypatch: pytest.MonkeyPatch, mysql_engine: sa.Engine
) -> Iterator[Callable[[MediaStorage], TestClient]]:
    """build(storage) -> a TestClient on build_routes_app() using the test MariaDB engine."""
    import chatapp.db
    import chatapp.storage
    import chatapp.storage.base
    import chatapp.web.media_routes
    from chatapp.web.auth_routes import build_routes_app

    clients: list[TestClient] = []

    def build(storage: MediaStorage) -> TestClient:
        monkeypatch.setattr(chatapp.db, "get_engine", lambda: mysql_engine)
        for module in (chatapp.storage.base, chatapp.storage, chatapp.web.media_routes):
            monkeypatch.setattr(module, "get_storage", lambda: storage)
        client = TestClient(build_routes_app(), follow_redirects=False)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()
