"""The facilitator's measures pages of a group: scheduling for the group or one member (in the facilitator's zone),
refusals that keep what was typed and save nothing, stopping, who is due, done and missed (and missed two in a row),
who paused, the group's outcomes (nothing behind fewer than 3 members), who may see them, and what they cost."""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from groups_fixtures import *  # noqa: F403
from groups_fixtures import NOW, audit_actions, utc
from sqlalchemy import event, func, select

from app.accounts.models import RoleName
from app.extensions import db
from app.groups import services as group_services
from app.measures import queries, services
from app.measures.models import Frequency, Measure, MeasureSchedule, MeasureStatus

PHQ9_CALM = [1, 1, 0, 1, 0, 0, 1, 0, 0]  # total 4: minimal


def _client(app, login, user):
    client = app.test_client()
    login(client, user)
    return client


@pytest.fixture
def staff(app, login, facilitator, group_with_members):
    return _client(app, login, facilitator)


@pytest.fixture
def signed_in(app, login, facilitator):
    """The facilitator signed in afresh (a test that moves the clock by days outlives a sign-in)."""
    return lambda: _client(app, login, facilitator)


def _form(**overrides) -> dict:
    # NOW is 13:00 in Berlin, the facilitator's zone.
    data = {
        "instrument": "phq9",
        "patient_id": "0",
        "frequency": "weekly",
        "start_date": "2026-03-20",
        "start_time": "13:00",
    }
    data.update(overrides)
    return data


def _schedules() -> list[MeasureSchedule]:
    return list(db.session.scalars(select(MeasureSchedule).order_by(MeasureSchedule.id)))


def _row(page: str, name: str, instrument: str) -> str:
    """The table row of one member's latest window on one questionnaire."""
    rows = [row for row in re.findall(r"<tr>.*?</tr>", page, re.S) if f">{name}</a>" in row and instrument in row]
    assert len(rows) == 1, rows
    return rows[0]


def _member(group, name: str):
    return next(m.user for m in group.memberships if m.shown_name == name)


# Scheduling -----------------------------------------------------------------------------------------------------------


def test_a_schedule_for_the_whole_group_starts_in_the_facilitators_zone_and_opens_at_once(
    staff, post, group_with_members
):
    answer = post(staff, f"/groups/{group_with_members.id}/measures", _form())
    assert answer.status_code == 302 and answer.location.endswith(f"/groups/{group_with_members.id}/measures")
    (schedule,) = _schedules()
    assert (schedule.patient_id, schedule.instrument.value, schedule.frequency) == (None, "phq9", Frequency.WEEKLY)
    assert schedule.starts_at == NOW  # 13:00 in Berlin is 12:00 UTC
    assert db.session.scalar(select(func.count(Measure.id)).where(Measure.status == MeasureStatus.DUE)) == 3
    page = staff.get(f"/groups/{group_with_members.id}/measures").text
    assert "Everyone in the group" in page and "Every week" in page
    assert "Due: 3 · Done: 0 · Missed: 0" in page
    # The form offers now, in the facilitator's zone.
    assert 'name="start_date" required type="date" value="2026-03-20"' in page
    assert 'name="start_time" required type="time" value="13:00"' in page
    for name in ("Pat", "Zoe Zimmer", "Ben Berg"):
        assert "Due</span>" in _row(page, name, "PHQ-9")


def test_a_schedule_for_one_member_starting_earlier_today_opens_for_that_member_at_once(
    staff, post, patient, group_with_members
):
    answer = post(
        staff,
        f"/groups/{group_with_members.id}/measures",
        _form(instrument="gad7", patient_id=str(patient.id), frequency="once", start_time="09:30"),
    )
    assert answer.status_code == 302
    (schedule,) = _schedules()
    assert schedule.starts_at == utc(2026, 3, 20, 8, 30) and schedule.patient_id == patient.id
    assert [(m.patient_id, m.opens_at) for m in queries.due_for(patient.id)] == [(patient.id, schedule.starts_at)]
    assert db.session.scalar(select(func.count(Measure.id))) == 1
    page = staff.get(f"/groups/{group_with_members.id}/measures").text
    assert "GAD-7 · Pat" in page and "Once" in page


