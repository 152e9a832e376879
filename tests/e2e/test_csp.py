"""The app works under its Content-Security-Policy in a real Chromium (issue 11, finding 9).

Every browser test fails on a CSP violation (tests/e2e/conftest.py, ``no_csp_violations``);
this one walks the main paths on purpose and checks the policy is really being enforced.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.helpers import bubbles, open_chat_with, send, sign_up, unique_name, url_re
from tests.support.images import png

pytestmark = pytest.mark.e2e


def test_chat_works_under_the_csp_and_nothing_is_refused(
    browser: Browser, base_url: str, tmp_path: Path, no_csp_violations: list[str]
) -> None:
    a_name, b_name = unique_name("csa"), unique_name("csb")
    a_ctx, b_ctx = browser.new_context(), browser.new_context()
    a, b = a_ctx.new_page(), b_ctx.new_page()
    policies: list[str] = []
    a.on(
        "response",
        lambda r: (
            policies.append(r.headers.get("content-security-policy", ""))
            if r.request.resource_type == "document"
            else None
        ),
    )
    sign_up(a, base_url, a_name)
    sign_up(b, base_url, b_name)
    open_chat_with(a, b_name)
    send(a, "hello under a strict policy")
    expect(bubbles(a)).to_have_count(1)
    open_chat_with(b, a_name)
    expect(bubbles(b).last).to_contain_text("hello under a strict policy")
    send(b, "and back")
    expect(bubbles(a).last).to_contain_text("and back")
    # An image: upload over HTTP, preview, then shown to the other side.
    picture = tmp_path / "dot.png"
    picture.write_bytes(png(120, 80))
    with a.expect_file_chooser() as chooser:
        a.get_by_role("button", name="Attach image").click()
    chooser.value.set_files(str(picture))
    expect(a.locator(".attach-preview")).to_contain_text("Ready to send")
    send(a, "a picture")
    img = b.locator(".bubble-img").last
    expect(img).to_be_visible()
    expect(img).to_have_js_property("complete", True)
    assert img.evaluate("el => el.naturalWidth") > 0
    # Settings and profile pages render and log out works (an rx.call_script fetch).
    a.goto(f"{base_url}/settings")
    expect(a.get_by_role("button", name="Log out of all devices")).to_be_visible()
    a.get_by_label("Log out", exact=True).click()
    a.wait_for_url(url_re(base_url, "/login"))

    # The policy was really there, on every page load, and it forbids what it should.
    assert policies and all("frame-ancestors 'none'" in p for p in policies), policies
    injected = a.evaluate(
        """() => new Promise(resolve => {
            document.addEventListener('securitypolicyviolation',
                e => resolve(e.violatedDirective), {once: true});
            const s = document.createElement('script');
            s.textContent = 'window.__pwned = 1';
            document.body.appendChild(s);
            setTimeout(() => resolve(window.__pwned ? 'ran' : 'no event'), 2000);
        })"""
    )
    assert injected.startswith("script-src"), injected
    # That deliberate violation is the only one.
    assert len(no_csp_violations) == 1, no_csp_violations
    no_csp_violations.clear()
