"""CloudinaryStorage against a local stand-in of Cloudinary's Upload API (tests/support).

The SDK talks real HTTP to the stand-in (via ``upload_prefix``); the stand-in checks every
request's signature with its own implementation of Cloudinary's documented scheme.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import time
from collections.abc import Callable

import cloudinary.exceptions
import cloudinary.utils
import httpx
import pytest
import sqlalchemy as sa
from PIL import Image
from sqlmodel import Session, select
from starlette.testclient import TestClient

from chatapp.models import Media
from chatapp.services import conversations, media, profiles
from chatapp.services.errors import NotAllowed
from chatapp.settings import get_settings
from chatapp.storage.base import MediaStorage
from chatapp.storage.cloudinary_store import CloudinaryStorage
from tests.storage.conftest import cookie, login_token, make_user, media_rows, upload_headers
from tests.support.cloudinary_standin import (
    CloudinaryStandIn,
    api_signature,
    parse_delivery_url,
    string_to_sign,
)
from tests.support.images import has_gps, jpeg_with_gps, png

SIG_RE = re.compile(r"/image/authenticated/s--([A-Za-z0-9_-]{8})--/")


def _jpeg(width: int = 320, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def _sha1_url_sig(signed_part: str, secret: str) -> str:
    """Cloudinary URL signature, spelled out here once more (not the stand-in's, not the SDK's)."""
    raw = hashlib.sha1((signed_part + secret).encode()).digest()  # noqa: S324
    return base64.urlsafe_b64encode(raw).decode()[:8]


def _assert_signed_upload(rec, standin: CloudinaryStandIn) -> None:  # type: ignore[no-untyped-def]
    assert rec.status == 200, rec.response
    assert rec.signature_valid is True
    p = rec.params
    assert p["api_key"] == standin.api_key
    signed = {k: v for k, v in p.items() if k not in {"signature", "api_key"}}
    to_sign = "&".join(f"{k}={signed[k]}" for k in sorted(signed))
    expected = hashlib.sha1((to_sign + standin.api_secret).encode()).hexdigest()  # noqa: S324
    assert p["signature"] == expected
    assert abs(int(p["timestamp"]) - time.time()) < 120


# The stand-in's own signing code ------------------------------------------------------------
def test_standin_signature_matches_cloudinary_documented_example() -> None:
    # The worked example from Cloudinary's "Generating authentication signatures" guide.
    params = {
        "eager": "w_400,h_300,c_pad|w_260,h_200,c_crop",
        "public_id": "sample_image",
        "timestamp": "1315060510",
    }
    assert api_signature(params, "abcd") == "bfd09f95f331f558cbd1320e67aa8d488770583e"
    # file, cloud_name, resource_type, api_key and empty values are never part of the signature
    noisy = {
        **params,
        "file": "x",
        "cloud_name": "demo",
        "resource_type": "image",
        "api_key": "1",
        "signature": "y",
        "tags": "",
    }
    assert string_to_sign(noisy) == string_to_sign(params)
    assert api_signature(noisy, "abcd") == api_signature(params, "abcd")


def test_standin_rejects_request_altered_after_signing(standin: CloudinaryStandIn) -> None:
    params = {
        "timestamp": str(int(time.time())),
        "public_id": "chat/ab/tampered",
        "type": "upload",
    }
    signed = cloudinary.utils.sign_request(
        params, {"api_key": standin.api_key, "api_secret": standin.api_secret}
    )
    url = f"{standin.base_url}/v1_1/{standin.cloud_name}/image/upload"
    r = httpx.post(url, data={**signed, "type": "authenticated"}, files={"file": ("x", png())})
    assert r.status_code == 401
    assert "Invalid Signature" in r.json()["error"]["message"]
    r = httpx.post(url, data=signed, files={"file": ("x", png())})  # untouched: accepted
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "upload"
    assert set(standin.assets) == {("image", "upload", "chat/ab/tampered")}


# put ---------------------------------------------------------------------------------------
def test_put_private_chat_image_is_a_signed_authenticated_upload(
    standin: CloudinaryStandIn, cloud: CloudinaryStorage
) -> None:
    data = _jpeg()
    stored = cloud.put("chat/Ab/AbCdEf123.jpg", data, mime="image/jpeg", private=True)

    assert stored.key == "chat/Ab/AbCdEf123.jpg"
    assert stored.bytes == len(data)
    [rec] = standin.requests
    assert (rec.method, rec.path) == ("POST", "/v1_1/demo/image/upload")
    assert rec.action == "upload"
    _assert_signed_upload(rec, standin)
    assert rec.params["type"] == "authenticated"
    assert rec.params["public_id"] == "chat/Ab/AbCdEf123"  # the format is kept apart
    assert rec.params["overwrite"] == "1"
    assert rec.params["invalidate"] == "1"
    assert set(rec.params) == {
        "timestamp",
        "public_id",
        "type",
        "overwrite",
        "invalidate",
        "signature",
        "api_key",
    }
    assert rec.file_bytes == data
    asset = standin.asset("chat/Ab/AbCdEf123", type="authenticated")
    assert asset is not None
    assert asset.data == data
    with Image.open(io.BytesIO(asset.data)) as im:
        assert (im.format, im.size) == ("JPEG", (320, 200))
    assert standin.asset("chat/Ab/AbCdEf123", type="upload") is None  # never public


@pytest.mark.parametrize(
    ("url_kwargs", "error"),
    [
        ({"api_secret": "not-the-secret"}, "Invalid Signature"),
        ({"api_key": "999999999999999"}, "Unknown API key"),
    ],
)
def test_wrong_credentials_fail_the_upload_and_store_nothing(
    standin: CloudinaryStandIn, url_kwargs: dict[str, str], error: str
) -> None:
    bad = CloudinaryStorage(standin.cloudinary_url(**url_kwargs))
    with pytest.raises(cloudinary.exceptions.AuthorizationRequired, match=error):
        bad.put("chat/ab/x1.jpg", _jpeg(), mime="image/jpeg", private=True)
    [rec] = standin.requests
    assert rec.status == 401
    assert rec.error is not None and error in rec.error
    assert standin.assets == {}


def test_stale_timestamp_is_refused(
    standin: CloudinaryStandIn, cloud: CloudinaryStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cloudinary.utils, "now", lambda: str(int(time.time()) - 2 * 3600))
    with pytest.raises(cloudinary.exceptions.BadRequest, match="Stale request"):
        cloud.put("chat/ab/x1.jpg", _jpeg(), mime="image/jpeg", private=True)
    [rec] = standin.requests
    assert rec.signature_valid is True  # correctly signed, just too old
    assert standin.assets == {}


# delivery_url ------------------------------------------------------------------------------
def test_private_delivery_url_is_signed_and_expires(
    standin: CloudinaryStandIn, cloud: CloudinaryStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A private chat image is handed out as a signed link that stops working after
    SIGNED_URL_SECONDS (issue 11, finding 9): a plain signed delivery URL never expires, so a
    leaked one worked for ever."""
    data = _jpeg()
    cloud.put("chat/xy/pic1.jpg", data, mime="image/jpeg", private=True)
    url = cloud.delivery_url("chat/xy/pic1.jpg", private=True)
    assert url is not None
    assert url.startswith(f"{standin.base_url}/v1_1/demo/image/download?")
    p = standin.verify_download_url(url)
    assert (p["type"], p["public_id"], p["format"]) == ("authenticated", "chat/xy/pic1", "jpg")
    ttl = get_settings().signed_url_seconds
    assert 0 < int(p["expires_at"]) - time.time() <= ttl
    # The signature is Cloudinary's API signature of the parameters.
    signed = {k: v for k, v in p.items() if k not in {"signature", "api_key"}}
    to_sign = "&".join(f"{k}={signed[k]}" for k in sorted(signed))
    assert p["signature"] == hashlib.sha1((to_sign + standin.api_secret).encode()).hexdigest()  # noqa: S324

    ok = httpx.get(url)
    assert ok.status_code == 200
    assert ok.content == data
    # Another image, a longer life or a different type: the signature no longer matches.
    for old, new in (("pic1", "pic2"), (p["expires_at"], str(int(p["expires_at"]) + 86400))):
        assert httpx.get(url.replace(old, new)).status_code == 401
    assert httpx.get(url.replace("authenticated", "upload")).status_code == 401
    # After its lifetime the same link is refused.
    later = time.time() + ttl + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert httpx.get(url).status_code == 401


