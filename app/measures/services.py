"""Writes for measures: a facilitator's schedules, the sweep that opens each window and records the missed ones,
answers saved part way and completed (item 9's safety alert the moment it is answered), a member's own pause, and the
single-use sign-in-free link."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app import audit, signals
from app.accounts.models import User
from app.extensions import db
from app.groups import queries as group_queries
from app.groups.models import OccurrenceStatus, SessionOccurrence, TherapyGroup
from app.measures import queries
from app.measures.instruments import Instrument
from app.measures.models import Frequency, Measure, MeasurePause, MeasureSchedule, MeasureStatus
from app.measures.scoring import (
    needs_safety_alert,
    total,
    validate_answers,
    validate_difficulty,
    validate_partial_answers,
)
from app.models_base import utcnow
from app.realtime.push import notify_data_changed
from app.refusal import Refusal
from app.rooms.alerts import raise_alert
from app.rooms.models import AlertKind
from app.supporters.models import DataClass


class MeasureRefused(Refusal):
    """Refused: a closed or withdrawn measure (`closed`), a schedule already stopped (`stopped`), a pause already
    on or off (`paused`, `not_paused`), a used or revoked link (`link_used`), a group that has ended (`group_ended`)."""

    conflicts = Refusal.conflicts | {"closed", "stopped", "paused", "not_paused", "link_used", "group_ended"}


def link_hash(token: str) -> str:
    """What a measure keeps of its link (the link itself is never stored)."""
    return hashlib.sha256(token.encode()).hexdigest()


_hash = link_hash


# Schedules -----------------------------------------------------------------------------------------------------------


def create_schedule(by: User, group: TherapyGroup, *, instrument: Instrument | str, frequency: Frequency | str,
                    starts_at: datetime, patient_id: int | None = None) -> MeasureSchedule:
    """A facilitator asks for a measure: for one active member of the group, or (patient_id None) for all of them.
    A window open at once is opened at once. A finished or cancelled group takes no new schedule."""
    if group.is_closed_for_changes:
        raise MeasureRefused(_("This group has ended; no questionnaire can be scheduled."), code="group_ended")
    try:
        instrument, frequency = Instrument(instrument), Frequency(frequency)
    except ValueError:
        raise MeasureRefused(_("Choose a questionnaire and how often."), field="instrument",
                             code="invalid") from None
    if patient_id is not None and patient_id not in {m.user_id for m in group_queries.active_members(group)}:
        raise MeasureRefused(_("Choose an active member of this group."), field="patient_id", code="invalid")
    schedule = MeasureSchedule(organisation_id=group.organisation_id, group_id=group.id, patient_id=patient_id,
                               instrument=instrument, frequency=frequency, starts_at=starts_at,
                               created_by_id=by.id)
    db.session.add(schedule)
    db.session.flush()
    audit.record("measure_scheduled", actor=by, subject=patient_id, target=f"measure_schedule:{schedule.id}",
                 organisation_id=group.organisation_id,
                 details={"group_id": group.id, "instrument": instrument.value, "frequency": frequency.value})
    open_windows(utcnow(), schedules=[schedule])
    return schedule


def stop_schedule(by: User, schedule: MeasureSchedule) -> None:
    """No new window opens; an open one that is not done is withdrawn (it no longer shows as due)."""
    if schedule.stopped_at is not None:
        raise MeasureRefused(_("This schedule has already stopped."), code="stopped")
    schedule.stopped_at = utcnow()
    db.session.execute(update(Measure).where(Measure.schedule_id == schedule.id, Measure.status == MeasureStatus.DUE)
                       .values(status=MeasureStatus.WITHDRAWN))
    audit.record("measure_schedule_stopped", actor=by, subject=schedule.patient_id,
                 target=f"measure_schedule:{schedule.id}", organisation_id=schedule.organisation_id,
                 details={"group_id": schedule.group_id})


# The sweep -----------------------------------------------------------------------------------------------------------


def open_windows(now: datetime, schedules: list[MeasureSchedule] | None = None) -> list[Measure]:
    """Give every member a measure for each window open now (once: the row is keyed by schedule, member and
    opening), skipping members who paused their measures. Safe to run in several processes: a row another wrote
    first is left as it is."""
    if schedules is None:
        schedules = queries.running_schedules()
    paused = queries.paused_patient_ids()
    opened = []
    for schedule in schedules:
        window = queries.window_at(schedule, now)
        if window is None:
            continue
        patients = ([schedule.patient_id] if schedule.patient_id is not None
                    else [m.user_id for m in group_queries.active_members(schedule.group)])
        have = queries.patients_with_window(schedule, window.opens_at)
        for patient_id in patients:
            if patient_id in paused or patient_id in have:
                continue
            if schedule.patient_id is not None and not _still_member(schedule, patient_id):
                continue
            measure = Measure(organisation_id=schedule.organisation_id, group_id=schedule.group_id,
                              patient_id=patient_id, schedule_id=schedule.id, instrument=schedule.instrument,
                              opens_at=window.opens_at, closes_at=window.closes_at,
                              occurrence_id=window.occurrence_id, answers=[])
            try:
                with db.session.begin_nested():
                    db.session.add(measure)
            except IntegrityError:  # another process opened this window first (the unique key); theirs stands
                continue
            opened.append(measure)
    return opened


def _still_member(schedule: MeasureSchedule, patient_id: int) -> bool:
    return patient_id in {m.user_id for m in group_queries.active_members(schedule.group)}


def record_missed(now: datetime) -> int:
    """Write down as missed each due measure whose window has ended (reads already treat them so)."""
    result = db.session.execute(update(Measure).where(Measure.status == MeasureStatus.DUE, Measure.closes_at <= now)
                                .values(status=MeasureStatus.MISSED))
    return result.rowcount or 0


def sweep(now: datetime | None = None) -> None:
    now = now or utcnow()
    withdraw_for_cancelled_sessions()
    record_missed(now)
    open_windows(now)


def withdraw_for_cancelled_sessions() -> int:
    """A "before each session" measure whose session was cancelled is no longer asked for."""
    cancelled = select(SessionOccurrence.id).where(SessionOccurrence.status == OccurrenceStatus.CANCELLED)
    result = db.session.execute(update(Measure).where(Measure.status == MeasureStatus.DUE,
                                                      Measure.occurrence_id.in_(cancelled))
                                .values(status=MeasureStatus.WITHDRAWN))
    return result.rowcount or 0


def _withdraw_for_member_who_left(_sender, *, user_id: int, group_id: int) -> None:
    db.session.execute(update(Measure).where(Measure.patient_id == user_id, Measure.group_id == group_id,
                                             Measure.status == MeasureStatus.DUE)
                       .values(status=MeasureStatus.WITHDRAWN))


signals.member_left_group.connect(_withdraw_for_member_who_left)


# Answering -----------------------------------------------------------------------------------------------------------


def _refuse_if_closed(measure: Measure, now: datetime) -> None:
    if measure.status == MeasureStatus.WITHDRAWN:
        raise MeasureRefused(_("This questionnaire is no longer needed."), code="closed")
    if measure.status == MeasureStatus.MISSED or now >= measure.closes_at:
        raise MeasureRefused(_("This questionnaire has closed. There will be another chance."), code="closed")
    if now < measure.opens_at:
        raise MeasureRefused(_("This questionnaire is not open yet."), code="closed")


def save_answers(user: User, measure: Measure, answers: list, difficulty=None, *, complete: bool = False,
                 now: datetime | None = None) -> Measure:
    """Keep the answers given so far (each given answer replaces the stored one); with `complete`, every item must
    be answered and the measure is scored and done. A measure already done is returned as it is, so a retried
    submission is stored once. Any answer other than 0 on PHQ-9 item 9 raises one safety alert at once, whether or
    not the rest is answered (CLINICAL.md safety rule 1)."""
    if measure.status == MeasureStatus.DONE:
        return measure
    now = now or utcnow()
    _refuse_if_closed(measure, now)
    items = len(validate_partial_answers(measure.instrument, answers))  # the length and each value checked
    stored = list(measure.answers or []) + [None] * items
    merged = [given if given is not None else stored[index] for index, given in enumerate(answers)]
    difficulty = validate_difficulty(difficulty)
    measure.answers = merged
    if difficulty is not None:
        measure.difficulty = difficulty
    measure.started_at = measure.started_at or now
    if measure.alert_id is None and needs_safety_alert(measure.instrument, merged):
        alert = raise_alert(user, measure.group, AlertKind.PHQ9_ITEM9, None, None)
        measure.alert_id = alert.id
    if complete:
        validate_answers(measure.instrument, merged)
        measure.total = total(measure.instrument, merged)
        measure.status = MeasureStatus.DONE
        measure.completed_at = now
        audit.record("measure_completed", actor=user, subject=user, target=f"measure:{measure.id}",
                     organisation_id=measure.organisation_id, details={"instrument": measure.instrument.value})
        # A supporter's page showing questionnaire results refreshes (a band and a total, never the answers).
        notify_data_changed(user.id, DataClass.MEASURES.value)
    db.session.flush()
    return measure


# A member's pause ----------------------------------------------------------------------------------------------------


def pause(user: User) -> MeasurePause:
    """The member pauses their own measures: open ones are withdrawn, no new one opens; their facilitators see it."""
    if queries.current_pause(user.id) is not None:
        raise MeasureRefused(_("Your questionnaires are already paused."), code="paused")
    pause_row = MeasurePause(patient_id=user.id)
    db.session.add(pause_row)
    db.session.execute(update(Measure).where(Measure.patient_id == user.id, Measure.status == MeasureStatus.DUE,
                                             Measure.started_at.is_(None))
                       .values(status=MeasureStatus.WITHDRAWN))
    db.session.flush()
    audit.record("measures_paused", actor=user, subject=user, target=f"measure_pause:{pause_row.id}",
                 organisation_id=user.organisation_id)
    return pause_row


def resume(user: User) -> None:
    current = queries.current_pause(user.id)
    if current is None:
        raise MeasureRefused(_("Your questionnaires are not paused."), code="not_paused")
    current.ended_at = utcnow()
    audit.record("measures_resumed", actor=user, subject=user, target=f"measure_pause:{current.id}",
                 organisation_id=user.organisation_id)
    open_windows(utcnow(), schedules=queries.running_schedules(patient_id=user.id))


# The sign-in-free link -----------------------------------------------------------------------------------------------


def issue_link(measure: Measure) -> str:
    """A new single-use link for this one measure (any earlier one stops working). Only its hash is kept."""
    token = secrets.token_urlsafe(32)
    measure.link_hash = _hash(token)
    measure.link_used_at = None
    measure.link_revoked_at = None
    db.session.flush()
    return token


def measure_for_link(token: str, now: datetime | None = None) -> Measure:
    """The measure a link opens, or MeasureRefused (`link_used`) for an unknown, used, revoked or expired one: they
    all answer alike."""
    now = now or utcnow()
    measure = db.session.scalar(select(Measure).where(Measure.link_hash == _hash(token or "")))
    if (measure is None or measure.link_used_at is not None or measure.link_revoked_at is not None
            or measure.status != MeasureStatus.DUE or now >= measure.closes_at):
        raise MeasureRefused(_("This link has been used or has expired. Sign in to see your questionnaires."),
                             code="link_used")
    return measure


def use_link(measure: Measure, now: datetime | None = None) -> None:
    measure.link_used_at = now or utcnow()
    audit.record("measure_link_used", actor=measure.patient, subject=measure.patient, target=f"measure:{measure.id}",
                 organisation_id=measure.organisation_id)


def revoke_link(by: User, measure: Measure) -> None:
    if measure.link_hash is None or measure.link_used_at is not None or measure.link_revoked_at is not None:
        raise MeasureRefused(_("There is no link to stop."), code="link_used")
    measure.link_revoked_at = utcnow()
    audit.record("measure_link_revoked", actor=by, subject=measure.patient_id, target=f"measure:{measure.id}",
                 organisation_id=measure.organisation_id)

