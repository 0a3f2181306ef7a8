"""Reads for sharing pages, the supporter's view and the API. What a supporter may see is computed here from an
active consent's classes and data period, and nothing else: never check-in text, item answers, alerts, notes or
other members."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.accounts.models import Invitation, User
from app.extensions import db
from app.models_base import utcnow
from app.supporters.models import AccessLog, Consent, ConsentState, DataClass, Encouragement, SupporterLink

RENEW_PROMPT_DAYS = 14
MOOD_WEEKS = 8


def links_for_patient(patient: User) -> list[SupporterLink]:
    return list(db.session.scalars(select(SupporterLink).where(SupporterLink.patient_id == patient.id)
                                   .order_by(SupporterLink.created_at)))


def link_of_patient(patient: User, link_id: int) -> SupporterLink | None:
    return db.session.scalar(select(SupporterLink).where(SupporterLink.id == link_id,
                                                         SupporterLink.patient_id == patient.id))


def consents_for_patient(patient: User) -> list[Consent]:
    return list(db.session.scalars(select(Consent).where(Consent.patient_id == patient.id)
                                   .order_by(Consent.created_at.desc())))


def pending_invitations(patient: User) -> list[tuple[Consent, Invitation]]:
    """Consents waiting for the invited person to accept, with their invitation (whose email the patient knows)."""
    now = utcnow()
    rows = db.session.execute(select(Consent, Invitation).join(Invitation, Consent.invitation_id == Invitation.id)
                              .where(Consent.patient_id == patient.id, Consent.supporter_id.is_(None))
                              .order_by(Consent.created_at.desc()))
    return [(consent, invitation) for consent, invitation in rows
            if consent.state_at(now) == ConsentState.PROPOSED]


def consent_in_organisation(consent_id: int, organisation_id: int | None) -> Consent | None:
    return db.session.scalar(select(Consent).where(Consent.id == consent_id,
                                                   Consent.organisation_id == organisation_id))


def consents_for_supporter(supporter: User) -> list[Consent]:
    return list(db.session.scalars(select(Consent).where(Consent.supporter_id == supporter.id)
                                   .order_by(Consent.created_at.desc())))


def access_log_for_patient(patient: User, limit: int = 100) -> list[AccessLog]:
    return list(db.session.scalars(select(AccessLog).where(AccessLog.patient_id == patient.id)
                                   .order_by(AccessLog.at.desc()).limit(limit)))


def permitting_consents(supporter: User, patient_id: int, now: datetime) -> dict[str, Consent]:
    """For each data class the supporter may see of this patient now, the consent that allows it."""
    allowed: dict[str, Consent] = {}
    for consent in db.session.scalars(select(Consent).where(Consent.patient_id == patient_id,
                                                            Consent.supporter_id == supporter.id)
                                      .options(selectinload(Consent.events))):
        for data_class in consent.data_classes:
            if consent.permits(data_class, now):
                # Of two consents for one class, the wider data period wins.
                if data_class not in allowed or consent.data_from < allowed[data_class].data_from:
                    allowed[data_class] = consent
    return allowed


def patients_sharing_with(supporter: User) -> list[tuple[User, dict[str, Consent]]]:
    now = utcnow()
    patients = {}
    for consent in consents_for_supporter(supporter):
        if consent.patient_id not in patients:
            allowed = permitting_consents(supporter, consent.patient_id, now)
            if allowed:
                patients[consent.patient_id] = (consent.patient, allowed)
    return list(patients.values())


def renewals_due(patient: User) -> list[Consent]:
    """Active consents ending within two weeks, and ones that have ended without a renewal: ask, never renew."""
    now = utcnow()
    due = []
    renewed = {c.renews_id for c in consents_for_patient(patient) if c.renews_id}
    for consent in consents_for_patient(patient):
        if consent.id in renewed or consent.supporter_id is None:
            continue
        state = consent.state_at(now)
        if state == ConsentState.ACTIVE and consent.ends_at - now <= timedelta(days=RENEW_PROMPT_DAYS):
            due.append(consent)
        elif state == ConsentState.EXPIRED and now - consent.ends_at <= timedelta(days=RENEW_PROMPT_DAYS):
            due.append(consent)
    return due


def unread_encouragement(patient: User) -> list[Encouragement]:
    return list(db.session.scalars(select(Encouragement).where(Encouragement.patient_id == patient.id)
                                   .order_by(Encouragement.created_at.desc()).limit(20)))


# What a supporter sees, per data class --------------------------------------------------------------------------------


@dataclass
class MoodWeek:
    week_start: datetime
    average: float
    count: int


def mood_summary(patient_id: int, since: datetime, now: datetime) -> dict:
    """Weekly averages and a trend from check-ins in the data period; never the text, never a single check-in."""
    from app.groups.models import CheckIn

    start = max(since, now - timedelta(weeks=MOOD_WEEKS))
    rows = db.session.scalars(select(CheckIn).where(CheckIn.user_id == patient_id, CheckIn.created_at >= start,
                                                    CheckIn.created_at <= now, CheckIn.mood.is_not(None)))
    weeks: dict[datetime, list[int]] = {}
    for checkin in rows:
        day = checkin.created_at.replace(hour=0, minute=0, second=0, microsecond=0)
        week_start = day - timedelta(days=day.weekday())
        weeks.setdefault(week_start, []).append(checkin.mood)
    summary = [MoodWeek(w, round(sum(v) / len(v), 1), len(v)) for w, v in sorted(weeks.items())]
    trend = None
    if len(summary) >= 2:
        change = summary[-1].average - summary[-2].average
        trend = "up" if change >= 0.5 else "down" if change <= -0.5 else "steady"
    return {"weeks": summary, "trend": trend}


def sessions_and_attendance(patient_id: int, since: datetime, now: datetime) -> dict:
    """The patient's upcoming session times and their own attendance since the data period began: no other member."""
    from app.groups.models import Attendance, Membership, MembershipStatus, SessionOccurrence, TherapyGroup

    group_ids = list(db.session.scalars(select(Membership.group_id).where(
        Membership.user_id == patient_id, Membership.status == MembershipStatus.ACTIVE)))
    upcoming = list(db.session.scalars(
        select(SessionOccurrence).where(SessionOccurrence.group_id.in_(group_ids), SessionOccurrence.starts_at >= now)
        .order_by(SessionOccurrence.starts_at).limit(5))) if group_ids else []
    attended = list(db.session.execute(
        select(Attendance.status, SessionOccurrence.starts_at, TherapyGroup.name)
        .join(SessionOccurrence, Attendance.occurrence_id == SessionOccurrence.id)
        .join(TherapyGroup, SessionOccurrence.group_id == TherapyGroup.id)
        .where(Attendance.user_id == patient_id, SessionOccurrence.starts_at >= since,
               SessionOccurrence.starts_at <= now)
        .order_by(SessionOccurrence.starts_at.desc()).limit(12)))
    return {"upcoming": upcoming, "attendance": attended}


