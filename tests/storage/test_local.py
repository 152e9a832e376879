"""LocalStorage on disk, and the /media + /api/media routes with local storage on MariaDB."""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image
from sqlmodel import Session
from starlette.testclient import TestClient

from chatapp.models import Media
from chatapp.services import conversations, media
from chatapp.storage.base import MediaStorage
from chatapp.storage.local import LocalStorage
from tests.storage.conftest import cookie, login_token, make_user, media_rows, upload_headers
from tests.support import images as samples
from tests.support.images import has_gps, jpeg_with_gps, png


def _files(root: Path) -> list[Path]:
    return sorted(p.resolve() for p in root.rglob("*") if p.is_file()) if root.exists() else []


# LocalStorage --------------------------------------------------------------------------------
def test_put_local_path_delete(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "media")
    data = png()
    stored = store.put("chat/ab/abc123.png", data, mime="image/png", private=True)
    assert (stored.key, stored.bytes) == ("chat/ab/abc123.png", len(data))

    path = store.local_path("chat/ab/abc123.png")
    assert path == (tmp_path / "media" / "chat" / "ab" / "abc123.png").resolve()
    assert path.read_bytes() == data
    assert store.delivery_url("chat/ab/abc123.png", private=True) is None
    assert _files(tmp_path / "media") == [path]  # no temporary files left behind

    store.put("chat/ab/abc123.png", b"second", mime="image/png", private=True)  # overwrite
    assert path.read_bytes() == b"second"
    assert store.local_path("chat/ab/missing.png") is None

    store.delete("chat/ab/abc123.png", private=True)
    assert not path.exists()
    assert store.local_path("chat/ab/abc123.png") is None
    store.delete("chat/ab/abc123.png", private=True)  # deleting twice is fine


# "{tmp}" is the test's tmp_path: even a broken implementation could only write in there.
BAD_KEYS = [
    "../outside.png",
    "chat/../../outside.png",
    "chat/ab/../../../outside.png",
    "chat/..",
    "..",
    "{tmp}/outside.png",
    "/{tmp}/outside.png",
    "{tmp}/sandbox/media/chat/ok.png",  # absolute, even when it points inside the root
    "chat//x.png",
    "chat/x.png/",
    "",
    ".",
    "./x.png",
    "chat/%2e%2e/x.png",
    "chat\\..\\x.png",
    "C:/x.png",
    "chat/x\x00.png",
    "chat/ab/x y.png",
    "chat/..hidden/../x.png",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused(tmp_path: Path, key: str) -> None:
    key = key.replace("{tmp}", str(tmp_path))
    store = LocalStorage(tmp_path / "sandbox" / "media")
    with pytest.raises(ValueError, match="bad media key"):
        store.put(key, b"x", mime="image/png", private=True)
    with pytest.raises(ValueError, match="bad media key"):
        store.local_path(key)
    with pytest.raises(ValueError, match="bad media key"):
        store.delete(key, private=True)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_symlinked_folder_cannot_lead_outside(tmp_path: Path) -> None:
    root = tmp_path / "media"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"secret")
    os.symlink(outside, root / "chat")
    store = LocalStorage(root)
    with pytest.raises(ValueError):
        store.local_path("chat/secret.png")
    with pytest.raises(ValueError):
        store.put("chat/new.png", b"x", mime="image/png", private=True)
    with pytest.raises(ValueError):
        store.delete("chat/secret.png", private=True)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.png"]


# Routes with local storage -------------------------------------------------------------------
@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def client(media_dir: Path, routes_client: Callable[[MediaStorage], TestClient]) -> TestClient:
    return routes_client(LocalStorage(media_dir))


@pytest.fixture
def alice_token(db: Session) -> str:
    return login_token(db, make_user(db, "alice"))


