"""Take the README's screenshots: desktop and phone width, light and dark.

Usage (with the app running, e.g. ./scripts/run.sh):
    .venv/bin/python scripts/screenshots.py http://127.0.0.1:8000
Creates two demo people (Alice and Bob, with a random suffix) and a short conversation with an
image on that server, so point it at a throwaway database. Needs Chromium at /usr/bin/chromium
(or CHROMIUM=/path); it never downloads a browser.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
PASSWORD = "correct horse battery"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = (("desktop", 1280, 800), ("phone", 375, 760))


def photo_jpeg() -> bytes:
    """A small drawn landscape (sky, sun, mountains, lake): nicer in a screenshot than stripes."""
    w, h = 800, 600
    im = Image.new("RGB", (w, h))
    d = ImageDraw.Draw(im)
    for y in range(h):  # sky: deep blue to warm haze
        t = y / h
        d.line([(0, y), (w, y)], fill=(int(40 + 200 * t), int(90 + 110 * t), int(190 - 20 * t)))
    d.ellipse((560, 90, 660, 190), fill=(255, 214, 120))
    ridge = [(0, 420), (170, 210), (330, 400), (470, 250), (640, 430), (800, 300)]
    d.polygon([*ridge, (800, 600), (0, 600)], fill=(70, 82, 110))
    d.polygon([(170, 210), (215, 265), (128, 262)], fill=(235, 238, 245))
    d.polygon([(470, 250), (510, 295), (432, 292)], fill=(235, 238, 245))
    d.rectangle((0, 470, w, h), fill=(44, 110, 150))
    for y in range(480, h, 18):
        d.line([(60, y), (740, y)], fill=(80, 150, 190), width=2)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def path_re(base: str, path: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(base + path.rstrip("/")) + "/?([?#].*)?$")


def sign_up(page: Page, base: str, username: str, display_name: str, bio: str) -> None:
    page.goto(f"{base}/signup")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(path_re(base, "/"), timeout=45_000)
    page.goto(f"{base}/profile")
    # (the page fills the form with the current values when it has loaded: type after that)
    expect(page.get_by_label("Display name")).to_have_value(username, timeout=30_000)
    page.get_by_label("Display name").fill(display_name)
    page.get_by_label("Bio").fill(bio)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("header-display-name")).to_have_text(display_name, timeout=30_000)
    page.goto(f"{base}/")


def open_chat_with(page: Page, base: str, username: str) -> None:
    """Search (2+ characters, no suggestions) and open the direct conversation: /c/<id>."""
    page.get_by_label("Search people").fill(username)
    page.get_by_test_id("person-row").filter(has_text=f"@{username}").click()
    page.wait_for_url(re.compile(re.escape(base) + r"/c/\d+"))
    expect(page.locator(".conv-header")).to_be_visible()


def send(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")
    expect(page.get_by_test_id("message").filter(has_text=text).last).to_be_visible()


def shoot(page: Page, name: str) -> None:
    # Park the pointer in a corner with nothing under it (no hover styles in the picture).
    size = page.viewport_size or {"width": 1280, "height": 800}
    page.mouse.move(size["width"] - 1, size["height"] - 1)
    page.wait_for_timeout(800)  # fonts, images and the theme settle
    page.screenshot(path=str(OUT / f"{name}.png"))
    print("  ", name)


def make_conversation(browser: Browser, base: str) -> dict:  # type: ignore[type-arg]
    """Alice and Bob talk; returns Bob's storage state (his session cookie)."""
    tag = secrets.token_hex(2)
    alice, bob = f"alice{tag}", f"bob{tag}"
    photo = Path(tempfile.mkdtemp()) / "harbour.jpg"
    photo.write_bytes(photo_jpeg())
    a_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    b_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    a, b = a_ctx.new_page(), b_ctx.new_page()
    sign_up(a, base, alice, "Alice Martin", "Climber, coffee person, occasional photographer.")
    sign_up(b, base, bob, "Bob Chen", "Weekend climber.")
    open_chat_with(a, base, bob)
    send(a, "Hey Bob! Are we still on for the climb on Saturday?")
    open_chat_with(b, base, alice)
    send(b, "Absolutely. 8 am at the car park?")
    send(a, "Perfect. I'll bring coffee ☕")
    with a.expect_file_chooser() as chooser:
        a.get_by_role("button", name="Attach image").click()
    chooser.value.set_files(str(photo))
    a.get_by_text("Ready to send").wait_for()
    send(a, "The view from last time")
    b.locator(".bubble-img").wait_for()
    send(b, "Wow. Same route again?")
    b.wait_for_timeout(800)
    state = b_ctx.storage_state()
    a_ctx.close()
    b_ctx.close()
    return state  # type: ignore[return-value]


