"""The home pages: the facilitator's (what is on now with its live room, today, alerts, members who may need a word,
groups as cards) and the member's (what comes next, the day's check-in, goals), what "may need a word" means, what it
costs in SQL statements, and that reading members' moods there is audited."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from groups_fixtures import *  # noqa: F403
from groups_fixtures import NOW, audit_actions, utc
from test_statement_counts import statements

from app.accounts.models import RoleName
from app.extensions import db
from app.groups import attendance, queries
from app.groups.models import AttendanceStatus, Membership, MembershipStatus, SessionOccurrence
from app.measures import services as measure_services
from app.measures.models import Frequency, Measure, MeasureStatus
from app.rooms import attention
from app.rooms.models import CheckIn, LiveRoom

ABSENT, PRESENT, EXCUSED = AttendanceStatus.ABSENT, AttendanceStatus.PRESENT_ONLINE, AttendanceStatus.EXCUSED


def text_of(response) -> str:
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def headings(response) -> list[str]:
    return [re.sub(r"<[^>]+>", "", h).strip()
            for h in re.findall(r"<h2[^>]*>(.*?)</h2>", response.get_data(as_text=True), flags=re.S)]


def past(group) -> list[SessionOccurrence]:
    """The three sessions before NOW: 5, 12 and 19 March."""
    return [o for o in queries.occurrences(group) if o.starts_at < NOW]


def members(group) -> dict:
    return {m.shown_name: m for m in queries.active_members(group)}


def record(facilitator, occurrence, **statuses) -> None:
    ids = {name: m.user_id for name, m in members(occurrence.group).items()}
    attendance.record_attendance(facilitator, occurrence, [
        attendance.AttendanceEntry(user_id=ids[name], status=status) for name, status in statuses.items()])
    db.session.commit()


def check_in(user_id: int, mood: int | None, days_ago: float, occurrence_id: int | None = None) -> None:
    db.session.add(CheckIn(user_id=user_id, mood=mood, passed=mood is None, occurrence_id=occurrence_id,
                           client_id=f"test-{user_id}-{days_ago}-{mood}",
                           created_at=NOW - timedelta(days=days_ago)))
    db.session.commit()


def concerns(group) -> dict:
    return {c.name: c for c in attention.members_to_contact([group])}


# Who may need a word ------------------------------------------------------------------------------------------------


def test_two_questionnaires_closed_unanswered_in_a_row_count_and_one_answered_between_breaks_the_run(
        group_with_members, facilitator, clock, client, login):
    measure_services.create_schedule(facilitator, group_with_members, instrument="phq9", frequency=Frequency.WEEKLY,
                                     starts_at=NOW)
    db.session.commit()
    ids = {name: m.user_id for name, m in members(group_with_members).items()}
    pat_first = db.session.scalar(db.select(Measure).where(Measure.patient_id == ids["Pat"]))
    measure_services.save_answers(pat_first.patient, pat_first, [0] * 9, complete=True)
    db.session.commit()
    clock.move_to(NOW + timedelta(days=7, minutes=1))
    measure_services.sweep()
    db.session.commit()
    assert "PHQ-9" not in [code for c in concerns(group_with_members).values() for code in c.missed_measures]
    clock.move_to(NOW + timedelta(days=14, minutes=1))  # the second window has closed too (no sweep yet)
    found = concerns(group_with_members)
    assert {name: c.missed_measures for name, c in found.items()} == {"Zoe Zimmer": ["PHQ-9"], "Ben Berg": ["PHQ-9"]}
    assert db.session.scalar(db.select(db.func.count()).select_from(Measure)
                             .where(Measure.status == MeasureStatus.MISSED)) == 2  # Zoe's and Ben's first
    login(client, facilitator)
    assert "The last two PHQ-9 closed unanswered" in text_of(client.get("/"))


def test_two_missed_sessions_in_a_row_count_and_an_excused_absence_neither_breaks_nor_makes_the_run(
        group_with_members, facilitator):
    group = group_with_members
    first, second, third = past(group)
    record(facilitator, first, Pat=ABSENT, **{"Zoe Zimmer": PRESENT, "Ben Berg": ABSENT})
    record(facilitator, second, Pat=ABSENT, **{"Zoe Zimmer": ABSENT, "Ben Berg": EXCUSED})
    record(facilitator, third, Pat=PRESENT, **{"Zoe Zimmer": ABSENT, "Ben Berg": ABSENT})

    found = concerns(group)

    # Zoe missed the last two; Ben missed the first and the last, the excused one between counting for nothing;
    # Pat came to the last one, so the two before are behind her.
    assert set(found) == {"Zoe Zimmer", "Ben Berg"}
    assert [o.id for o in found["Zoe Zimmer"].missed] == [third.id, second.id]
    assert [o.id for o in found["Ben Berg"].missed] == [third.id, first.id]
    assert found["Zoe Zimmer"].low_moods == 0


def test_sessions_before_a_member_joined_and_paused_members_do_not_count_as_missed(group_with_members, facilitator):
    group = group_with_members
    first, second, third = past(group)
    record(facilitator, first, **{"Zoe Zimmer": ABSENT, "Ben Berg": ABSENT})
    record(facilitator, second, **{"Zoe Zimmer": ABSENT, "Ben Berg": ABSENT})
    zoe, ben = members(group)["Zoe Zimmer"], members(group)["Ben Berg"]
    zoe.joined_at = second.ends_at + timedelta(minutes=1)  # joined (again) after the second session
    ben.status = MembershipStatus.PAUSED
    db.session.commit()

    assert concerns(group) == {}


def test_two_low_moods_in_fourteen_days_count_and_one_older_passed_or_elsewhere_does_not(
        group_with_members, facilitator, make_group, make_user, make_member):
    group = group_with_members
    ids = {name: m.user_id for name, m in members(group).items()}
    other_group = make_group(make_user(RoleName.FACILITATOR))
    elsewhere = SessionOccurrence(group_id=other_group.id, starts_at=NOW - timedelta(days=2), duration_minutes=60)
    db.session.add(elsewhere)
    db.session.commit()
    check_in(ids["Pat"], 3, days_ago=1)
    check_in(ids["Pat"], 1, days_ago=13.9, occurrence_id=past(group)[-1].id)  # in this group's session: counts
    check_in(ids["Zoe Zimmer"], 2, days_ago=1)
    check_in(ids["Zoe Zimmer"], 3, days_ago=14.1)  # too long ago
    check_in(ids["Zoe Zimmer"], None, days_ago=2)  # a pass is not a mood
    check_in(ids["Zoe Zimmer"], 4, days_ago=3)  # not low
    check_in(ids["Ben Berg"], 2, days_ago=1)
    check_in(ids["Ben Berg"], 2, days_ago=2, occurrence_id=elsewhere.id)  # another facilitator's session

    found = concerns(group)

    assert set(found) == {"Pat"}
    assert (found["Pat"].low_moods, found["Pat"].lowest_mood, found["Pat"].missed) == (2, 1, [])
    assert found["Pat"].latest_low == NOW - timedelta(days=1)


def _flag(group, facilitator, names: list[str]) -> None:
    """These members missed the group's last two sessions (having joined before them) and checked in low twice."""
    found = members(group)
    for name in names:
        found[name].joined_at = NOW - timedelta(days=30)
    db.session.commit()
    ids = {name: m.user_id for name, m in found.items()}
    for occurrence in past(group)[-2:]:
        record(facilitator, occurrence, **{name: ABSENT for name in names})
    for name in names:
        check_in(ids[name], 2, days_ago=1)
        check_in(ids[name], 3, days_ago=2)