def test_a_schedule_starting_tomorrow_opens_nothing_yet(staff, post, group_with_members):
    assert post(staff, f"/groups/{group_with_members.id}/measures", _form(start_date="2026-03-21")).status_code == 302
    assert len(_schedules()) == 1 and db.session.scalar(select(func.count(Measure.id))) == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"start_date": ""}, "Choose the day it starts."),
        ({"start_time": ""}, "Choose the time it starts."),
        ({"instrument": "bdi"}, "Choose the PHQ-9 or the GAD-7."),
        ({"frequency": "hourly"}, "Choose how often from the list."),
        ({"start_date": "2026-03-19"}, "Choose today or a later day."),
        ({"start_date": "2027-04-01"}, "Choose a day within the next year."),
        # Berlin's clocks go from 02:00 to 03:00 on 29 March 2026.
        ({"start_date": "2026-03-29", "start_time": "02:30"}, "That time does not exist on that day"),
        ({"patient_id": "other"}, "Choose the whole group or one member."),
    ],
)
def test_invalid_input_is_refused_with_its_message_keeps_what_was_typed_and_saves_nothing(
    staff, post, group_with_members, changes, message
):
    form = _form(**{"frequency": "monthly", **changes})
    answer = post(staff, f"/groups/{group_with_members.id}/measures", form)
    assert answer.status_code == 422
    assert message in answer.text
    assert '<option selected value="monthly">' in answer.text or changes.get("frequency")  # what was chosen is kept
    if form["start_date"]:
        assert f'value="{form["start_date"]}"' in answer.text
    assert _schedules() == [] and db.session.scalar(select(func.count(Measure.id))) == 0


def test_a_member_outside_the_group_is_refused_with_its_message(staff, post, group_with_members, other_patient):
    answer = post(staff, f"/groups/{group_with_members.id}/measures", _form(patient_id=str(other_patient.id)))
    assert answer.status_code == 422 and "Choose an active member of this group." in answer.text
    assert _schedules() == [] and audit_actions("measure_scheduled") == []


def test_an_ended_group_takes_no_new_schedule(staff, post, group_with_members):
    group_with_members.status = "finished"
    db.session.commit()
    answer = post(staff, f"/groups/{group_with_members.id}/measures", _form())
    assert answer.status_code == 422 and "This group has ended" in answer.text
    assert _schedules() == []


def test_stopping_a_schedule_withdraws_its_open_windows_and_says_so(staff, post, group_with_members):
    post(staff, f"/groups/{group_with_members.id}/measures", _form())
    (schedule,) = _schedules()
    stop = f"/groups/{group_with_members.id}/measures/schedules/{schedule.id}/stop"
    answer = post(staff, stop, follow_redirects=True)
    assert "The schedule is stopped." in answer.text and "Stopped</span>" in answer.text
    db.session.expire_all()
    assert schedule.stopped_at == NOW
    assert {m.status for m in db.session.scalars(select(Measure))} == {MeasureStatus.WITHDRAWN}
    assert "This schedule has already stopped." in post(staff, stop, follow_redirects=True).text
    assert len(audit_actions("measure_schedule_stopped")) == 1


def test_stopping_needs_the_form_token(staff, group_with_members):
    schedule = services.create_schedule(
        group_with_members.facilitators[0].user,
        group_with_members,
        instrument="phq9",
        frequency="weekly",
        starts_at=NOW,
    )
    db.session.commit()
    answer = staff.post(f"/groups/{group_with_members.id}/measures/schedules/{schedule.id}/stop")
    assert answer.status_code == 400
    db.session.expire_all()
    assert schedule.stopped_at is None


# Due, done, missed, paused --------------------------------------------------------------------------------------------