def test_avatar_is_public_and_unsigned(
    standin: CloudinaryStandIn, cloud: CloudinaryStorage
) -> None:
    data = png(96, 96)
    cloud.put("avatars/Qr/face.png", data, mime="image/png", private=False)
    [rec] = standin.requests
    _assert_signed_upload(rec, standin)  # uploads are always signed, whatever the type
    assert rec.params["type"] == "upload"
    assert rec.params["public_id"] == "avatars/Qr/face"
    assert standin.asset("avatars/Qr/face", type="upload") is not None

    url = cloud.delivery_url("avatars/Qr/face.png", private=False)
    assert url is not None
    assert "/image/upload/" in url
    assert "s--" not in url
    assert parse_delivery_url(url).signature is None
    r = httpx.get(standin.local_delivery_url(url))
    assert r.status_code == 200
    assert r.content == data


# delete ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("private", "dtype"), [(True, "authenticated"), (False, "upload")])
def test_delete_destroys_with_the_right_type(
    standin: CloudinaryStandIn, cloud: CloudinaryStorage, private: bool, dtype: str
) -> None:
    cloud.put("chat/de/gone.jpg", _jpeg(), mime="image/jpeg", private=private)
    cloud.put("chat/de/stays.jpg", _jpeg(), mime="image/jpeg", private=private)
    cloud.delete("chat/de/gone.jpg", private=private)

    [rec] = standin.calls("destroy")
    assert rec.path == "/v1_1/demo/image/destroy"
    assert rec.status == 200
    assert rec.signature_valid is True
    assert rec.params["type"] == dtype
    assert rec.params["public_id"] == "chat/de/gone"
    assert rec.params["invalidate"] == "1"
    assert rec.params["signature"] == api_signature(rec.params, standin.api_secret)
    assert rec.response == {"result": "ok"}
    assert standin.asset("chat/de/gone", type=dtype) is None
    assert standin.asset("chat/de/stays", type=dtype) is not None

    cloud.delete("chat/de/gone.jpg", private=private)  # already gone: no error
    assert standin.calls("destroy")[-1].response == {"result": "not found"}


