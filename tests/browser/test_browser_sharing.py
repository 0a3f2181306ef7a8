"""Sharing with a supporter in Chromium (issue 5): the patient grants two classes; the supporter sees exactly those,
live; the patient stops sharing while the supporter's page is open, which then stops updating and, reloaded, says
access has ended; the patient reads every look in the access log.

Jordan, the demo supporter, sees Alex's sessions, mood summary and encouragement from the demo consent: Alex stops
that first and shares two of the three again, so that "exactly those" has something to leave out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from . import NARROW

pytestmark = pytest.mark.browser

SESSIONS = "Upcoming sessions and my attendance"
MOOD = "A weekly mood summary (averages and trend, never what I write)"
NOTES = "They may send me short notes of encouragement"
DRAFT = "Proud of you for going out"


def flashes(page):
    return page.locator("main .flashes")


def check_in(page, mood: int, note: str, assert_no_axe_violations) -> None:
    """A check-in between sessions, from the patient's home page."""
    page.get_by_role("link", name="Home", exact=True).click()
    page.get_by_label("Mood today, from 0 (very low) to 10 (very good)").fill(str(mood))
    page.get_by_label("A line about today (optional)").fill(note)
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(flashes(page)).to_contain_text("Thank you for checking in.")
    assert_no_axe_violations(page)


def test_patient_grants_two_classes_then_revokes_while_the_supporter_looks(signed_in, visit, assert_fits,
                                                                          assert_no_axe_violations):
    alex = signed_in("alex@example.org", viewport=NARROW)

    # The demo consent goes first (one tap), then Alex shares two things with Jordan.
    visit(alex, "/sharing")
    assert_fits(alex)
    jordan_card = alex.get_by_role("article", name=re.compile("^Jordan"))
    jordan_card.get_by_role("button", name="Stop sharing with Jordan").click()
    expect(flashes(alex)).to_contain_text("You stopped sharing with Jordan. They no longer see anything.")
    expect(jordan_card.locator(".consent").first).to_contain_text("Stopped")
    jordan_card.get_by_text("Share something else with Jordan").click()
    jordan_card.get_by_label(MOOD).check()
    jordan_card.get_by_label(NOTES).check()
    assert_no_axe_violations(alex)
    jordan_card.get_by_role("button", name="Share", exact=True).click()
    expect(flashes(alex)).to_contain_text("You are now sharing with Jordan.")
    active = jordan_card.locator(".consent").filter(has_text="Sharing")
    expect(active.get_by_role("listitem")).to_have_count(2)
    for label in (MOOD, NOTES):
        expect(active.get_by_role("listitem").filter(has_text=label)).to_have_count(1)
    expect(alex.get_by_role("region", name="Who looked, and when")).to_contain_text(
        "Nobody has looked at anything yet.")
    assert_no_axe_violations(alex)
    assert_fits(alex)

    # Jordan sees exactly those two, and never what Alex writes in a check-in.
    jordan = signed_in("jordan@example.org", viewport=NARROW)
    jordan.get_by_role("region", name="People who share with you").get_by_role("link", name="Alex").click()
    expect(jordan.get_by_role("heading", level=1)).to_have_text("Shared by Alex")
    content = jordan.locator("#shared-content")
    expect(content.get_by_role("heading", level=2)).to_have_text([MOOD, NOTES])
    expect(content.get_by_role("region", name=MOOD)).to_contain_text("No check-ins in this period yet.")
    expect(content.get_by_text("Next sessions")).to_have_count(0)  # no longer shared
    assert_no_axe_violations(jordan)
    assert_fits(jordan)

    # While sharing is on, Jordan's open page follows Alex's check-ins (the weekly average, never the words), and
    # keeps the note Jordan is writing meanwhile.
    note = content.get_by_label("A short note of encouragement")
    note.fill(DRAFT)
    check_in(alex, 6, "Walked to the river", assert_no_axe_violations)
    mood_table = content.get_by_role("table", name="Average mood per week")
    expect(mood_table.get_by_role("cell").last).to_have_text("6.0")
    expect(note).to_have_value(DRAFT)
    expect(note).to_be_focused()
    expect(jordan.get_by_text("Walked to the river")).to_have_count(0)
    assert_no_axe_violations(jordan)
    assert_fits(jordan)

    # Alex stops sharing while Jordan's page is open: the page stops updating at once.
    alex.goto("/sharing")
    jordan_card.get_by_role("button", name="Stop sharing with Jordan").click()
    expect(flashes(alex)).to_contain_text("You stopped sharing with Jordan. They no longer see anything.")
    refreshes = []
    jordan.on("request", lambda request: refreshes.append(request.url) if "/shared/" in request.url else None)
    check_in(alex, 3, "A heavier day", assert_no_axe_violations)
    jordan.wait_for_timeout(1500)  # a push would have arrived and been fetched by now
    assert refreshes == []
    expect(mood_table.get_by_role("cell").last).to_have_text("6.0")

    # A reload says access has ended, without saying why.
    response = jordan.reload()
    assert response is not None and response.status == 404
    expect(jordan.get_by_role("heading", level=1)).to_have_text("Access has ended")
    expect(jordan.get_by_role("main")).not_to_contain_text("6.0")
    assert_no_axe_violations(jordan)
    assert_fits(jordan)

    # Alex reads both looks (the first load, and the live refresh), each class of each, and nothing after the end.
    alex.goto("/sharing")
    log = alex.get_by_role("table", name="Access log")
    rows = log.locator("tbody tr")
    expect(rows).to_have_count(4)
    for row in rows.all():
        expect(row.get_by_role("cell").nth(1)).to_have_text("Jordan")
    expect(log.get_by_role("cell", name=MOOD, exact=True)).to_have_count(2)
    expect(log.get_by_role("cell", name=NOTES, exact=True)).to_have_count(2)
    assert_no_axe_violations(alex)
    assert_fits(alex)
