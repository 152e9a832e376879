"""Take the README's screenshots: desktop and phone width, light and dark.

Usage (with the app running, e.g. ./scripts/run.sh):
    .venv/bin/python scripts/screenshots.py http://127.0.0.1:8000
Creates three demo users with a short conversation (including an image) on that server.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM_ARGS  # noqa: E402
from tests.e2e.helpers import open_chat_with, send, sign_up  # noqa: E402
from tests.support.images import jpeg_with_gps  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def shoot(page: Page, name: str) -> None:
    page.wait_for_timeout(600)
    page.screenshot(path=str(OUT / f"{name}.png"))


def main(base: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tag = secrets.token_hex(2)
    alice, bob = f"alice{tag}", f"bob{tag}"
    photo = Path(tempfile.mkdtemp()) / "harbour.jpg"
    photo.write_bytes(jpeg_with_gps(800, 600, orientation=1))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for scheme in ("light", "dark"):
            for label, viewport in (("desktop", (1280, 800)), ("phone", (375, 760))):
                ctx = browser.new_context(
                    viewport={"width": viewport[0], "height": viewport[1]},
                    color_scheme=scheme,  # type: ignore[arg-type]
                )
                page = ctx.new_page()
                page.goto(f"{base}/signup")
                shoot(page, f"signup-{label}-{scheme}")
                ctx.close()
        a_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        b_ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        a, b = a_ctx.new_page(), b_ctx.new_page()
        sign_up(a, base, alice)
        sign_up(b, base, bob)
        open_chat_with(a, bob)
        send(a, "Hey Bob! Are we still on for the climb on Saturday? 🧗")
        open_chat_with(b, alice)
        send(b, "Absolutely. 8 am at the car park?")
        send(a, "Perfect. I'll bring coffee ☕")
        with a.expect_file_chooser() as chooser:
            a.get_by_role("button", name="Attach image").click()
        chooser.value.set_files(str(photo))
        a.get_by_text("Ready to send").wait_for()
        send(a, "The view from last time")
        b.wait_for_timeout(800)
        state = b_ctx.storage_state()
        for scheme in ("light", "dark"):
            for label, viewport in (("desktop", (1280, 800)), ("phone", (375, 760))):
                ctx = browser.new_context(
                    viewport={"width": viewport[0], "height": viewport[1]},
                    color_scheme=scheme,  # type: ignore[arg-type]
                    storage_state=state,
                )
                page = ctx.new_page()
                page.goto(f"{base}/")
                page.get_by_test_id("conversation-row").first.wait_for()
                if label == "phone":
                    shoot(page, f"sidebar-{label}-{scheme}")
                page.get_by_test_id("conversation-row").first.click()
                page.locator(".bubble-img").wait_for()
                shoot(page, f"chat-{label}-{scheme}")
                page.goto(f"{base}/profile")
                shoot(page, f"profile-{label}-{scheme}")
                page.goto(f"{base}/settings")
                shoot(page, f"settings-{label}-{scheme}")
                ctx.close()
        browser.close()
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
