"""Writes for schedules and sessions: the recurring series, its sessions kept in line with it (exceptions, extra
sessions, a change of time zone), and one session's changes, cancellation and restoration."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from app import audit, recurrence, signals
from app.accounts.models import User
from app.extensions import db
from app.groups.models import (
    AgendaItem,
    Attendance,
    FacilitatorNote,
    Membership,
    MembershipStatus,
    OccurrenceStatus,
    Schedule,
    SessionOccurrence,
    TherapyGroup,
)
from app.groups.rules import GroupError, require_open
from app.models_base import utcnow
from app.realtime.push import notify_data_changed


def schedule_error_message(error: recurrence.ScheduleError) -> str:
    messages = {
        "nonexistent_local_time": _("That time does not exist on that day in this time zone (the clocks go forward). "
                                    "Choose another time."),
        "unbounded": _("A series needs an end: a number of sessions or an end date."),
        "no_occurrences": _("This schedule produces no sessions. Check the start date and the end."),
        "too_many": _("A series can have at most %(n)d sessions.", n=recurrence.MAX_OCCURRENCES),
        "too_long": _("A series can span at most three years."),
        "invalid_rule": _("This repeat rule cannot be used."),
        "out_of_range": _("Check the date, time and length."),
    }
    return messages.get(error.code, messages["invalid_rule"])


def save_schedule(by: User, group: TherapyGroup, *, dtstart_local: datetime, rule: str,
                  duration_minutes: int) -> Schedule:
    """Set the series and bring future occurrences in line, keeping exceptions and anything already past."""
    require_open(group)
    if not 15 <= duration_minutes <= 480:
        raise GroupError(_("A session lasts between 15 minutes and 8 hours."), "duration_minutes")
    try:
        starts = recurrence.expand(rule, dtstart_local, group.timezone)
        if all(start <= utcnow() for start in starts):
            raise recurrence.ScheduleError("no_occurrences")  # saved, it would add no session at all
    except recurrence.ScheduleError as error:
        raise GroupError(schedule_error_message(error), "rrule", code=error.code) from None
    old_starts = _series_starts(group.schedule)
    schedule = group.schedule or Schedule(group_id=group.id)
    schedule.dtstart_local = dtstart_local.isoformat(timespec="minutes")
    schedule.timezone = group.timezone
    schedule.rrule = rule
    schedule.duration_minutes = duration_minutes
    if group.schedule is None:
        group.schedule = schedule
    _sync_occurrences(group, starts, duration_minutes, old_starts)
    db.session.flush()
    audit.record("schedule_save", actor=by, target=f"group:{group.id}", details={"rrule": rule,
                                                                               "sessions": len(starts)})
    schedule_changed(group)
    return schedule


def schedule_changed(group: TherapyGroup) -> None:
    """Members' supporters who may see upcoming sessions get a nudge to refresh (after commit)."""
    for user_id in db.session.scalars(select(Membership.user_id).where(Membership.group_id == group.id,
                                                                       Membership.status == MembershipStatus.ACTIVE)):
        notify_data_changed(user_id, "sessions_attendance")


def _series_starts(schedule: Schedule | None) -> list[datetime]:
    """The starts the saved series gives (UTC), in order: where each of its sessions sits in it."""
    if schedule is None:
        return []
    try:
        return recurrence.expand(schedule.rrule, datetime.fromisoformat(schedule.dtstart_local), schedule.timezone)
    except (recurrence.ScheduleError, ValueError):
        return []


def follow_new_timezone(group: TherapyGroup, old_zone: str) -> None:
    """The group's time zone changed: every session to come keeps its local wall-clock time, now in the new zone.

    The series is expanded again from its local start in the new zone (so a session at 18:00 stays at 18:00 there);
    sessions moved one by one and extra sessions keep the local time they were given.
    """
    now = utcnow()
    for occurrence in db.session.scalars(select(SessionOccurrence).where(SessionOccurrence.group_id == group.id,
                                                                         SessionOccurrence.starts_at > now)):
        if occurrence.recurrence_id is None or "start" in _overrides(occurrence):
            local = recurrence.to_local(occurrence.starts_at, old_zone).replace(tzinfo=None)
            occurrence.starts_at = recurrence.to_utc(local, group.timezone)
            revise(occurrence)
    schedule = group.schedule
    if schedule is None:
        db.session.flush()
        return
    old_starts = _series_starts(schedule)
    try:
        starts = recurrence.expand(schedule.rrule, datetime.fromisoformat(schedule.dtstart_local), group.timezone)
    except recurrence.ScheduleError as error:
        raise GroupError(schedule_error_message(error), "timezone", code=error.code) from None
    schedule.timezone = group.timezone
    _sync_occurrences(group, starts, schedule.duration_minutes, old_starts)
    db.session.flush()


