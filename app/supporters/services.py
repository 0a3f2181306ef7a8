"""Writes for supporters and consent: invitations, grants, revocation, holds, renewals, the access log and
encouragement. A consent's terms never change; every change of state is a new ConsentEvent, in the audit trail too."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from app import audit, signals
from app.accounts import services as account_services
from app.accounts.models import Invitation, RoleName, User
from app.extensions import db
from app.models_base import utcnow
from app.notifications.email import queue_email
from app.realtime.push import queue_close_room, queue_push
from app.refusal import Refusal
from app.supporters import queries
from app.supporters.models import (
    AccessLog,
    ClinicalHold,
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


class ConsentError(Refusal):
    """A rule of sharing refused the change."""

    conflicts = Refusal.conflicts | {"on_hold", "not_on_hold", "not_renewable"}


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


def _lock_link(patient_id: int, supporter_id: int | None) -> None:
    """Serialise grants, renewals, acceptances and holds for one patient and supporter: on PostgreSQL a row lock on
    their link (SQLite's BEGIN IMMEDIATE already runs writers one after another), so that a grant made while a hold
    is being placed either sees the hold or is seen by it."""
    if supporter_id is not None:
        db.session.execute(select(SupporterLink.id).where(SupporterLink.patient_id == patient_id,
                                                          SupporterLink.supporter_id == supporter_id)
                           .with_for_update())


def _refuse_while_on_hold(patient_id: int, supporter_id: int | None) -> None:
    """A clinical hold suspends the supporter's involvement: a new grant, a renewal or an invitation must not
    sidestep it. The patient sees the hold and its reason."""
    hold = queries.open_hold(patient_id, supporter_id)
    if hold is not None:
        raise ConsentError(_("Sharing with this person is on hold: %(reason)s Only your facilitator can lift the "
                             "hold; until then nothing can be shared with them.", reason=hold.reason),
                           code="on_hold")


def invite_supporter(patient: User, *, email: str, relationship: str, data_classes: list[str],
                     ends_at: datetime | None = None, data_from: datetime | None = None,
                     purpose: str = "") -> tuple[Consent, str]:
    """Invite someone by email; the consent is proposed until they accept, then active."""
    existing = db.session.scalar(select(User.id).where(User.email == account_services.normalise_email(email)))
    _refuse_while_on_hold(patient.id, existing)
    invitation, raw = account_services.create_invitation(
        patient, patient.organisation, RoleName.SUPPORTER, email=email,
        context={"patient_id": patient.id, "relationship": relationship.strip()[:60]})
    consent = _new_consent(patient, supporter_id=None, data_classes=data_classes, ends_at=ends_at,
                           data_from=data_from, purpose=purpose, invitation_id=invitation.id)
    invitation.context = {**invitation.context, "consent_id": consent.id}
    _event(consent, ConsentState.PROPOSED, patient)
    return consent, raw


@signals.invitation_accepted.connect
def on_invitation_accepted(invitation: Invitation, *, user: User) -> None:
    """The invited person joins the patient's circle (a new account, or one that exists: it is linked, not made
    again), and the proposed consent becomes theirs. Refused while a clinical hold on them is in force."""
    context = invitation.context or {}
    if "patient_id" not in context or invitation.role != RoleName.SUPPORTER:
        return
    patient = db.session.get(User, context["patient_id"])
    if patient is None or patient.id == user.id:
        raise account_services.AccountError(_("This invitation cannot be used by this account."))
    _lock_link(patient.id, user.id)
    if queries.open_hold(patient.id, user.id) is not None:
        # The supporter learns only that the invitation cannot be used now, never why (the patient sees the hold).
        raise account_services.AccountError(_("This invitation cannot be used now. Ask the person who invited "
                                               "you."))
    link = queries.link_between(patient.id, user.id)
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
    db.session.flush()



def grant_consent(patient: User, link: SupporterLink, *, data_classes: list[str], ends_at: datetime | None = None,
                  data_from: datetime | None = None, purpose: str = "") -> Consent:
    _lock_link(patient.id, link.supporter_id)
    _refuse_while_on_hold(patient.id, link.supporter_id)
    consent = _new_consent(patient, supporter_id=link.supporter_id, data_classes=data_classes, ends_at=ends_at,
                           data_from=data_from, purpose=purpose)
    _event(consent, ConsentState.ACTIVE, patient)
    notify_supporter(consent)
    return consent


def check_grant(patient: User, link: SupporterLink, *, data_classes: list[str], ends_at: datetime | None = None,
                data_from: datetime | None = None, purpose: str = "") -> None:
    """Refuse, as grant_consent would, terms that could not be granted, and change nothing: the patient is shown
    what the supporter would see only for terms they can then confirm."""
    _refuse_while_on_hold(patient.id, link.supporter_id)
    now = utcnow()
    _check_terms(data_classes, ends_at or now + timedelta(days=DEFAULT_DAYS), data_from or now, now)


def _after_revocation(patient_id: int, supporter_id: int | None) -> None:
    _end_live_access(patient_id, supporter_id)
    if supporter_id is not None:
        signals.sharing_revoked.send(patient_id=patient_id, supporter_id=supporter_id)


def revoke_consent(consent: Consent, by: User) -> None:
    """Stop sharing at once: after this commit no read, socket answer or push reaches the supporter. A clinical hold
    stays in force: revoking a held consent does not lift it."""
    if _revoke(consent, by):
        _after_revocation(consent.patient_id, consent.supporter_id)


def _revoke(consent: Consent, by: User) -> bool:
    state = consent.state_at(utcnow())
    if state in (ConsentState.REVOKED, ConsentState.EXPIRED, ConsentState.RENEWED):
        return False
    _event(consent, ConsentState.REVOKED, by)
    _withdraw_invitation(consent, by)
    return True


def _withdraw_invitation(consent: Consent, by: User) -> None:
    """A proposed consent's invitation goes with it: the link no longer makes an account or joins the circle."""
    if consent.invitation_id is None or consent.supporter_id is not None:
        return
    invitation = db.session.get(Invitation, consent.invitation_id)
    if invitation is not None and invitation.state(utcnow()) == "pending":
        account_services.revoke_invitation(by, invitation)


