"""Writes for attendance: a facilitator's sheet, saved row by row without overwriting what a colleague changed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from app import audit
from app.accounts.models import User
from app.extensions import db
from app.groups.models import (
    Attendance,
    AttendanceStatus,
    Membership,
    MembershipStatus,
    OccurrenceStatus,
    SessionOccurrence,
)
from app.groups.rules import GroupError, require_open
from app.models_base import utcnow
from app.realtime.push import notify_data_changed


@dataclass
class AttendanceEntry:
    user_id: int
    status: AttendanceStatus | None
    comment: str = ""
    #: What the sheet showed when it was loaded: a save changes only what this person changed.
    previous_status: AttendanceStatus | None = None
    previous_comment: str = ""


@dataclass
class AttendanceSaved:
    """What a save of the sheet did not change, so that the facilitator can be told and nothing typed is lost."""

    #: Rows someone else changed since the sheet was loaded: their entries are kept.
    conflicts: list[int] = dataclasses.field(default_factory=list)
    #: Rows of people who are not (or no longer) active members: nothing was saved for them.
    skipped: list[int] = dataclasses.field(default_factory=list)


def record_attendance(by: User, occurrence: SessionOccurrence, entries: list[AttendanceEntry]) -> AttendanceSaved:
    """Save the rows this facilitator changed; every other row of the sheet is still saved when some cannot be.

    A row changed meanwhile by someone else keeps their entry and is reported as a conflict; a row of someone who
    stopped being an active member since the sheet was loaded (a co-facilitator paused them) is reported as skipped.
    """
    group = occurrence.group
    require_open(group)
    if occurrence.status == OccurrenceStatus.CANCELLED:
        raise GroupError(_("This session was cancelled: there is no attendance to record."), code="session_cancelled")
    if occurrence.starts_at > utcnow():
        raise GroupError(_("This session has not started yet: record attendance once it has begun."),
                         code="session_not_started")
    # Lock the occurrence so that two saves of the same sheet run one after the other (SQLite's BEGIN IMMEDIATE
    # already serialises writers; on PostgreSQL this row lock does). Who is active is read after it, as committed.
    db.session.execute(select(SessionOccurrence.id).where(SessionOccurrence.id == occurrence.id).with_for_update())
    active = set(db.session.scalars(select(Membership.user_id).where(Membership.group_id == group.id,
                                                                     Membership.status == MembershipStatus.ACTIVE)))
    current = {a.user_id: a for a in db.session.scalars(
        select(Attendance).where(Attendance.occurrence_id == occurrence.id)
        .execution_options(populate_existing=True))}
    saved = AttendanceSaved()
    changed = []
    for entry in entries:
        row = current.get(entry.user_id)
        untouched = entry.status == entry.previous_status and entry.comment.strip() == entry.previous_comment.strip()
        if untouched:
            continue
        if entry.user_id not in active:
            saved.skipped.append(entry.user_id)
            continue
        on_record = (row.status if row else None, row.comment if row else "")
        if on_record != (entry.previous_status, entry.previous_comment.strip()) and \
                on_record != (entry.status, entry.comment.strip()):
            saved.conflicts.append(entry.user_id)
            continue
        if entry.status is None:
            if row is not None:
                db.session.delete(row)
                changed.append(entry.user_id)
            continue
        if row is None:
            row = Attendance(occurrence_id=occurrence.id, user_id=entry.user_id, status=entry.status)
            db.session.add(row)
            current[entry.user_id] = row
        row.status, row.comment = entry.status, entry.comment.strip()[:500]
        row.recorded_by_id, row.recorded_at = by.id, utcnow()
        changed.append(entry.user_id)
    db.session.flush()
    audit.record("attendance_record", actor=by, subject=changed[0] if len(changed) == 1 else None,
                 target=f"session:{occurrence.id}",
                 details={"changed": len(changed), "members": sorted(changed), "conflicts": saved.conflicts,
                          "skipped": saved.skipped})
    for user_id in changed:
        notify_data_changed(user_id, "sessions_attendance")
    return saved