#: How far a session of the series may follow an edit of the series: further away, it is another session.
FOLLOW_WITHIN = timedelta(days=7)


def _sync_occurrences(group: TherapyGroup, starts: list[datetime], duration_minutes: int,
                      old_starts: list[datetime]) -> None:
    """Future sessions follow the new series; past ones stay as they were.

    A future session the new series no longer has at the same moment moves to the new series' session at the same
    place in the series (the fourth stays the fourth when the weekday or the time changes) or, failing that, to the
    nearest free one, if less than a week away. It keeps its id, agenda, notes and attendance, and what it sets for
    itself (`overrides`): one moved alone stays where it was moved, one cancelled stays cancelled, one with its own
    link or place keeps it and follows the series' new time. Its length follows the series unless it set its own.

    A session that finds no place in the new series goes, unless it was moved alone; if it already holds an agenda,
    notes, attendance or check-ins, the change is refused rather than losing them.
    """
    now = utcnow()
    existing = {occ.recurrence_id: occ for occ in db.session.scalars(
        select(SessionOccurrence).where(SessionOccurrence.group_id == group.id,
                                        SessionOccurrence.recurrence_id.is_not(None)))}
    unplaced = _move_leaving(existing, starts, old_starts, now)
    _drop_unplaced(group, unplaced)
    for start in starts:
        occurrence = existing.get(start)
        if occurrence is None:
            if start > now:
                db.session.add(SessionOccurrence(group_id=group.id, recurrence_id=start, starts_at=start,
                                                 duration_minutes=duration_minutes))
        elif occurrence.starts_at > now and "duration" not in _overrides(occurrence) \
                and occurrence.duration_minutes != duration_minutes:
            occurrence.duration_minutes = duration_minutes
            revise(occurrence)


def _move_leaving(existing: dict[datetime, SessionOccurrence], starts: list[datetime], old_starts: list[datetime],
                  now: datetime) -> list[SessionOccurrence]:
    """Move each future session the new series no longer has to its new place (`existing` follows); return those
    that found none."""
    wanted = set(starts)
    place = {start: index for index, start in enumerate(old_starts)}
    free = {start for start in starts if start > now and start not in existing}
    leaving = sorted((occ for key, occ in existing.items() if key not in wanted and occ.starts_at > now),
                     key=lambda occ: occ.recurrence_id)
    unplaced = []
    for occurrence in leaving:
        key = occurrence.recurrence_id
        new_start = _new_place(key, place.get(key), starts, free)
        if new_start is None:
            unplaced.append(occurrence)
            continue
        free.discard(new_start)
        del existing[key]
        existing[new_start] = occurrence
        occurrence.recurrence_id = new_start
        if "start" not in _overrides(occurrence):
            occurrence.starts_at = new_start
            revise(occurrence)
    return unplaced


def _new_place(key: datetime, index: int | None, starts: list[datetime], free: set[datetime]) -> datetime | None:
    """The same place in the new series if it is free and near, else the nearest free start less than a week away."""
    same_place = starts[index] if index is not None and index < len(starts) else None
    if same_place in free and abs(same_place - key) < FOLLOW_WITHIN:
        return same_place
    near = [start for start in free if abs(start - key) < FOLLOW_WITHIN]
    return min(near, key=lambda start: (abs(start - key), start), default=None)


def _drop_unplaced(group: TherapyGroup, unplaced: list[SessionOccurrence]) -> None:
    """Sessions with no place in the new series go, unless moved alone; one holding records refuses the change."""
    kept = _holding_records({occ.id for occ in unplaced})
    lost = [occ for occ in unplaced if occ.id in kept and "start" not in _overrides(occ)]
    if lost:
        days = ", ".join(recurrence.to_local(occ.starts_at, group.timezone).strftime("%Y-%m-%d %H:%M")
                         for occ in lost)
        raise GroupError(_("The new schedule has no session for %(days)s, which already has an agenda, notes, "
                           "attendance or check-ins. Keep it in the series, or move it on its own first.", days=days),
                         "rrule", code="sessions_with_records")
    for occurrence in unplaced:
        if "start" not in _overrides(occurrence):
            db.session.delete(occurrence)


def _overrides(occurrence: SessionOccurrence) -> set[str]:
    return set(occurrence.overrides or ())


def _holding_records(occurrence_ids: set[int]) -> set[int]:
    """Which of these sessions hold something a person wrote: agenda items, notes, attendance or check-ins."""
    if not occurrence_ids:
        return set()
    found: set[int] = set()
    for column in (AgendaItem.occurrence_id, FacilitatorNote.occurrence_id, Attendance.occurrence_id):
        found.update(db.session.scalars(select(column).where(column.in_(occurrence_ids)).distinct()))
    for _receiver, held in signals.session_records_asked.send(None, occurrence_ids=occurrence_ids):
        found.update(held)
    return found


