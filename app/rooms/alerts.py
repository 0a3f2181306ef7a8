"""Safety alerts' writes: raising one (to the group's facilitators only), acknowledging it with a short note of what
was done, and telling the member, in calm words, that a facilitator has seen their call for support. The note is for
the group's facilitators: it never reaches the member or their supporters."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import update

from app import audit
from app.accounts.models import User
from app.extensions import db
from app.groups.models import SessionOccurrence, TherapyGroup
from app.input_checks import UNPAIRED_SURROGATE, is_one_line
from app.models_base import utcnow
from app.realtime.push import queue_push
from app.realtime.sockets import user_room
from app.refusal import Refusal
from app.rooms.models import ALERT_NOTE_MAX, AlertKind, CheckIn, SafetyAlert
from app.rooms.pushes import push_to_facilitators
from app.rooms.queries import alert_payload, support_seen_payload


class AlertNoteError(Refusal):
    """Refused: a note that is too long or not one line (`invalid_note`), or a second note (`note_given`)."""

    conflicts = Refusal.conflicts | {"note_given", "not_acknowledged"}


def new_alert(user: User, group: TherapyGroup, kind: AlertKind, occurrence: SessionOccurrence | None,
              checkin: CheckIn | None, *, client_id: str | None = None) -> SafetyAlert:
    alert = SafetyAlert(organisation_id=group.organisation_id, group_id=group.id, patient_id=user.id, kind=kind,
                        occurrence_id=occurrence.id if occurrence else None,
                        checkin_id=checkin.id if checkin else None, client_id=client_id)
    db.session.add(alert)
    db.session.flush()
    return alert


def announce_alert(user: User, alert: SafetyAlert) -> None:
    audit.record("safety_alert", actor=user, subject=user, target=f"alert:{alert.id}",
                 organisation_id=alert.organisation_id, details={"kind": alert.kind.value})
    push_to_facilitators("alert", alert_payload(alert), alert.group_id)


def raise_alert(user: User, group: TherapyGroup, kind: AlertKind, occurrence: SessionOccurrence | None,
                checkin: CheckIn | None) -> SafetyAlert:
    alert = new_alert(user, group, kind, occurrence, checkin)
    announce_alert(user, alert)
    return alert


def clean_note(note) -> str:
    """The note as stored, or AlertNoteError: one line of at most ALERT_NOTE_MAX characters (empty is fine)."""
    if note is None:
        return ""
    if not isinstance(note, str):
        raise AlertNoteError(_("This note could not be read. Please try again."), field="note", code="invalid_note")
    note = note.strip()
    if len(note) > ALERT_NOTE_MAX:
        raise AlertNoteError(_("Keep the note to %(n)d characters.", n=ALERT_NOTE_MAX), field="note",
                             code="invalid_note")
    if not is_one_line(note) or UNPAIRED_SURROGATE.search(note):
        raise AlertNoteError(_("Keep this on one line, without special characters."), field="note",
                             code="invalid_note")
    return note


def acknowledge_alert(by: User, alert: SafetyAlert, note: str | None = None) -> None:
    """The first acknowledgement stands: two facilitators acknowledging at once record (and announce) one. A note
    given with a later acknowledgement is added as a note afterwards would be, if the alert has none yet."""
    note = clean_note(note)
    claimed = db.session.execute(
        update(SafetyAlert).where(SafetyAlert.id == alert.id, SafetyAlert.acknowledged_at.is_(None))
        .values(acknowledged_at=utcnow(), acknowledged_by_id=by.id, note=note)
        .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(alert)
    if claimed != 1:
        if note and not alert.note:
            add_note(by, alert, note)
        return
    audit.record("safety_alert_acknowledge", actor=by, subject=alert.patient_id, target=f"alert:{alert.id}",
                 organisation_id=alert.organisation_id, details={"with_note": bool(note)})
    push_to_facilitators("alert", alert_payload(alert), alert.group_id)
    if alert.kind == AlertKind.NEED_SUPPORT:
        # The member who asked learns that it was seen, on any page they have open; the note stays with the staff.
        queue_push("support_seen", support_seen_payload(alert), user_room(alert.patient_id))


def add_note(by: User, alert: SafetyAlert, note: str) -> None:
    """A note of what was done, on an acknowledged alert that has none: once given, it stands."""
    note = clean_note(note)
    if not note:
        raise AlertNoteError(_("Write a few words of what was done."), field="note", code="invalid_note")
    if alert.acknowledged_at is None:
        raise AlertNoteError(_("Acknowledge the alert first."), code="not_acknowledged")
    claimed = db.session.execute(
        update(SafetyAlert).where(SafetyAlert.id == alert.id, SafetyAlert.note == "").values(note=note)
        .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(alert)
    if claimed != 1:
        raise AlertNoteError(_("This alert has a note already."), code="note_given")
    # The act is on the trail, as a facilitator's note is (groups.services.add_note): its words stay on the alert.
    audit.record("safety_alert_note", actor=by, subject=alert.patient_id, target=f"alert:{alert.id}",
                 organisation_id=alert.organisation_id)