def _cost(group, facilitator, names) -> tuple[int, int]:
    _flag(group, facilitator, names)
    db.session.expire_all()
    assert group.id  # the page has its groups loaded already: only what this costs is counted
    with statements() as seen:
        found = attention.members_to_contact([group])
    assert len(found) == len(names) and all(c.missed and c.low_moods == 2 for c in found)
    return len(seen), len(found)


def test_who_may_need_a_word_costs_three_statements_for_two_members_as_for_eight(group_with_members, facilitator,
                                                                                 make_member, make_group):
    few = _cost(group_with_members, facilitator, ["Pat", "Zoe Zimmer"])
    bigger = make_group(facilitator, name="Monday group")
    for n in range(8):
        make_member(bigger, display_name=f"Member {n}")
    for start in (NOW - timedelta(days=9), NOW - timedelta(days=2)):
        db.session.add(SessionOccurrence(group_id=bigger.id, starts_at=start, duration_minutes=60))
    db.session.commit()
    many = _cost(bigger, facilitator, [f"Member {n}" for n in range(8)])

    assert few == (3, 2) and many == (3, 8)


def test_the_facilitators_home_costs_the_same_with_one_member_to_contact_as_with_eight(
        client, login, group_with_members, facilitator, make_member, make_group):
    def home_cost() -> int:
        db.session.expire_all()
        with statements() as seen:
            assert client.get("/").status_code == 200
        return len(seen)

    group_with_members.capacity = 12
    login(client, facilitator)
    _flag(group_with_members, facilitator, ["Zoe Zimmer"])
    one = home_cost()
    for n in range(7):
        make_member(group_with_members, display_name=f"Member {n}")
    _flag(group_with_members, facilitator, [f"Member {n}" for n in range(7)])
    eight = home_cost()

    assert "Member 6" in text_of(client.get("/"))
    assert one == eight