def revise(occurrence: SessionOccurrence) -> None:
    """The session changed in a way a calendar shows: the next feed carries a higher SEQUENCE (RFC 5545 3.8.7.4)."""
    if occurrence.id is not None:
        occurrence.sequence = (occurrence.sequence or 0) + 1
        occurrence.updated_at = utcnow()


def add_extra_session(by: User, group: TherapyGroup, *, start_local: datetime, duration_minutes: int,
                      video_link: str = "", location: str = "") -> SessionOccurrence:
    require_open(group)
    starts_at = _typed_local_time(start_local, group.timezone)
    if starts_at <= utcnow():
        raise GroupError(_("An extra session must be in the future."), "start")
    if not 15 <= duration_minutes <= 480:
        raise GroupError(_("A session lasts between 15 minutes and 8 hours."), "duration_minutes")
    _check_link(video_link)
    occurrence = SessionOccurrence(group_id=group.id, recurrence_id=None, starts_at=starts_at,
                                   duration_minutes=duration_minutes, video_link=video_link.strip(),
                                   location=location.strip(), is_exception=True)
    db.session.add(occurrence)
    db.session.flush()
    audit.record("session_add", actor=by, target=f"session:{occurrence.id}")
    schedule_changed(group)
    return occurrence


def _typed_local_time(value: datetime, zone: str) -> datetime:
    try:
        return recurrence.to_utc_strict(value, zone)
    except recurrence.ScheduleError as error:
        raise GroupError(schedule_error_message(error), "start", code=error.code) from None


def _check_link(link: str) -> None:
    if link and not link.strip().lower().startswith("https://"):
        raise GroupError(_("The video link must start with https://"), "video_link")


def update_occurrence(by: User, occurrence: SessionOccurrence, *, start_local: datetime | None = None,
                      duration_minutes: int | None = None, video_link: str | None = None,
                      location: str | None = None) -> None:
    """Change one session without touching the rest of the series.

    Only what differs from the session as it is counts as changed, and is remembered in `overrides` so that a later
    edit of the series leaves it alone (and sets the rest): a new link alone does not pin the session's time.
    """
    require_open(occurrence.group)
    overrides = _overrides(occurrence)
    changed = []
    if start_local is not None:
        starts_at = _typed_local_time(start_local, occurrence.group.timezone)
        if starts_at != occurrence.starts_at:
            if starts_at <= utcnow():
                raise GroupError(_("A session cannot be moved into the past."), "start", code="in_the_past")
            occurrence.starts_at = starts_at
            changed.append("start")
            if starts_at == occurrence.recurrence_id:
                overrides.discard("start")  # back where the series puts it: it follows the series again
            else:
                overrides.add("start")
    if duration_minutes is not None:
        if not 15 <= duration_minutes <= 480:
            raise GroupError(_("A session lasts between 15 minutes and 8 hours."), "duration_minutes")
        if duration_minutes != occurrence.duration_minutes:
            occurrence.duration_minutes = duration_minutes
            changed.append("duration")
            overrides.add("duration")
    for name, value in (("video_link", video_link), ("location", location)):
        if value is None:
            continue
        if name == "video_link":
            _check_link(value)
        value = value.strip()
        if value != getattr(occurrence, name):
            setattr(occurrence, name, value)
            changed.append(name)
            # An empty value means "the group's", which follows the group: no override.
            (overrides.add if value else overrides.discard)(name)
    if changed:
        occurrence.overrides = sorted(overrides)
        occurrence.is_exception = True
        revise(occurrence)
    db.session.flush()
    audit.record("session_update", actor=by, target=f"session:{occurrence.id}", details={"changed": changed})
    schedule_changed(occurrence.group)


def cancel_occurrence(by: User, occurrence: SessionOccurrence, reason: str) -> None:
    require_open(occurrence.group)
    if not reason.strip():
        raise GroupError(_("Tell members why the session is cancelled."), "reason")
    occurrence.status, occurrence.cancel_reason = OccurrenceStatus.CANCELLED, reason.strip()
    occurrence.is_exception = True
    revise(occurrence)
    db.session.flush()
    audit.record("session_cancel", actor=by, target=f"session:{occurrence.id}")
    schedule_changed(occurrence.group)


def restore_occurrence(by: User, occurrence: SessionOccurrence) -> None:
    require_open(occurrence.group)
    occurrence.status, occurrence.cancel_reason = OccurrenceStatus.SCHEDULED, ""
    revise(occurrence)
    db.session.flush()
    audit.record("session_restore", actor=by, target=f"session:{occurrence.id}")
    schedule_changed(occurrence.group)
