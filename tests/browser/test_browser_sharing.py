"""Sharing with a supporter in Chromium (issue 5): the patient grants three classes (one not in Momentum yet); the
supporter sees exactly those, the one without data said plainly, and the page follows a change to the schedule live
(never a check-in); the patient stops sharing while the supporter's page is open, which then stops updating and,
reloaded, says access has ended; the patient reads every look in the access log.

Jordan, the demo supporter, sees Alex's sessions, mood summary and encouragement from the demo consent: Alex stops
that first and shares again without the mood summary, so that "exactly those" has something to leave out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts.models import User
from app.extensions import db, socketio
from app.groups import queries as group_queries
from app.groups.demo import DEMO_GROUP
from app.groups.models import TherapyGroup
from app.models_base import utcnow
from app.realtime.push import notify_data_changed
from app.realtime.sockets import account_sids
from app.supporters import services as supporter_services
from app.supporters.models import DataClass, SupporterLink
from app.supporters.services import shared_room

from . import NARROW

pytestmark = pytest.mark.browser

SESSIONS = "Upcoming sessions and my attendance"
MOOD = "A weekly mood summary (averages and trend, never what I write)"
MEASURES = "Questionnaire results as bands over time (never my answers)"
NOTES = "They may send me short notes of encouragement"
DRAFT = "Proud of you for going out"
ENDED = "This is no longer shared with you. Access has ended."
# What Jordan reads: of Alex, in the third person.
A_SESSIONS, A_MEASURES, A_NOTES = "Alex's sessions and attendance", "Alex's questionnaire results", "Your notes to Alex"
KINDS = ["Sessions and attendance", "Questionnaire results", "Notes of encouragement from you"]


def flashes(page):
    return page.locator("main .flashes")


def check_in(page, mood: int, note: str, assert_no_axe_violations) -> None:
    """A check-in between sessions, from the patient's home page."""
    page.get_by_role("link", name="Home", exact=True).click()
    page.get_by_role("group", name="Mood today, from 0 (very low) to 10 (very good)").get_by_role(
        "radio", name=str(mood), exact=True).check()
    page.get_by_label("A line about today (optional)").fill(note)
    page.get_by_role("button", name="Check in", exact=True).click()
    expect(flashes(page)).to_contain_text("Thank you for checking in.")
    assert_no_axe_violations(page)


