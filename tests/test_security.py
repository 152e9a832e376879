"""Password hashing and session tokens."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from chatapp import security

SECRET = "s" * 48


def _token(**overrides: object) -> str:
    return security.encode_session_token(
        user_id=7,
        session_id="sid-1",
        expires_at=overrides.pop("expires_at", datetime.now(UTC) + timedelta(hours=1)),  # type: ignore[arg-type]
        secret=str(overrides.pop("secret", SECRET)),
    )


def _cost(password_hash: str) -> int:
    """The cost a bcrypt hash was made with: ``$2b$<cost>$<salt and hash>``."""
    prefix, cost, _rest = password_hash.removeprefix("$").split("$")
    assert prefix == "2b"
    return int(cost)


def test_hash_and_verify_with_cost_12_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """New hashes carry the configured cost (12 unless BCRYPT_ROUNDS says otherwise; the suite
    runs at 4), and hashes made at another cost, before the setting changed, still verify."""
    from chatapp.services import accounts
    from chatapp.settings import Settings, get_settings

    monkeypatch.delenv("BCRYPT_ROUNDS", raising=False)
    assert Settings().bcrypt_rounds == 12
    monkeypatch.setattr(get_settings(), "bcrypt_rounds", 12)
    new = accounts.hash_new_password(password="correct horse battery")
    assert _cost(new) == 12
    assert accounts.check_password(password="correct horse battery", password_hash=new)
    assert not accounts.check_password(password="correct horse batterx", password_hash=new)

    old = security.hash_password("correct horse battery", rounds=5)
    assert _cost(old) == 5
    assert accounts.check_password(password="correct horse battery", password_hash=old)
    assert not accounts.check_password(password="correct horse batterx", password_hash=old)

    monkeypatch.setattr(get_settings(), "bcrypt_rounds", 4)
    assert _cost(accounts.hash_new_password(password="correct horse battery")) == 4
    assert accounts.check_password(password="correct horse battery", password_hash=new)


def test_hash_is_salted() -> None:
    assert security.hash_password("same", rounds=4) != security.hash_password("same", rounds=4)


def test_password_over_72_bytes_is_refused_not_truncated() -> None:
    with pytest.raises(ValueError):
        security.hash_password("é" * 37, rounds=4)  # 74 bytes
    h = security.hash_password("a" * 72, rounds=4)
    assert not security.verify_password("a" * 73, h)


def test_verify_against_garbage_hash_is_false() -> None:
    assert not security.verify_password("x", "not-a-bcrypt-hash")


def test_roundtrip() -> None:
    claims = security.decode_session_token(_token(), secret=SECRET)
    assert claims.user_id == 7
    assert claims.session_id == "sid-1"
    header = json.loads(base64.urlsafe_b64decode(_token().split(".")[0] + "=="))
    assert header["alg"] == "HS256"


def test_expired_token_is_refused() -> None:
    old = _token(expires_at=datetime.now(UTC) - timedelta(seconds=5))
    with pytest.raises(security.TokenError):
        security.decode_session_token(old, secret=SECRET)


def test_tampered_payload_is_refused() -> None:
    head, payload, sig = _token().split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=="))
    data["sub"] = "8"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    with pytest.raises(security.TokenError):
        security.decode_session_token(f"{head}.{forged}.{sig}", secret=SECRET)


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(security.TokenError):
        security.decode_session_token(_token(secret="x" * 48), secret=SECRET)


def test_alg_none_is_refused() -> None:
    payload = {
        "sub": "7",
        "jti": "sid-1",
        "iat": 1,
        "exp": int((datetime.now(UTC) + timedelta(hours=1)).timestamp()),
        "typ": "session",
    }
    unsigned = jwt.encode(payload, key=None, algorithm="none")
    with pytest.raises(security.TokenError):
        security.decode_session_token(unsigned, secret=SECRET)
    # A hand-made "alg: none" token with an empty signature, too.
    head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(security.TokenError):
        security.decode_session_token(f"{head}.{body}.", secret=SECRET)


def test_other_algorithms_are_refused() -> None:
    payload = {"sub": "7", "jti": "s", "iat": 1, "exp": 2**33, "typ": "session"}
    hs512 = jwt.encode(payload, SECRET, algorithm="HS512")
    with pytest.raises(security.TokenError):
        security.decode_session_token(hs512, secret=SECRET)


def test_non_session_token_and_garbage_are_refused() -> None:
    payload = {"sub": "7", "jti": "s", "iat": 1, "exp": 2**33, "typ": "ticket"}
    with pytest.raises(security.TokenError):
        security.decode_session_token(jwt.encode(payload, SECRET, "HS256"), secret=SECRET)
    for junk in ["", "a.b.c", "x" * 5000]:
        with pytest.raises(security.TokenError):
            security.decode_session_token(junk, secret=SECRET)


def test_production_refuses_weak_secret() -> None:
    from pydantic import ValidationError

    from chatapp.settings import Settings

    with pytest.raises(ValidationError):
        Settings(app_env="production", jwt_secret="")
    with pytest.raises(ValidationError):
        Settings(app_env="production", jwt_secret="short")
    ok = Settings(app_env="production", jwt_secret="k" * 40)
    assert ok.is_production


def test_mysql_url_gets_utf8mb4() -> None:
    from chatapp.settings import Settings

    s = Settings(database_url="mysql+pymysql://u:p@h:3306/db")
    assert s.database_url.endswith("?charset=utf8mb4")


# Found by mutation testing (TESTING.md): behaviour the tests above did not pin down. ------


def _raw_token(payload: dict[str, object]) -> str:
    return jwt.encode(payload, SECRET, algorithm="HS256")


def _claims(**drop_or_set: object) -> dict[str, object]:
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, object] = {
        "sub": "7",
        "jti": "sid-1",
        "iat": now,
        "exp": now + 3600,
        "typ": "session",
    }
    for key, value in drop_or_set.items():
        if value is None:
            claims.pop(key)
        else:
            claims[key] = value
    return claims


@pytest.mark.parametrize("missing", ["exp", "sub", "jti", "iat"])
def test_a_token_without_a_required_claim_is_refused(missing: str) -> None:
    with pytest.raises(security.TokenError):
        security.decode_session_token(_raw_token(_claims(**{missing: None})), secret=SECRET)


def test_a_session_id_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(security.TokenError):
        security.decode_session_token(_raw_token(_claims(jti=12345)), secret=SECRET)


def test_no_token_at_all_is_refused_not_a_crash() -> None:
    for nothing in ("", None):
        with pytest.raises(security.TokenError):
            security.decode_session_token(nothing, secret=SECRET)  # type: ignore[arg-type]


def test_the_claims_carry_the_expiry_in_utc() -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    claims = security.decode_session_token(_token(expires_at=expires), secret=SECRET)
    assert claims.expires_at == expires
    assert claims.expires_at.utcoffset() == timedelta(0)
    assert (claims.user_id, claims.session_id) == (7, "sid-1")


def test_leeway_accepts_a_token_that_expired_just_now() -> None:
    token = _raw_token(_claims(exp=int(datetime.now(UTC).timestamp()) - 10))
    with pytest.raises(security.TokenError):
        security.decode_session_token(token, secret=SECRET)
    claims = security.decode_session_token(token, secret=SECRET, leeway=timedelta(seconds=60))
    assert claims.session_id == "sid-1"


def test_a_password_of_exactly_72_bytes_works() -> None:
    password = "é" * 36  # 72 bytes in UTF-8: the most bcrypt reads
    hashed = security.hash_password(password, rounds=4)
    assert security.verify_password(password, hashed)
    assert not security.verify_password("é" * 35 + "e", hashed)


def test_the_default_cost_is_12() -> None:
    assert _cost(security.hash_password("correct horse")) == 12


def test_session_ids_are_long_random_and_url_safe() -> None:
    ids = {security.new_session_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 43 and all(c.isalnum() or c in "-_" for c in i) for i in ids)
