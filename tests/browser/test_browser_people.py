"""The admin's People page, the zone picker and the group's pages, in Chromium at 320 px: usable, and 0 axe
violations."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.groups.demo import DEMO_GROUP
from app.groups.models import SessionOccurrence, TherapyGroup
from app.models_base import utcnow

from . import NARROW

pytestmark = pytest.mark.browser


def flashes(page):
    return page.locator("main .flashes")


def test_an_admin_finds_a_member_and_deactivates_them_after_reading_what_it_does_at_320px(
        signed_in, new_page, sign_in, visit, assert_no_axe_violations, assert_fits):
    admin = signed_in("admin@example.org", viewport=NARROW)
    visit(admin, "/admin/people")
    assert_fits(admin)
    people = admin.locator("li.person")
    expect(people.filter(has_text="Alex")).to_contain_text("Member")
    expect(people.filter(has_text="Jordan")).to_contain_text("Supporter")

    admin.get_by_label("Name or email").fill("alex@example.org")
    admin.get_by_role("button", name="Find").click()
    expect(people).to_have_count(1)
    assert_no_axe_violations(admin)
    assert_fits(admin)

    button = admin.get_by_role("button", name="Yes, deactivate Alex")
    expect(button).to_be_hidden()  # asked first: the button is inside what the summary unfolds
    admin.locator("summary", has_text="Deactivate Alex").click()
    expect(admin.locator("li.person details[open]")).to_contain_text("signed out on every device")
    assert_no_axe_violations(admin)
    button.click()

    expect(flashes(admin)).to_contain_text("Alex is deactivated and signed out everywhere.")
    expect(admin).to_have_url(re.compile(r"q=alex(%40|@)example\.org"))
    expect(people.filter(has_text="Alex")).to_contain_text("Deactivated")
    assert_no_axe_violations(admin)
    assert_fits(admin)

    member = new_page()
    member.goto("/login")
    member.get_by_label("Email").fill("alex@example.org")
    member.get_by_label("Password").fill("momentum-demo")
    member.get_by_role("main").get_by_role("button", name="Sign in").click()
    expect(member.locator("main .flashes")).to_contain_text("do not match an active account")

    admin.get_by_role("button", name="Reactivate Alex").click()
    expect(flashes(admin)).to_contain_text("Alex can sign in again.")
    visit(admin, "/admin/organisation")  # the organisation's zone, picked the same way
    assert_fits(admin)


def test_the_zone_picker_puts_the_browsers_zone_first_and_searches_as_one_types(
        signed_in, assert_no_axe_violations, assert_fits):
    page = signed_in("alex@example.org", viewport=NARROW, timezone_id="Asia/Kolkata")
    page.goto("/profile")
    assert_no_axe_violations(page)
    assert_fits(page)

    first = page.locator("#timezone-zones option").first
    expect(first).to_have_attribute("value", "Asia/Kolkata")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Berlin")  # the stored one stays until changed

    page.get_by_label("Time zone").fill("Asia/Kolkata")
    page.get_by_role("button", name="Save profile").click()
    expect(flashes(page)).to_contain_text("Your profile is saved.")
    expect(page.get_by_label("Time zone")).to_have_value("Asia/Kolkata")


def test_a_session_on_now_has_its_own_place_on_the_group_page_at_320px(signed_in, in_app, visit, assert_fits):
    def session_on_now() -> int:
        group = db.session.scalar(select(TherapyGroup).where(TherapyGroup.name == DEMO_GROUP))
        occurrence = SessionOccurrence(group_id=group.id, recurrence_id=None, is_exception=True,
                                       starts_at=utcnow() - timedelta(minutes=10), duration_minutes=60)
        db.session.add(occurrence)
        db.session.flush()
        return group.id

    group_id = in_app(session_on_now)
    facilitator = signed_in("facilitator@example.org", viewport=NARROW)
    for path in (f"/groups/{group_id}", f"/groups/{group_id}/schedule", f"/groups/{group_id}/edit"):
        visit(facilitator, path)
        assert_fits(facilitator)
    facilitator.goto(f"/groups/{group_id}")
    now = facilitator.get_by_role("region", name="On now")
    expect(now.get_by_role("link", name="Go to the live room").first).to_be_visible()
    expect(now).to_contain_text("Extra session")
    session_page = now.get_by_role("link", name="Extra session").first.get_attribute("href")
    visit(facilitator, session_page)
    assert_fits(facilitator)
