"""Profile edits and password changes on MariaDB (services/profiles.py): the edges of names
and bios, where an invisible joiner is spelling and where it is a disguise, avatars that are
not the editor's own, and the steps of a password change as the settings page runs them.
Found by mutation testing (TESTING.md); tests/services/test_profile_names.py has the spoofs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from chatapp import security
from chatapp.models import AuthSession, User
from chatapp.services import accounts, events, media, profiles
from chatapp.services.errors import FieldErrors, NotAllowed, Throttled
from chatapp.services.profiles import MAX_BIO, MAX_DISPLAY_NAME, clean_name, validate_profile
from chatapp.services.throttle import LoginThrottle
from chatapp.storage.local import LocalStorage
from tests.support.images import png

PW = "correct horse"
ZWJ, ZWNJ, ZWSP = "\u200d", "\u200c", "\u200b"


@pytest.fixture
def throttle(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoginThrottle]:
    t = LoginThrottle("memory://", max_failures=3, lockout_minutes=15)
    monkeypatch.setattr(profiles, "get_login_throttle", lambda: t)
    yield t


def _user(db: Session, name: str = "alice") -> int:
    user = accounts.sign_up(session=db, username=name, email=f"{name}@example.com", password=PW)
    db.commit()
    return user.id


# Names: joiners that are spelling, joiners that are not ------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Coder 👩🏻\u200d💻",  # the lightest skin tone before a joiner
        "Coder 👩🏿\u200d💻",  # the darkest
        "Hot ❤️\u200d🔥",  # a variation selector before the joiner
    ],
    ids=["lightest", "darkest", "variation-selector"],
)
def test_joiners_inside_emoji_sequences_are_kept(name: str) -> None:
    assert clean_name(name) == name


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (f"al{ZWJ}ice", "alice"),  # a joiner between letters joins nothing
        (f"a^{ZWJ}b", "a^b"),  # nor after a modifier letter (^ is a symbol, not an emoji)
        (f"\U00020000{ZWJ}\U00020001", "\U00020000\U00020001"),  # nor past the skin tones
        (f"{ZWJ}Bob 👍", "Bob 👍"),  # at the start (nothing before it)
        (f"Bob 👍{ZWJ}", "Bob 👍"),  # at the end (nothing after it)
        (f"Bob 👍{ZWSP}x", "Bob 👍x"),  # other invisibles stay invisible after an emoji
        (f"{ZWNJ}abc", "abc"),  # a non-joiner at the start
        (f"ab{ZWNJ}1", "ab1"),  # ... or next to a digit
        ("bob\x07by\x00", "bob by"),  # control characters are spaces (then trimmed)
    ],
    # (plain ids: mutmut selects tests by id, and escaped non-ASCII ones are not found)
    ids=["letters", "caret", "past-tones", "start", "end", "zwsp", "zwnj-start", "digit", "cc"],
)
def test_joiners_that_join_nothing_are_removed(raw: str, clean: str) -> None:
    assert clean_name(raw) == clean


def test_names_and_bios_at_their_limits(db: Session) -> None:
    assert validate_profile("Q", "") == ("Q", "", {})
    assert validate_profile("n" * MAX_DISPLAY_NAME, "b" * MAX_BIO)[2] == {}
    _, _, errors = validate_profile("n" * (MAX_DISPLAY_NAME + 1), "b" * (MAX_BIO + 1))
    assert set(errors) == {"display_name", "bio"}
    assert f"has {MAX_BIO + 1})" in errors["bio"]  # the person is told how long theirs is


def test_update_profile_refuses_bad_fields_and_changes_nothing(db: Session) -> None:
    uid = _user(db)
    with pytest.raises(FieldErrors) as exc:
        profiles.update_profile(session=db, user_id=uid, display_name="\u200b", bio="x" * 300)
    assert set(exc.value.errors) == {"display_name", "bio"}
    assert "Display name" in str(exc.value) and "Bio" in str(exc.value)
    db.rollback()
    row = db.get(User, uid)
    assert row is not None and (row.display_name, row.bio) == ("alice", "")


def test_a_deleted_account_cannot_edit_its_profile_or_password(db: Session) -> None:
    gone = r"^Your account no longer exists\.$"  # (the whole message, as the person reads it)
    with pytest.raises(NotAllowed, match=gone):
        profiles.update_profile(session=db, user_id=10**9, display_name="Ghost", bio="")
    with pytest.raises(NotAllowed, match=gone):
        profiles.begin_password_change(session=db, user_id=10**9, new="new password 1")
    with pytest.raises(NotAllowed, match=gone):
        profiles.set_read_receipts(session=db, user_id=10**9, on=False)
    assert profiles.read_receipts(session=db, user_id=10**9) is False
    with pytest.raises(NotAllowed, match=gone):
        profiles.finish_password_change(
            session=db,
            user_id=10**9,
            keep_session_id="x",
            current_ok=True,
            checked_hash="x",
            new_hash="y",
        )


# Avatars -----------------------------------------------------------------------------------------


def _avatar(db: Session, store: LocalStorage, owner: int, purpose: str = "avatar") -> str:
    out = media.store_upload(
        session=db, owner_id=owner, purpose=purpose, data=png(32, 32), storage=store
    )
    db.commit()
    return out.id


def test_an_avatar_is_replaced_only_by_a_new_upload(db: Session, tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "media")
    uid = _user(db)
    first = _avatar(db, store, uid)
    with events.collecting() as out:
        upd = profiles.update_profile(
            session=db, user_id=uid, display_name="Alice", bio="", avatar_media_id=first
        )
    # Contacts and the user's own tabs are told of the new picture.
    assert [o.event["avatar"] for o in out] == [f"/media/{first}/thumb"]
    db.commit()
    assert (upd.user.avatar_ref, upd.replaced_avatar) == (first, None)
    for same in (None, "", first):  # no upload, or the one already shown: nothing replaced
        upd = profiles.update_profile(
            session=db, user_id=uid, display_name="Alice B", bio="hi", avatar_media_id=same
        )
        db.commit()
        assert (upd.user.avatar_ref, upd.replaced_avatar) == (first, None)
        assert (upd.user.display_name, upd.user.bio) == ("Alice B", "hi")
    second = _avatar(db, store, uid)
    upd = profiles.update_profile(
        session=db, user_id=uid, display_name="Alice B", bio="hi", avatar_media_id=second
    )
    db.commit()
    assert (upd.user.avatar_ref, upd.replaced_avatar) == (second, first)  # first: to delete


def test_a_profile_cannot_take_someone_elses_upload_or_a_chat_image(
    db: Session, tmp_path: Path
) -> None:
    store = LocalStorage(tmp_path / "media")
    alice, bob = _user(db, "alice"), _user(db, "bob")
    bobs_avatar = _avatar(db, store, bob)
    alices_chat_image = _avatar(db, store, alice, purpose="chat")
    for media_id in (bobs_avatar, alices_chat_image, "no-such-upload"):
        with pytest.raises(NotAllowed):
            profiles.update_profile(
                session=db, user_id=alice, display_name="Alice", bio="", avatar_media_id=media_id
            )
        db.rollback()
    row = db.get(User, alice)
    assert row is not None and row.avatar_ref is None


# Password changes, as the settings page runs them -----------------------------------------------


def _sessions(db: Session, uid: int, n: int) -> list[str]:
    sids = [accounts.start_session(session=db, user_id=uid) for _ in range(n)]
    for sid in sids:
        assert accounts.activate_session(session=db, ticket=sid) is not None
    db.commit()
    return sids


@pytest.mark.parametrize(
    ("new", "ok"),
    [("x" * 8, True), ("é" * 36, True), ("x" * 7, False)],
    ids=["8-chars", "72-bytes", "7-chars"],
)
def test_the_new_password_has_the_sign_up_limits(db: Session, new: str, ok: bool) -> None:
    uid = _user(db)
    if ok:
        assert profiles.begin_password_change(session=db, user_id=uid, new=new).startswith("$2b$")
    else:
        with pytest.raises(FieldErrors) as exc:
            profiles.begin_password_change(session=db, user_id=uid, new=new)
        assert set(exc.value.errors) == {"new"}


def test_a_new_password_over_72_bytes_is_refused(db: Session) -> None:
    uid = _user(db)
    with pytest.raises(FieldErrors) as exc:
        profiles.begin_password_change(session=db, user_id=uid, new="é" * 36 + "x")
    assert set(exc.value.errors) == {"new"}


def test_the_settings_page_steps_change_the_password_and_log_out_the_rest(
    db: Session, throttle: LoginThrottle
) -> None:
    uid = _user(db)
    mine, other = _sessions(db, uid, 2)
    stored = profiles.begin_password_change(session=db, user_id=uid, new="new password 1")
    ok = accounts.check_password(password=PW, password_hash=stored)
    new_hash = accounts.hash_new_password(password="new password 1")
    revoked = profiles.finish_password_change(
        session=db,
        user_id=uid,
        keep_session_id=mine,
        current_ok=ok,
        checked_hash=stored,
        new_hash=new_hash,
    )
    db.commit()
    assert revoked == 1
    row = db.get(User, uid)
    assert row is not None and row.password_hash == new_hash
    assert accounts.session_is_live(session=db, session_id=mine, user_id=uid)
    assert not accounts.session_is_live(session=db, session_id=other, user_id=uid)


def test_a_password_changed_elsewhere_meanwhile_is_not_overwritten(db: Session) -> None:
    uid = _user(db)
    (mine,) = _sessions(db, uid, 1)
    stored = profiles.begin_password_change(session=db, user_id=uid, new="new password 1")
    row = db.get(User, uid)
    assert row is not None
    row.password_hash = accounts.hash_new_password(password="changed in another tab")
    db.add(row)
    db.commit()
    with pytest.raises(FieldErrors) as exc:
        profiles.finish_password_change(
            session=db,
            user_id=uid,
            keep_session_id=mine,
            current_ok=True,
            checked_hash=stored,
            new_hash="y",
        )
    assert exc.value.errors == {"current": "Your password was just changed elsewhere. Try again."}
    db.rollback()
    assert accounts.authenticate(session=db, login="alice", password="changed in another tab")


def test_a_right_guess_forgets_the_wrong_ones(db: Session, throttle: LoginThrottle) -> None:
    """Two wrong current passwords, then the right one: the count starts again, so two more
    wrong ones do not lock (three would)."""
    uid = _user(db)
    (mine,) = _sessions(db, uid, 1)

    def change(current: str, new: str) -> int:
        return profiles.change_password(
            session=db, user_id=uid, keep_session_id=mine, current=current, new=new
        )

    for guess in ("guess 1", "guess 2"):
        with pytest.raises(FieldErrors, match="not your current password"):
            change(guess, "new password 1")
        db.rollback()
    assert change(PW, "new password 1") == 0
    db.commit()
    for guess in ("guess 3", "guess 4"):
        with pytest.raises(FieldErrors):
            change(guess, "new password 2")
        db.rollback()
    assert change("new password 1", "new password 2") == 0
    db.commit()
    for guess in ("guess 5", "guess 6", "guess 7"):
        with pytest.raises(FieldErrors):
            change(guess, "new password 3")
        db.rollback()
    with pytest.raises(Throttled, match=r"wrong current passwords\. Try again in 15 minutes"):
        change("new password 2", "new password 3")


def test_a_wrong_current_password_changes_nothing(db: Session, throttle: LoginThrottle) -> None:
    uid = _user(db)
    mine, other = _sessions(db, uid, 2)
    with pytest.raises(FieldErrors):
        profiles.finish_password_change(
            session=db,
            user_id=uid,
            keep_session_id=mine,
            current_ok=False,
            checked_hash="irrelevant",
            new_hash=security.hash_password("nope nope nope", rounds=4),
        )
    db.rollback()
    assert accounts.authenticate(session=db, login="alice", password=PW)
    db.expire_all()
    assert db.get(AuthSession, other) is not None
    assert accounts.session_is_live(session=db, session_id=other, user_id=uid)


def test_a_wrong_current_password_costs_one_bcrypt_not_two(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new password is hashed only once the current one is right: a guesser at an
    unlocked computer gets no second bcrypt of work out of each guess."""
    uid = _user(db)
    (mine,) = _sessions(db, uid, 1)
    hashed: list[str] = []
    real = security.hash_password

    def spy(password: str, *, rounds: int) -> str:
        hashed.append(password)
        return real(password, rounds=rounds)

    monkeypatch.setattr(security, "hash_password", spy)
    with pytest.raises(FieldErrors):
        profiles.change_password(
            session=db, user_id=uid, keep_session_id=mine, current="wrong", new="new password 1"
        )
    db.rollback()
    assert hashed == []
    profiles.change_password(
        session=db, user_id=uid, keep_session_id=mine, current=PW, new="new password 1"
    )
    assert hashed == ["new password 1"]
