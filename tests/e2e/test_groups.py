"""Groups end to end, three people in three browser contexts: create a group, everyone sees
everyone's messages live, the owner makes one an admin, the admin removes the third, whose open
tab stops receiving and shows the removal; a member without the right sees no "Remove" control.
(The crafted remove event of a member without the right: tests/e2e/test_crafted_events.py.)"""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import bubbles, composer, send, sign_up, unique_name

pytestmark = pytest.mark.e2e


def system_lines(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("system-line")


def member_row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.get_by_test_id("group-member").filter(has_text=name)


def test_three_people_in_a_group(browser: Browser, base_url: str) -> None:
    tag = secrets.token_hex(3)
    names = [unique_name("own"), unique_name("adm"), unique_name("mem")]
    pages = []
    for n in names:
        page = browser.new_context().new_page()
        sign_up(page, base_url, n)
        pages.append(page)
    owner, second, third = pages
    o_name, s_name, t_name = names

    # The owner creates the group with both others.
    owner.get_by_role("button", name="New group").click()
    dialog = owner.get_by_role("dialog")
    dialog.get_by_label("Group name").fill(f"Trip {tag}")
    for n in (s_name, t_name):
        dialog.get_by_label("Add members").fill(n)
        dialog.get_by_test_id("group-person-result").filter(has_text=n).click()
        expect(dialog.locator(".picked-chip").filter(has_text=n)).to_be_visible()
    dialog.get_by_role("button", name="Create").click()
    expect(owner.get_by_role("dialog")).to_have_count(0)
    expect(system_lines(owner).first).to_contain_text(f"{o_name} created the group")
    expect(system_lines(owner).nth(1)).to_contain_text(f"{o_name} added")

    # The others see the group appear in their sidebar, live, and open it.
    for page in (second, third):
        row = page.get_by_test_id("conversation-row").filter(has_text=f"Trip {tag}")
        expect(row).to_contain_text("added")
        row.click()
        expect(system_lines(page)).to_have_count(2)

    # Everyone sees everyone's messages live, with the sender's name in a group.
    send(owner, f"hello all {tag}")
    send(second, f"hi from two {tag}")
    send(third, f"hi from three {tag}")
    for page in pages:
        expect(bubbles(page)).to_have_count(3)
    # (each message's sender named on its bubble; which of two sent at once comes first is
    # the order they were stored in)
    expect(bubbles(third).filter(has_text=f"hello all {tag}")).to_contain_text(o_name)
    expect(bubbles(third).filter(has_text=f"hi from two {tag}")).to_contain_text(s_name)
    row = owner.get_by_test_id("conversation-row").filter(has_text=f"Trip {tag}")
    expect(row).to_contain_text(f"{t_name}: hi from three")
    # Read receipts in a group: the third's last message was read by the two others.
    expect(
        bubbles(third).filter(has_text=f"hi from three {tag}").get_by_test_id("seen")
    ).to_have_text("Seen by 2")

    # A plain member sees no Remove control.
    third.get_by_role("button", name="Group info").click()
    info3 = third.get_by_role("dialog")
    expect(member_row(third, o_name)).to_contain_text("Owner")
    expect(info3.get_by_role("button", name=f"Remove: {s_name}")).to_have_count(0)
    expect(info3.get_by_role("button", name="Make admin", exact=False)).to_have_count(0)

    # The owner makes the second an admin: everyone's open Group info and timeline follow.
    owner.get_by_role("button", name="Group info").click()
    owner.get_by_role("button", name=f"Make admin: {s_name}").click()
    expect(member_row(owner, s_name)).to_contain_text("Admin")
    expect(member_row(third, s_name)).to_contain_text("Admin")  # live, in the open dialog
    expect(system_lines(second).last).to_contain_text(f"{o_name} made {s_name} an admin")
    owner.keyboard.press("Escape")

    # The admin removes the third.
    second.get_by_role("button", name="Group info").click()
    second.get_by_role("button", name=f"Remove: {t_name}").click()
    expect(member_row(second, t_name)).to_have_count(0)
    expect(system_lines(owner).last).to_contain_text(f"{s_name} removed {t_name}")

    # The removed member's open tab: the removal is shown, sending is gone, the history stays.
    expect(system_lines(third).last).to_contain_text(f"{s_name} removed {t_name}")
    expect(third.get_by_test_id("removed-banner")).to_contain_text(
        "You were removed from this group"
    )
    expect(composer(third)).to_have_count(0)
    expect(bubbles(third)).to_have_count(3)

    # ... and it receives nothing more: once the others show the owner's next message, the
    # removed tab's row and view do not; after a reload it reads the history up to the removal.
    send(owner, f"after removal {tag}")
    expect(bubbles(second)).to_have_count(4)
    row3 = third.get_by_test_id("conversation-row").filter(has_text=f"Trip {tag}")
    expect(row3).not_to_contain_text("after removal")
    third.keyboard.press("Escape")
    third.reload()
    expect(bubbles(third)).to_have_count(3)
    expect(third.get_by_text(f"after removal {tag}")).to_have_count(0)
    expect(third.get_by_test_id("removed-banner")).to_be_visible()