def encouragement_sent(supporter_id: int, patient_id: int, since: datetime) -> list[Encouragement]:
    return list(db.session.scalars(select(Encouragement).where(
        Encouragement.supporter_id == supporter_id, Encouragement.patient_id == patient_id,
        Encouragement.created_at >= since).order_by(Encouragement.created_at.desc()).limit(20)))


DATA_CLASS_ORDER = [DataClass.SESSIONS, DataClass.GOALS, DataClass.MOOD, DataClass.MEASURES, DataClass.RELAPSE_HELP,
                    DataClass.ENCOURAGEMENT]


def shared_data(supporter: User, patient_id: int, allowed: dict[str, Consent], now: datetime) -> dict:
    """The data for each allowed class, each limited to its consent's data period."""
    data = {}
    for data_class in DATA_CLASS_ORDER:
        consent = allowed.get(data_class.value)
        if consent is None:
            continue
        since = consent.data_from
        if data_class == DataClass.MOOD:
            data[data_class.value] = mood_summary(patient_id, since, now)
        elif data_class == DataClass.SESSIONS:
            data[data_class.value] = sessions_and_attendance(patient_id, since, now)
        elif data_class == DataClass.ENCOURAGEMENT:
            data[data_class.value] = {"sent": encouragement_sent(supporter.id, patient_id, since)}
        else:
            # Goals, measures and the relapse-prevention plan are shared here once the patient has them.
            data[data_class.value] = None
    return data