def test_delete_with_wrong_secret_raises_and_keeps_the_asset(
    standin: CloudinaryStandIn, cloud: CloudinaryStorage
) -> None:
    cloud.put("chat/de/keep.jpg", _jpeg(), mime="image/jpeg", private=True)
    bad = CloudinaryStorage(standin.cloudinary_url(api_secret="nope"))
    with pytest.raises(cloudinary.exceptions.AuthorizationRequired):
        bad.delete("chat/de/keep.jpg", private=True)
    assert standin.asset("chat/de/keep", type="authenticated") is not None


# Service layer on MariaDB -------------------------------------------------------------------
def _uploads_by_public_id(standin: CloudinaryStandIn) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for rec in standin.calls("upload"):
        assert rec.file_bytes is not None
        out[rec.params["public_id"]] = rec.file_bytes
    return out


def test_store_upload_chat_sends_clean_thumb_and_full(
    db: Session, standin: CloudinaryStandIn, cloud: CloudinaryStorage
) -> None:
    alice = make_user(db, "alice")
    original = jpeg_with_gps(640, 480, orientation=6)
    assert has_gps(original)
    out = media.store_upload(
        session=db, owner_id=alice, purpose="chat", data=original, storage=cloud
    )
    db.commit()

    folder = f"chat/{out.id[:2]}/{out.id}"
    ups = standin.calls("upload")
    assert len(ups) == 2
    for rec in ups:
        _assert_signed_upload(rec, standin)
        assert rec.params["type"] == "authenticated"
    sent = _uploads_by_public_id(standin)
    assert set(sent) == {folder, f"{folder}_t"}
    for data in sent.values():
        assert not has_gps(data)
        assert b"SecretCam" not in data
    with Image.open(io.BytesIO(sent[folder])) as full:
        assert full.format == "JPEG"
        assert full.size == (480, 640)  # orientation 6 applied
    with Image.open(io.BytesIO(sent[f"{folder}_t"])) as thumb:
        assert max(thumb.size) <= 480
    assert (out.width, out.height) == (480, 640)
    assert out.full_url == f"/media/{out.id}/full"

    row = db.get(Media, out.id)
    assert row is not None
    assert row.storage == "cloudinary"
    assert row.full_key == f"{folder}.jpg"
    assert row.thumb_key == f"{folder}_t.jpg"
    assert row.bytes == len(sent[folder])
    assert standin.asset(folder, type="authenticated") is not None