def test_the_latest_windows_show_due_done_with_total_and_band_and_missed(
    signed_in, facilitator, patient, clock, group_with_members
):
    group = group_with_members
    services.create_schedule(facilitator, group, instrument="phq9", frequency="once", starts_at=NOW)
    db.session.commit()
    services.save_answers(patient, queries.due_for(patient.id)[0], PHQ9_CALM, complete=True)
    db.session.commit()
    clock.move_to(NOW + timedelta(days=7, hours=1))
    services.create_schedule(
        facilitator,
        group,
        instrument="gad7",
        frequency="weekly",
        starts_at=NOW + timedelta(days=7),
        patient_id=_member(group, "Ben Berg").id,
    )
    db.session.commit()
    page = signed_in().get(f"/groups/{group.id}/measures").text
    assert "Done</span> 4, Minimal" in _row(page, "Pat", "PHQ-9")
    assert "Missed</span>" in _row(page, "Zoe Zimmer", "PHQ-9")  # read as missed before the sweep writes it
    assert "Missed</span>" in _row(page, "Ben Berg", "PHQ-9")
    assert "Due</span>" in _row(page, "Ben Berg", "GAD-7")
    assert "Due: 1 · Done: 1 · Missed: 2" in page
    assert "Missed two in a row" not in page
    read = audit_actions("group_measures_read")[-1]
    assert sorted(json.loads(read.details)["members"]) == sorted(m.user_id for m in group.memberships)


def test_a_member_who_missed_two_in_a_row_is_flagged_calmly(signed_in, facilitator, clock, group_with_members):
    group = group_with_members
    zoe = _member(group, "Zoe Zimmer")
    services.create_schedule(
        facilitator, group, instrument="phq9", frequency="weekly", starts_at=NOW, patient_id=zoe.id
    )
    services.create_schedule(facilitator, group, instrument="phq9", frequency="once", starts_at=NOW)
    db.session.commit()
    for week in (1, 2):
        clock.move_to(NOW + timedelta(days=7 * week, minutes=1))
        services.sweep()
        db.session.commit()
    page = signed_in().get(f"/groups/{group.id}/measures").text
    flag = '<span class="badge badge-info">Missed two in a row</span>'
    # Her first row (the one-off, missed) carries it; her weekly one, due again this week, does not repeat it.
    assert flag in _row(page, "Zoe Zimmer", "Missed</span>")
    assert flag not in _row(page, "Zoe Zimmer", "Due</span>")
    assert flag not in _row(page, "Pat", "PHQ-9")  # one missed only
    assert page.count(flag) == 2  # once in the table, once in the list of members


def test_a_member_who_paused_is_shown_with_the_day_and_a_link_to_their_page(staff, patient, group_with_members):
    services.pause(patient)
    db.session.commit()
    page = staff.get(f"/groups/{group_with_members.id}/measures").text
    assert "Paused by the member since Fri 20 Mar 2026. You can talk it through with them" in page
    membership = next(m for m in group_with_members.memberships if m.user_id == patient.id)
    assert f'href="/groups/{group_with_members.id}/members/{membership.id}"' in page
    assert page.count("Paused by the member") == 1


# Outcomes -------------------------------------------------------------------------------------------------------------


def _two_scores(facilitator, group, members, pairs, clock):
    """Each member answers the PHQ-9 twice a week apart with the given totals (all on items 1..8)."""
    services.create_schedule(facilitator, group, instrument="phq9", frequency="weekly", starts_at=NOW)
    db.session.commit()
    for week in range(2):
        clock.move_to(NOW + timedelta(days=7 * week, hours=1))
        services.sweep()
        for member, totals in zip(members, pairs, strict=True):
            measure = next(m for m in queries.due_for(member.id) if m.instrument.value == "phq9")
            left, answers = totals[week], []
            for _ in range(8):
                answers.append(min(3, left))
                left -= answers[-1]
            services.save_answers(member, measure, answers + [0], complete=True)
        db.session.commit()


