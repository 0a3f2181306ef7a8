"""Writes for supporters and consent: invitations, grants, revocation, holds, renewals, the access log and
encouragement. A consent's terms never change; every change of state is a new ConsentEvent, in the audit trail too."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from app import audit
from app.accounts import services as account_services
from app.accounts.models import Invitation, RoleName, User
from app.extensions import db
from app.models_base import utcnow
from app.push import DATA_CHANGED_HOOKS, queue_close_room, queue_push
from app.supporters.models import (
    AccessLog,
    Consent,
    ConsentEvent,
    ConsentState,
    DataClass,
    Encouragement,
    SupporterLink,
)

DEFAULT_DAYS = 90
MAX_DAYS = 365
ENCOURAGEMENT_MAX = 500


class ConsentError(ValueError):
    def __init__(self, message: str, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


def shared_room(patient_id: int, supporter_id: int) -> str:
    """The sockets of one supporter watching one patient's shared page."""
    return f"shared:{patient_id}:{supporter_id}"


def _check_terms(data_classes: list[str], ends_at: datetime, data_from: datetime, now: datetime) -> list[str]:
    classes = sorted(set(data_classes))
    if not classes:
        raise ConsentError(_("Choose at least one thing to share."), "data_classes")
    valid = {c.value for c in DataClass}
    if any(c not in valid for c in classes):
        raise ConsentError(_("Choose from the list of things to share."), "data_classes")
    if ends_at <= now:
        raise ConsentError(_("The end must be in the future."), "ends_at")
    if ends_at > now + timedelta(days=MAX_DAYS + 1):
        raise ConsentError(_("Sharing can last at most a year; you can renew it."), "ends_at")
    if data_from > now:
        raise ConsentError(_("The data period must start today or earlier."), "data_from")
    return classes


def _event(consent: Consent, state: ConsentState, by: User | None, reason: str = "",
           at: datetime | None = None) -> ConsentEvent:
    event = ConsentEvent(consent_id=consent.id, state=state, by_id=by.id if by else None, reason=reason.strip(),
                         at=at or utcnow())
    consent.events.append(event)
    db.session.flush()
    audit.record(f"consent_{state.value}", actor=by, subject=consent.patient_id, target=f"consent:{consent.id}",
                 organisation_id=consent.organisation_id, consent_id=consent.id,
                 details={"reason": reason} if reason else None)
    return event


def _new_consent(patient: User, *, supporter_id: int | None, data_classes: list[str], ends_at: datetime | None,
                 data_from: datetime | None, purpose: str, invitation_id: int | None = None,
                 renews: Consent | None = None) -> Consent:
    now = utcnow()
    ends_at = ends_at or now + timedelta(days=DEFAULT_DAYS)
    data_from = data_from or now
    classes = _check_terms(data_classes, ends_at, data_from, now)
    consent = Consent(organisation_id=patient.organisation_id, patient_id=patient.id, supporter_id=supporter_id,
                      invitation_id=invitation_id, data_classes=classes, starts_at=now, ends_at=ends_at,
                      data_from=data_from, purpose=purpose.strip()[:1000], renews_id=renews.id if renews else None)
    db.session.add(consent)
    db.session.flush()
    return consent


def invite_supporter(patient: User, *, email: str, relationship: str, data_classes: list[str],
                     ends_at: datetime | None = None, data_from: datetime | None = None,
                     purpose: str = "") -> tuple[Consent, str]:
    """Invite someone by email; the consent is proposed until they accept, then active."""
    invitation, raw = account_services.create_invitation(
        patient, patient.organisation, RoleName.SUPPORTER, email=email,
        context={"patient_id": patient.id, "relationship": relationship.strip()[:60]})
    consent = _new_consent(patient, supporter_id=None, data_classes=data_classes, ends_at=ends_at,
                           data_from=data_from, purpose=purpose, invitation_id=invitation.id)
    invitation.context = {**invitation.context, "consent_id": consent.id}
    _event(consent, ConsentState.PROPOSED, patient)
    return consent, raw