def test_viewable_owner_member_after_claim_and_outsider(
    db: Session, standin: CloudinaryStandIn, cloud: CloudinaryStorage
) -> None:
    alice, bob, carol = (make_user(db, n) for n in ("alice", "bob", "carol"))
    conv = conversations.open_direct(session=db, user_id=alice, other_user_id=bob)
    db.commit()
    out = media.store_upload(session=db, owner_id=alice, purpose="chat", data=png(), storage=cloud)
    db.commit()

    assert media.viewable(session=db, viewer_id=alice, media_id=out.id) is not None
    assert media.viewable(session=db, viewer_id=bob, media_id=out.id) is None  # not sent yet
    assert media.viewable(session=db, viewer_id=carol, media_id=out.id) is None

    with pytest.raises(NotAllowed):  # only the owner may attach it
        media.claim_for_message(session=db, media_id=out.id, sender_id=bob, conversation_id=conv)
    media.claim_for_message(session=db, media_id=out.id, sender_id=alice, conversation_id=conv)
    db.commit()

    assert media.viewable(session=db, viewer_id=alice, media_id=out.id) is not None
    assert media.viewable(session=db, viewer_id=bob, media_id=out.id) is not None
    assert media.viewable(session=db, viewer_id=carol, media_id=out.id) is None
    assert media.viewable(session=db, viewer_id=carol, media_id="nope") is None
    assert media.viewable(session=db, viewer_id=alice, media_id="x" * 33) is None

    avatar = media.store_upload(
        session=db, owner_id=alice, purpose="avatar", data=png(), storage=cloud
    )
    db.commit()
    assert media.viewable(session=db, viewer_id=carol, media_id=avatar.id) is not None


def test_failed_thumb_upload_removes_the_full_size_and_records_nothing(
    db: Session, standin: CloudinaryStandIn, cloud: CloudinaryStorage, mysql_engine: sa.Engine
) -> None:
    alice = make_user(db, "alice")
    standin.fail("upload", when=lambda p: p.get("public_id", "").endswith("_t"), status=500)
    with pytest.raises(cloudinary.exceptions.GeneralError):
        media.store_upload(
            session=db, owner_id=alice, purpose="chat", data=jpeg_with_gps(), storage=cloud
        )
    db.rollback()
    assert [r.status for r in standin.calls("upload")] == [200, 500]
    destroyed = {r.params["public_id"] for r in standin.calls("destroy")}
    full_id = standin.calls("upload")[0].params["public_id"]
    assert destroyed == {full_id, f"{full_id}_t"}
    assert all(r.params["type"] == "authenticated" for r in standin.calls("destroy"))
    assert standin.assets == {}
    assert media_rows(mysql_engine) == 0


def test_replacing_avatar_then_delete_media_removes_old_asset(
    db: Session, standin: CloudinaryStandIn, cloud: CloudinaryStorage
) -> None:
    alice = make_user(db, "alice")
    first = media.store_upload(
        session=db, owner_id=alice, purpose="avatar", data=jpeg_with_gps(), storage=cloud
    )
    upd = profiles.update_profile(
        session=db, user_id=alice, display_name="Alice", bio="", avatar_media_id=first.id
    )
    db.commit()
    assert upd.replaced_avatar is None
    assert upd.user.avatar_ref == first.id
    for rec in standin.calls("upload"):
        assert rec.params["type"] == "upload"  # avatars are public
        assert rec.file_bytes is not None and not has_gps(rec.file_bytes)
    first_ids = {f"avatars/{first.id[:2]}/{first.id}", f"avatars/{first.id[:2]}/{first.id}_t"}
    assert {pid for (_rt, _t, pid) in standin.assets} == first_ids

    second = media.store_upload(
        session=db, owner_id=alice, purpose="avatar", data=png(200, 120), storage=cloud
    )
    upd = profiles.update_profile(
        session=db, user_id=alice, display_name="Alice", bio="hi", avatar_media_id=second.id
    )
    db.commit()
    assert upd.replaced_avatar == first.id
    assert upd.user.avatar_ref == second.id

    media.delete_media(session=db, media_id=first.id, storage=cloud)
    db.commit()
    destroys = standin.calls("destroy")
    assert {r.params["public_id"] for r in destroys} == first_ids
    assert all(r.params["type"] == "upload" and r.response == {"result": "ok"} for r in destroys)
    second_ids = {f"avatars/{second.id[:2]}/{second.id}", f"avatars/{second.id[:2]}/{second.id}_t"}
    assert {pid for (_rt, _t, pid) in standin.assets} == second_ids
    assert db.get(Media, first.id) is None
    assert db.exec(select(Media.id)).all() == [second.id]