def test_patient_grants_three_classes_then_revokes_while_the_supporter_looks(signed_in, visit, assert_fits,
                                                                            assert_no_axe_violations, in_app):
    # The next session to start (the demo's session on now has started: it is no longer among the upcoming ones).
    next_session = in_app(lambda: group_queries.occurrences(
        db.session.scalar(select(TherapyGroup).where(TherapyGroup.name == DEMO_GROUP)), start=utcnow(),
        include_cancelled=False)[0].id)
    alex = signed_in("alex@example.org", viewport=NARROW)

    # The demo consent goes first (one tap), then Alex shares three things with Jordan, one of them not in Momentum
    # yet (the form says so).
    visit(alex, "/sharing")
    assert_fits(alex)
    jordan_card = alex.get_by_role("article", name=re.compile("^Jordan"))
    jordan_card.get_by_role("button", name="Stop sharing with Jordan").click()
    expect(flashes(alex)).to_contain_text("You stopped sharing with Jordan. They no longer see anything.")
    # Current sharing first (none now); what was shared before is folded into a dated history.
    expect(jordan_card).to_contain_text("Nothing is shared with Jordan now.")
    history = jordan_card.locator("details.fold").filter(has_text="Earlier sharing with Jordan (1)")
    expect(history.locator("li")).not_to_be_visible()
    history.get_by_text("Earlier sharing with Jordan (1)").click()
    expect(history.locator("li")).to_contain_text(re.compile(r"Stopped\s+on \w+ \d+ \w+ \d{4}"))
    assert_no_axe_violations(alex)
    assert_fits(alex)
    jordan_card.get_by_text("Share something else with Jordan").click()
    for label in (SESSIONS, NOTES):
        jordan_card.get_by_label(label).check()
    jordan_card.get_by_label(MEASURES).check()
    expect(jordan_card.get_by_label("Share data from (optional)")).to_be_visible()
    assert_no_axe_violations(alex)
    assert_fits(alex)

    # Before anything is shared, Alex sees Jordan's page as Jordan will, then confirms.
    jordan_card.get_by_role("button", name="See what Jordan will see").click()
    expect(alex.get_by_role("heading", level=1)).to_have_text("What Jordan will see")
    preview = alex.locator("#shared-preview")
    expect(preview.get_by_role("heading", level=2)).to_have_text(
        ["What Alex shares with you", A_SESSIONS, A_MEASURES, A_NOTES])
    expect(preview.get_by_label("A short note of encouragement")).to_be_disabled()
    assert_no_axe_violations(alex)
    assert_fits(alex)
    alex.get_by_role("button", name="Confirm: share this with Jordan").click()
    expect(flashes(alex)).to_contain_text("You are now sharing with Jordan.")
    active = jordan_card.locator(".consent").filter(has_text="Sharing")
    expect(active.get_by_role("listitem")).to_have_count(3)
    for label in (SESSIONS, NOTES, MEASURES):
        expect(active.get_by_role("listitem").filter(has_text=label)).to_have_count(1)
    expect(alex.get_by_role("region", name="Who looked, and when")).to_contain_text(
        "Nobody has looked at anything yet.")
    assert_no_axe_violations(alex)
    assert_fits(alex)

    # Jordan sees exactly those three, the one without data said plainly, and never what Alex writes.
    jordan = signed_in("jordan@example.org", viewport=NARROW)
    # Jordan's home says whose data, which kinds, and until when.
    people = jordan.get_by_role("region", name="People who share with you")
    expect(people.get_by_role("heading", level=3)).to_have_text(["Alex"])
    expect(people.locator(".shared-terms li")).to_have_text([re.compile(rf"^{kind} until \w+ \d+ \w+ \d{{4}}$")
                                                             for kind in KINDS])
    assert_no_axe_violations(jordan)
    assert_fits(jordan)
    people.get_by_role("link", name="See what Alex shares").click()
    expect(jordan.get_by_role("heading", level=1)).to_have_text("Shared by Alex")
    content = jordan.locator("#shared-content")
    expect(content.get_by_role("heading", level=2)).to_have_text(
        ["What Alex shares with you", A_SESSIONS, A_MEASURES, A_NOTES])
    measures = content.get_by_role("region", name=A_MEASURES)
    expect(measures).to_contain_text("The answers to single questions are never shared.")
    expect(measures).not_to_contain_text("Several days")  # never an item answer
    expect(content.get_by_text("Average mood per week")).to_have_count(0)  # no longer shared
    sessions = content.get_by_role("region", name=A_SESSIONS)
    expect(sessions.get_by_text("Next sessions")).to_be_visible()
    expect(sessions.get_by_text("Cancelled")).to_have_count(0)
    assert_no_axe_violations(jordan)
    assert_fits(jordan)

    # While sharing is on, Jordan's open page follows the schedule (a cancelled session), keeping the note Jordan is
    # writing meanwhile. A check-in is not pushed at all: the refresh that comes is the cancellation's alone.
    refreshes = []
    jordan.on("request", lambda request: refreshes.append(request.url) if "/shared/" in request.url else None)
    note = content.get_by_label("A short note of encouragement")
    note.fill(DRAFT)
    check_in(alex, 6, "Walked to the river", assert_no_axe_violations)
    morgan = signed_in("facilitator@example.org", viewport=NARROW)
    visit(morgan, f"/sessions/{next_session}")
    morgan.get_by_label("Reason members will see").fill("I am unwell, sorry.")
    morgan.get_by_role("button", name="Cancel the session").click()
    expect(sessions.get_by_text("Cancelled").first).to_be_visible()
    assert len(refreshes) == 1
    expect(note).to_have_value(DRAFT)
    expect(note).to_be_focused()
    expect(jordan.get_by_text("Walked to the river")).to_have_count(0)
    assert_no_axe_violations(jordan)
    assert_fits(jordan)

    # Alex stops sharing while Jordan's page is open: at once the page holds nothing of it, says so, and stops
    # updating.
    alex.goto("/sharing")
    jordan_card.get_by_role("button", name="Stop sharing with Jordan").click()
    expect(flashes(alex)).to_contain_text("You stopped sharing with Jordan. They no longer see anything.")
    expect(jordan.locator("#shared-status")).to_have_text(ENDED)
    expect(content).to_be_empty()
    morgan.get_by_role("button", name="Restore this session").click()
    jordan.wait_for_timeout(1500)  # a push would have arrived and been fetched by now
    assert len(refreshes) == 1
    expect(content).to_be_empty()
    assert_no_axe_violations(jordan)
    assert_fits(jordan)

    # A reload says access has ended, without saying why.
    response = jordan.reload()
    assert response is not None and response.status == 404
    expect(jordan.get_by_role("heading", level=1)).to_have_text("Access has ended")
    expect(jordan.get_by_role("main")).not_to_contain_text("Next sessions")
    assert_no_axe_violations(jordan)
    assert_fits(jordan)

    # Alex reads both looks (the first load, and the live refresh), each with what it showed, and nothing after the
    # end.
    alex.goto("/sharing")
    log = alex.get_by_role("list", name="Access log")
    rows = log.get_by_role("listitem")
    expect(rows).to_have_count(2)
    for row in rows.all():
        expect(row.locator(".who")).to_have_text("Jordan")
        expect(row.locator(".what")).to_have_text(f"{NOTES}; {MEASURES}; {SESSIONS}")
    assert_no_axe_violations(alex)
    assert_fits(alex)