def _figures(page: str, code: str) -> dict[str, str]:
    """Each figure's row text on one questionnaire's table: its label, then what is shown."""
    section = page.split(f"({code})</h2>")[1].split("</section>")[0]
    rows = {}
    for row in re.findall(r'<tr class="figure-row">(.*?)</tr>', section, re.S):
        label, shown = (re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part)).strip() for part in row.split("</th>"))
        rows[label] = shown
    return rows


def test_outcomes_are_hidden_for_fewer_than_three_members(signed_in, facilitator, clock, group_with_members):
    members = [m.user for m in group_with_members.memberships][:2]
    _two_scores(facilitator, group_with_members, members, [(18, 8), (15, 4)], clock)
    page = signed_in().get(f"/groups/{group_with_members.id}/outcomes").text
    figures = _figures(page, "PHQ-9")
    assert figures["Members measured"] == "2 2"
    for label in ("Mean change", "Reliably improved", "Recovered", "Reliably deteriorated"):
        assert figures[label] == "Shown once at least 3 members have two scores."
    assert "%" not in "".join(figures.values())


def test_outcomes_at_three_members_with_the_members_behind_each_figure(
    signed_in, facilitator, clock, group_with_members
):
    members = [m.user for m in group_with_members.memberships]
    # -10 and -11 from caseness to below it (reliably improved and recovered), +7 (reliably deteriorated)
    _two_scores(facilitator, group_with_members, members, [(18, 8), (15, 4), (10, 17)], clock)
    page = signed_in().get(f"/groups/{group_with_members.id}/outcomes").text
    assert _figures(page, "PHQ-9") == {
        "Members measured": "3 3",
        "Mean change": "-4.7 points 3",
        "Reliably improved": "67% 3",
        "Recovered": "67% 3",
        "Reliably deteriorated": "33% 3",
    }
    assert _figures(page, "GAD-7")["Mean change"] == "Shown once at least 3 members have two scores."
    # How each is measured, with the thresholds, r and SD of app/measures/change.py
    assert "fell by 6 points or more" in page and "r = 0.84" in page and "standard deviation 5.4" in page
    assert "fell by 4 points or more" in page and "r = 0.83" in page and "standard deviation 3.4" in page
    assert "first score was 10 or more" in page and "first score was 8 or more" in page
    assert len(audit_actions("group_outcomes_read")) == 1


def test_recovery_waits_for_three_members_at_caseness(signed_in, facilitator, clock, group_with_members):
    members = [m.user for m in group_with_members.memberships]
    _two_scores(facilitator, group_with_members, members, [(18, 8), (6, 4), (5, 5)], clock)
    figures = _figures(signed_in().get(f"/groups/{group_with_members.id}/outcomes").text, "PHQ-9")
    assert figures["Recovered"] == "Shown once at least 3 members started at 10 or more."
    assert figures["Reliably improved"] == "33% 3"


# Who may -------------------------------------------------------------------------------------------------------------


def test_the_group_page_links_both_pages_for_its_facilitators(staff, group_with_members, app, login, patient):
    page = staff.get(f"/groups/{group_with_members.id}").text
    assert f'href="/groups/{group_with_members.id}/measures"' in page
    assert f'href="/groups/{group_with_members.id}/outcomes"' in page
    member_page = _client(app, login, patient).get(f"/groups/{group_with_members.id}").text
    assert f"/groups/{group_with_members.id}/measures" not in member_page and "/outcomes" not in member_page


def test_a_co_facilitator_schedules_stops_and_reads_outcomes(
    app, login, post, facilitator, make_user, group_with_members
):
    colleague = make_user(RoleName.FACILITATOR, display_name="Cody Colleague", timezone="Europe/Berlin")
    group_services.set_co_facilitators(facilitator, group_with_members, [colleague])
    db.session.commit()
    client = _client(app, login, colleague)
    assert client.get(f"/groups/{group_with_members.id}/measures").status_code == 200
    assert client.get(f"/groups/{group_with_members.id}/outcomes").status_code == 200
    assert post(client, f"/groups/{group_with_members.id}/measures", _form()).status_code == 302
    (schedule,) = _schedules()
    assert schedule.created_by_id == colleague.id
    stop = f"/groups/{group_with_members.id}/measures/schedules/{schedule.id}/stop"
    assert post(client, stop).status_code == 302


