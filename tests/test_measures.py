"""Measures on a schedule: windows (weekly, monthly, before each session across a daylight-saving change), the sweep,
answers saved part way and completed once, item 9's one safety alert, a member's pause, the single-use link, and
group outcomes that show nothing behind fewer than 3 members."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from groups_fixtures import *  # noqa: F403
from groups_fixtures import NOW, audit_actions, occurrences_of, utc
from sqlalchemy import func, select

from app.extensions import db
from app.groups import schedules
from app.groups import services as group_services
from app.groups.models import MembershipStatus
from app.measures import queries, services
from app.measures.models import Frequency, Measure, MeasureStatus
from app.refusal import Refusal
from app.rooms.models import AlertKind, SafetyAlert

PHQ9_CALM = [1, 1, 0, 1, 0, 0, 1, 0, 0]  # total 4, item 9 = 0


def _schedule(facilitator, group, *, frequency=Frequency.WEEKLY, instrument="phq9", starts_at=NOW, patient=None):
    schedule = services.create_schedule(facilitator, group, instrument=instrument, frequency=frequency,
                                        starts_at=starts_at, patient_id=patient.id if patient else None)
    db.session.commit()
    return schedule


def _due(user, now=None) -> list[Measure]:
    return queries.due_for(user.id, now)


def _alerts(patient) -> list[SafetyAlert]:
    return list(db.session.scalars(select(SafetyAlert).where(SafetyAlert.patient_id == patient.id,
                                                             SafetyAlert.kind == AlertKind.PHQ9_ITEM9)))


# Windows --------------------------------------------------------------------------------------------------------------


def test_a_group_schedule_opens_a_measure_for_every_active_member_at_once(group_with_members, facilitator, patient):
    _schedule(facilitator, group_with_members)
    measures = db.session.scalars(select(Measure)).all()
    assert len(measures) == 3
    assert [m.instrument.value for m in _due(patient)] == ["phq9"]
    assert _due(patient)[0].closes_at == NOW + timedelta(days=7)
    assert [json.loads(e.details)["frequency"] for e in audit_actions("measure_scheduled")] == ["weekly"]


def test_a_member_schedule_is_for_that_member_only(group_with_members, facilitator, patient):
    _schedule(facilitator, group_with_members, patient=patient)
    assert [m.patient_id for m in db.session.scalars(select(Measure))] == [patient.id]


def test_a_schedule_for_someone_outside_the_group_is_refused(group_with_members, facilitator, other_patient):
    with pytest.raises(Refusal) as refused:
        services.create_schedule(facilitator, group_with_members, instrument="phq9", frequency="weekly",
                                 starts_at=NOW, patient_id=other_patient.id)
    assert refused.value.field == "patient_id"
    with pytest.raises(Refusal):
        services.create_schedule(facilitator, group_with_members, instrument="bdi", frequency="weekly",
                                 starts_at=NOW)


def test_weekly_windows_open_each_week_and_the_sweep_opens_each_once(group_with_members, facilitator, patient,
                                                                     clock):
    _schedule(facilitator, group_with_members, patient=patient)
    clock.move_to(NOW + timedelta(days=7, minutes=1))
    services.sweep()
    services.sweep()  # a second pass (or a second process) opens nothing more
    db.session.commit()
    rows = db.session.scalars(select(Measure).order_by(Measure.opens_at)).all()
    assert [(m.opens_at, m.status) for m in rows] == [(NOW, MeasureStatus.MISSED),
                                                      (NOW + timedelta(days=7), MeasureStatus.DUE)]


def test_a_fortnightly_schedule_is_open_one_week_in_two(group_with_members, facilitator, patient):
    schedule = _schedule(facilitator, group_with_members, frequency=Frequency.FORTNIGHTLY, patient=patient)
    assert queries.window_at(schedule, NOW + timedelta(days=6)) is not None
    assert queries.window_at(schedule, NOW + timedelta(days=8)) is None
    assert queries.window_at(schedule, NOW + timedelta(days=14)).opens_at == NOW + timedelta(days=14)


def test_monthly_windows_keep_the_local_time_across_the_change_to_summer_time(group_with_members, facilitator,
                                                                            patient):
    starts = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)  # 10:00 in Berlin (winter time)
    schedule = _schedule(facilitator, group_with_members, frequency=Frequency.MONTHLY, starts_at=starts,
                         patient=patient)
    april = queries.window_at(schedule, utc(2026, 4, 12, 0, 0))
    assert april.opens_at == utc(2026, 4, 10, 8, 0)  # still 10:00 in Berlin, now summer time
    assert queries.window_at(schedule, utc(2026, 4, 20, 0, 0)) is None


def test_before_each_session_is_due_from_48_hours_before_across_the_change_to_summer_time(
        group_with_members, facilitator, patient, clock):
    _schedule(facilitator, group_with_members, frequency=Frequency.BEFORE_SESSION)
    sessions = [o for o in occurrences_of(group_with_members) if o.starts_at > NOW]
    assert _due(patient) == []  # Thursday's session is six days away
    for session in sessions[:2]:  # 26 March (winter time) and 2 April (summer time), both 18:00 in Berlin
        clock.move_to(session.starts_at - timedelta(hours=48) - timedelta(minutes=1))
        services.sweep()
        assert [m.occurrence_id for m in _due(patient)] == []
        clock.move_to(session.starts_at - timedelta(hours=48))
        services.sweep()
        db.session.commit()
        due = _due(patient)
        assert [m.occurrence_id for m in due] == [session.id]
        assert due[0].closes_at == session.starts_at
    assert sessions[0].starts_at == utc(2026, 3, 26, 17, 0) and sessions[1].starts_at == utc(2026, 4, 2, 16, 0)


def test_a_cancelled_session_withdraws_its_measure(group_with_members, facilitator, patient, clock):
    _schedule(facilitator, group_with_members, frequency=Frequency.BEFORE_SESSION)
    session = next(o for o in occurrences_of(group_with_members) if o.starts_at > NOW)
    clock.move_to(session.starts_at - timedelta(hours=47))
    services.sweep()
    db.session.commit()
    schedules.cancel_occurrence(facilitator, session, "Unwell")
    services.sweep()
    db.session.commit()
    assert _due(patient) == []
    assert {m.status for m in db.session.scalars(select(Measure))} == {MeasureStatus.WITHDRAWN}


def test_stopping_a_schedule_withdraws_what_is_open_and_opens_nothing_more(group_with_members, facilitator,
                                                                          patient, clock):
    schedule = _schedule(facilitator, group_with_members, patient=patient)
    services.stop_schedule(facilitator, schedule)
    db.session.commit()
    clock.move_to(NOW + timedelta(days=8))
    services.sweep()
    assert _due(patient) == [] and db.session.scalar(select(func.count(Measure.id))) == 1
    with pytest.raises(Refusal) as refused:
        services.stop_schedule(facilitator, schedule)
    assert refused.value.code == "stopped"


def test_leaving_the_group_withdraws_the_open_measure(group_with_members, facilitator, patient):
    _schedule(facilitator, group_with_members, patient=patient)
    membership = next(m for m in group_with_members.memberships if m.user_id == patient.id)
    group_services.change_membership_status(patient, membership, MembershipStatus.LEFT)
    db.session.commit()
    assert _due(patient) == []
    assert db.session.scalar(select(Measure.status)) == MeasureStatus.WITHDRAWN
    assert membership.status == MembershipStatus.LEFT


# Answering ------------------------------------------------------------------------------------------------------------


def test_answers_save_part_way_and_complete_later_within_the_window(group_with_members, facilitator, patient,
                                                                    clock):
    _schedule(facilitator, group_with_members, patient=patient)
    measure = _due(patient)[0]
    services.save_answers(patient, measure, [1, 1, 0, None, None, None, None, None, None])
    db.session.commit()
    clock.shift(timedelta(days=3))
    services.save_answers(patient, measure, [None, None, None, 1, 0, 0, 1, 0, 0], difficulty=1, complete=True)
    db.session.commit()
    assert (measure.status, measure.total, measure.answers, measure.difficulty) == (
        MeasureStatus.DONE, 4, PHQ9_CALM, 1)
    assert measure.completed_at == NOW + timedelta(days=3)


def test_completing_with_an_item_unanswered_is_refused_and_keeps_what_was_given(group_with_members, facilitator,
                                                                               patient):
    _schedule(facilitator, group_with_members, patient=patient)
    measure = _due(patient)[0]
    with pytest.raises(Refusal):
        services.save_answers(patient, measure, [1, 1, 0, 1, 0, 0, 1, 0, None], complete=True)
    assert measure.status == MeasureStatus.DUE


@pytest.mark.parametrize("answers", [[1] * 8, [1] * 10, [0, 0, 0, 0, 0, 0, 0, 0, 4], ["1"] * 9, [True] * 9])
def test_answers_of_the_wrong_shape_are_refused(group_with_members, facilitator, patient, answers):
    _schedule(facilitator, group_with_members, patient=patient)
    with pytest.raises(Refusal):
        services.save_answers(patient, _due(patient)[0], answers, complete=True)


def test_a_retried_submission_is_stored_once(group_with_members, facilitator, patient, clock):
    _schedule(facilitator, group_with_members, patient=patient)
    measure = _due(patient)[0]
    services.save_answers(patient, measure, PHQ9_CALM, complete=True)
    db.session.commit()
    clock.shift(timedelta(minutes=5))
    services.save_answers(patient, measure, [3] * 9, complete=True)
    db.session.commit()
    assert (measure.total, measure.completed_at) == (4, NOW)
    assert len(audit_actions("measure_completed")) == 1


def test_a_closed_window_refuses_answers(group_with_members, facilitator, patient, clock):
    _schedule(facilitator, group_with_members, patient=patient)
    measure = _due(patient)[0]
    clock.move_to(NOW + timedelta(days=7))
    with pytest.raises(Refusal) as refused:
        services.save_answers(patient, measure, PHQ9_CALM, complete=True)
    assert refused.value.code == "closed"
    assert queries.shown_status(measure) == MeasureStatus.MISSED  # before the sweep writes it down


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_any_answer_but_0_on_item_9_raises_exactly_one_alert_at_once(group_with_members, facilitator, patient,
                                                                     item9):
    _schedule(facilitator, group_with_members, patient=patient)
    measure = _due(patient)[0]
    services.save_answers(patient, measure, [None] * 8 + [item9])  # before the rest is answered
    db.session.commit()
    assert len(_alerts(patient)) == 1 and measure.alert_id == _alerts(patient)[0].id
    services.save_answers(patient, measure, [0] * 8 + [item9], complete=True)
    services.save_answers(patient, measure, [0] * 8 + [item9], complete=True)
    db.session.commit()
    assert len(_alerts(patient)) == 1
    assert measure.total == item9  # whatever the total
    assert [json.loads(e.details)["kind"] for e in audit_actions("safety_alert")] == ["phq9_item9"]


def test_item_9_at_0_raises_no_alert_and_the_gad7_has_no_item_9(group_with_members, facilitator, patient):
    _schedule(facilitator, group_with_members, patient=patient)
    _schedule(facilitator, group_with_members, patient=patient, instrument="gad7")
    phq9, gad7 = sorted(_due(patient), key=lambda m: m.instrument.value != "phq9")
    services.save_answers(patient, phq9, [3] * 8 + [0], complete=True)
    services.save_answers(patient, gad7, [3] * 7, complete=True)
    db.session.commit()
    assert _alerts(patient) == []


# A member's pause -----------------------------------------------------------------------------------------------------


def test_a_member_pauses_their_measures_and_only_they_lift_it(group_with_members, facilitator, patient, clock):
    _schedule(facilitator, group_with_members, patient=patient)
    services.pause(patient)
    db.session.commit()
    assert _due(patient) == []
    clock.move_to(NOW + timedelta(days=7, hours=1))
    services.sweep()
    assert _due(patient) == []
    with pytest.raises(Refusal):
        services.pause(patient)
    services.resume(patient)
    db.session.commit()
    assert [m.opens_at for m in _due(patient)] == [NOW + timedelta(days=7)]
    assert [e.action for e in audit_actions("measures_paused") + audit_actions("measures_resumed")] == [
        "measures_paused", "measures_resumed"]


# The sign-in-free link ------------------------------------------------------------------------------------------------


def test_a_link_opens_its_measure_once_and_only_its_hash_is_kept(group_with_members, facilitator, patient):
    _schedule(facilitator, group_with_members, patient=patient)
    measure = _due(patient)[0]
    token = services.issue_link(measure)
    db.session.commit()
    assert token not in (measure.link_hash or "") and len(measure.link_hash) == 64
    assert services.measure_for_link(token) is measure
    services.use_link(measure)
    db.session.commit()
    with pytest.raises(Refusal) as refused:
        services.measure_for_link(token)
    assert refused.value.code == "link_used"


def test_a_revoked_an_expired_or_an_unknown_link_is_refused_alike(group_with_members, facilitator, patient, clock):
    _schedule(facilitator, group_with_members, patient=patient)
    measure = _due(patient)[0]
    token = services.issue_link(measure)
    clock.move_to(measure.closes_at)
    with pytest.raises(Refusal):
        services.measure_for_link(token)
    clock.move_to(NOW)
    services.revoke_link(facilitator, measure)
    for link in (token, "not-a-link", ""):
        with pytest.raises(Refusal) as refused:
            services.measure_for_link(link)
        assert refused.value.code == "link_used"


# What the facilitator sees --------------------------------------------------------------------------------------------


def test_two_missed_in_a_row_are_noticed(group_with_members, facilitator, patient, clock):
    _schedule(facilitator, group_with_members, patient=patient)
    clock.move_to(NOW + timedelta(days=7, minutes=1))
    services.sweep()
    assert queries.missed_twice_in_a_row(queries.recent_of_group(group_with_members)) == set()
    clock.move_to(NOW + timedelta(days=14, minutes=1))
    services.sweep()
    assert queries.missed_twice_in_a_row(queries.recent_of_group(group_with_members)) == {patient.id}


def _two_scores(facilitator, group, members, pairs, clock):
    """Each member answers the PHQ-9 twice a week apart with the given totals (all on items 1..8)."""
    _schedule(facilitator, group)
    for week in range(2):
        clock.move_to(NOW + timedelta(days=7 * week, hours=1))
        services.sweep()
        for member, totals in zip(members, pairs, strict=True):
            measure = next(m for m in _due(member) if m.instrument.value == "phq9")
            left, answers = totals[week], []
            for _ in range(8):
                answers.append(min(3, left))
                left -= answers[-1]
            services.save_answers(member, measure, answers + [0], complete=True)
        db.session.commit()


def test_group_outcomes_show_nothing_for_fewer_than_three_members(group_with_members, facilitator, patient, clock):
    members = [m.user for m in group_with_members.memberships][:2]
    _two_scores(facilitator, group_with_members, members, [(18, 10), (12, 12)], clock)
    phq9 = next(o for o in queries.group_outcomes(group_with_members) if o.instrument.value == "phq9")
    assert (phq9.measured, phq9.shown, phq9.mean_change, phq9.reliably_improved) == (2, False, None, None)


def test_group_outcomes_over_three_members(group_with_members, facilitator, clock):
    members = [m.user for m in group_with_members.memberships]
    _two_scores(facilitator, group_with_members, members, [(18, 8), (12, 12), (10, 17)], clock)
    phq9 = next(o for o in queries.group_outcomes(group_with_members) if o.instrument.value == "phq9")
    # changes -10, 0, +7: one reliably improved (and recovered from caseness), one reliably deteriorated
    assert phq9.measured == 3 and phq9.mean_change == -1.0
    assert (phq9.reliably_improved, phq9.reliably_deteriorated, phq9.recovered, phq9.at_caseness) == (33, 33, 33, 3)
    gad7 = next(o for o in queries.group_outcomes(group_with_members) if o.instrument.value == "gad7")
    assert gad7.measured == 0 and not gad7.shown


def test_an_ended_group_takes_no_new_schedule_by_any_route(group_with_members, facilitator):
    group_with_members.status = "finished"
    with pytest.raises(Refusal) as refused:
        services.create_schedule(facilitator, group_with_members, instrument="phq9", frequency="weekly",
                                 starts_at=NOW)
    assert refused.value.code == "group_ended" and refused.value.status == 409
    assert db.session.scalar(select(func.count(Measure.id))) == 0
