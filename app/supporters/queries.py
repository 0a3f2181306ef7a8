"""Reads for sharing pages, the supporter's view and the API. What a supporter may see is computed here from an
active consent's classes and data period, and nothing else: never check-in text, item answers, alerts, notes or
other members."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.accounts.models import Invitation, User
from app.extensions import db
from app.groups.models import Attendance, Membership, MembershipStatus, SessionOccurrence, TherapyGroup
from app.measures import queries as measure_queries
from app.models_base import utcnow
from app.progress import queries as progress_queries
from app.rooms.models import CheckIn
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

RENEW_PROMPT_DAYS = 14
#: States after which a consent allows nothing again.
ENDED_STATES = (ConsentState.REVOKED, ConsentState.EXPIRED, ConsentState.RENEWED)
MOOD_WEEKS = 8
#: A week with fewer check-ins than this is not shown: its average would come close to giving away single check-ins.
MOOD_MIN_CHECKINS = 3
ACCESS_LOG_PAGE = 50
#: Classes a patient may grant ahead of time that have nothing behind them yet: the relapse-prevention plan arrives
#: with the rest of app/progress. Shown as "not available yet", never read, never logged.
UNAVAILABLE_CLASSES = frozenset({DataClass.RELAPSE_HELP.value})


def links_for_patient(patient: User) -> list[SupporterLink]:
    return list(db.session.scalars(select(SupporterLink).where(SupporterLink.patient_id == patient.id)
                                   .order_by(SupporterLink.created_at)))


def link_of_patient(patient: User, link_id: int) -> SupporterLink | None:
    return db.session.scalar(select(SupporterLink).where(SupporterLink.id == link_id,
                                                         SupporterLink.patient_id == patient.id))


def link_in_organisation(link_id: int, organisation_id: int | None) -> SupporterLink | None:
    return db.session.scalar(select(SupporterLink).where(SupporterLink.id == link_id,
                                                         SupporterLink.organisation_id == organisation_id))


def link_between(patient_id: int, supporter_id: int | None) -> SupporterLink | None:
    if supporter_id is None:
        return None
    return db.session.scalar(select(SupporterLink).where(SupporterLink.patient_id == patient_id,
                                                         SupporterLink.supporter_id == supporter_id))


def open_hold(patient_id: int, supporter_id: int | None) -> ClinicalHold | None:
    """The clinical hold in force on this supporter's involvement with this patient, if any."""
    if supporter_id is None:
        return None
    return db.session.scalar(select(ClinicalHold).join(SupporterLink, ClinicalHold.link_id == SupporterLink.id)
                             .where(SupporterLink.patient_id == patient_id,
                                    SupporterLink.supporter_id == supporter_id,
                                    ClinicalHold.lifted_at.is_(None))
                             .order_by(ClinicalHold.id).limit(1))


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


def access_log_page(patient: User, before: int | None = None,
                    size: int = ACCESS_LOG_PAGE) -> tuple[list[AccessLog], int | None]:
    """One page of the looks taken at this patient's data, newest first, and where the next (older) page starts."""
    query = select(AccessLog).where(AccessLog.patient_id == patient.id)
    if before is not None:
        query = query.where(AccessLog.id < before)
    rows = list(db.session.scalars(query.order_by(AccessLog.id.desc()).limit(size + 1)))
    older = rows[size - 1].id if len(rows) > size else None
    return rows[:size], older


def permitting_consents(supporter: User | int, patient_id: int, now: datetime) -> dict[str, Consent]:
    """For each data class the supporter may see of this patient now, the consent that allows it: none at all while
    a clinical hold is in force, whatever each consent's own history says."""
    supporter_id = getattr(supporter, "id", supporter)
    if open_hold(patient_id, supporter_id) is not None:
        return {}
    allowed: dict[str, Consent] = {}
    for consent in db.session.scalars(select(Consent).where(Consent.patient_id == patient_id,
                                                            Consent.supporter_id == supporter_id)
                                      .options(selectinload(Consent.events))):
        for data_class in consent.data_classes:
            if consent.permits(data_class, now):
                # Of two consents for one class, the wider data period wins.
                if data_class not in allowed or consent.data_from < allowed[data_class].data_from:
                    allowed[data_class] = consent
    return allowed


def next_consent_end(now: datetime) -> datetime | None:
    """When the next consent still running ends (the sweep wakes then)."""
    ended = (select(ConsentEvent.id).where(ConsentEvent.consent_id == Consent.id,
                                           ConsentEvent.state.in_(ENDED_STATES)).exists())
    return db.session.scalar(select(func.min(Consent.ends_at)).where(Consent.ends_at > now,
                                                                     Consent.supporter_id.is_not(None), ~ended))


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
    """Active consents ending within two weeks, and ones that have ended without a renewal: ask, never renew. Not
    while a clinical hold is in force (a renewal would be refused; the patient sees the hold instead)."""
    now = utcnow()
    due = []
    consents = consents_for_patient(patient)
    renewed = {c.renews_id for c in consents if c.renews_id}
    held = {link.supporter_id for link in links_for_patient(patient) if link.open_hold is not None}
    for consent in consents:
        if consent.id in renewed or consent.supporter_id is None or consent.supporter_id in held:
            continue
        state = consent.state_at(now)
        if state == ConsentState.ACTIVE and consent.ends_at - now <= timedelta(days=RENEW_PROMPT_DAYS):
            due.append(consent)
        elif state == ConsentState.EXPIRED and now - consent.ends_at <= timedelta(days=RENEW_PROMPT_DAYS):
            due.append(consent)
    return due