def make_group(browser: Browser, base: str) -> dict:  # type: ignore[type-arg]
    """Dana creates a group with Eli and Fay; all three write. Returns Eli's storage state."""
    tag = secrets.token_hex(2)
    people = [
        (f"dana{tag}", "Dana Ruiz", "Organiser of things."),
        (f"eli{tag}", "Eli Novak", "Belayer."),
        (f"fay{tag}", "Fay Okafor", "Brings the snacks."),
    ]
    ctxs = [browser.new_context(viewport={"width": 1280, "height": 800}) for _ in people]
    pages = [c.new_page() for c in ctxs]
    for page, (user, name, bio) in zip(pages, people, strict=True):
        sign_up(page, base, user, name, bio)
    dana, eli, fay = pages
    dana.get_by_role("button", name="New group").click()
    dialog = dana.get_by_role("dialog")
    dialog.get_by_label("Group name").fill("Saturday climb")
    for user, _name, _bio in people[1:]:
        dialog.get_by_label("Add members").fill(user)
        dialog.get_by_test_id("group-person-result").first.click()
    dialog.get_by_role("button", name="Create").click()
    dana.get_by_test_id("system-line").first.wait_for()
    send(dana, "Who's driving on Saturday?")
    for page in (eli, fay):
        page.get_by_test_id("conversation-row").filter(has_text="Saturday climb").click()
        page.get_by_test_id("system-line").first.wait_for()
    send(eli, "I can take three people.")
    send(fay, "Me please! I'll bring snacks.")
    send(fay, "And the big rope.")
    # A reaction and a reply.
    row = dana.get_by_test_id("message").filter(has_text="I can take three people.").last
    row.hover()
    row.get_by_role("button", name="React", exact=True).click()
    dana.get_by_role("button", name="🙏", exact=True).click()
    row = eli.get_by_test_id("message").filter(has_text="And the big rope.").last
    row.hover()
    row.get_by_role("button", name="Reply", exact=True).click()
    send(eli, "Perfect, I'll pick you up at 7:30.")
    dana.get_by_role("button", name="Group info").click()
    dana.get_by_role("button", name=f"Make admin: {people[1][1]}").click()
    dana.get_by_test_id("system-line").filter(has_text="an admin").wait_for()
    eli.wait_for_timeout(800)
    state = ctxs[1].storage_state()
    for c in ctxs:
        c.close()
    return state  # type: ignore[return-value]


def main(base: str) -> None:
    base = base.rstrip("/")
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS
        )
        for scheme in ("light", "dark"):
            for label, width, height in VIEWPORTS:
                ctx = browser.new_context(
                    viewport={"width": width, "height": height},
                    color_scheme=scheme,  # type: ignore[arg-type]
                )
                page = ctx.new_page()
                page.goto(f"{base}/signup")
                page.get_by_role("button", name="Sign up").wait_for()
                shoot(page, f"signup-{label}-{scheme}")
                ctx.close()
        state = make_conversation(browser, base)
        for scheme in ("light", "dark"):
            for label, width, height in VIEWPORTS:
                ctx = browser.new_context(
                    viewport={"width": width, "height": height},
                    color_scheme=scheme,  # type: ignore[arg-type]
                    storage_state=state,  # type: ignore[arg-type]
                )
                page = ctx.new_page()
                page.goto(f"{base}/")
                page.get_by_test_id("conversation-row").first.wait_for()
                if label == "phone":
                    shoot(page, f"sidebar-{label}-{scheme}")
                # Conversations are links to /c/<id>.
                page.get_by_test_id("conversation-row").first.click()
                page.wait_for_url(re.compile(re.escape(base) + r"/c/\d+"))
                page.locator(".bubble-img").wait_for()
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.bubble-img')].every(i => i.complete)"
                )
                shoot(page, f"chat-{label}-{scheme}")
                page.goto(f"{base}/profile")
                page.get_by_label("Display name").wait_for()
                shoot(page, f"profile-{label}-{scheme}")
                page.goto(f"{base}/settings")
                page.get_by_role("button", name="Change password").wait_for()
                shoot(page, f"settings-{label}-{scheme}")
                ctx.close()
        state = make_group(browser, base)
        for scheme in ("light", "dark"):
            for label, width, height in VIEWPORTS:
                ctx = browser.new_context(
                    viewport={"width": width, "height": height},
                    color_scheme=scheme,  # type: ignore[arg-type]
                    storage_state=state,  # type: ignore[arg-type]
                )
                page = ctx.new_page()
                page.goto(f"{base}/")
                page.get_by_test_id("conversation-row").filter(has_text="Saturday climb").click()
                page.get_by_test_id("system-line").first.wait_for()
                shoot(page, f"group-{label}-{scheme}")
                page.get_by_role("button", name="Group info").click()
                page.get_by_test_id("group-member").first.wait_for()
                shoot(page, f"group-info-{label}-{scheme}")
                ctx.close()
        browser.close()
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
