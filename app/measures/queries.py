"""Reads for measures: the window a schedule has open at a time, what is due to a member, a member's history and
change on each instrument, a group's due, done and missed, and its outcomes (never for fewer than 3 members)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import mean
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select

from app.extensions import db
from app.groups.models import OccurrenceStatus, SessionOccurrence, TherapyGroup
from app.measures.change import Change, change_over_time
from app.measures.instruments import Instrument, definition
from app.measures.models import Frequency, Measure, MeasurePause, MeasureSchedule, MeasureStatus
from app.measures.scoring import Severity, band_ranges, severity
from app.models_base import utcnow

#: How long a periodic or one-off measure stays open.
WINDOW = timedelta(days=7)
#: A "before each session" measure is due from this long before the session until it starts, as services that
#: measure session by session do.
BEFORE_SESSION = timedelta(hours=48)
PERIOD = {Frequency.WEEKLY: timedelta(days=7), Frequency.FORTNIGHTLY: timedelta(days=14)}
#: Group outcomes show no figure behind fewer members than this, so that no one is singled out.
OUTCOME_MINIMUM = 3


@dataclass(frozen=True)
class Window:
    opens_at: datetime
    closes_at: datetime
    occurrence_id: int | None = None


def _monthly_window(schedule: MeasureSchedule, zone: ZoneInfo, now: datetime) -> Window | None:
    local_start = schedule.starts_at.astimezone(zone)
    local_now = now.astimezone(zone)
    months = (local_now.year - local_start.year) * 12 + local_now.month - local_start.month
    for step in (months, months - 1):
        if step < 0:
            continue
        opens = (local_start + relativedelta(months=step)).astimezone(ZoneInfo("UTC"))
        if opens <= now:
            return Window(opens, opens + WINDOW) if now < opens + WINDOW else None
    return None


def _session_window(schedule: MeasureSchedule, now: datetime) -> Window | None:
    occurrence = db.session.scalar(
        select(SessionOccurrence)
        .where(SessionOccurrence.group_id == schedule.group_id, SessionOccurrence.is_circle.is_(False),
               SessionOccurrence.status == OccurrenceStatus.SCHEDULED, SessionOccurrence.starts_at > now,
               SessionOccurrence.starts_at <= now + BEFORE_SESSION,
               SessionOccurrence.starts_at > schedule.starts_at)
        .order_by(SessionOccurrence.starts_at).limit(1))
    if occurrence is None:
        return None
    return Window(occurrence.starts_at - BEFORE_SESSION, occurrence.starts_at, occurrence.id)


def window_at(schedule: MeasureSchedule, now: datetime) -> Window | None:
    """The window of this schedule open at `now`, if one is."""
    if schedule.stopped_at is not None and schedule.stopped_at <= now:
        return None
    if schedule.frequency == Frequency.BEFORE_SESSION:
        return _session_window(schedule, now)
    if now < schedule.starts_at:
        return None
    if schedule.frequency == Frequency.ONCE:
        opens = schedule.starts_at
    elif schedule.frequency == Frequency.MONTHLY:
        return _monthly_window(schedule, ZoneInfo(schedule.group.timezone or "UTC"), now)
    else:
        period = PERIOD[schedule.frequency]
        opens = schedule.starts_at + period * ((now - schedule.starts_at) // period)
    closes = opens + WINDOW
    return Window(opens, closes) if now < closes else None


def running_schedules(patient_id: int | None = None) -> list[MeasureSchedule]:
    query = select(MeasureSchedule).where(MeasureSchedule.stopped_at.is_(None))
    if patient_id is not None:
        query = query.where((MeasureSchedule.patient_id == patient_id) | MeasureSchedule.patient_id.is_(None))
    return list(db.session.scalars(query.order_by(MeasureSchedule.id)))


def schedules_of_group(group: TherapyGroup) -> list[MeasureSchedule]:
    return list(db.session.scalars(select(MeasureSchedule).where(MeasureSchedule.group_id == group.id)
                                   .order_by(MeasureSchedule.stopped_at.is_not(None), MeasureSchedule.id.desc())))


def schedule_in_group(schedule_id: int, group: TherapyGroup) -> MeasureSchedule | None:
    return db.session.scalar(select(MeasureSchedule).where(MeasureSchedule.id == schedule_id,
                                                           MeasureSchedule.group_id == group.id))


def patients_with_window(schedule: MeasureSchedule, opens_at: datetime) -> set[int]:
    return set(db.session.scalars(select(Measure.patient_id).where(Measure.schedule_id == schedule.id,
                                                                   Measure.opens_at == opens_at)))


def paused_patient_ids() -> set[int]:
    return set(db.session.scalars(select(MeasurePause.patient_id).where(MeasurePause.ended_at.is_(None))))


def current_pause(patient_id: int) -> MeasurePause | None:
    return db.session.scalar(select(MeasurePause).where(MeasurePause.patient_id == patient_id,
                                                        MeasurePause.ended_at.is_(None)))


def pauses_of(patient_ids) -> dict[int, MeasurePause]:
    """The current pause of each of these members who paused their measures (one query for a whole group)."""
    ids = list(patient_ids)
    if not ids:
        return {}
    return {pause.patient_id: pause for pause in db.session.scalars(
        select(MeasurePause).where(MeasurePause.patient_id.in_(ids), MeasurePause.ended_at.is_(None)))}


def measure_of(user_id: int, measure_id: int) -> Measure | None:
    return db.session.scalar(select(Measure).where(Measure.id == measure_id, Measure.patient_id == user_id))


def measure_in_organisation(measure_id: int, organisation_id: int | None) -> Measure | None:
    return db.session.scalar(select(Measure).where(Measure.id == measure_id,
                                                   Measure.organisation_id == organisation_id))


def due_for(user_id: int, now: datetime | None = None) -> list[Measure]:
    """What the member may answer now, the soonest to close first."""
    now = now or utcnow()
    return list(db.session.scalars(
        select(Measure).where(Measure.patient_id == user_id, Measure.status == MeasureStatus.DUE,
                              Measure.opens_at <= now, Measure.closes_at > now)
        .order_by(Measure.closes_at, Measure.id)))


def shown_status(measure: Measure, now: datetime | None = None) -> MeasureStatus:
    """Reads never wait for the sweep: a due measure whose window ended reads as missed."""
    now = now or utcnow()
    if measure.status == MeasureStatus.DUE and measure.closes_at <= now:
        return MeasureStatus.MISSED
    return measure.status


def scores(user_id: int, instrument: Instrument, *, group_id: int | None = None, since: datetime | None = None,
           until: datetime | None = None) -> list[Measure]:
    """The member's completed measures on one instrument, oldest first."""
    query = select(Measure).where(Measure.patient_id == user_id, Measure.instrument == instrument,
                                  Measure.status == MeasureStatus.DONE)
    if group_id is not None:
        query = query.where(Measure.group_id == group_id)
    if since is not None:
        query = query.where(Measure.completed_at >= since)
    if until is not None:
        query = query.where(Measure.completed_at <= until)
    return list(db.session.scalars(query.order_by(Measure.completed_at, Measure.id)))