def test_member_gets_the_clean_file_others_do_not(
    db: Session, client: TestClient, media_dir: Path
) -> None:
    alice, bob, carol = (make_user(db, n) for n in ("alice", "bob", "carol"))
    tokens = {uid: login_token(db, uid) for uid in (alice, bob, carol)}
    conv = conversations.open_direct(session=db, user_id=alice, other_user_id=bob)
    db.commit()

    r = client.post(
        "/api/media?purpose=chat", content=jpeg_with_gps(), headers=upload_headers(tokens[alice])
    )
    assert r.status_code == 200, r.text
    mid = r.json()["id"]
    row = db.get(Media, mid)
    assert row is not None and row.storage == "local"
    on_disk = _files(media_dir)
    assert on_disk == sorted(
        [(media_dir / row.full_key).resolve(), (media_dir / row.thumb_key).resolve()]
    )
    assert all(not has_gps(p.read_bytes()) for p in on_disk)

    assert client.get(f"/media/{mid}/full", headers=cookie(tokens[bob])).status_code == 404
    media.claim_for_message(session=db, media_id=mid, sender_id=alice, conversation_id=conv)
    db.commit()

    for variant, key in (("full", row.full_key), ("thumb", row.thumb_key)):
        r = client.get(f"/media/{mid}/{variant}", headers=cookie(tokens[bob]))
        assert r.status_code == 200
        assert r.headers["content-type"] == "image/jpeg"
        assert r.headers["cache-control"] == "private, max-age=86400"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.content == (media_dir / key).read_bytes()
        assert not has_gps(r.content)
        with Image.open(io.BytesIO(r.content)) as im:
            assert im.format == "JPEG"

    assert client.get(f"/media/{mid}/full", headers=cookie(tokens[alice])).status_code == 200
    r = client.get(f"/media/{mid}/full", headers=cookie(tokens[carol]))
    assert r.status_code == 404
    assert r.content == b"Not found."
    r = client.get(f"/media/{mid}/full")
    assert r.status_code == 403
    assert client.get(f"/media/{mid}/full", headers=cookie("garbage")).status_code == 403
    assert client.get(f"/media/{mid}/raw", headers=cookie(tokens[bob])).status_code == 404
    assert client.get("/media/unknown/full", headers=cookie(tokens[bob])).status_code == 404


def test_missing_file_is_a_404_not_a_crash(
    db: Session, client: TestClient, media_dir: Path, alice_token: str
) -> None:
    r = client.post("/api/media?purpose=chat", content=png(), headers=upload_headers(alice_token))
    mid = r.json()["id"]
    for p in _files(media_dir):
        p.unlink()
    assert client.get(f"/media/{mid}/full", headers=cookie(alice_token)).status_code == 404


@functools.cache
def _bad_upload(name: str) -> bytes:
    return {
        "empty": lambda: b"",
        "elf_named_png": samples.elf_executable,
        "truncated_jpeg": samples.truncated_jpeg,
        "huge_dimensions_png": samples.huge_dimensions_png,
        "gif_3000_frames": samples.many_frames_gif,
        "11_mb": lambda: jpeg_with_gps() + b"\0" * (11 * 1024 * 1024),
    }[name]()


BAD_UPLOADS = [
    ("empty", 400, "The file is empty."),
    ("11_mb", 413, "Images can be at most 10 MB."),
    ("elf_named_png", 400, "That file is not a JPEG, PNG, WebP or GIF image."),
    ("truncated_jpeg", 400, "The image is damaged or incomplete."),
    ("huge_dimensions_png", 400, "That image has too many pixels (at most 16.8 megapixels)."),
    ("gif_3000_frames", 400, "Animated images can have at most 300 frames."),
]


