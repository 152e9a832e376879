"""Images, profiles and settings end to end (local media storage)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import (
    PASSWORD,
    bubbles,
    log_in,
    open_chat_with,
    send,
    sign_up,
    unique_name,
    url_re,
)
from tests.support.images import has_gps, jpeg_with_gps, png

pytestmark = pytest.mark.e2e


def attach(page: Page, path: Path) -> None:
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach image").click()
    chooser.value.set_files(str(path))


def test_image_message_without_gps_only_for_members(
    browser: Browser, base_url: str, tmp_path: Path
) -> None:
    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(jpeg_with_gps())
    assert has_gps(photo.read_bytes())
    fake = tmp_path / "notes.png"
    fake.write_text("this is not an image, just text pretending to be one\n" * 20)

    a_name, b_name, c_name = unique_name("ima"), unique_name("imb"), unique_name("imc")
    a_ctx, b_ctx, c_ctx, anon_ctx = (browser.new_context() for _ in range(4))
    a, b, c = a_ctx.new_page(), b_ctx.new_page(), c_ctx.new_page()
    sign_up(a, base_url, a_name)
    sign_up(b, base_url, b_name)
    sign_up(c, base_url, c_name)
    open_chat_with(a, b_name)

    # A text file named .png is refused with a message, and nothing can be sent with it.
    attach(a, fake)
    expect(a.get_by_role("alert")).to_contain_text("not a JPEG, PNG, WebP or GIF")
    a.get_by_role("button", name="Remove image").click()
    expect(a.locator(".attach-preview")).to_have_count(0)

    # A real photo: preview, then sent with a caption.
    attach(a, photo)
    expect(a.locator(".attach-preview")).to_contain_text("Ready to send")
    send(a, "view from the top")
    expect(bubbles(a)).to_have_count(1)
    expect(a.locator(".attach-preview")).to_have_count(0)

    # B sees it live (sidebar preview, then the image in the conversation).
    row = b.get_by_test_id("conversation-row").filter(has_text=a_name)
    expect(row).to_contain_text("view from the top")
    row.click()
    img = b.locator(".bubble-img")
    expect(img).to_be_visible()
    expect(img).to_have_js_property("complete", True)
    assert img.evaluate("el => el.naturalWidth") > 0
    thumb = img.get_attribute("src")
    assert thumb and thumb.startswith("/media/")
    full = thumb.replace("/thumb", "/full")

    # The bytes B receives carry no GPS (nor the camera model); orientation was applied.
    for url in (thumb, full):
        resp = b.request.get(base_url + url)
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("image/")
        assert not has_gps(resp.body())

    # A third user and an anonymous visitor cannot fetch it.
    assert c.request.get(base_url + full).status == 404
    assert c.request.get(base_url + thumb).status == 404
    anon = anon_ctx.new_page()
    assert anon.request.get(base_url + full).status in (401, 403)
    for ctx in (a_ctx, b_ctx, c_ctx, anon_ctx):
        ctx.close()


def test_profile_changes_reach_contacts_live(
    browser: Browser, base_url: str, tmp_path: Path
) -> None:
    avatar = tmp_path / "me.png"
    avatar.write_bytes(png(300, 200))
    a_name, b_name = unique_name("pra"), unique_name("prb")
    a_ctx, b_ctx = browser.new_context(), browser.new_context()
    a, b = a_ctx.new_page(), b_ctx.new_page()
    sign_up(a, base_url, a_name)
    sign_up(b, base_url, b_name)
    open_chat_with(b, a_name)
    send(b, "hi there")
    expect(bubbles(b)).to_have_count(1)
    b.get_by_label("Search people").fill("")
    expect(b.get_by_test_id("conversation-row")).to_have_count(1)

    # A edits the profile in another page while B looks at the conversation.
    a.goto(f"{base_url}/profile")
    name = a.get_by_label("Display name")
    expect(name).to_have_value(a_name)
    with a.expect_file_chooser() as chooser:
        a.get_by_role("button", name="Upload avatar").click()
    chooser.value.set_files(str(avatar))
    expect(a.get_by_text("Preview. Save to use it.")).to_be_visible()
    name.fill("Anna Avatar")
    a.get_by_label("Bio").fill("Climber, coffee, cats 🐈")
    a.get_by_role("button", name="Save").click()
    expect(a.get_by_text("Saved.")).to_be_visible()
    expect(a.get_by_test_id("header-display-name")).to_have_text("Anna Avatar")

    # B's sidebar and conversation header change without a reload.
    header = b.locator(".conv-header")
    expect(header).to_contain_text("Anna Avatar")
    expect(b.get_by_test_id("conversation-row").first).to_contain_text("Anna Avatar")
    header_img = header.locator("img")
    expect(header_img).to_have_count(1)
    src = header_img.get_attribute("src")
    assert src and src.startswith("/media/")
    assert b.request.get(base_url + src).status == 200

    # B opens A's profile from the header: name, bio, presence.
    b.get_by_role("button", name="View profile").click()
    dialog = b.get_by_role("dialog")
    expect(dialog).to_contain_text("Anna Avatar")
    expect(dialog).to_contain_text("Climber, coffee, cats")
    expect(dialog).to_contain_text("online")

    # Bad input is refused next to the field and changes nothing.
    a.get_by_label("Display name").fill("")
    a.get_by_role("button", name="Save").click()
    expect(a.get_by_role("alert")).to_contain_text("Display name must be 1–50 characters")
    a.reload()
    expect(a.get_by_label("Display name")).to_have_value("Anna Avatar")
    a_ctx.close()
    b_ctx.close()


def test_password_change_revokes_other_sessions_and_theme_persists(
    browser: Browser, base_url: str
) -> None:
    name = unique_name("pw")
    one, two = browser.new_context(), browser.new_context()
    p1, p2 = one.new_page(), two.new_page()
    sign_up(p1, base_url, name)
    log_in(p2, base_url, name)

    p1.goto(f"{base_url}/settings")
    p1.get_by_label("Current password").fill("wrong password")
    p1.get_by_label("New password").fill("a brand new secret")
    p1.get_by_role("button", name="Change password").click()
    expect(p1.get_by_role("alert")).to_contain_text("not your current password")

    p1.get_by_label("Current password").fill(PASSWORD)
    p1.get_by_label("New password").fill("a brand new secret")
    p1.get_by_role("button", name="Change password").click()
    expect(p1.get_by_text("Password changed.")).to_be_visible()

    # The other device is logged out; this one is not.
    p2.reload()
    p2.wait_for_url(url_re(base_url, "/login"))
    p1.goto(f"{base_url}/")
    expect(p1.get_by_test_id("header-display-name")).to_have_text(name)
    # The new password works, the old one does not.
    log_in(p2, base_url, name, "a brand new secret")

    # Theme: choose dark, reload, still dark.
    p1.goto(f"{base_url}/settings")
    p1.get_by_role("radio", name="Dark").click()
    expect(p1.locator("html")).to_have_class(re.compile(r"(^|\s)dark(\s|$)"))
    p1.reload()
    expect(p1.get_by_role("radio", name="Dark")).to_be_checked()
    assert "dark" in (p1.locator("html").get_attribute("class") or "")
    one.close()
    two.close()