# The real HTTP routes -----------------------------------------------------------------------
def test_media_route_redirects_members_to_signed_urls(
    db: Session,
    standin: CloudinaryStandIn,
    cloud: CloudinaryStorage,
    routes_client: Callable[[MediaStorage], TestClient],
) -> None:
    client = routes_client(cloud)
    alice, bob, carol = (make_user(db, n) for n in ("alice", "bob", "carol"))
    tokens = {uid: login_token(db, uid) for uid in (alice, bob, carol)}
    conv = conversations.open_direct(session=db, user_id=alice, other_user_id=bob)
    db.commit()

    r = client.post(
        "/api/media?purpose=chat",
        content=jpeg_with_gps(),
        headers=upload_headers(tokens[alice], "image/jpeg"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    mid = body["id"]
    assert body == {
        "ok": True,
        "id": mid,
        "thumb": f"/media/{mid}/thumb",
        "full": f"/media/{mid}/full",
    }
    assert len(standin.calls("upload")) == 2
    assert all(not has_gps(rec.file_bytes or b"") for rec in standin.calls("upload"))

    # Before the image is sent, only its owner sees it.
    assert client.get(f"/media/{mid}/full", headers=cookie(tokens[alice])).status_code == 302
    assert client.get(f"/media/{mid}/full", headers=cookie(tokens[bob])).status_code == 404
    media.claim_for_message(session=db, media_id=mid, sender_id=alice, conversation_id=conv)
    db.commit()

    ttl = get_settings().signed_url_seconds
    for variant, suffix in (("full", ""), ("thumb", "_t")):
        r = client.get(f"/media/{mid}/{variant}", headers=cookie(tokens[bob]))
        assert r.status_code == 302
        # The browser may reuse the redirect only while the link it points to still works.
        assert r.headers["cache-control"] == f"private, max-age={ttl // 2}"
        location = r.headers["location"]
        p = standin.verify_download_url(location)
        assert (p["type"], p["public_id"], p["format"]) == (
            "authenticated",
            f"chat/{mid[:2]}/{mid}{suffix}",
            "jpg",
        )
        served = httpx.get(location)
        assert served.status_code == 200
        asset = standin.asset(p["public_id"], type="authenticated")
        assert asset is not None
        assert served.content == asset.data
        assert not has_gps(served.content)

    r = client.get(f"/media/{mid}/full", headers=cookie(tokens[carol]))
    assert r.status_code == 404
    assert "location" not in r.headers
    r = client.get(f"/media/{mid}/full")
    assert r.status_code == 403
    assert client.get(f"/media/{mid}/full", headers=cookie("not-a-token")).status_code == 403
    assert client.get(f"/media/{mid}/original", headers=cookie(tokens[bob])).status_code == 404
    assert client.get("/media/doesnotexist/full", headers=cookie(tokens[bob])).status_code == 404


def test_media_route_redirects_avatar_to_public_url(
    db: Session,
    standin: CloudinaryStandIn,
    cloud: CloudinaryStorage,
    routes_client: Callable[[MediaStorage], TestClient],
) -> None:
    client = routes_client(cloud)
    alice, carol = make_user(db, "alice"), make_user(db, "carol")
    r = client.post(
        "/api/media?purpose=avatar",
        content=png(300, 200),
        headers=upload_headers(login_token(db, alice)),
    )
    assert r.status_code == 200, r.text
    mid = r.json()["id"]
    assert {rec.params["type"] for rec in standin.calls("upload")} == {"upload"}
    r = client.get(f"/media/{mid}/thumb", headers=cookie(login_token(db, carol)))
    assert r.status_code == 302
    location = r.headers["location"]
    assert "/image/upload/" in location and "s--" not in location
    assert parse_delivery_url(location).public_id == f"avatars/{mid[:2]}/{mid}_t"
    assert httpx.get(standin.local_delivery_url(location)).status_code == 200
    assert client.get(f"/media/{mid}/thumb").status_code == 403