@pytest.mark.parametrize("who", ["other_facilitator", "patient", "supporter"])
def test_others_find_nothing(
    app, login, post, facilitator, patient, supporter, make_user, make_group, who, group_with_members
):
    group = group_with_members
    schedule = services.create_schedule(facilitator, group, instrument="phq9", frequency="weekly", starts_at=NOW)
    db.session.commit()
    people = {"patient": patient, "supporter": supporter}
    if who == "other_facilitator":
        people[who] = make_user(RoleName.FACILITATOR, display_name="Finn Other")
        make_group(people[who], name="Another group")
    client = _client(app, login, people[who])
    for path in (f"/groups/{group.id}/measures", f"/groups/{group.id}/outcomes"):
        assert client.get(path).status_code == 404
    assert post(client, f"/groups/{group.id}/measures", _form(instrument="gad7")).status_code == 404
    assert post(client, f"/groups/{group.id}/measures/schedules/{schedule.id}/stop").status_code == 404
    db.session.expire_all()
    assert len(_schedules()) == 1 and schedule.stopped_at is None


def test_a_schedule_of_another_group_cannot_be_stopped_through_this_one(
    staff, post, facilitator, make_group, group_with_members
):
    elsewhere = make_group(facilitator, name="Another group")
    schedule = services.create_schedule(facilitator, elsewhere, instrument="phq9", frequency="weekly", starts_at=NOW)
    db.session.commit()
    answer = post(staff, f"/groups/{group_with_members.id}/measures/schedules/{schedule.id}/stop")
    assert answer.status_code == 404
    db.session.expire_all()
    assert schedule.stopped_at is None


# What the pages cost --------------------------------------------------------------------------------------------------


@contextmanager
def statements():
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def _history(facilitator, make_group, make_member, years: int):
    """A group of four members with a weekly PHQ-9 and GAD-7 each, all done, for this many years up to NOW."""
    group = make_group(facilitator, name=f"Group of {years} years")
    members = [make_member(group, display_name=f"Member {n} of {years}").user_id for n in range(4)]
    weeks = 52 * years
    first = NOW - timedelta(weeks=weeks)
    for instrument, high in (("phq9", 27), ("gad7", 21)):
        schedule = MeasureSchedule(
            organisation_id=group.organisation_id,
            group_id=group.id,
            instrument=instrument,
            frequency=Frequency.WEEKLY,
            starts_at=first,
            created_by_id=facilitator.id,
        )
        db.session.add(schedule)
        db.session.flush()
        db.session.add_all(
            Measure(
                organisation_id=group.organisation_id,
                group_id=group.id,
                patient_id=patient_id,
                schedule_id=schedule.id,
                instrument=instrument,
                opens_at=first + timedelta(weeks=week),
                closes_at=first + timedelta(weeks=week, days=7),
                status=MeasureStatus.DONE,
                answers=[],
                total=(week * 7 + n) % (high + 1),
                completed_at=first + timedelta(weeks=week, hours=1),
            )
            for week in range(weeks)
            for n, patient_id in enumerate(members)
        )
    db.session.commit()
    return group


def _cost(client, path: str) -> int:
    assert client.get(path).status_code == 200  # once to warm what any first request loads
    db.session.expire_all()
    with statements() as seen:
        assert client.get(path).status_code == 200
    return len(seen)


def test_the_outcomes_and_measures_pages_cost_the_same_for_one_year_and_ten(
    app, login, clock, facilitator, make_group, make_member
):
    one, ten = (_history(facilitator, make_group, make_member, years) for years in (1, 10))
    assert db.session.scalar(select(func.count(Measure.id)).where(Measure.group_id == ten.id)) == 10 * 52 * 8
    client = _client(app, login, facilitator)
    for page in ("outcomes", "measures"):
        assert _cost(client, f"/groups/{one.id}/{page}") == _cost(client, f"/groups/{ten.id}/{page}")