def on_invitation_accepted(invitation: Invitation, user: User) -> None:
    context = invitation.context or {}
    if "patient_id" not in context or invitation.role != RoleName.SUPPORTER:
        return
    patient = db.session.get(User, context["patient_id"])
    if patient is None or patient.id == user.id:
        raise account_services.AccountError(_("This invitation cannot be used by this account."))
    link = db.session.scalar(select(SupporterLink).where(SupporterLink.patient_id == patient.id,
                                                         SupporterLink.supporter_id == user.id))
    if link is None:
        link = SupporterLink(organisation_id=invitation.organisation_id, patient_id=patient.id, supporter_id=user.id,
                             relationship_label=context.get("relationship", ""))
        db.session.add(link)
    consent = db.session.get(Consent, context.get("consent_id")) if context.get("consent_id") else None
    if consent is not None and consent.supporter_id is None and consent.state_at(utcnow()) == ConsentState.PROPOSED:
        # The grantee is bound once, when the invited person has an account; the terms stay as the patient set them.
        consent.supporter_id = user.id
        db.session.flush()
        _event(consent, ConsentState.ACTIVE, user)
        held = _active_hold(patient.id, user.id, exclude=consent)
        if held is not None:
            # A clinical hold on this supporter covers new sharing too, until a facilitator lifts it.
            _event(consent, ConsentState.ON_HOLD, held.by, held.reason)
    db.session.flush()


def _active_hold(patient_id: int, supporter_id: int, exclude: Consent | None = None) -> ConsentEvent | None:
    now = utcnow()
    for other in consents_between(patient_id, supporter_id):
        if other is not exclude and other.state_at(now) == ConsentState.ON_HOLD:
            return other.last_event
    return None


account_services.INVITATION_ACCEPTED_HOOKS.append(on_invitation_accepted)


def _refuse_while_on_hold(patient_id: int, supporter_id: int | None) -> None:
    """A clinical hold suspends the supporter's involvement: a new grant or a renewal must not sidestep it."""
    if supporter_id is not None and _active_hold(patient_id, supporter_id) is not None:
        raise ConsentError(_("Sharing with this person is on hold. Your facilitator can tell you more."),
                           code="on_hold")


def grant_consent(patient: User, link: SupporterLink, *, data_classes: list[str], ends_at: datetime | None = None,
                  data_from: datetime | None = None, purpose: str = "") -> Consent:
    _refuse_while_on_hold(patient.id, link.supporter_id)
    consent = _new_consent(patient, supporter_id=link.supporter_id, data_classes=data_classes, ends_at=ends_at,
                           data_from=data_from, purpose=purpose)
    _event(consent, ConsentState.ACTIVE, patient)
    notify_supporter(consent)
    return consent


def revoke_consent(consent: Consent, by: User) -> None:
    """Stop sharing at once: after this commit no read, socket answer or push reaches the supporter."""
    state = consent.state_at(utcnow())
    if state in (ConsentState.REVOKED, ConsentState.EXPIRED, ConsentState.RENEWED):
        return
    _event(consent, ConsentState.REVOKED, by)
    _end_live_access(consent)
    _withdraw_invitation(consent, by)


def _withdraw_invitation(consent: Consent, by: User) -> None:
    """A proposed consent's invitation goes with it: the link no longer makes an account or joins the circle."""
    if consent.invitation_id is None or consent.supporter_id is not None:
        return
    invitation = db.session.get(Invitation, consent.invitation_id)
    if invitation is not None and invitation.state(utcnow()) == "pending":
        account_services.revoke_invitation(by, invitation)


def stop_sharing_with(patient: User, link: SupporterLink) -> int:
    """One tap: every consent this patient gave this supporter is revoked."""
    count = 0
    for consent in consents_between(patient.id, link.supporter_id):
        if consent.state_at(utcnow()) in (ConsentState.ACTIVE, ConsentState.ON_HOLD, ConsentState.PROPOSED):
            revoke_consent(consent, patient)
            count += 1
    return count


def hold_consent(consent: Consent, by: User, reason: str) -> None:
    if not reason.strip():
        raise ConsentError(_("Give the reason for the hold; the patient will see it."), "reason")
    if consent.state_at(utcnow()) != ConsentState.ACTIVE:
        raise ConsentError(_("Only active sharing can be put on hold."), code="not_active")
    _event(consent, ConsentState.ON_HOLD, by, reason)
    _end_live_access(consent)


