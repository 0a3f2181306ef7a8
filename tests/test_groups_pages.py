"""Group pages: times in each viewer's zone, the join flow from an emailed invitation, who may see what, the
schedule and session forms, attendance with two facilitators, agendas, notes, the waitlist and the dashboards."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from groups_fixtures import *  # noqa: F403
from groups_fixtures import NOW, SETUP, audit_actions, enrol, hours, occurrences_of, set_weekly_schedule, utc
from sqlalchemy import select

from app.accounts.models import RoleName, User
from app.extensions import db, mail
from app.groups import attendance, queries, schedules, services
from app.groups.models import (
    Attendance,
    AttendanceStatus,
    FacilitatorNote,
    Membership,
    MembershipStatus,
    OccurrenceStatus,
    SessionOccurrence,
)


def text_of(response) -> str:
    """The page's text with tags removed and white space collapsed, for checking what a person reads."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def main_of(response) -> str:
    html = response.get_data(as_text=True)
    match = re.search(r"<main\b.*?</main>", html, flags=re.S)
    return match.group(0) if match else html


class FormFields(HTMLParser):
    """The values a browser would submit for the first form whose action ends with `action` (or the only form)."""

    def __init__(self, action: str | None = None):
        super().__init__()
        self.action, self.inside, self.select, self.fields = action, False, None, {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = self.action is None or (attrs.get("action") or "").endswith(self.action)
        elif not self.inside:
            return
        elif tag == "input" and attrs.get("name"):
            if attrs.get("type") in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.fields[attrs["name"]] = attrs.get("value", "")
        elif tag == "select":
            self.select = attrs.get("name")
            self.fields.setdefault(self.select, "")
        elif tag == "option" and self.select and "selected" in attrs:
            self.fields[self.select] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None


def form_fields(response, action: str | None = None) -> dict[str, str]:
    parser = FormFields(action)
    parser.feed(response.get_data(as_text=True))
    return parser.fields


def future(group) -> list[SessionOccurrence]:
    return [o for o in occurrences_of(group) if o.starts_at > NOW]


def past(group) -> list[SessionOccurrence]:
    return [o for o in occurrences_of(group) if o.starts_at < NOW]


def membership(group, user) -> Membership | None:
    return db.session.scalar(select(Membership).where(Membership.group_id == group.id, Membership.user_id == user.id))


# Each viewer sees times in their own time zone ------------------------------------------------------------------------


def test_a_new_york_member_sees_the_berlin_18h_session_at_12_or_13_depending_on_the_date(
        client, login, group_with_members, make_member, clock):
    """Berlin 18:00 is 12:00 in New York, except from 8 to 29 March, when only New York has changed its clocks."""
    new_yorker = make_member(group_with_members, display_name="Nia York", timezone="America/New_York")
    clock.move_to(SETUP)
    login(client, new_yorker.user)

    page = text_of(client.get(f"/groups/{group_with_members.id}"))

    assert "Thu 5 Mar 2026, 12:00, New York time" in page
    assert "Thu 12 Mar 2026, 13:00, New York time" in page
    assert "Thu 26 Mar 2026, 13:00, New York time" in page
    assert "Thu 2 Apr 2026, 12:00, New York time" in page
    assert "18:00" not in page


def test_a_berlin_member_sees_18h_on_both_sides_of_the_clock_change(client, login, group_with_members, patient):
    login(client, patient)

    page = text_of(client.get(f"/groups/{group_with_members.id}"))

    assert "Thu 26 Mar 2026, 18:00, Berlin time" in page
    assert "Thu 2 Apr 2026, 18:00, Berlin time" in page
    assert "Thu 9 Apr 2026, 18:00, Berlin time" in page


def test_the_session_page_shows_the_time_in_the_viewers_zone(client, login, group_with_members, make_member,
                                                             facilitator):
    new_yorker = make_member(group_with_members, timezone="America/New_York")
    occurrence = future(group_with_members)[1]  # 2 April, 16:00 UTC

    login(client, new_yorker.user)
    assert "Thu 2 Apr 2026, 12:00, New York time" in text_of(client.get(f"/sessions/{occurrence.id}"))
    login(client, facilitator)
    assert "Thu 2 Apr 2026, 18:00, Berlin time" in text_of(client.get(f"/sessions/{occurrence.id}"))
    assert f'datetime="{occurrence.starts_at.isoformat()}"' in client.get(f"/sessions/{occurrence.id}").get_data(
        as_text=True)


def test_the_home_page_shows_a_new_york_member_the_next_session_in_new_york_time(client, login, group_with_members,
                                                                                 make_member):
    new_yorker = make_member(group_with_members, timezone="America/New_York")
    login(client, new_yorker.user)

    page = text_of(client.get("/"))

    assert "Next session: Thu 26 Mar 2026, 13:00, New York time" in page
    assert "Join online" in page


def test_a_co_facilitator_in_new_york_sees_the_upcoming_sessions_in_new_york_time(client, login, group_with_members,
                                                                                   facilitator, make_user):
    colleague = make_user(RoleName.FACILITATOR, timezone="America/New_York")
    services.set_co_facilitators(facilitator, group_with_members, [colleague])
    db.session.commit()
    login(client, colleague)

    page = text_of(client.get(f"/groups/{group_with_members.id}"))

    assert "Thu 26 Mar 2026, 13:00, New York time" in page
    assert "Thu 2 Apr 2026, 12:00, New York time" in page


# The join flow, from the email to an active membership ----------------------------------------------------------------


def _invite_by_email(client, login, post, facilitator, group, email: str) -> str:
    login(client, facilitator)
    with mail.record_messages() as outbox:
        response = post(client, f"/groups/{group.id}/invitations", {"email": email})
    assert response.status_code == 302
    assert [m.recipients for m in outbox] == [[email]]
    link = re.search(r"http://\S+/invitations/\S+", outbox[0].body).group(0)
    return urlsplit(link).path


def test_the_full_join_flow_from_an_emailed_invitation(app, login, post, group_with_members, facilitator):
    group = group_with_members
    path = _invite_by_email(app.test_client(), login, post, facilitator, group, "sam@example.org")
    newcomer = app.test_client()

    assert newcomer.get(path).status_code == 200
    response = post(newcomer, path, {"display_name": "Sam Newcomer", "email": "sam@example.org",
                                     "password": "a long and unrelated passphrase", "timezone": "America/New_York"})
    assert response.status_code == 302
    sam = db.session.scalar(select(User).where(User.email == "sam@example.org"))
    assert membership(group, sam).status == MembershipStatus.INVITED

    home = newcomer.get("/")
    assert "Finish joining" in text_of(home)
    assert f'href="/groups/{group.id}/join"' in home.get_data(as_text=True)
    assert newcomer.get(f"/groups/{group.id}").headers["Location"].endswith(f"/groups/{group.id}/join")
    assert newcomer.get(f"/sessions/{future(group)[0].id}").status_code == 404  # not a member yet

    join_page = newcomer.get(f"/groups/{group.id}/join")
    assert group.current_agreement.text.splitlines()[0] in text_of(join_page)
    fields = form_fields(join_page)
    assert fields["agreement_id"] == str(group.current_agreement.id)
    refused = post(newcomer, f"/groups/{group.id}/join", {**fields, "preferred_name": "Sam"})  # nothing ticked
    assert refused.status_code == 422
    assert membership(group, sam).status == MembershipStatus.INVITED

    response = post(newcomer, f"/groups/{group.id}/join", {
        **fields, "accept": "y", "preferred_name": "Sam", "hopes": "Meet people who get it",
        "doable": "Listening first", "speaking_comfort": "very_uneasy", "accommodations": ["camera_off", "reminders"],
        "accommodations_note": "Mornings are hard"})

    assert response.status_code == 302
    row = membership(group, sam)
    assert row.status == MembershipStatus.ACTIVE
    assert (row.agreement.version, row.agreement_accepted_at, row.joined_at) == (1, NOW, NOW)
    assert (row.preferred_name, row.speaking_comfort.value, row.accommodations) == (
        "Sam", "very_uneasy", ["camera_off", "reminders"])
    page = text_of(newcomer.get(f"/groups/{group.id}"))
    assert "Thu 26 Mar 2026, 13:00, New York time" in page  # the next session, in Sam's own zone
    assert "You accepted version 1." in page
    assert "Finish joining" not in text_of(newcomer.get("/"))


def _invite_by_link(client, login, post, facilitator, group) -> str:
    """A single-use link to share (no email): the group page shows it once."""
    login(client, facilitator)
    post(client, f"/groups/{group.id}/invitations", {"email": ""})
    page = client.get(f"/groups/{group.id}").get_data(as_text=True)
    return urlsplit(re.search(r'<code class="token">([^<]+)</code>', page).group(1)).path


def test_a_signed_in_patient_accepts_a_group_invitation_link(app, login, post, group_with_members, facilitator,
                                                              make_user):
    path = _invite_by_link(app.test_client(), login, post, facilitator, group_with_members)
    existing = make_user(RoleName.PATIENT)
    client = app.test_client()
    login(client, existing)

    assert post(client, path).status_code == 302

    assert membership(group_with_members, existing).status == MembershipStatus.INVITED
    assert "Finish joining" in text_of(client.get("/"))


def test_an_invitation_link_used_twice_is_refused(app, login, post, group_with_members, facilitator):
    path = _invite_by_email(app.test_client(), login, post, facilitator, group_with_members, "sam@example.org")
    first = app.test_client()
    post(first, path, {"display_name": "Sam", "email": "sam@example.org",
                       "password": "a long and unrelated passphrase", "timezone": "Europe/Berlin"})

    second = app.test_client()
    response = second.get(path)
    assert response.status_code == 410
    assert "already been used" in text_of(response)
    response = post(second, path, {"display_name": "Mallory", "email": "sam@example.org",
                                   "password": "a long and unrelated passphrase", "timezone": "Europe/Berlin"})
    assert response.status_code == 410
    assert db.session.scalar(select(User).where(User.display_name == "Mallory")) is None


def test_an_expired_invitation_link_is_refused(app, login, post, group_with_members, facilitator, clock):
    path = _invite_by_email(app.test_client(), login, post, facilitator, group_with_members, "sam@example.org")
    clock.shift(timedelta(days=app.config["INVITATION_DAYS"], minutes=1))
    client = app.test_client()

    response = client.get(path)
    assert response.status_code == 410
    assert "expired" in text_of(response)
    post(client, path, {"display_name": "Sam", "email": "sam@example.org",
                        "password": "a long and unrelated passphrase", "timezone": "Europe/Berlin"})
    assert db.session.scalar(select(User).where(User.email == "sam@example.org")) is None


def test_an_invitation_for_another_organisation_is_refused_to_a_signed_in_patient(app, login, post,
                                                                                   group_with_members, facilitator,
                                                                                   make_user, make_organisation):
    path = _invite_by_link(app.test_client(), login, post, facilitator, group_with_members)
    outsider = make_user(RoleName.PATIENT, organisation_=make_organisation())
    client = app.test_client()
    login(client, outsider)

    response = post(client, path)

    assert "This invitation is for another organisation." in text_of(response)
    assert membership(group_with_members, outsider) is None
    assert outsider.role_in(group_with_members.organisation_id) is None


# Only the group's people see inside it --------------------------------------------------------------------------------


@pytest.fixture
def outsiders(make_user, make_organisation, make_group, other_patient, supporter, facilitator):
    elsewhere = make_organisation()
    other_group = make_group(make_user(RoleName.FACILITATOR, timezone="Europe/Berlin"), name="Other group")
    enrol(other_group, other_patient)
    return {
        "patient of another group": other_patient,
        "supporter": supporter,
        "facilitator of another group": other_group.facilitators[0].user,
        "patient of another organisation": make_user(RoleName.PATIENT, organisation_=elsewhere),
        "facilitator of another organisation": make_user(RoleName.FACILITATOR, organisation_=elsewhere),
        "admin": make_user(RoleName.ADMIN),
    }


def test_outsiders_get_404_for_the_groups_pages_and_sessions(client, login, group_with_members, outsiders, post):
    group = group_with_members
    occurrence = future(group)[0]
    pages = [f"/groups/{group.id}", f"/sessions/{occurrence.id}", f"/sessions/{occurrence.id}/attendance",
             f"/sessions/{occurrence.id}/notes", f"/groups/{group.id}/calendar.ics", f"/groups/{group.id}/edit",
             f"/groups/{group.id}/schedule", f"/groups/{group.id}/join"]
    writes = [f"/sessions/{occurrence.id}/cancel", f"/sessions/{occurrence.id}/agenda",
              f"/sessions/{occurrence.id}/notes", f"/groups/{group.id}/invitations", f"/groups/{group.id}/leave"]
    for who, user in outsiders.items():
        login(client, user)
        for url in pages:
            response = client.get(url)
            assert response.status_code in (403, 404), (who, url, response.status_code)
            assert group.name not in response.get_data(as_text=True), (who, url)
        for url in writes:
            response = post(client, url, {"reason": "x", "title": "x", "body": "x", "email": ""})
            assert response.status_code in (403, 404), (who, url, response.status_code)
    assert occurrence.status == OccurrenceStatus.SCHEDULED
    assert occurrence.agenda_items == []
    assert db.session.scalars(select(FacilitatorNote)).all() == []


def test_a_patient_of_another_group_reading_this_groups_sessions_gets_404(client, login, group_with_members,
                                                                         outsiders):
    login(client, outsiders["patient of another group"])
    for occurrence in occurrences_of(group_with_members):
        assert client.get(f"/sessions/{occurrence.id}").status_code == 404


def test_someone_on_the_waitlist_sees_no_sessions(client, login, make_group, make_member, facilitator):
    group = make_group(facilitator, capacity=1)
    make_member(group)
    set_weekly_schedule(facilitator, group, datetime(2026, 4, 2, 18), count=2)
    waiting = make_member(group)
    login(client, waiting.user)

    page = client.get(f"/groups/{group.id}")
    assert page.status_code == 200
    assert "You are on the waitlist." in text_of(page)
    assert "Thu 2 Apr" not in text_of(page)
    assert client.get(f"/sessions/{future(group)[0].id}").status_code == 404
    assert client.get(f"/groups/{group.id}/calendar.ics").status_code == 404


# Editing groups: refused changes change nothing -----------------------------------------------------------------------


def _group_form(client, group) -> dict:
    return form_fields(client.get(f"/groups/{group.id}/edit"), action=f"/groups/{group.id}/edit") or \
        form_fields(client.get(f"/groups/{group.id}/edit"))


def test_capacity_below_the_current_members_is_refused_on_the_page(client, login, post, group_with_members,
                                                                   facilitator):
    login(client, facilitator)
    fields = form_fields(client.get(f"/groups/{group_with_members.id}/edit"))
    assert fields["capacity"] == "8"

    response = post(client, f"/groups/{group_with_members.id}/edit", {**fields, "capacity": "2", "name": "Renamed"})

    assert response.status_code == 422
    assert "3 members hold a place (active or paused); capacity cannot go below that." in text_of(response)
    db.session.expire_all()
    assert (group_with_members.capacity, group_with_members.name) == (8, "Tuesday evening group")


def test_editing_a_finished_group_is_refused_on_the_page(client, login, post, group_with_members, facilitator):
    group = group_with_members
    login(client, facilitator)
    fields = form_fields(client.get(f"/groups/{group.id}/edit"))
    assert post(client, f"/groups/{group.id}/edit", {**fields, "status": "finished"}).status_code == 302

    response = post(client, f"/groups/{group.id}/edit", {**fields, "status": "active", "name": "Back again"})

    assert "This group has ended; it can no longer be changed." in text_of(response)
    db.session.expire_all()
    assert (group.status.value, group.name) == ("finished", "Tuesday evening group")
    page = text_of(client.get(f"/groups/{group.id}"))
    assert "Edit group" not in page and "Invite members" not in page


# Schedules and single sessions through the forms ----------------------------------------------------------------------


def _schedule(client, post, group, **overrides):
    data = {"start_date": "2026-04-02", "start_time": "18:00", "interval_weeks": "1", "end_mode": "count",
            "count": "6", "until": "", "duration_minutes": "90", **overrides}
    return post(client, f"/groups/{group.id}/schedule", data)


def test_a_weekly_schedule_saved_on_the_page(client, login, post, make_group, facilitator):
    group = make_group(facilitator)
    login(client, facilitator)

    assert _schedule(client, post, group, interval_weeks="2", count="3").status_code == 302

    assert [o.starts_at for o in occurrences_of(group)] == [utc(2026, 4, 2, 16), utc(2026, 4, 16, 16),
                                                            utc(2026, 4, 30, 16)]
    fields = form_fields(client.get(f"/groups/{group.id}/schedule"), action=f"/groups/{group.id}/schedule")
    assert (fields["start_date"], fields["start_time"], fields["interval_weeks"], fields["count"]) == (
        "2026-04-02", "18:00", "2", "3")


@pytest.mark.parametrize(("zone", "day"), [("Europe/Berlin", "2026-03-29"), ("America/New_York", "2027-03-14")])
def test_a_typed_start_in_the_gap_is_refused_with_a_clear_message(client, login, post, make_group, facilitator,
                                                                  zone, day):
    group = make_group(facilitator, timezone=zone)
    login(client, facilitator)

    response = _schedule(client, post, group, start_date=day, start_time="02:30")

    assert response.status_code == 422
    assert "That time does not exist on that day in this time zone (the clocks go forward)." in text_of(response)
    assert re.search(r'id="start_time-error"', response.get_data(as_text=True))
    assert occurrences_of(group) == []


NO_SESSIONS = "This schedule produces no sessions. Check the start date and the end."


@pytest.mark.parametrize(("overrides", "message"), [
    ({"end_mode": "until", "count": "", "until": "2026-03-30"}, NO_SESSIONS),
    ({"start_date": "2026-01-01", "count": "3"}, NO_SESSIONS),
    ({"end_mode": "count", "count": ""}, "How many sessions?"),
    ({"end_mode": "until", "count": "", "until": ""}, "Choose the last date."),
    ({"start_date": "9999-12-31", "start_time": "23:00"}, "Choose a date between 1900 and 2200."),
])
def test_a_schedule_that_cannot_be_used_is_explained_on_the_page(client, login, post, make_group, facilitator,
                                                                 overrides, message):
    group = make_group(facilitator)
    login(client, facilitator)

    response = _schedule(client, post, group, **overrides)

    assert response.status_code == 422
    assert message in text_of(response)
    assert occurrences_of(group) == []


def test_an_extra_session_in_the_gap_is_refused_on_the_page(client, login, post, group_with_members, facilitator):
    login(client, facilitator)

    response = post(client, f"/groups/{group_with_members.id}/sessions",
                    {"date": "2026-03-29", "time": "02:30", "duration_minutes": "60"})

    assert response.status_code == 422
    assert "That time does not exist on that day" in text_of(response)
    assert len(occurrences_of(group_with_members)) == 8


def test_an_extra_session_added_on_the_page(client, login, post, group_with_members, facilitator):
    login(client, facilitator)

    response = post(client, f"/groups/{group_with_members.id}/sessions",
                    {"date": "2026-03-31", "time": "10:00", "duration_minutes": "60", "location": "Room 2"})

    assert response.status_code == 302
    extra = next(o for o in occurrences_of(group_with_members) if o.is_extra)
    assert (extra.starts_at, extra.location) == (utc(2026, 3, 31, 8), "Room 2")


def test_moving_a_session_into_the_gap_on_the_page_changes_nothing(client, login, post, group_with_members,
                                                                    facilitator):
    occurrence = future(group_with_members)[0]
    login(client, facilitator)
    fields = form_fields(client.get(f"/sessions/{occurrence.id}"), action=f"/sessions/{occurrence.id}/edit")
    assert (fields["date"], fields["time"]) == ("2026-03-26", "18:00")

    response = post(client, f"/sessions/{occurrence.id}/edit", {**fields, "date": "2026-03-29", "time": "02:00"})

    assert "That time does not exist on that day" in text_of(client.get(response.headers["Location"]))
    db.session.expire_all()
    assert (occurrence.starts_at, occurrence.is_exception) == (utc(2026, 3, 26, 17), False)


def test_a_session_moved_and_relinked_on_the_page_leaves_the_others(client, login, post, group_with_members,
                                                                     facilitator, patient):
    group = group_with_members
    occurrence = future(group)[1]
    login(client, facilitator)
    fields = form_fields(client.get(f"/sessions/{occurrence.id}"), action=f"/sessions/{occurrence.id}/edit")

    post(client, f"/sessions/{occurrence.id}/edit", {**fields, "date": "2026-04-03", "time": "17:00",
                                                     "video_link": "https://backup.example.org/room"})

    db.session.expire_all()
    assert (occurrence.starts_at, occurrence.video_link) == (utc(2026, 4, 3, 15), "https://backup.example.org/room")
    assert [o.starts_at.hour for o in future(group) if o.id != occurrence.id] == [17, 16, 16, 16]
    login(client, patient)
    page = client.get(f"/sessions/{occurrence.id}").get_data(as_text=True)
    assert 'href="https://backup.example.org/room"' in page
    assert "Fri 3 Apr 2026, 17:00, Berlin time" in text_of(client.get(f"/sessions/{occurrence.id}"))


def test_members_see_why_a_session_is_cancelled(client, login, post, group_with_members, facilitator, patient):
    group = group_with_members
    cancelled = future(group)[0]
    login(client, facilitator)
    assert post(client, f"/sessions/{cancelled.id}/cancel", {"reason": ""}).status_code == 302
    db.session.expire_all()
    assert cancelled.status == OccurrenceStatus.SCHEDULED

    post(client, f"/sessions/{cancelled.id}/cancel", {"reason": "I am ill; see you next week."})

    login(client, patient)
    session_page = text_of(client.get(f"/sessions/{cancelled.id}"))
    assert "Cancelled: I am ill; see you next week." in session_page
    group_page = text_of(client.get(f"/groups/{group.id}"))
    assert "Cancelled" in group_page and "I am ill; see you next week." in group_page
    # The next session to go to is the one after.
    assert re.search(r"Next session Thu 2 Apr 2026, 18:00", group_page)


# Intake, status reasons and notes stay with the facilitators ----------------------------------------------------------


def test_intake_answers_are_shown_to_facilitators_only(client, login, make_group, make_member, facilitator, patient):
    group = make_group(facilitator)
    enrol(group, patient, preferred_name="Pat", hopes="Feel less alone", doable="Just listening",
          speaking_comfort="very_uneasy", accommodations=("camera_off",), accommodations_note="Panic in groups")
    make_member(group, display_name="Zoe", intake={"hopes": "Zoe hopes for structure",
                                                   "accommodations_note": "Zoe's private note"})
    login(client, facilitator)
    page = text_of(client.get(f"/groups/{group.id}"))
    for answer in ("Feel less alone", "Just listening", "Very hard right now", "Panic in groups",
                   "I may keep my camera off", "Zoe hopes for structure"):
        assert answer in page

    login(client, patient)
    member_view = client.get(f"/groups/{group.id}").get_data(as_text=True)
    for private in ("Zoe hopes for structure", "Zoe&#39;s private note", "Zoe's private note", "Feel less alone"):
        assert private not in member_view
    set_weekly_schedule(facilitator, group, datetime(2026, 4, 2, 18), count=1)
    session_view = client.get(f"/sessions/{future(group)[0].id}").get_data(as_text=True)
    assert "Zoe hopes for structure" not in session_view


def test_a_reason_for_leaving_is_not_shown_to_other_members(client, login, post, group_with_members, patient,
                                                             facilitator):
    group = group_with_members
    zoe = next(m for m in group.memberships if m.shown_name == "Zoe Zimmer")
    login(client, facilitator)
    post(client, f"/groups/{group.id}/members/{zoe.id}/status", {"status": "paused", "reason": "Hospital stay"})
    assert "Hospital stay" in text_of(client.get(f"/groups/{group.id}"))

    login(client, patient)
    assert "Hospital stay" not in client.get(f"/groups/{group.id}").get_data(as_text=True)


@pytest.mark.parametrize("who", ["patient", "supporter", "facilitator of another group", "member's supporter"])
def test_facilitator_notes_are_not_found_for_anyone_else(client, login, post, group_with_members, facilitator,
                                                         patient, supporter, make_user, who):
    occurrence = past(group_with_members)[-1]
    services.add_note(facilitator, group_with_members, "Seemed very low today.", occurrence=occurrence,
                      member=patient)
    db.session.commit()
    user = {"patient": patient, "supporter": supporter,
            "facilitator of another group": make_user(RoleName.FACILITATOR),
            "member's supporter": make_user(RoleName.SUPPORTER)}[who]
    login(client, user)
    reads_before = len(audit_actions("note_read"))

    assert client.get(f"/sessions/{occurrence.id}/notes").status_code == 404
    assert post(client, f"/sessions/{occurrence.id}/notes", {"body": "sneaky"}).status_code == 404
    for url in (f"/sessions/{occurrence.id}", f"/groups/{group_with_members.id}", "/"):
        assert "Seemed very low today." not in client.get(url).get_data(as_text=True)
    assert len(audit_actions("note_read")) == reads_before
    assert db.session.scalar(select(FacilitatorNote).where(FacilitatorNote.body == "sneaky")) is None


def test_every_read_and_write_of_notes_on_the_page_is_audited(client, login, post, group_with_members, facilitator,
                                                              patient, make_user):
    group = group_with_members
    occurrence = past(group)[-1]
    login(client, facilitator)

    response = post(client, f"/sessions/{occurrence.id}/notes", {"member_id": str(patient.id),
                                                                 "body": "Talked about sleep."})
    assert response.status_code == 302
    page = client.get(f"/sessions/{occurrence.id}/notes")

    assert "Talked about sleep." in text_of(page)
    written = audit_actions("note_write")
    assert [(e.actor_id, e.subject_id) for e in written] == [(facilitator.id, patient.id)]
    reads = audit_actions("note_read")
    assert [(e.actor_id, e.target) for e in reads] == [(facilitator.id, f"session:{occurrence.id}")]
    colleague = make_user(RoleName.FACILITATOR)
    services.set_co_facilitators(facilitator, group, [colleague])
    db.session.commit()
    login(client, colleague)
    assert "Talked about sleep." in text_of(client.get(f"/sessions/{occurrence.id}/notes"))
    assert [e.actor_id for e in audit_actions("note_read")] == [facilitator.id, colleague.id]


# Agenda ---------------------------------------------------------------------------------------------------------------


def test_agenda_markdown_is_sanitised_and_the_rationale_shows_to_members(client, login, post, group_with_members,
                                                                         facilitator, patient):
    occurrence = future(group_with_members)[0]
    login(client, facilitator)
    body = ("**Plan one small thing.**\n\n<script>alert('x')</script>\n\n[click me](javascript:alert(1)) "
            "[ok](https://example.org/sheet) <img src=x onerror=alert(2)>\n\n<a href=\"javascript:alert(3)\">raw</a>")
    post(client, f"/sessions/{occurrence.id}/agenda", {"title": "Activity planning", "body": body,
                                                       "rationale": "Doing comes before feeling like it."})

    login(client, patient)
    response = client.get(f"/sessions/{occurrence.id}")
    agenda = re.search(r'<section aria-labelledby="agenda-heading".*?</section>', response.get_data(as_text=True),
                       flags=re.S).group(0)

    assert "<strong>Plan one small thing.</strong>" in agenda
    tags = re.sub(r">[^<]*<", "><", agenda)  # only the markup: raw HTML in the Markdown may stay as harmless text
    assert "<script" not in tags.lower()
    assert "javascript:" not in tags.lower()
    assert "<img" not in tags.lower() and "onerror" not in tags.lower()
    assert "&lt;script&gt;" in agenda  # shown as text, not run
    assert 'href="https://example.org/sheet"' in agenda
    assert "Why we do this: Doing comes before feeling like it." in text_of(response)


def test_the_agenda_of_a_group_that_has_ended_cannot_be_reordered(client, login, post, group_with_members,
                                                                   facilitator):
    occurrence = future(group_with_members)[0]
    first = services.add_agenda_item(facilitator, occurrence, title="Arrive")
    second = services.add_agenda_item(facilitator, occurrence, title="Plan")
    services.update_group(facilitator, group_with_members, {"status": "finished"})
    db.session.commit()
    login(client, facilitator)

    response = post(client, f"/sessions/{occurrence.id}/agenda/{second.id}/move/up")

    assert response.status_code == 302
    assert "This group has ended; it can no longer be changed." in text_of(client.get(response.headers["Location"]))
    db.session.expire_all()
    assert [i.id for i in occurrence.agenda_items] == [first.id, second.id]
    assert post(client, f"/sessions/{occurrence.id}/agenda/{first.id}/delete").status_code == 302
    assert len(occurrence.agenda_items) == 2


def test_members_cannot_change_the_agenda(client, login, post, group_with_members, patient):
    occurrence = future(group_with_members)[0]
    login(client, patient)

    assert post(client, f"/sessions/{occurrence.id}/agenda", {"title": "Mine"}).status_code == 404
    assert "Add to the agenda" not in text_of(client.get(f"/sessions/{occurrence.id}"))
    db.session.expire_all()
    assert occurrence.agenda_items == []


# Attendance -----------------------------------------------------------------------------------------------------------


def test_the_attendance_screen_lists_every_active_member_sorted_by_name(client, login, post, group_with_members,
                                                                       make_member, make_user, facilitator):
    group = group_with_members
    left = make_member(group, display_name="Aaron Left")
    services.change_membership_status(facilitator, left, MembershipStatus.LEFT)
    paused = make_member(group, display_name="Abby Paused")
    services.change_membership_status(facilitator, paused, MembershipStatus.PAUSED)
    services.update_group(facilitator, group, {"capacity": 5})
    make_member(group, display_name="Alma Active")
    make_member(group, display_name="Aiden Waiting")  # the group is full: waitlisted
    db.session.commit()
    login(client, facilitator)

    page = client.get(f"/sessions/{past(group)[-1].id}/attendance")

    names = re.findall(r'<th scope="row">([^<]+)<input', page.get_data(as_text=True))
    assert names == ["Alma Active", "Ben Berg", "Pat", "Zoe Zimmer"]


def test_a_member_who_joins_late_is_on_the_attendance_screen_of_later_sessions(client, login, group_with_members,
                                                                               make_member, facilitator):
    make_member(group_with_members, display_name="Lena Late")
    login(client, facilitator)

    for occurrence in future(group_with_members):
        assert "Lena Late" in text_of(client.get(f"/sessions/{occurrence.id}/attendance"))


def _sheet(client, occurrence) -> dict[str, str]:
    return form_fields(client.get(f"/sessions/{occurrence.id}/attendance"))


def _row(fields: dict, user_id: int) -> str:
    return next(k.rsplit("-", 1)[0] for k, v in fields.items() if k.endswith("-user_id") and v == str(user_id))


def test_two_facilitators_saving_the_sheet_at_once_lose_nothing(app, login, post, group_with_members, facilitator,
                                                                make_user, patient):
    group = group_with_members
    colleague = make_user(RoleName.FACILITATOR)
    services.set_co_facilitators(facilitator, group, [colleague])
    db.session.commit()
    occurrence = past(group)[-1]
    ids = {m.shown_name: m.user_id for m in queries.active_members(group)}
    mine, theirs = app.test_client(), app.test_client()
    login(mine, facilitator)
    login(theirs, colleague)
    my_sheet, their_sheet = _sheet(mine, occurrence), _sheet(theirs, occurrence)  # both loaded, nothing recorded

    my_sheet[_row(my_sheet, ids["Pat"]) + "-status"] = "present_online"
    my_sheet[_row(my_sheet, ids["Pat"]) + "-comment"] = "Camera off"
    their_sheet[_row(their_sheet, ids["Zoe Zimmer"]) + "-status"] = "left_early"
    their_sheet[_row(their_sheet, ids["Ben Berg"]) + "-status"] = "excused"
    first = post(mine, f"/sessions/{occurrence.id}/attendance", my_sheet)
    second = post(theirs, f"/sessions/{occurrence.id}/attendance", their_sheet)

    assert first.status_code == second.status_code == 302
    assert "Attendance is saved." in text_of(theirs.get(second.headers["Location"]))
    on_record = {uid: (a.status.value, a.comment) for uid, a in queries.attendance_for(occurrence).items()}
    assert on_record == {ids["Pat"]: ("present_online", "Camera off"), ids["Zoe Zimmer"]: ("left_early", ""),
                         ids["Ben Berg"]: ("excused", "")}


def test_the_same_row_saved_by_two_facilitators_keeps_the_first_and_tells_the_second(app, login, post,
                                                                                     group_with_members, facilitator,
                                                                                     make_user):
    group = group_with_members
    colleague = make_user(RoleName.FACILITATOR)
    services.set_co_facilitators(facilitator, group, [colleague])
    db.session.commit()
    occurrence = past(group)[-1]
    pat = next(m.user_id for m in queries.active_members(group) if m.shown_name == "Pat")
    mine, theirs = app.test_client(), app.test_client()
    login(mine, facilitator)
    login(theirs, colleague)
    my_sheet, their_sheet = _sheet(mine, occurrence), _sheet(theirs, occurrence)

    my_sheet[_row(my_sheet, pat) + "-status"] = "present_in_person"
    their_sheet[_row(their_sheet, pat) + "-status"] = "absent"
    their_sheet[_row(their_sheet, pat) + "-comment"] = "Not seen"
    post(mine, f"/sessions/{occurrence.id}/attendance", my_sheet)
    response = post(theirs, f"/sessions/{occurrence.id}/attendance", their_sheet)

    # The page comes back at once: the first entry is kept and shown, and what the second typed is not lost.
    assert response.status_code == 409
    page = text_of(response)
    assert "Someone else changed these rows while you were editing: Pat. Their entries are kept" in page
    assert "Recorded meanwhile by someone else: Present in person" in page
    assert queries.attendance_for(occurrence)[pat].status == AttendanceStatus.PRESENT_IN_PERSON
    shown = form_fields(response)
    assert (shown[_row(shown, pat) + "-status"], shown[_row(shown, pat) + "-comment"]) == ("absent", "Not seen")
    # Saving that page again is a deliberate choice: it replaces the first entry, without a conflict.
    again = post(theirs, f"/sessions/{occurrence.id}/attendance", shown)
    assert again.status_code == 302
    db.session.expire_all()
    assert (queries.attendance_for(occurrence)[pat].status, queries.attendance_for(occurrence)[pat].comment) == (
        AttendanceStatus.ABSENT, "Not seen")


def test_a_sheet_row_for_someone_who_is_not_an_active_member_is_refused(client, login, post, group_with_members,
                                                                        facilitator, other_patient):
    occurrence = past(group_with_members)[-1]
    login(client, facilitator)
    sheet = _sheet(client, occurrence)
    row = _row(sheet, next(iter(m.user_id for m in queries.active_members(group_with_members))))
    sheet[row + "-user_id"] = str(other_patient.id)
    sheet[row + "-status"] = "present_online"

    post(client, f"/sessions/{occurrence.id}/attendance", sheet)

    assert db.session.scalars(select(Attendance)).all() == []


@pytest.mark.parametrize(("bad", "status"), [("not-a-number", 400), ("", 400),
                                             ("99999999999999999999999", 409)])  # nobody's row: reported, not saved
def test_a_tampered_sheet_is_refused_without_a_server_error(client, login, post, group_with_members, facilitator, bad,
                                                            status):
    occurrence = past(group_with_members)[-1]
    login(client, facilitator)
    sheet = _sheet(client, occurrence)
    sheet["rows-0-user_id"] = bad
    sheet["rows-0-status"] = "present_online"

    response = post(client, f"/sessions/{occurrence.id}/attendance", sheet)

    assert response.status_code == status
    assert db.session.scalars(select(Attendance)).all() == []


# Waitlist and agreement on the pages ----------------------------------------------------------------------------------


def test_a_full_group_offers_the_waitlist_and_a_freed_place_goes_to_the_next_person(app, login, post, make_group,
                                                                                   make_member, facilitator,
                                                                                   patient, make_user, clock):
    group = make_group(facilitator, capacity=1)
    leaving = make_member(group)
    first, second = patient, make_user(RoleName.PATIENT)
    for person in (first, second):
        db.session.add(Membership(group_id=group.id, user_id=person.id, status=MembershipStatus.INVITED))
    db.session.commit()
    for person in (first, second):
        client = app.test_client()
        login(client, person)
        fields = form_fields(client.get(f"/groups/{group.id}/join"))
        response = post(client, f"/groups/{group.id}/join", {**fields, "accept": "y", "preferred_name": "X",
                                                             "speaking_comfort": "comfortable"})
        assert "The group is full right now." in text_of(client.get(response.headers["Location"]))
        clock.shift(timedelta(minutes=1))
    assert [m.user_id for m in queries.waitlist(group)] == [first.id, second.id]
    leaver = app.test_client()
    login(leaver, leaving.user)

    post(leaver, f"/groups/{group.id}/leave", {"reason": "Too far"})

    assert membership(group, first).status == MembershipStatus.ACTIVE
    assert membership(group, second).status == MembershipStatus.WAITLISTED
    staff = app.test_client()
    login(staff, facilitator)
    post(staff, f"/groups/{group.id}/edit", {**form_fields(staff.get(f"/groups/{group.id}/edit")), "capacity": "2"})
    assert membership(group, second).status == MembershipStatus.ACTIVE


def test_a_new_agreement_version_is_accepted_on_the_member_page(client, login, post, group_with_members, facilitator,
                                                                patient, clock):
    group = group_with_members
    login(client, facilitator)
    post(client, f"/groups/{group.id}/agreement", {"text": "Version two: cameras are optional."})
    assert group.current_agreement.version == 2

    login(client, patient)
    page = client.get(f"/groups/{group.id}")
    assert "The agreement has changed. Please read the new version." in text_of(page)
    assert "Version two: cameras are optional." in text_of(page)
    clock.shift(timedelta(minutes=5))
    fields = form_fields(page, action=f"/groups/{group.id}/agreement/accept")
    post(client, f"/groups/{group.id}/agreement/accept", {**fields, "accept": "y"})

    row = membership(group, patient)
    assert (row.agreement.version, row.agreement_accepted_at) == (2, NOW + timedelta(minutes=5))
    assert "You accepted version 2." in text_of(client.get(f"/groups/{group.id}"))


# Dashboards -----------------------------------------------------------------------------------------------------------


def test_the_patients_home_shows_the_neutral_attendance_summary(client, login, group_with_members, facilitator,
                                                               patient):
    for occurrence, status in zip(past(group_with_members), ("present_online", "absent", "brief_checkin"),
                                  strict=True):
        attendance.record_attendance(facilitator, occurrence, [attendance.AttendanceEntry(
            user_id=patient.id, status=AttendanceStatus(status))])
    db.session.commit()
    login(client, patient)

    page = text_of(client.get("/"))

    assert "You joined 2 of the last 3 sessions." in page
    assert "Next session: Thu 26 Mar 2026, 18:00, Berlin time" in page
    assert "absent" not in page.lower() and "missed" not in page.lower()


def test_the_facilitators_home_shows_attendance_engagement_risk_and_the_waitlist(client, login, group_with_members,
                                                                                facilitator, patient, make_member):
    group = group_with_members
    ids = {m.shown_name: m.user_id for m in queries.active_members(group)}
    for occurrence in past(group):
        attendance.record_attendance(facilitator, occurrence, [
            attendance.AttendanceEntry(user_id=ids["Pat"], status=AttendanceStatus.PRESENT_ONLINE),
            attendance.AttendanceEntry(user_id=ids["Zoe Zimmer"], status=AttendanceStatus.ABSENT),
            attendance.AttendanceEntry(user_id=ids["Ben Berg"], status=AttendanceStatus.EXCUSED)])
    services.update_group(facilitator, group, {"capacity": 3})
    make_member(group)
    db.session.commit()
    login(client, facilitator)

    page = text_of(client.get("/"))

    # The group's card: its figures, not a table per group; the names are under "Members who may need a word".
    assert "Over the last 3 sessions: 50% of recorded places were taken." in page
    assert "1 missed two or more in a row" in page
    assert "1 person waiting" in page
    assert "Next session: Thu 26 Mar 2026, 18:00, Berlin time" in page
    needing_a_word = page[page.index("Members who may need a word"):page.index("Your groups")]
    assert "Zoe Zimmer" in needing_a_word and "Missed the last two sessions (19 Mar and 12 Mar)" in needing_a_word
    assert "Pat" not in needing_a_word and "Ben Berg" not in needing_a_word  # excused is not missed


# A group that has ended -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["cancelled", "finished"])
def test_a_group_that_has_ended_advertises_no_session_to_its_members(client, login, post, group_with_members,
                                                                       facilitator, patient, status):
    group = group_with_members
    login(client, facilitator)
    fields = form_fields(client.get(f"/groups/{group.id}/edit"))
    assert post(client, f"/groups/{group.id}/edit", {**fields, "status": status}).status_code == 302

    login(client, patient)
    home = text_of(client.get("/"))
    group_page = text_of(client.get(f"/groups/{group.id}"))

    for page in (home, group_page):
        assert "Next session" not in page and "Join online" not in page
        assert {"cancelled": "This group has been cancelled.", "finished": "This group has finished."}[status] in page
    assert "Later sessions" not in group_page


# Attendance: nothing typed is lost ------------------------------------------------------------------------------------


def test_a_member_paused_while_the_sheet_is_open_does_not_cost_the_other_rows(client, login, post,
                                                                               group_with_members, facilitator):
    group = group_with_members
    occurrence = past(group)[-1]
    ids = {m.shown_name: m.user_id for m in queries.active_members(group)}
    login(client, facilitator)
    sheet = _sheet(client, occurrence)
    sheet[_row(sheet, ids["Pat"]) + "-status"] = "present_online"
    sheet[_row(sheet, ids["Pat"]) + "-comment"] = "Camera off"
    sheet[_row(sheet, ids["Ben Berg"]) + "-status"] = "absent"
    ben = next(m for m in group.memberships if m.user_id == ids["Ben Berg"])
    services.change_membership_status(facilitator, ben, MembershipStatus.PAUSED, "Unwell")  # a colleague, meanwhile
    db.session.commit()

    response = post(client, f"/sessions/{occurrence.id}/attendance", sheet)

    assert "Nothing was saved for Ben Berg: they are no longer active members of the group." in text_of(response)
    db.session.expire_all()
    assert {uid: (a.status.value, a.comment) for uid, a in queries.attendance_for(occurrence).items()} == {
        ids["Pat"]: ("present_online", "Camera off")}
    shown = form_fields(response)
    assert (shown[_row(shown, ids["Pat"]) + "-status"], shown[_row(shown, ids["Pat"]) + "-comment"]) == (
        "present_online", "Camera off")


def test_a_sheet_with_a_bad_comment_comes_back_with_everything_typed(client, login, post, group_with_members,
                                                                     facilitator):
    group = group_with_members
    occurrence = past(group)[-1]
    ids = {m.shown_name: m.user_id for m in queries.active_members(group)}
    login(client, facilitator)
    sheet = _sheet(client, occurrence)
    sheet[_row(sheet, ids["Pat"]) + "-status"] = "present_online"
    sheet[_row(sheet, ids["Pat"]) + "-comment"] = "Arrived late"
    sheet[_row(sheet, ids["Zoe Zimmer"]) + "-comment"] = "x" * 501

    response = post(client, f"/sessions/{occurrence.id}/attendance", sheet)

    assert response.status_code == 422
    shown = form_fields(response)
    assert (shown[_row(shown, ids["Pat"]) + "-status"], shown[_row(shown, ids["Pat"]) + "-comment"]) == (
        "present_online", "Arrived late")
    assert shown[_row(shown, ids["Zoe Zimmer"]) + "-comment"] == "x" * 501
    assert "Field cannot be longer than 500 characters." in text_of(response)
    assert queries.attendance_for(occurrence) == {}


def test_attendance_for_a_session_that_has_not_started_is_refused_on_the_page(client, login, post,
                                                                               group_with_members, facilitator,
                                                                               patient):
    occurrence = future(group_with_members)[0]
    login(client, facilitator)
    page = client.get(f"/sessions/{occurrence.id}/attendance")
    assert "record attendance once it has begun" in text_of(page)
    sheet = form_fields(page)
    sheet[_row(sheet, patient.id) + "-status"] = "present_online"

    response = post(client, f"/sessions/{occurrence.id}/attendance", sheet)

    assert response.status_code == 409
    assert form_fields(response)[_row(sheet, patient.id) + "-status"] == "present_online"
    assert queries.attendance_for(occurrence) == {}


# Facilitators' reads of patient data are audited ----------------------------------------------------------------------


def test_facilitators_reading_intake_attendance_and_engagement_is_audited(client, login, group_with_members,
                                                                          facilitator, patient):
    group = group_with_members
    occurrence = past(group)[-1]
    attendance.record_attendance(facilitator, occurrence, [attendance.AttendanceEntry(
        user_id=patient.id, status=AttendanceStatus.PRESENT_ONLINE)])
    db.session.commit()
    members = sorted(m.user_id for m in queries.active_members(group))
    login(client, facilitator)

    client.get(f"/groups/{group.id}")
    client.get(f"/sessions/{occurrence.id}/attendance")
    client.get("/")

    intake = audit_actions("intake_read")
    assert [(e.actor_id, e.target) for e in intake] == [(facilitator.id, f"group:{group.id}")]
    assert f'"members": {members}' in intake[0].details
    sheet = audit_actions("attendance_read")
    assert [(e.actor_id, e.subject_id, e.target) for e in sheet] == [(facilitator.id, patient.id,
                                                                     f"session:{occurrence.id}")]
    engagement = audit_actions("engagement_read")
    assert [(e.actor_id, e.target) for e in engagement] == [(facilitator.id, f"group:{group.id}"),
                                                           (facilitator.id, "dashboard")]
    assert all(f'"members": {members}' in e.details for e in engagement)


def test_the_intake_is_shown_only_where_the_policy_allows_it(client, login, group_with_members, facilitator,
                                                             monkeypatch):
    from app import policy

    login(client, facilitator)
    assert "To get out more." in text_of(client.get(f"/groups/{group_with_members.id}"))

    monkeypatch.setattr(policy, "can_see_intake", lambda user, group: False)

    assert "To get out more." not in text_of(client.get(f"/groups/{group_with_members.id}"))


# The capacity counts the places paused members hold -------------------------------------------------------------------


def test_the_group_page_counts_paused_members_in_the_places_taken(client, login, group_with_members, facilitator):
    group = group_with_members
    zoe = next(m for m in group.memberships if m.shown_name == "Zoe Zimmer")
    services.change_membership_status(facilitator, zoe, MembershipStatus.PAUSED, "Surgery")
    db.session.commit()
    login(client, facilitator)

    assert "3 of 8 places taken" in text_of(client.get(f"/groups/{group.id}"))


def test_a_session_on_now_has_a_place_of_its_own_and_once_ended_is_among_the_recent_ones(
        client, login, group_with_members, facilitator, clock):
    group = group_with_members
    thursday = occurrences_of(group)[3]  # Thursday 26 March, 18:00-19:30 Berlin
    link = f"/sessions/{thursday.id}\""

    def sections() -> dict[str, str]:
        login(client, facilitator)  # afresh each time: hours pass between the looks
        page = client.get(f"/groups/{group.id}").get_data(as_text=True)
        now = page[page.index('id="now-heading"'):page.index('id="sessions-heading"')] if "now-heading" in page else ""
        return {"now": now,
                "upcoming": page[page.index('id="sessions-heading"'):page.index("Recent sessions")],
                "recent": page[page.index("Recent sessions"):page.index('id="engagement-heading"')],
                "attendance": page[page.index('id="engagement-heading"'):page.index('id="members-heading"')]}

    clock.move_to(thursday.starts_at + hours(1))  # under way
    during = sections()
    assert link in during["now"] and f"/sessions/{thursday.id}/room" in during["now"]
    assert link not in during["upcoming"] and link not in during["recent"]
    # The figures count the three sessions that have ended, as the list of recent sessions shows them.
    assert during["recent"].count("/attendance") == 3 and "Over the last 3 sessions" in during["attendance"]

    clock.move_to(thursday.ends_at + hours(1))  # over, the same evening
    after = sections()
    assert after["now"] == ""
    assert link not in after["upcoming"]
    assert f"/sessions/{thursday.id}/attendance" in after["recent"]
    assert "Over the last 4 sessions" in after["attendance"]


# Notes about one member -----------------------------------------------------------------------------------------------


def test_a_facilitator_reads_every_note_about_one_member_and_the_read_is_audited(client, login, group_with_members,
                                                                                facilitator, patient, clock):
    group = group_with_members
    first, second = past(group)[-2:]
    services.add_note(facilitator, group, "Pat spoke first today.", occurrence=first, member=patient)
    clock.shift(timedelta(minutes=1))
    services.add_note(facilitator, group, "Pat seemed tired.", occurrence=second, member=patient)
    services.add_note(facilitator, group, "The room was cold.", occurrence=second)
    db.session.commit()
    row = membership(group, patient)
    login(client, facilitator)

    assert f"/groups/{group.id}/members/{row.id}/notes" in client.get(f"/groups/{group.id}").get_data(as_text=True)
    page = text_of(client.get(f"/groups/{group.id}/members/{row.id}/notes"))

    assert page.index("Pat seemed tired.") < page.index("Pat spoke first today.")
    assert "The room was cold." not in page
    assert [(e.actor_id, e.subject_id) for e in audit_actions("note_read")] == [(facilitator.id, patient.id)]


def test_a_note_about_someone_outside_the_group_is_refused_with_the_reason(client, login, post, group_with_members,
                                                                           facilitator, other_patient):
    occurrence = past(group_with_members)[-1]
    login(client, facilitator)

    response = post(client, f"/sessions/{occurrence.id}/notes", {"member_id": str(other_patient.id), "body": "x"})

    assert response.status_code == 422
    assert "Not a valid choice." in text_of(response)
    assert db.session.scalars(select(FacilitatorNote)).all() == []


# The agenda can be edited ---------------------------------------------------------------------------------------------


def test_an_agenda_item_is_edited_on_the_session_page(client, login, post, group_with_members, facilitator):
    occurrence = future(group_with_members)[0]
    item = services.add_agenda_item(facilitator, occurrence, title="Breathing", rationale="Calm first.")
    db.session.commit()
    login(client, facilitator)
    fields = form_fields(client.get(f"/sessions/{occurrence.id}"),
                         action=f"/sessions/{occurrence.id}/agenda/{item.id}/edit")
    assert fields[f"item-{item.id}-title"] == "Breathing"
    forged = client.post(f"/sessions/{occurrence.id}/agenda/{item.id}/edit", data={f"item-{item.id}-title": "Forged"})
    assert forged.status_code == 400  # no CSRF token

    response = post(client, f"/sessions/{occurrence.id}/agenda/{item.id}/edit",
                    {**fields, f"item-{item.id}-title": "Slow breathing",
                     f"item-{item.id}-rationale": "It calms the body before we talk."})

    assert response.status_code == 302
    db.session.refresh(item)
    assert (item.title, item.rationale) == ("Slow breathing", "It calms the body before we talk.")
    assert audit_actions("agenda_update")[-1].target == f"agenda_item:{item.id}"


# What members see of the agenda and of the agreement they accepted ----------------------------------------------------


def test_the_patients_home_shows_the_next_agenda_with_why_and_the_accepted_agreement(client, login,
                                                                                     group_with_members, facilitator,
                                                                                     patient):
    group = group_with_members
    services.add_agenda_item(facilitator, future(group)[0], title="Plan one small step",
                             rationale="Doing comes before feeling like it.")
    db.session.commit()
    login(client, patient)

    page = text_of(client.get("/"))

    assert "Plan one small step" in page
    assert "Why we do this: Doing comes before feeling like it." in page
    assert "The agreement you accepted (version 1)" in page
    assert "What is said in the group stays in the group." in page


def test_a_member_sees_the_agreement_version_they_accepted_beside_the_new_one(client, login, group_with_members,
                                                                               facilitator, patient):
    group = group_with_members
    services.update_agreement(facilitator, group, "Version two: cameras are optional.")
    db.session.commit()
    login(client, patient)

    group_page = text_of(client.get(f"/groups/{group.id}"))
    home = text_of(client.get("/"))

    assert "You accepted version 1." in group_page
    assert "What is said in the group stays in the group." in group_page  # the text they accepted
    assert "Version two: cameras are optional." in group_page
    assert "The agreement you accepted (version 1)" in home
    assert "The group agreement has changed: read the new version" in home


# The schedule form shows a rule set through the API -------------------------------------------------------------------


def test_the_schedule_form_shows_weekdays_and_an_interval_set_through_the_api(client, login, make_group,
                                                                              facilitator):
    group = make_group(facilitator)
    schedules.save_schedule(facilitator, group, dtstart_local=datetime(2026, 4, 6, 18, 0),
                           rule="FREQ=WEEKLY;INTERVAL=3;BYDAY=MO,TH;COUNT=6", duration_minutes=60)
    db.session.commit()
    login(client, facilitator)

    page = client.get(f"/groups/{group.id}/schedule")
    fields = form_fields(page, action=f"/groups/{group.id}/schedule")

    assert fields["interval_weeks"] == "3"
    checked = re.findall(r'<input[^>]*checked[^>]*>', page.get_data(as_text=True))
    assert sorted(re.search(r'value="(\w+)"', tag).group(1) for tag in checked if 'name="weekdays"' in tag) == [
        "MO", "TH"]
    assert "cannot show in full" not in text_of(page)


def test_a_schedule_saved_on_the_page_with_weekdays(client, login, post, make_group, facilitator):
    group = make_group(facilitator)
    login(client, facilitator)

    response = post(client, f"/groups/{group.id}/schedule", {
        "start_date": "2026-04-06", "start_time": "18:00", "interval_weeks": "1", "weekdays": ["MO", "TH"],
        "end_mode": "count", "count": "4", "until": "", "duration_minutes": "90"})

    assert response.status_code == 302
    assert [o.starts_at for o in occurrences_of(group)] == [utc(2026, 4, 6, 16), utc(2026, 4, 9, 16),
                                                            utc(2026, 4, 13, 16), utc(2026, 4, 16, 16)]


def test_the_schedule_page_says_when_a_rule_is_more_than_it_can_show(client, login, make_group, facilitator):
    group = make_group(facilitator)
    schedules.save_schedule(facilitator, group, dtstart_local=datetime(2026, 4, 2, 18, 0),
                           rule="FREQ=MONTHLY;BYDAY=1TH;COUNT=3", duration_minutes=60)
    db.session.commit()
    login(client, facilitator)

    assert "FREQ=MONTHLY;BYDAY=1TH;COUNT=3" in text_of(client.get(f"/groups/{group.id}/schedule"))


# Home pages cost the same number of queries for one group as for six --------------------------------------------------


def _queries_for(client, url: str) -> int:
    from sqlalchemy import event

    count = 0

    def on_statement(*_args):
        nonlocal count
        count += 1

    event.listen(db.engine, "before_cursor_execute", on_statement)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", on_statement)
    return count


def _group_with_sessions(make_group, facilitator, patient, make_member, clock, n: int):
    clock.move_to(SETUP)
    group = make_group(facilitator, name=f"Group {n}")
    enrol(group, patient)
    make_member(group)
    set_weekly_schedule(facilitator, group, datetime(2026, 3, 5, 18, 0), count=8)
    services.add_agenda_item(facilitator, future(group)[0], title="Arrive", rationale="To land.")
    clock.move_to(NOW)
    for occurrence in past(group):
        attendance.record_attendance(facilitator, occurrence, [attendance.AttendanceEntry(
            user_id=patient.id, status=AttendanceStatus.PRESENT_ONLINE)])
    db.session.commit()
    return group


def test_home_pages_make_as_many_queries_for_six_groups_as_for_one(app, login, make_group, make_member, make_user,
                                                                   facilitator, patient, clock):
    staff, member = app.test_client(), app.test_client()
    login(staff, facilitator)
    login(member, patient)
    _group_with_sessions(make_group, facilitator, patient, make_member, clock, 1)
    one = (_queries_for(staff, "/"), _queries_for(member, "/"))
    for n in range(2, 7):
        _group_with_sessions(make_group, facilitator, patient, make_member, clock, n)
    six = (_queries_for(staff, "/"), _queries_for(member, "/"))

    assert six == one
    assert "Group 6" in text_of(member.get("/")) and "Group 6" in text_of(staff.get("/"))
