"""The design system in Chromium: the dark scheme passes axe on every role's pages, tables never break a word, and a
phone gets a bottom bar whose "More" menu works from the keyboard."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from playwright.sync_api import expect

from . import NARROW, main_navigation

pytestmark = pytest.mark.browser

BERLIN = ZoneInfo("Europe/Berlin")
PHONE = {"width": 375, "height": 740}
LAPTOP = {"width": 1280, "height": 800}

ROLES = ["admin@example.org", "facilitator@example.org", "alex@example.org", "jordan@example.org"]

# Each word of each table cell, as the browser laid it out: a word drawn on two lines was broken mid-letter.
BROKEN_WORDS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll('main td, main th')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (lines.size > 1) broken.push(match[0]);
      }
    }
  }
  return broken;
}"""


def _pages_of(page) -> list[str]:
    return [link.get_attribute("href") for link in main_navigation(page).get_by_role("link").all()]


@pytest.mark.parametrize("email", ROLES, ids=["admin", "facilitator", "patient", "supporter"])
def test_every_page_of_the_navigation_passes_axe_in_the_dark_scheme(signed_in, visit, email):
    page = signed_in(email, color_scheme="dark", viewport=PHONE)
    assert page.evaluate("() => matchMedia('(prefers-color-scheme: dark)').matches")
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(245, 244, 240)", "the dark scheme keeps the light background"
    for path in _pages_of(page):
        visit(page, path)
    page.set_viewport_size(LAPTOP)
    for path in _pages_of(page):
        visit(page, path)


@pytest.mark.parametrize(("email", "paths"), [
    ("admin@example.org", ["/admin/people", "/admin/audit"]),
    ("facilitator@example.org", ["/groups", "/groups/1/attendance"]),
], ids=["admin", "facilitator"])
def test_tables_never_break_a_word_at_320px(new_page, sign_in, email, paths):
    page = new_page(viewport=NARROW)
    sign_in(page, email)
    cells = 0
    for path in paths:
        page.goto(path)
        page.wait_for_load_state()
        cells += page.locator("main td").count()
        assert page.evaluate(BROKEN_WORDS) == [], path
    assert cells > 0, "no table to check"


def test_a_phone_gets_a_bottom_bar_and_its_more_menu_works_from_the_keyboard(new_page, sign_in, assert_fits,
                                                                             assert_no_axe_violations):
    page = new_page(viewport=PHONE)
    sign_in(page, "alex@example.org")
    bar = page.get_by_role("navigation", name="Main")
    expect(bar).to_have_count(1)
    expect(bar).to_contain_class("tabbar")
    box = bar.bounding_box()
    assert box["y"] + box["height"] == pytest.approx(PHONE["height"], abs=1), "the bar sits at the bottom of the screen"
    expect(bar.get_by_role("link", name="Home")).to_have_attribute("aria-current", "page")
    expect(bar.get_by_role("button", name="Sign out")).to_be_hidden()

    bar.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(bar.get_by_role("link", name="Profile")).to_be_visible()
    expect(bar.get_by_role("button", name="Sign out")).to_be_visible()
    assert_no_axe_violations(page)
    assert_fits(page)

    # The page's last words are not hidden under the bar.
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    footer_bottom = page.locator("footer").evaluate("el => el.getBoundingClientRect().bottom")
    assert footer_bottom <= box["y"] + 1

    page.set_viewport_size(LAPTOP)
    expect(page.get_by_role("navigation", name="Main")).to_contain_class("site-nav")
    expect(page.locator(".tabbar")).to_be_hidden()


def test_times_drawn_in_the_browser_read_as_the_server_writes_them(signed_in):
    """The chat draws its messages' times in the page: in the reader's zone (Berlin, not the browser's UTC) and in the
    one way every page writes a moment."""
    page = signed_in("alex@example.org", timezone_id="UTC")
    page.goto("/pairs/1/chat")
    times = page.locator("main .chat-message time")
    expect(times.first).to_be_visible()
    assert times.count() >= 2
    for time in times.all():
        moment = datetime.fromisoformat(time.get_attribute("datetime"))
        assert time.inner_text() == format_datetime(moment, "EEE d MMM y, HH:mm", tzinfo=BERLIN, locale="en")