def lift_hold(consent: Consent, by: User) -> None:
    if consent.state_at(utcnow()) != ConsentState.ON_HOLD:
        raise ConsentError(_("This sharing is not on hold."), code="not_on_hold")
    _event(consent, ConsentState.ACTIVE, by)
    notify_supporter(consent)


def renew_consent(consent: Consent, by: User, ends_at: datetime | None = None) -> Consent:
    """Never silent: the patient asks for it. The renewal carries the same terms over a new period."""
    state = consent.state_at(utcnow())
    if state not in (ConsentState.ACTIVE, ConsentState.EXPIRED):
        raise ConsentError(_("Only active or ended sharing can be renewed."), code="not_renewable")
    _refuse_while_on_hold(consent.patient_id, consent.supporter_id)
    renewal = _new_consent(by, supporter_id=consent.supporter_id, data_classes=consent.data_classes,
                           ends_at=ends_at, data_from=consent.data_from, purpose=consent.purpose, renews=consent)
    if state == ConsentState.ACTIVE:
        _event(consent, ConsentState.RENEWED, by)
    _event(renewal, ConsentState.ACTIVE, by)
    notify_supporter(renewal)
    return renewal


def record_expiry(consent: Consent) -> None:
    """Write down an expiry that has happened (at its end time), so the history shows it."""
    last = consent.last_event
    if consent.state_at(utcnow()) == ConsentState.EXPIRED and (last is None or last.state != ConsentState.EXPIRED):
        _event(consent, ConsentState.EXPIRED, None, at=consent.ends_at)


def _end_live_access(consent: Consent) -> None:
    if consent.supporter_id is not None:
        queue_close_room(shared_room(consent.patient_id, consent.supporter_id))


def notify_supporter(consent: Consent) -> None:
    if consent.supporter_id is not None:
        queue_push("shared_update", {"patient_id": consent.patient_id},
                   shared_room(consent.patient_id, consent.supporter_id))


def consents_between(patient_id: int, supporter_id: int) -> list[Consent]:
    return list(db.session.scalars(select(Consent).where(Consent.patient_id == patient_id,
                                                         Consent.supporter_id == supporter_id)
                                    .order_by(Consent.created_at)))


def record_access(consent: Consent, supporter: User, data_class: str) -> None:
    db.session.add(AccessLog(consent_id=consent.id, patient_id=consent.patient_id, supporter_id=supporter.id,
                             data_class=data_class))
    db.session.flush()
    audit.record("supporter_read", actor=supporter, subject=consent.patient_id, target=f"data:{data_class}",
                 organisation_id=consent.organisation_id, consent_id=consent.id)


def send_encouragement(supporter: User, consent: Consent, body: str) -> Encouragement:
    body = body.strip()
    if not body or len(body) > ENCOURAGEMENT_MAX:
        raise ConsentError(_("Write a short note (up to %(n)d characters).", n=ENCOURAGEMENT_MAX), "body")
    note = Encouragement(consent_id=consent.id, patient_id=consent.patient_id, supporter_id=supporter.id, body=body)
    db.session.add(note)
    db.session.flush()
    audit.record("encouragement_send", actor=supporter, subject=consent.patient_id, target=f"encouragement:{note.id}",
                 consent_id=consent.id)
    return note


def mark_encouragement_read(patient: User) -> None:
    for note in db.session.scalars(select(Encouragement).where(Encouragement.patient_id == patient.id,
                                                               Encouragement.read_at.is_(None))):
        note.read_at = utcnow()
    db.session.flush()


def _on_patient_data_changed(patient_id: int, data_class: str) -> None:
    """Supporters whose active consent covers the changed class get a nudge to refresh (never the data itself)."""
    now = utcnow()
    for consent in db.session.scalars(select(Consent).where(Consent.patient_id == patient_id,
                                                            Consent.supporter_id.is_not(None))):
        if consent.permits(data_class, now):
            notify_supporter(consent)


DATA_CHANGED_HOOKS.append(_on_patient_data_changed)
