"""Peer pairs in Chromium, on a phone (375 px) and a laptop (1280 px): the facilitator proposes Alex and Sam as a pair;
each accepts in their own browser; Alex shares a peer check-in, which Sam reads; Sam reports a concern about one
check-in, and the facilitator reads exactly that one and nothing else of the pair. Every page passes axe and fits."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts.models import User
from app.extensions import db
from app.groups.demo import DEMO_GROUP
from app.groups.models import TherapyGroup
from app.peers import services
from app.peers.models import PeerPair

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
LAPTOP = {"width": 1280, "height": 800}
REPORTED = "Skipped meals again, could not face anything"
UNREPORTED = "Opened the curtains first thing"


def _new_york_time_of_wednesday_19_in_berlin() -> str:
    """The facilitator (in Berlin) proposes Wednesdays at 19:00; Sam reads the next one in New York's time."""
    berlin = datetime.now(ZoneInfo("Europe/Berlin"))
    day = berlin.date() + timedelta(days=(2 - berlin.weekday()) % 7)
    planned = datetime.combine(day, time(19, 0), tzinfo=ZoneInfo("Europe/Berlin"))
    if planned <= berlin:
        planned += timedelta(days=7)
    planned = datetime.combine(planned.date(), time(19, 0), tzinfo=ZoneInfo("Europe/Berlin"))
    return planned.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M")


def _flash(page):
    return page.locator("main .flashes")


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["375px", "1280px"])
def test_a_pair_is_proposed_accepted_used_and_a_concern_reaches_the_facilitator(
        signed_in, in_app, assert_no_axe_violations, assert_fits, viewport):
    def end_the_demo_pair():
        facilitator = db.session.scalar(select(User).where(User.email == "facilitator@example.org"))
        for pair in db.session.scalars(select(PeerPair)):
            services.end_pair(facilitator, pair)
        return db.session.scalar(select(TherapyGroup.id).where(TherapyGroup.name == DEMO_GROUP))

    group_id = in_app(end_the_demo_pair)

    staff = signed_in("facilitator@example.org", viewport=viewport)
    staff.goto(f"/groups/{group_id}")
    staff.get_by_role("link", name="Peer pairs").click()
    expect(staff.get_by_role("heading", level=1)).to_contain_text("Peer pairs of")
    staff.get_by_label("First member").select_option(label="Alex")
    staff.get_by_label("Second member").select_option(label="Sam")
    staff.get_by_label("Check-in day (optional)").select_option(label="Wednesdays")
    staff.get_by_label("Check-in time (optional)").fill("19:00")
    staff.get_by_role("button", name="Propose", exact=True).click()
    expect(_flash(staff)).to_contain_text("Proposed. Each member answers privately.")
    assert_no_axe_violations(staff)
    assert_fits(staff)

    members = {}
    for email in ("alex@example.org", "sam@example.org"):
        page = signed_in(email, viewport=viewport)
        page.goto("/peers")
        expect(page.get_by_role("main")).to_contain_text("Would you like to be peers?")
        assert_no_axe_violations(page)
        assert_fits(page)
        page.get_by_role("button", name="Yes, let's try").first.click()
        expect(_flash(page)).to_contain_text("Thank you.")
        members[email] = page
    alex, sam = members["alex@example.org"], members["sam@example.org"]

    alex.reload()
    alex.get_by_label("What I tried").fill(UNREPORTED)
    alex.get_by_role("button", name="Share", exact=True).click()
    expect(_flash(alex)).to_contain_text("Shared with your peer.")
    alex.get_by_label("How it went").fill(REPORTED)
    alex.get_by_role("button", name="Share", exact=True).click()
    expect(alex.get_by_role("region", name="Check-ins")).to_contain_text(REPORTED)
    assert_no_axe_violations(alex)
    assert_fits(alex)

    sam.reload()
    expect(sam.get_by_role("region", name="Check-ins")).to_contain_text(UNREPORTED)
    expect(sam.get_by_role("main")).to_contain_text(
        f"You check in on Wednesdays at {_new_york_time_of_wednesday_19_in_berlin()}, your time (America/New_York)")
    sam.get_by_role("button", name="Celebrate").first.click()
    sam.locator("summary", has_text="Tell a facilitator").click()
    sam.get_by_label(REPORTED, exact=False).check()
    assert_no_axe_violations(sam)
    sam.get_by_role("button", name="Report a concern").click()
    expect(_flash(sam)).to_contain_text("The group's facilitators have been told")
    assert_no_axe_violations(sam)
    assert_fits(sam)

    staff.goto(f"/groups/{group_id}/peers")
    expect(staff.get_by_role("main")).not_to_contain_text(UNREPORTED)
    staff.get_by_role("region", name="Reported to you").get_by_role("link").first.click()
    main = staff.get_by_role("main")
    expect(main).to_contain_text(REPORTED)
    expect(main).not_to_contain_text(UNREPORTED)
    expect(main.locator("li.card")).to_have_count(1)
    assert_no_axe_violations(staff)
    assert_fits(staff)