def change_for(user_id: int, instrument: Instrument, *, group_id: int | None = None) -> Change:
    return change_over_time(instrument, [(m.completed_at, m.total) for m in scores(user_id, instrument,
                                                                                    group_id=group_id)])


# What a supporter sees (CLINICAL.md safety rule 3): bands and the trend of totals, never an item --------------------


@dataclass(frozen=True)
class SharedScore:
    completed_at: datetime
    severity: Severity
    #: None where the total could give item 9 away (see shown_total).
    total: int | None


@dataclass(frozen=True)
class SharedBands:
    """One instrument's completed scores inside a consent's data period, oldest first, as a supporter sees them."""

    instrument: Instrument
    scores: list[SharedScore]
    #: "lower" (fewer symptoms), "higher" or "same": the latest score against the first one shown; None below two.
    trend: str | None

    @property
    def latest(self) -> SharedScore | None:
        return self.scores[-1] if self.scores else None


#: The highest PHQ-9 total items 1 to 8 alone can make (8 items x 3).
_WITHOUT_ITEM_9 = sum(max(a.value for a in item.answers) for item in definition(Instrument.PHQ9).items[:-1])


def shown_total(instrument: Instrument, total: int) -> int | None:
    """The total a supporter may read. A PHQ-9 total above 24 is made only with an answer other than 0 on item 9, so
    a number in a band reaching past 24 (severe, 20-27) would give item 9 away: the whole band shows as its name
    alone, whatever the number (CLINICAL.md safety rule 3: a band, a trend, never item 9)."""
    if instrument is Instrument.PHQ9:
        band = next(b for b in band_ranges(instrument) if b.low <= total <= b.high)
        if band.high > _WITHOUT_ITEM_9:
            return None
    return total


def _compared(instrument: Instrument, score: SharedScore) -> int:
    """What the trend compares: the total shown, or for a band shown by its name alone, the band's lowest total."""
    if score.total is not None:
        return score.total
    return next(b.low for b in band_ranges(instrument) if b.severity == score.severity)