@pytest.mark.parametrize("purpose", ["chat", "avatar"])
@pytest.mark.parametrize(("name", "status", "message"), BAD_UPLOADS)
def test_bad_uploads_are_refused_and_nothing_is_stored(
    db: Session,
    client: TestClient,
    media_dir: Path,
    mysql_engine: sa.Engine,
    alice_token: str,
    purpose: str,
    name: str,
    status: int,
    message: str,
) -> None:
    body = _bad_upload(name)
    r = client.post(
        f"/api/media?purpose={purpose}",
        content=body,
        headers=upload_headers(alice_token, "image/png"),
    )
    assert r.status_code == status, r.text
    assert r.json() == {"ok": False, "error": message}
    assert r.headers["cache-control"] == "no-store"
    assert media_rows(mysql_engine) == 0
    assert _files(media_dir) == []


def test_oversized_chunked_upload_is_cut_off(
    db: Session, client: TestClient, media_dir: Path, mysql_engine: sa.Engine, alice_token: str
) -> None:
    """No Content-Length to trust: the route counts while it reads."""

    def chunks() -> Iterator[bytes]:
        for _ in range(11):
            yield b"\xff" * (1024 * 1024)

    r = client.post(
        "/api/media?purpose=chat", content=chunks(), headers=upload_headers(alice_token)
    )
    assert r.status_code == 413
    assert r.json() == {"ok": False, "error": "Images can be at most 10 MB."}
    assert media_rows(mysql_engine) == 0
    assert _files(media_dir) == []


def test_anonymous_or_unknown_purpose_upload_is_refused(
    db: Session, client: TestClient, media_dir: Path, mysql_engine: sa.Engine, alice_token: str
) -> None:
    anonymous = {"Content-Type": "image/png", "Sec-Fetch-Site": "same-origin"}
    r = client.post("/api/media?purpose=chat", content=png(), headers=anonymous)
    assert (r.status_code, r.json()["error"]) == (401, "Log in again to upload.")
    r = client.post("/api/media?purpose=chat", content=png(), headers=upload_headers("forged"))
    assert r.status_code == 401
    r = client.post("/api/media?purpose=exe", content=png(), headers=upload_headers(alice_token))
    assert (r.status_code, r.json()["error"]) == (400, "Unknown upload purpose.")
    assert media_rows(mysql_engine) == 0
    assert _files(media_dir) == []


@pytest.mark.parametrize("purpose", ["chat", "avatar"])
def test_valid_jpeg_with_gps_is_stored_without_it(
    db: Session,
    client: TestClient,
    media_dir: Path,
    mysql_engine: sa.Engine,
    alice_token: str,
    purpose: str,
) -> None:
    original = jpeg_with_gps()
    assert has_gps(original)
    r = client.post(
        f"/api/media?purpose={purpose}", content=original, headers=upload_headers(alice_token)
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True
    assert body["full"] == f"/media/{body['id']}/full"
    assert media_rows(mysql_engine) == 1
    files = _files(media_dir)
    assert len(files) == 2
    folder = "chat" if purpose == "chat" else "avatars"
    assert all(p.relative_to(media_dir.resolve()).parts[0] == folder for p in files)
    for p in files:
        data = p.read_bytes()
        assert not has_gps(data)
        assert b"SecretCam" not in data
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            assert not im.getexif()
    r = client.get(body["full"], headers=cookie(alice_token))
    assert r.status_code == 200
    assert not has_gps(r.content)


def _animated_gif_with_comment() -> bytes:
    frames = [Image.new("L", (32, 32), 40 * i) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(
        out,
        "GIF",
        save_all=True,
        append_images=frames[1:],
        duration=50,
        loop=0,
        comment=b"GPS 52.5200N 13.4050E SecretCam 3000",
    )
    return out.getvalue()


def test_animated_gif_metadata_is_stripped(
    db: Session, client: TestClient, media_dir: Path, alice_token: str
) -> None:
    original = _animated_gif_with_comment()
    assert b"SecretCam" in original
    r = client.post(
        "/api/media?purpose=chat", content=original, headers=upload_headers(alice_token)
    )
    assert r.status_code == 200, r.text
    files = _files(media_dir)
    assert len(files) == 2
    for p in files:
        data = p.read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            assert "comment" not in im.info
        assert b"SecretCam" not in data