def stop_sharing_with(patient: User, link: SupporterLink) -> int:
    """One tap: every consent this patient gave this supporter is revoked, and their live page closed."""
    count = sum(_revoke(consent, patient) for consent in consents_between(patient.id, link.supporter_id))
    _after_revocation(patient.id, link.supporter_id)
    return count


def hold_supporter(link: SupporterLink, by: User, reason: str) -> ClinicalHold:
    """A facilitator's clinical hold on the supporter's involvement: at once, every class under every consent is
    refused to them, and until a facilitator lifts it no consent can be given, renewed or accepted."""
    if not reason.strip():
        raise ConsentError(_("Give the reason for the hold; the patient will see it."), "reason")
    _lock_link(link.patient_id, link.supporter_id)
    if queries.open_hold(link.patient_id, link.supporter_id) is not None:
        raise ConsentError(_("Sharing with this person is already on hold."), code="on_hold")
    hold = ClinicalHold(reason=reason.strip()[:1000], placed_by_id=by.id)
    link.holds.append(hold)
    db.session.flush()
    audit.record("supporter_hold", actor=by, subject=link.patient_id, target=f"supporter_link:{link.id}",
                 organisation_id=link.organisation_id, details={"reason": hold.reason})
    now = utcnow()
    for consent in consents_between(link.patient_id, link.supporter_id):
        if consent.state_at(now) == ConsentState.ACTIVE:
            _event(consent, ConsentState.ON_HOLD, by, hold.reason)
    _close_live_page(link.patient_id, link.supporter_id)
    return hold