def test_reading_members_moods_on_the_home_page_is_audited_naming_them(client, login, group_with_members,
                                                                       facilitator):
    ids = {name: m.user_id for name, m in members(group_with_members).items()}
    login(client, facilitator)
    client.get("/")
    assert audit_actions("checkin_read") == []  # nobody's moods were shown

    check_in(ids["Zoe Zimmer"], 2, days_ago=1)
    check_in(ids["Zoe Zimmer"], 3, days_ago=3)
    page = text_of(client.get("/"))

    assert "2 check-ins at mood 3 or lower in the last 14 days (lowest 2 of 10)" in page
    [event] = audit_actions("checkin_read")
    assert (event.actor_id, event.subject_id, event.target) == (facilitator.id, ids["Zoe Zimmer"], "dashboard")


# The facilitator's home page ----------------------------------------------------------------------------------------


def test_the_facilitators_home_puts_what_is_on_now_first_with_its_live_room(client, login, group_with_members,
                                                                           facilitator, clock):
    group = group_with_members
    on_now = SessionOccurrence(group_id=group.id, starts_at=NOW - timedelta(minutes=5), duration_minutes=60)
    later = SessionOccurrence(group_id=group.id, starts_at=utc(2026, 3, 20, 16, 0), duration_minutes=60)
    db.session.add_all([on_now, later])
    db.session.commit()
    login(client, facilitator)

    response = client.get("/")
    page = text_of(response)

    assert headings(response)[:5] == ["On now", "Later today", "Safety alerts", "Check-ins between sessions",
                                      "Members who may need a word"]
    assert headings(response)[-2:] == ["Your groups", "Momentum is not a crisis service"]
    assert f'href="/sessions/{on_now.id}/room">Open the live room</a>' in response.get_data(as_text=True)
    assert "Started at 12:55, ends at 13:55 The room is not open yet" in page  # Berlin time
    assert "17:00 Tuesday evening group" in page  # later today, in Berlin
    assert page.index("Open the live room") < page.index("Safety alerts") < page.index("Members who may need a word")

    db.session.add(LiveRoom(occurrence_id=on_now.id, opened_at=NOW, opened_by_id=facilitator.id))
    db.session.commit()
    page = text_of(client.get("/"))
    assert "The room is open Go to the live room" in page and "Open the live room" not in page


def test_a_facilitator_with_nothing_today_is_told_so_and_shown_the_next_session(client, login, group_with_members,
                                                                               facilitator):
    login(client, facilitator)

    response = client.get("/")
    page = text_of(response)

    assert headings(response)[:2] == ["On now", "Today"]
    assert "Nothing is on now." in page
    assert "No sessions today. Next: Tuesday evening group · Thu 26 Mar 2026, 18:00, Berlin time" in page


def test_a_session_whose_lobby_time_has_come_is_on_now(client, login, group_with_members, facilitator, clock):
    upcoming = queries.next_occurrence(group_with_members)
    clock.move_to(upcoming.starts_at - timedelta(minutes=10))  # inside the 15 minutes of the lobby
    login(client, facilitator)

    page = text_of(client.get("/"))

    assert "On now Tuesday evening group Starts at 18:00, ends at 19:30" in page
    assert "Open the live room" in page


# The member's home page ---------------------------------------------------------------------------------------------


def test_the_members_home_puts_the_session_on_now_first_then_the_checkin_then_goals(client, login,
                                                                                     group_with_members, patient,
                                                                                     facilitator, clock):
    upcoming = queries.next_occurrence(group_with_members)
    clock.move_to(upcoming.starts_at - timedelta(minutes=10))
    login(client, patient)

    response = client.get("/")
    page = text_of(response)

    assert headings(response)[:3] == ["Your session is on", "How are you today?", "Goals and small wins"]
    assert f'href="/sessions/{upcoming.id}/room">Go to the live room</a>' in response.get_data(as_text=True)
    assert "the page lets you in as soon as it is open" in page

    db.session.add(LiveRoom(occurrence_id=upcoming.id, opened_at=datetime.now().astimezone(),
                            opened_by_id=facilitator.id))
    db.session.commit()
    assert "Enter the live room" in text_of(client.get("/"))


def test_the_members_home_shows_the_next_session_first_when_nothing_is_on(client, login, group_with_members,
                                                                           patient):
    login(client, patient)

    response = client.get("/")
    page = text_of(response)

    assert headings(response)[:2] == ["Your next session", "How are you today?"]
    assert "Your next session Tuesday evening group · Thu 26 Mar 2026, 18:00, Berlin time Join online" in page
    assert "What is planned" in page and "live room" not in page


def test_a_member_invited_to_a_group_sees_finish_joining_before_the_checkin(client, login, make_group, facilitator,
                                                                            patient, clock):
    group = make_group(facilitator)
    db.session.add(Membership(group_id=group.id, user_id=patient.id, status=MembershipStatus.INVITED))
    db.session.commit()
    login(client, patient)

    response = client.get("/")

    assert headings(response)[:2] == ["Finish joining", "How are you today?"]
    assert f'href="/groups/{group.id}/join">Finish joining Tuesday evening group</a>' in response.get_data(
        as_text=True)
