"""The audit page as the demo admin sees it, in Chromium: at 320 px and 1280 px, filtered with the keyboard alone,
with 0 axe violations."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from . import NARROW

pytestmark = pytest.mark.browser

WIDE = {"width": 1280, "height": 900}


def tab_to(page, name: str, limit: int = 40) -> None:
    """Press Tab until the focused element's accessible text is `name` (fails after `limit` presses)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => (document.activeElement.innerText || '').trim()") == name:
            return
    pytest.fail(f"Tab never reached {name!r}")


@pytest.mark.parametrize("viewport", [NARROW, WIDE], ids=["320px", "1280px"])
def test_the_demo_admin_reads_and_filters_the_trail_by_keyboard(new_page, sign_in, assert_fits,
                                                               assert_no_axe_violations, viewport):
    page = new_page(viewport=viewport)
    sign_in(page, "admin@example.org")

    with page.expect_navigation():
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit trail").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit trail of Momentum Demo Clinic")
    expect(page.get_by_role("heading", name="The trail is intact")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("The whole trail, all organisations, was checked")
    events = page.get_by_role("region", name="Events of Momentum Demo Clinic, page 1 of 1")
    expect(events).to_be_visible()
    expect(events).to_have_attribute("tabindex", "0")
    assert_no_axe_violations(page)
    assert_fits(page)

    # Choose a person and a kind with the keyboard, then reach the button with Tab and press Enter.
    page.get_by_label("Who did it").focus()
    page.keyboard.type("Alex")
    page.get_by_label("Kind of event").focus()
    page.keyboard.type("Goal set")
    with page.expect_navigation():
        tab_to(page, "Show events")
        page.keyboard.press("Enter")

    query = parse_qs(urlsplit(page.url).query)
    assert query["kind"] == ["goal_create"] and len(query["actor"]) == 1
    expect(page.get_by_label("Who did it")).to_have_value(query["actor"][0])
    rows = page.get_by_role("region", name="Events of Momentum Demo Clinic, page 1 of 1").locator("tbody tr")
    expect(rows).to_have_count(2)
    for row in rows.all():
        expect(row.locator("td").nth(1)).to_have_text("Alex")
        expect(row.locator("td").nth(3)).to_have_text("Goal set")
    expect(page.get_by_role("main")).to_contain_text("2 events match.")
    assert_no_axe_violations(page)
    assert_fits(page)

    # A date that ends before it starts: the message is on the form, announced with the field, and nothing breaks.
    page.get_by_label("From").fill("2026-03-10")
    page.get_by_label("To (included)").fill("2026-03-09")
    with page.expect_navigation():
        page.get_by_label("To (included)").press("Enter")
    expect(page.get_by_label("To (included)")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("main")).to_contain_text("The end date is before the start date.")
    expect(page.get_by_role("main")).to_contain_text("Correct the filters above to see the events.")
    assert_no_axe_violations(page)
    assert_fits(page)

    # An empty result says what to do.
    with page.expect_navigation():
        page.get_by_role("link", name="Clear the filters").first.click()
    page.get_by_label("From").fill("2199-01-01")
    with page.expect_navigation():
        page.get_by_label("From").press("Enter")
    expect(page.get_by_role("main")).to_contain_text("No events match these filters.")
    assert_no_axe_violations(page)
    assert_fits(page)