def lift_hold(link: SupporterLink, by: User) -> None:
    """Only a facilitator lifts a hold: the consents it suspended, and still inside their period, are active again."""
    _lock_link(link.patient_id, link.supporter_id)
    hold = queries.open_hold(link.patient_id, link.supporter_id)
    if hold is None:
        raise ConsentError(_("Sharing with this person is not on hold."), code="not_on_hold")
    hold.lifted_at, hold.lifted_by_id = utcnow(), by.id
    db.session.flush()
    audit.record("supporter_hold_lift", actor=by, subject=link.patient_id, target=f"supporter_link:{link.id}",
                 organisation_id=link.organisation_id)
    now = utcnow()
    for consent in consents_between(link.patient_id, link.supporter_id):
        if consent.state_at(now) == ConsentState.ON_HOLD:
            _event(consent, ConsentState.ACTIVE, by)
            notify_supporter(consent)


def renew_consent(consent: Consent, by: User, ends_at: datetime | None = None) -> Consent:
    """Never silent: the patient asks for it. The renewal carries the same terms over a new period; a consent is
    renewed once (its renewal is renewed in turn)."""
    _lock_link(consent.patient_id, consent.supporter_id)
    state = consent.state_at(utcnow())
    if state not in (ConsentState.ACTIVE, ConsentState.EXPIRED):
        raise ConsentError(_("Only active or ended sharing can be renewed."), code="not_renewable")
    if db.session.scalar(select(Consent.id).where(Consent.renews_id == consent.id).limit(1)) is not None:
        raise ConsentError(_("This sharing has already been renewed."), code="not_renewable")
    _refuse_while_on_hold(consent.patient_id, consent.supporter_id)
    renewal = _new_consent(by, supporter_id=consent.supporter_id, data_classes=consent.data_classes,
                           ends_at=ends_at, data_from=consent.data_from, purpose=consent.purpose, renews=consent)
    if state == ConsentState.ACTIVE:
        _event(consent, ConsentState.RENEWED, by)
    _event(renewal, ConsentState.ACTIVE, by)
    notify_supporter(renewal)
    return renewal


_TERMINAL = queries.ENDED_STATES


def record_expiries(now: datetime | None = None) -> list[Consent]:
    """Write down every expiry that has happened and is not yet in the history (at the consent's end time, with an
    audit row), and end the supporter's live access. Run by the periodic sweep in every app process: each consent's
    row is locked and looked at again, so that two processes sweeping at once write each expiry once."""
    now = now or utcnow()
    has_ended = (select(ConsentEvent.id).where(ConsentEvent.consent_id == Consent.id,
                                               ConsentEvent.state.in_(_TERMINAL)).exists())
    candidates = list(db.session.scalars(select(Consent).where(Consent.ends_at <= now, ~has_ended)
                                         .order_by(Consent.id).with_for_update(skip_locked=True)))
    expired = []
    for consent in candidates:
        # Looked at again under the lock: another process may have written it meanwhile.
        if db.session.scalar(select(ConsentEvent.id).where(ConsentEvent.consent_id == consent.id,
                                                           ConsentEvent.state.in_(_TERMINAL)).limit(1)):
            continue
        _event(consent, ConsentState.EXPIRED, None, at=consent.ends_at)
        expired.append(consent)
    for patient_id, supporter_id in {(c.patient_id, c.supporter_id) for c in expired if c.supporter_id}:
        _end_live_access(patient_id, supporter_id, now)
    return expired


