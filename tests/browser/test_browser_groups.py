"""Groups in Chromium (issue 3): a facilitator creates a group with a weekly schedule and invites a patient by email;
the patient accepts in a second browser context, joins (agreement and intake) and sees the next session in their own
time zone; the facilitator records attendance for a session of the series that has taken place."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from playwright.sync_api import expect
from sqlalchemy import select

from app import recurrence
from app.accounts.models import User
from app.extensions import db, mail
from app.groups import queries, services
from app.groups.demo import DEMO_GROUP
from app.groups.models import Attendance, AttendanceStatus, Membership, SessionOccurrence, TherapyGroup
from app.models_base import utcnow
from app.rooms.models import CheckIn, Energy

from . import NARROW

pytestmark = pytest.mark.browser

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
GROUP = "Thursday evening circle"
SESSION_TIME = time(18, 0)  # Berlin, the facilitator's zone and the group's


def flashes(page):
    return page.locator("main .flashes")


def test_facilitator_creates_a_group_invites_a_patient_who_joins_and_attendance_is_recorded(
        signed_in, new_page, in_app, visit, assert_no_axe_violations, assert_fits):
    facilitator = signed_in("facilitator@example.org")

    # A new group, from the home page.
    facilitator.get_by_role("link", name="Create a group").first.click()
    expect(facilitator.get_by_role("heading", level=1)).to_have_text("New group")
    assert_no_axe_violations(facilitator)
    facilitator.get_by_label("Name", exact=True).fill(GROUP)
    facilitator.get_by_label("Description").fill("Small steps against low mood, together.")
    facilitator.get_by_label("Format").select_option("online")
    facilitator.get_by_label("Video link").fill("https://meet.example.org/thursday")
    facilitator.get_by_label("Places").fill("6")
    facilitator.get_by_label("Status").select_option("active")
    expect(facilitator.get_by_label("Time zone of the sessions")).to_have_value("Europe/Berlin")
    facilitator.get_by_role("button", name="Create group").click()

    # Its weekly schedule: Thursdays at 18:00 Berlin time, the first a week ago (so the group has met once; the form
    # creates only the sessions still to come, and the one that took place is written below, as `flask demo` does).
    expect(flashes(facilitator)).to_contain_text("The group is created. Next, set its schedule.")
    expect(facilitator.get_by_role("heading", level=1)).to_have_text(f"Schedule of {GROUP}")
    assert_no_axe_violations(facilitator)
    today = utcnow().astimezone(BERLIN).date()
    first = today - timedelta(days=(today.weekday() - 3) % 7 or 7)
    series = facilitator.locator("form").filter(has=facilitator.get_by_role("button", name="Save schedule"))
    series.get_by_label("First session").fill(first.isoformat())
    series.get_by_label("Start time").fill("18:00")
    series.get_by_label("Repeats").select_option("1")
    series.get_by_role("radio", name="After a number of sessions").check()
    series.get_by_role("spinbutton", name="Number of sessions").fill("8")
    series.get_by_role("button", name="Save schedule").click()
    expect(flashes(facilitator)).to_contain_text("The schedule is saved.")
    expect(facilitator.get_by_role("heading", level=1)).to_have_text(GROUP)
    assert_no_axe_violations(facilitator)

    starts = recurrence.expand(recurrence.build_rrule(count=8), datetime.combine(first, SESSION_TIME), "Europe/Berlin")
    assert all(start.astimezone(BERLIN).time() == SESSION_TIME for start in starts)
    next_start = min(start for start in starts if start > utcnow())
    sessions = facilitator.get_by_role("region", name="Upcoming sessions")
    # The first four are listed; the rest open from a fold.
    sessions.locator("details.fold > summary").click()
    upcoming = sessions.get_by_role("listitem")
    expect(upcoming).to_have_count(sum(start > utcnow() for start in starts))
    expect(upcoming.first).to_contain_text(format_datetime(next_start, "EEE d MMM y, HH:mm", tzinfo=BERLIN,
                                                            locale="en"))

    # Invite a patient by email: the link is in the email and, once, on the page.
    facilitator.get_by_label("Email (leave empty for a link to share)").fill("riley@example.org")
    with mail.record_messages() as outbox:
        facilitator.get_by_role("button", name="Invite", exact=True).click()
        expect(flashes(facilitator)).to_contain_text("Invitation sent to riley@example.org.")
    link = facilitator.locator(".callout code.token").inner_text().strip()
    assert "/invitations/" in link
    assert len(outbox) == 1 and outbox[0].recipients == ["riley@example.org"] and link in outbox[0].body
    assert_no_axe_violations(facilitator)

    # The patient, in New York, on a small screen: a new account from the link, then the agreement and the intake.
    patient = new_page(viewport=NARROW, timezone_id="America/New_York")
    visit(patient, link)
    assert_fits(patient)
    expect(patient.get_by_role("heading", level=1)).to_have_text("Join Momentum Demo Clinic")
    patient.get_by_label("Your name, as others will see it").fill("Riley")
    expect(patient.get_by_label("Email")).to_have_value("riley@example.org")
    patient.get_by_label("Choose a password").fill("riley's long passphrase")
    expect(patient.get_by_label("Time zone")).to_have_value("America/New_York")  # the browser's own, filled in
    patient.get_by_role("button", name="Create my account").click()
    expect(patient.get_by_role("heading", level=1)).to_have_text("Hello, Riley")
    assert_no_axe_violations(patient)
    assert_fits(patient)

    # First on the page, before the check-in: joining to finish.
    patient.get_by_role("link", name=f"Finish joining {GROUP}").click()
    expect(patient.get_by_role("heading", level=1)).to_have_text(f"Join {GROUP}")
    assert_no_axe_violations(patient)
    assert_fits(patient)
    patient.get_by_role("button", name="Join the group").click()  # nothing filled in yet: each error is shown
    expect(patient.locator(".error").filter(has_text="Choose the answer closest to how you feel.")).to_be_visible()
    assert_no_axe_violations(patient)
    patient.get_by_label("I have read the group agreement and accept it").check()
    patient.get_by_label("Name shown to the group").fill("Riley R.")
    patient.get_by_label("What do you hope to get from the group?").fill("Some company on hard weeks.")
    patient.get_by_label("What feels doable for you right now?").fill("Listening, mostly.")
    patient.get_by_label("I feel a little nervous about it").check()
    patient.get_by_label("I may keep my camera off").check()
    patient.get_by_role("button", name="Join the group").click()

    # The next session, in New York time: 18:00 in Berlin is 12:00 there (or 11:00 or 13:00 in the weeks the two
    # switch daylight-saving time on different dates).
    expect(flashes(patient)).to_contain_text(f"Welcome to {GROUP}.")
    expect(patient.get_by_role("heading", level=1)).to_have_text(GROUP)
    assert_no_axe_violations(patient)
    assert_fits(patient)
    in_new_york = datetime.combine(next_start.astimezone(BERLIN).date(), SESSION_TIME, BERLIN).astimezone(NEW_YORK)
    assert in_new_york.hour in (11, 12, 13)
    shown = in_new_york.strftime("%a %-d %b %Y, %H:%M")  # as Babel writes "EEE d MMM y, HH:mm" in English
    next_session = patient.get_by_role("region", name="Next session")
    expect(next_session.locator("time")).to_have_text(f"{shown}, New York time")
    expect(next_session.locator("time")).to_have_attribute("datetime", next_start.isoformat())
    expect(next_session.get_by_role("link", name="Join online")).to_have_attribute(
        "href", "https://meet.example.org/thursday")
    patient.get_by_role("link", name="Home", exact=True).click()
    expect(patient.get_by_role("article").filter(has_text=GROUP).locator("time")).to_have_text(
        f"{shown}, New York time")
    assert_no_axe_violations(patient)

    # The session that took place last week, as the series had it.
    def add_the_session_that_took_place():
        group = db.session.scalar(select(TherapyGroup).where(TherapyGroup.name == GROUP))
        # The member joined in time for it (a member who joins late is part of every *future* session).
        membership = db.session.scalar(select(Membership).where(Membership.group_id == group.id))
        membership.joined_at = starts[0] - timedelta(days=1)
        db.session.add(SessionOccurrence(group_id=group.id, recurrence_id=starts[0], starts_at=starts[0],
                                         duration_minutes=90))
        return group.id

    group_id = in_app(add_the_session_that_took_place)
    facilitator.reload()
    recent = facilitator.get_by_role("region", name="Upcoming sessions").get_by_role("list").last
    expect(recent.get_by_role("listitem")).to_have_count(1)
    expect(recent).to_contain_text(format_datetime(starts[0], "EEE d MMM y, HH:mm", tzinfo=BERLIN, locale="en"))
    assert_no_axe_violations(facilitator)
    members = facilitator.get_by_role("list", name="Memberships")
    expect(members.get_by_role("listitem").filter(has_text="Riley R.")).to_contain_text("Active")

    recent.get_by_role("link", name="Attendance").click()
    expect(facilitator.get_by_role("heading", level=1)).to_have_text("Attendance")
    assert_no_axe_violations(facilitator)
    sheet = facilitator.get_by_role("table", name="Attendance for each active member")
    expect(sheet.get_by_role("row")).to_have_count(2)  # the header and Riley, the one active member
    facilitator.get_by_label("Attendance of Riley R.").select_option("left_early")
    facilitator.get_by_label("Comment on Riley R.").fill("Had to pick up a child; joined the first round.")
    facilitator.get_by_role("button", name="Save attendance").click()
    expect(flashes(facilitator)).to_contain_text("Attendance is saved.")
    expect(facilitator.get_by_label("Attendance of Riley R.")).to_have_value("left_early")
    expect(facilitator.get_by_label("Comment on Riley R.")).to_have_value(
        "Had to pick up a child; joined the first round.")
    assert_no_axe_violations(facilitator)
    facilitator.set_viewport_size(NARROW)
    assert_fits(facilitator)

    def recorded():
        return [(a.status, a.comment) for a in db.session.scalars(
            select(Attendance).join(SessionOccurrence).where(SessionOccurrence.group_id == group_id))]

    assert in_app(recorded) == [(AttendanceStatus.LEFT_EARLY, "Had to pick up a child; joined the first round.")]

    # The member reads it back in neutral words.
    visit(patient, f"/groups/{group_id}")
    expect(patient.get_by_role("main")).to_contain_text("You joined 1 of the last 1 sessions.")
    assert_fits(patient)


def test_every_page_of_a_group_passes_axe_and_fits_320px_for_its_facilitator_and_a_member(
        signed_in, in_app, visit, assert_no_axe_violations, assert_fits):
    def demo_ids():
        group = db.session.scalar(select(TherapyGroup).where(TherapyGroup.name == DEMO_GROUP))
        past = queries.past_sessions(group, 1)[-1]
        alex = db.session.scalar(select(User).where(User.email == "alex@example.org"))
        # Something on every list: a check-in in the last session, and an agenda item with its rationale.
        db.session.add(CheckIn(user_id=alex.id, occurrence_id=past.id, mood=6, energy=Energy.MEDIUM,
                               note="Tired but here", client_id="browser-test-checkin-1"))
        services.add_agenda_item(group.facilitators[0].user, past, title="Activity scheduling",
                                 body="Plan **one** small thing for tomorrow.",
                                 rationale="Doing comes before feeling like it.")
        alex_membership = queries.membership_of(alex, group)
        services.add_note(group.facilitators[0].user, group, "Seemed lighter today.", occurrence=past, member=alex)
        return group.id, past.id, queries.next_occurrence(group).id, alex.id, alex_membership.id

    group_id, past_id, next_id, alex_id, alex_membership_id = in_app(demo_ids)

    facilitator = signed_in("facilitator@example.org", viewport=NARROW)
    for path in ("/groups", f"/groups/{group_id}", f"/groups/{group_id}/edit", f"/groups/{group_id}/schedule",
                 f"/sessions/{past_id}", f"/sessions/{past_id}/attendance", f"/sessions/{past_id}/notes",
                 f"/sessions/{next_id}", f"/sessions/{next_id}/room", f"/patients/{alex_id}/supporters",
                 f"/groups/{group_id}/members/{alex_membership_id}/notes", "/calendar", "/groups/new", "/"):
        visit(facilitator, path)
        assert_fits(facilitator)
        if path == f"/sessions/{past_id}":
            expect(facilitator.get_by_role("region", name="Check-ins in this session")).to_contain_text(
                "Alex: Mood 6 of 10 · Energy: Medium · “Tired but here”")
        if path.endswith("/room"):
            expect(facilitator.locator("#room-status")).to_have_text("The room is closed.")
            assert_no_axe_violations(facilitator)
            assert_fits(facilitator)
    # Forms with their errors shown, and the pages that follow a save. An agenda item edited from the keyboard:
    facilitator.goto(f"/sessions/{past_id}")
    facilitator.get_by_text("Edit “Activity scheduling”").focus()
    facilitator.keyboard.press("Enter")
    item = facilitator.locator("details[open] form")
    item.get_by_label("Why we do this").fill("Action comes first; motivation follows.")
    item.get_by_role("button", name="Save the agenda item").click()
    expect(flashes(facilitator)).to_contain_text("The agenda item is saved.")
    expect(facilitator.locator(".why")).to_have_text("Why we do this: Action comes first; motivation follows.")
    assert_no_axe_violations(facilitator)
    assert_fits(facilitator)
    facilitator.goto(f"/sessions/{past_id}/notes")
    facilitator.get_by_label("About").select_option(label="Alex")
    facilitator.get_by_label("Note").fill("Spoke up for the first time.")
    facilitator.get_by_role("button", name="Save note").click()
    expect(flashes(facilitator)).to_contain_text("The note is saved. Only this group's facilitators can read it.")
    assert_no_axe_violations(facilitator)
    assert_fits(facilitator)
    facilitator.goto(f"/groups/{group_id}/edit")
    facilitator.get_by_label("Name", exact=True).fill("")
    facilitator.get_by_role("button", name="Save group").click()
    expect(facilitator.locator(".field-error")).to_have_count(1)
    assert_no_axe_violations(facilitator)
    assert_fits(facilitator)
    facilitator.goto("/calendar")
    facilitator.get_by_role("button", name="Create a calendar link").click()
    expect(facilitator.locator(".callout code.token")).to_contain_text("/calendar/")
    assert_no_axe_violations(facilitator)
    assert_fits(facilitator)

    member = signed_in("alex@example.org", viewport=NARROW)
    for path in ("/", "/groups", f"/groups/{group_id}", f"/sessions/{next_id}", "/calendar", f"/sessions/{past_id}"):
        visit(member, path)
        assert_fits(member)
    expect(member.locator(".why")).to_have_text("Why we do this: Action comes first; motivation follows.")
    expect(member.get_by_text("Tired but here")).to_have_count(0)  # check-ins on the session page: facilitators only
    visit(member, "/checkins")
    assert_fits(member)
    expect(member.get_by_role("main")).to_contain_text("Tired but here")  # the member's own history