def test_sharing_that_ends_just_before_a_live_refresh_is_said_and_the_page_stops(signed_in, visit, in_app,
                                                                               assert_no_axe_violations):
    """The nudge to refresh arrives while sharing is on, and sharing ends before the refresh reaches the server: the
    page shows the server's answer (access has ended, without saying why), says so, and closes its connection."""

    def user_id(email):
        return db.session.scalar(select(User.id).where(User.email == email))

    alex_id, jordan_id = in_app(lambda: (user_id("alex@example.org"), user_id("jordan@example.org")))
    jordan = signed_in("jordan@example.org", viewport=NARROW)
    visit(jordan, f"/shared/{alex_id}")
    content = jordan.locator("#shared-content")
    expect(content.get_by_text("Next sessions")).to_be_visible()

    def following():
        return list(socketio.server.manager.get_participants("/", shared_room(alex_id, jordan_id)))

    for _wait in range(100):
        if in_app(following):
            break
        jordan.wait_for_timeout(50)
    else:
        pytest.fail("the page never joined the patient's updates")

    def alex_stops_sharing():
        link = db.session.scalar(select(SupporterLink).where(SupporterLink.patient_id == alex_id,
                                                             SupporterLink.supporter_id == jordan_id))
        supporter_services.stop_sharing_with(db.session.get(User, alex_id), link)

    def sharing_ends_on_the_way(route):
        if route.request.headers.get("x-momentum-fragment") == "1":
            in_app(alex_stops_sharing)
        route.continue_()

    jordan.route(f"**/shared/{alex_id}", sharing_ends_on_the_way)
    in_app(lambda: notify_data_changed(alex_id, DataClass.SESSIONS.value))  # a session moved, say

    expect(jordan.locator("#shared-status")).to_have_text(ENDED)
    expect(content.get_by_role("heading", name="Access has ended")).to_be_visible()
    expect(content).not_to_contain_text("Next sessions")
    assert_no_axe_violations(jordan)
    for _wait in range(100):
        if not in_app(lambda: account_sids(jordan_id)):
            break
        jordan.wait_for_timeout(50)
    else:
        pytest.fail("the page kept its connection open")