def shared_bands(patient_id: int, since: datetime, now: datetime) -> list[SharedBands]:
    """Per instrument the member has completed inside [since, now]: the band of each score and the trend of the
    totals. Item answers, the difficulty question and alerts are not read at all."""
    rows = db.session.execute(
        select(Measure.instrument, Measure.completed_at, Measure.total)
        .where(Measure.patient_id == patient_id, Measure.status == MeasureStatus.DONE,
               Measure.completed_at >= since, Measure.completed_at <= now)
        .order_by(Measure.completed_at, Measure.id)).all()
    shared = []
    for instrument in Instrument:
        scores = [SharedScore(completed_at, severity(instrument, total), shown_total(instrument, total))
                  for row_instrument, completed_at, total in rows if row_instrument == instrument]
        if not scores:
            continue
        trend = None
        if len(scores) >= 2:
            first, latest = _compared(instrument, scores[0]), _compared(instrument, scores[-1])
            trend = "lower" if latest < first else "higher" if latest > first else "same"
        shared.append(SharedBands(instrument, scores, trend))
    return shared


def recent_of_group(group: TherapyGroup, limit: int = 200) -> list[Measure]:
    """The group's measures, latest window first (the facilitator's due, done and missed)."""
    return list(db.session.scalars(
        select(Measure).where(Measure.group_id == group.id, Measure.status != MeasureStatus.WITHDRAWN)
        .order_by(Measure.opens_at.desc(), Measure.id.desc()).limit(limit)))


def latest_windows(measures: list[Measure]) -> list[Measure]:
    """Each member's latest measure on each schedule. `measures`: latest first, as recent_of_group gives them."""
    seen: set[tuple[int, int]] = set()
    latest = []
    for measure in measures:
        key = (measure.schedule_id, measure.patient_id)
        if key not in seen:
            seen.add(key)
            latest.append(measure)
    return latest


def missed_twice_in_a_row(measures: list[Measure], now: datetime | None = None) -> set[int]:
    """Members whose last two ended measures on one instrument were both missed. `measures`: latest first."""
    now = now or utcnow()
    ended: dict[tuple[int, str], list[MeasureStatus]] = {}
    for measure in measures:
        status = shown_status(measure, now)
        if status in (MeasureStatus.DONE, MeasureStatus.MISSED):
            ended.setdefault((measure.patient_id, measure.instrument.value), []).append(status)
    return {patient_id for (patient_id, _instrument), statuses in ended.items()
            if statuses[:2] == [MeasureStatus.MISSED, MeasureStatus.MISSED]}


@dataclass(frozen=True)
class GroupOutcome:
    """One instrument's outcomes over the members of a group with at least two scores in it. With fewer than
    OUTCOME_MINIMUM such members every figure is None (`measured` still says how many there are)."""

    instrument: Instrument
    measured: int
    mean_change: float | None = None
    reliably_improved: float | None = None
    recovered: float | None = None
    reliably_deteriorated: float | None = None
    #: Members at caseness at their first score (recovery is a percentage of these).
    at_caseness: int | None = None

    @property
    def shown(self) -> bool:
        return self.mean_change is not None


def _first_and_latest_scores(group: TherapyGroup) -> list:
    """Each member's first and latest completed score per instrument in the group, and no row between: the page
    costs the same however long the history (the database numbers the rows, Python never sees the middle)."""
    member_instrument = (Measure.patient_id, Measure.instrument)
    numbered = (
        select(Measure.patient_id, Measure.instrument, Measure.completed_at, Measure.total,
               func.row_number().over(partition_by=member_instrument,
                                      order_by=(Measure.completed_at, Measure.id)).label("from_first"),
               func.row_number().over(partition_by=member_instrument,
                                      order_by=(Measure.completed_at.desc(), Measure.id.desc())).label("from_latest"))
        .where(Measure.group_id == group.id, Measure.status == MeasureStatus.DONE)
        .subquery())
    return db.session.execute(
        select(numbered.c.patient_id, numbered.c.instrument, numbered.c.completed_at, numbered.c.total)
        .where((numbered.c.from_first == 1) | (numbered.c.from_latest == 1))).all()


def group_outcomes(group: TherapyGroup) -> list[GroupOutcome]:
    rows = _first_and_latest_scores(group)
    outcomes = []
    for instrument in Instrument:
        per_member: dict[int, list] = {}
        for patient_id, row_instrument, completed_at, total in rows:
            if row_instrument == instrument:
                per_member.setdefault(patient_id, []).append((completed_at, total))
        changes = [change_over_time(instrument, pairs) for pairs in per_member.values() if len(pairs) >= 2]
        if len(changes) < OUTCOME_MINIMUM:
            outcomes.append(GroupOutcome(instrument, len(changes)))
            continue
        cases = [c for c in changes if c.baseline_caseness]
        outcomes.append(GroupOutcome(
            instrument, len(changes),
            mean_change=round(mean(c.change for c in changes), 1),
            reliably_improved=_percent(sum(c.reliable_improvement for c in changes), len(changes)),
            recovered=_percent(sum(c.recovery for c in cases), len(cases)) if len(cases) >= OUTCOME_MINIMUM else None,
            reliably_deteriorated=_percent(sum(c.reliable_deterioration for c in changes), len(changes)),
            at_caseness=len(cases)))
    return outcomes


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole) if whole else 0
