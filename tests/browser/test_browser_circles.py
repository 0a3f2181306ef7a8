"""A check-in circle in Chromium: two members join it from their home pages, see each other's check-ins live, and a
call for support from the circle reaches the facilitator's home page at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts.models import Organisation
from app.demo import DEMO_SLUG
from app.extensions import db
from app.groups.demo import DEMO_GROUP
from app.groups.models import SessionOccurrence, TherapyGroup
from app.models_base import utcnow

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
WIDE = {"width": 1280, "height": 800}
CRISIS_LINE = "Riverside Crisis Line"


@pytest.fixture
def circle_on_now(in_app) -> tuple[int, int]:
    """A circle of the demo group that started five minutes ago, and the clinic's crisis resources."""

    def set_up():
        organisation = db.session.scalar(select(Organisation).where(Organisation.slug == DEMO_SLUG))
        organisation.crisis_name, organisation.crisis_phone = CRISIS_LINE, "0800 111 222"
        group = db.session.scalar(select(TherapyGroup).where(TherapyGroup.name == DEMO_GROUP))
        circle = SessionOccurrence(group_id=group.id, starts_at=utcnow() - timedelta(minutes=5), duration_minutes=30,
                                   is_circle=True)
        db.session.add(circle)
        db.session.flush()
        return circle.id, group.id

    return in_app(set_up)


def test_two_members_check_in_together_and_a_call_for_support_reaches_the_facilitator(
        signed_in, circle_on_now, assert_no_axe_violations, assert_fits):
    circle_id, group_id = circle_on_now
    facilitator = signed_in("facilitator@example.org", viewport=WIDE)
    alex = signed_in("alex@example.org", viewport=PHONE)
    sam = signed_in("sam@example.org", viewport=WIDE)

    # Each member's home page says a circle is on, with a way in.
    for member in (alex, sam):
        panel = member.get_by_role("region", name="A check-in circle is on now")
        expect(panel).to_be_visible()
        assert_no_axe_violations(member)
        panel.get_by_role("link", name=f"Join the check-in circle of {DEMO_GROUP}").click()
        expect(member.get_by_role("heading", level=1)).to_have_text(f"Check-in circle: {DEMO_GROUP}")
        expect(member.locator("#room-status")).to_have_text("The room is open.")
    # No round, no controls; the crisis resources are on the page.
    for member in (alex, sam):
        expect(member.get_by_role("heading", name="Check-in round")).to_have_count(0)
        expect(member.locator("#live-room").get_by_text(CRISIS_LINE)).to_be_visible()
        expect(member.locator("#presence li")).to_have_count(2)
        assert_no_axe_violations(member)
    assert_fits(alex)

    # Alex checks in; Sam sees it at once. Sam passes; Alex sees that.
    alex.get_by_role("radio", name="7", exact=True).check()
    alex.get_by_label("A line to share (optional)").fill("Slept better")
    alex.get_by_role("button", name="Check in").click()
    expect(sam.locator("#checkins li").filter(has_text="Alex")).to_contain_text("Slept better")
    sam.get_by_role("button", name="Pass").click()
    expect(alex.locator("#checkins li").filter(has_text="Sam")).to_contain_text("Passed")

    # Sam needs support: the facilitator's home page shows it, and Alex is told nothing.
    expect(facilitator.get_by_role("heading", name="Safety alerts")).to_be_visible()
    sam.get_by_role("button", name="I need support now").click()
    expect(sam.locator("#support-status")).to_have_text("Your facilitator has been told privately. You are not alone.")
    expect(facilitator.locator("#alert-list li", has_text="Sam")).to_contain_text("needs support now")
    expect(alex.locator("#support-confirmation")).to_be_hidden()

    # The facilitator may look in, without controls, and schedules the next circle from the group's circles page.
    facilitator.goto(f"/circles/{circle_id}")
    expect(facilitator.get_by_text("You are looking in as a facilitator.")).to_be_visible()
    expect(facilitator.get_by_role("button", name="Check in")).to_have_count(0)
    assert_no_axe_violations(facilitator)
    facilitator.goto(f"/groups/{group_id}/circles")
    expect(facilitator.get_by_role("heading", name="Schedule a check-in circle")).to_be_visible()
    assert_no_axe_violations(facilitator)
    facilitator.set_viewport_size(PHONE)
    assert_no_axe_violations(facilitator)
    assert_fits(facilitator)

    # Leaving takes Alex out of the circle; Sam sees it.
    alex.get_by_role("link", name="Leave the circle").click()
    expect(sam.locator("#presence li")).to_have_count(1)
    expect(alex.get_by_role("heading", level=1)).to_have_text("Check-in circles")
    assert_no_axe_violations(alex)
