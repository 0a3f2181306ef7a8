"""The home pages in Chromium, on the demo as `flask demo` leaves it (a session of the demo group on now): the
facilitator's "Open the live room" and the member's way into the room are on the first screen of a 375 x 740 phone,
the member's check-in comes before their goals, the facilitator's page still takes alerts and check-ins live, and
both pass axe and fit 320 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts.models import User
from app.extensions import db
from app.rooms import services as room_services

from . import NARROW

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
LAPTOP = {"width": 1280, "height": 800}


def on_first_screen(page, locator) -> None:
    """The element is visible without scrolling: its box lies inside the viewport."""
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    viewport = page.viewport_size
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], (box, viewport)
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], (box, viewport)


@pytest.mark.parametrize("viewport", [NARROW, PHONE, LAPTOP], ids=["320", "375", "1280"])
def test_the_facilitators_home_starts_with_what_is_on_now_and_passes_axe(signed_in, assert_fits,
                                                                          assert_no_axe_violations, viewport):
    page = signed_in("facilitator@example.org", viewport=viewport)

    on_now = page.get_by_role("region", name="On now")
    expect(on_now).to_contain_text("Tuesday evening group")
    expect(on_now).to_contain_text("The room is not open yet")
    if viewport is not NARROW:
        on_first_screen(page, on_now.get_by_role("link", name="Open the live room"))
    expect(page.get_by_role("region", name="Members who may need a word")).to_contain_text(
        "Missed the last two sessions")
    groups = page.get_by_role("region", name="Your groups")
    expect(groups.locator(".card")).to_have_count(1)
    assert_no_axe_violations(page)
    assert_fits(page)

    on_now.get_by_role("link", name="Open the live room").click()
    page.get_by_role("button", name="Open the room").click()
    expect(page.locator("#room-status")).to_have_text("The room is open.")
    page.goto("/")
    expect(on_now).to_contain_text("The room is open")
    expect(on_now.get_by_role("link", name="Go to the live room")).to_be_visible()
    assert_no_axe_violations(page)


@pytest.mark.parametrize("viewport", [NARROW, PHONE, LAPTOP], ids=["320", "375", "1280"])
def test_the_members_home_puts_the_session_on_now_then_the_checkin_then_questionnaires_then_goals(
        signed_in, assert_fits, assert_no_axe_violations, viewport):
    page = signed_in("alex@example.org", viewport=viewport)

    next_up = page.get_by_role("region", name="Your session is on")
    expect(next_up).to_contain_text("Tuesday evening group")
    if viewport is not NARROW:
        on_first_screen(page, next_up.get_by_role("link", name="Go to the live room"))
    headings = page.get_by_role("main").get_by_role("heading", level=2).all_inner_texts()
    assert headings[:4] == ["Your session is on", "How are you today?", "2 short questionnaires are ready",
                            "Goals and small wins"], headings
    assert_no_axe_violations(page)
    assert_fits(page)


def test_alex_waits_in_the_room_from_the_home_page_and_is_let_in_when_the_facilitator_opens_it(signed_in):
    alex = signed_in("alex@example.org", viewport=PHONE)
    facilitator = signed_in("facilitator@example.org")

    alex.get_by_role("link", name="Go to the live room").click()
    expect(alex.locator("#room-lobby")).to_be_visible()
    facilitator.get_by_role("link", name="Open the live room").click()
    facilitator.get_by_role("button", name="Open the room").click()

    expect(alex.locator("#room-status")).to_have_text("The room is open.")
    alex.goto("/")
    expect(alex.get_by_role("region", name="Your session is on").get_by_role(
        "link", name="Enter the live room")).to_be_visible()


def test_the_facilitators_home_still_takes_alerts_and_checkins_live(signed_in, in_app):
    facilitator = signed_in("facilitator@example.org", viewport=PHONE)
    expect(facilitator.locator("#no-alerts")).to_be_visible()

    def sam_checks_in_and_asks_for_support():
        sam = db.session.scalar(select(User).where(User.email == "sam@example.org"))
        room_services.record_checkin(sam, client_id="homes-between-1", mood=5, note="A walk")
        room_services.need_support(sam, client_id="homes-support-1")

    in_app(sam_checks_in_and_asks_for_support)

    expect(facilitator.locator("#between-list li").first).to_contain_text("Sam · just now: Mood 5 of 10 · “A walk”")
    alert = facilitator.locator("#alert-list li", has_text="Sam")
    expect(alert).to_contain_text("needs support now")
    expect(facilitator.locator("#no-alerts")).to_be_hidden()