def recent_encouragement(patient: User, *, unread_only: bool = False, limit: int = 20) -> list[Encouragement]:
    """The patient's latest notes of encouragement, newest first; the home page shows those not yet marked read."""
    query = select(Encouragement).where(Encouragement.patient_id == patient.id)
    if unread_only:
        query = query.where(Encouragement.read_at.is_(None))
    return list(db.session.scalars(query.order_by(Encouragement.created_at.desc(), Encouragement.id.desc())
                                   .limit(limit)))


# What a supporter sees, per data class --------------------------------------------------------------------------------


@dataclass
class MoodWeek:
    #: The Monday the week starts on, in the patient's time zone.
    week_start: date
    average: float


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(timezone.utc)


def mood_summary(patient: User, since: datetime, now: datetime) -> dict:
    """Weekly averages and a trend from check-ins in the data period; never the text, never a single check-in.

    Weeks run Monday to Sunday in the patient's own time zone. Only weeks that are over are shown (a week still
    filling up would change with each check-in, and the change would give that check-in away), and only weeks with
    at least MOOD_MIN_CHECKINS check-ins; the window is the last MOOD_WEEKS whole weeks, so that it never slides
    through a week one check-in at a time."""
    zone = ZoneInfo(patient.zone)
    today = now.astimezone(zone).date()
    this_monday = today - timedelta(days=today.weekday())
    start = max(since, _local_midnight(this_monday - timedelta(weeks=MOOD_WEEKS), zone))
    end = _local_midnight(this_monday, zone)
    rows = db.session.execute(select(CheckIn.created_at, CheckIn.mood).where(
        CheckIn.user_id == patient.id, CheckIn.created_at >= start, CheckIn.created_at < end,
        CheckIn.mood.is_not(None)))
    weeks: dict[date, list[int]] = {}
    for created_at, mood in rows:
        day = created_at.astimezone(zone).date()
        weeks.setdefault(day - timedelta(days=day.weekday()), []).append(mood)
    summary = [MoodWeek(week, round(sum(moods) / len(moods), 1)) for week, moods in sorted(weeks.items())
               if len(moods) >= MOOD_MIN_CHECKINS]
    trend = None
    if len(summary) >= 2 and summary[-1].week_start - summary[-2].week_start == timedelta(weeks=1):
        change = summary[-1].average - summary[-2].average
        trend = "up" if change >= 0.5 else "down" if change <= -0.5 else "steady"
    return {"weeks": summary, "trend": trend}


def sessions_and_attendance(patient_id: int, since: datetime, now: datetime) -> dict:
    """The patient's upcoming session times and their own attendance since the data period began: no other member."""
    group_ids = list(db.session.scalars(select(Membership.group_id).where(
        Membership.user_id == patient_id, Membership.status == MembershipStatus.ACTIVE)))
    upcoming = list(db.session.scalars(
        select(SessionOccurrence).where(SessionOccurrence.group_id.in_(group_ids), SessionOccurrence.starts_at >= now,
                                        SessionOccurrence.is_circle.is_(False))
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
#: What the API and the page give for a class with nothing behind it yet (UNAVAILABLE_CLASSES).
NOT_AVAILABLE = {"available": False}


class SharedTerm(NamedTuple):
    """One kind of data someone shares with a supporter: from when, until when."""

    data_class: str
    since: datetime
    until: datetime


def in_page_order(classes) -> list[str]:
    order = [c.value for c in DATA_CLASS_ORDER]
    return sorted(set(classes), key=order.index)


def shared_terms(allowed: dict[str, Consent]) -> list[SharedTerm]:
    """What a supporter may see of someone now, kind by kind, in the order of their page."""
    return [SharedTerm(c, allowed[c].data_from, allowed[c].ends_at) for c in in_page_order(allowed)]


def data_periods(allowed: dict[str, Consent]) -> dict[str, datetime]:
    """For each class a supporter may see, where its data period starts (the consent that allows it says)."""
    return {data_class: consent.data_from for data_class, consent in allowed.items()}


def shared_data(supporter: User, patient: User, periods: dict[str, datetime], now: datetime) -> dict:
    """The data for each class in `periods`, each from the start of its data period: what the supporter sees under
    their consents (data_periods), or would see under terms the patient has not confirmed yet (the preview)."""
    data = {}
    for data_class in DATA_CLASS_ORDER:
        since = periods.get(data_class.value)
        if since is None:
            continue
        if data_class.value in UNAVAILABLE_CLASSES:
            data[data_class.value] = dict(NOT_AVAILABLE)
        elif data_class == DataClass.MOOD:
            data[data_class.value] = mood_summary(patient, since, now)
        elif data_class == DataClass.SESSIONS:
            data[data_class.value] = sessions_and_attendance(patient.id, since, now)
        elif data_class == DataClass.GOALS:
            data[data_class.value] = progress_queries.shared_goals(supporter, patient, since)
        elif data_class == DataClass.MEASURES:
            # Bands and the trend of totals, never an item or an alert (CLINICAL.md safety rule 3).
            data[data_class.value] = {"instruments": measure_queries.shared_bands(patient.id, since, now)}
        elif data_class == DataClass.ENCOURAGEMENT:
            data[data_class.value] = {"sent": encouragement_sent(supporter.id, patient.id, since)}
    return data


def looks_by_consent(allowed: dict[str, Consent]) -> dict[Consent, list[str]]:
    """What one read shows, grouped by the consent that allows it, for the access log: classes with nothing behind
    them are not a look at anything."""
    looks: dict[Consent, list[str]] = {}
    for data_class, consent in sorted(allowed.items()):
        if data_class not in UNAVAILABLE_CLASSES:
            looks.setdefault(consent, []).append(data_class)
    return looks