def remind_renewals(now: datetime | None = None) -> list[Consent]:
    """Email the patient once when an active consent is two weeks from its end, and record it, so that the reminder
    is never sent twice (the Sharing page and the home page ask too). Never renews anything."""
    now = now or utcnow()
    due = list(db.session.scalars(select(Consent).where(
        Consent.supporter_id.is_not(None), Consent.renewal_prompted_at.is_(None), Consent.ends_at > now,
        Consent.ends_at <= now + timedelta(days=queries.RENEW_PROMPT_DAYS)).order_by(Consent.id)
        .with_for_update(skip_locked=True)))
    reminded = []
    for consent in due:
        # The row lock re-reads the reminder column (PostgreSQL re-checks a locked row's conditions): never twice.
        renewed = db.session.scalar(select(Consent.id).where(Consent.renews_id == consent.id).limit(1))
        if renewed is not None or consent.state_at(now) != ConsentState.ACTIVE \
                or queries.open_hold(consent.patient_id, consent.supporter_id) is not None:
            continue
        consent.renewal_prompted_at = now
        patient, supporter = consent.patient, consent.supporter
        if (patient.notification_prefs or {}).get("email_reminders", True):
            with force_locale(patient.locale):
                ends = format_date(consent.ends_at.astimezone(ZoneInfo(patient.zone)).date(), "d MMMM y",
                                   locale=patient.locale)
                queue_email(patient.email, _("Sharing with %(name)s ends soon", name=supporter.display_name), _(
                    "Sharing with %(name)s ends on %(date)s.\n\n"
                    "If you would like to keep sharing, open Momentum and renew it on your Sharing page. "
                    "If you do nothing, sharing simply ends.\n", name=supporter.display_name, date=ends))
        audit.record("consent_renewal_reminder", subject=consent.patient_id, target=f"consent:{consent.id}",
                     organisation_id=consent.organisation_id, consent_id=consent.id)
        reminded.append(consent)
    db.session.flush()
    return reminded


def _end_live_access(patient_id: int, supporter_id: int | None, now: datetime | None = None) -> None:
    """Take the supporter's sockets out of the patient's room once nothing is shared with them any more; while
    another consent still allows something, their page is told to refresh (and shows what is left)."""
    if supporter_id is None:
        return
    if queries.permitting_consents(supporter_id, patient_id, now or utcnow()):
        queue_push("shared_update", {"patient_id": patient_id}, shared_room(patient_id, supporter_id))
    else:
        _close_live_page(patient_id, supporter_id)


def _close_live_page(patient_id: int, supporter_id: int) -> None:
    """The open page is told that nothing is shared any more (it empties itself at once, rather than at its next
    refresh), then its sockets leave the room. Both leave after the commit, in this order, through the message queue
    when there is one, so a page on another process hears it too; the notice carries no data and no reason."""
    room = shared_room(patient_id, supporter_id)
    queue_push("shared_ended", {"patient_id": patient_id}, room)
    queue_close_room(room)


def notify_supporter(consent: Consent) -> None:
    if consent.supporter_id is not None:
        queue_push("shared_update", {"patient_id": consent.patient_id},
                   shared_room(consent.patient_id, consent.supporter_id))


def consents_between(patient_id: int, supporter_id: int) -> list[Consent]:
    return list(db.session.scalars(select(Consent).where(Consent.patient_id == patient_id,
                                                         Consent.supporter_id == supporter_id)
                                    .order_by(Consent.created_at)))


def record_access(supporter: User, patient_id: int, allowed: dict[str, Consent]) -> None:
    """One look (a page load, a live refresh, an API read): one access-log row and one audit row per consent it
    read under, with the classes it showed."""
    for consent, data_classes in queries.looks_by_consent(allowed).items():
        db.session.add(AccessLog(consent_id=consent.id, patient_id=patient_id, supporter_id=supporter.id,
                                 data_classes=data_classes))
        db.session.flush()
        audit.record("supporter_read", actor=supporter, subject=patient_id, target=f"data:{','.join(data_classes)}",
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


@signals.patient_data_changed.connect
def _on_patient_data_changed(_sender, *, patient_id: int, data_class: str) -> None:
    """Supporters whose active consent covers the changed class get a nudge to refresh (never the data itself).

    Not for a check-in: the mood summary shows whole weeks only, so one check-in changes nothing a supporter sees,
    and a nudge per check-in would tell them when the patient checked in."""
    if data_class == DataClass.MOOD.value:
        return
    now = utcnow()
    supporters = set(db.session.scalars(select(Consent.supporter_id).where(Consent.patient_id == patient_id,
                                                                           Consent.supporter_id.is_not(None))))
    for supporter_id in supporters:
        if data_class in queries.permitting_consents(supporter_id, patient_id, now):
            queue_push("shared_update", {"patient_id": patient_id}, shared_room(patient_id, supporter_id))

