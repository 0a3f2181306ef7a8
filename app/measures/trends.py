"""What the measure and mood charts draw: a member's scores on each instrument with its severity bands, their change,
and their mood check-ins with the sessions they attended and the small wins they noted, on one time axis.

Every read here is one statement whatever the length of the history, so that a page built from them costs the same
for a year of history and for ten (issue 13, "Bench")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import mean

from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.groups.models import JOINED, Attendance, SessionOccurrence, TherapyGroup
from app.measures.change import HOW_MEASURED, Change, change_over_time
from app.measures.instruments import Instrument, definition
from app.measures.labels import severity_label
from app.measures.models import Measure, MeasureStatus
from app.measures.scoring import band_ranges, severity
from app.progress.models import SmallWin
from app.rooms.models import CheckIn, SafetyAlert
from app.web import date_text, datetime_text

#: The mood chart looks back this far: check-ins are frequent, and the link between doing and mood reads best over
#: recent months. The measure charts show the whole history (a few scores a month at most).
MOOD_PERIOD = timedelta(days=365)
#: Scores shown in the text table before the rest fold away.
TABLE_SHOWN = 12


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class ScoreRow:
    """One completed measure as the table reads it."""

    completed_at: datetime
    total: int
    band: str


@dataclass
class InstrumentTrend:
    instrument: Instrument
    code: str
    title: str
    maximum: int
    rows: list[ScoreRow]
    change: Change
    chart: dict
    summary: str
    figures: list[dict] = field(default_factory=list)


def done_measures(patient_id: int, *, group_id: int | None = None) -> list[Measure]:
    """Every completed measure of the member (in one group when given), oldest first: one statement."""
    query = select(Measure).where(Measure.patient_id == patient_id, Measure.status == MeasureStatus.DONE)
    if group_id is not None:
        query = query.where(Measure.group_id == group_id)
    return list(db.session.scalars(query.order_by(Measure.completed_at, Measure.id)))


def _trend_words(rows: list[ScoreRow], code: str) -> str:
    """What a screen reader hears for the chart: how many scores, from what to what (`rows`: at least one)."""
    first, last = rows[0], rows[-1]
    if len(rows) == 1:
        return _(
            "%(code)s: one score, %(total)d (%(band)s), on %(when)s.",
            code=code,
            total=first.total,
            band=first.band,
            when=date_text(first.completed_at),
        )
    return _(
        "%(code)s: %(n)d scores from %(start)s to %(end)s; the first was %(first)d (%(first_band)s), the latest "
        "%(last)d (%(last_band)s).",
        code=code,
        n=len(rows),
        start=date_text(first.completed_at),
        end=date_text(last.completed_at),
        first=first.total,
        first_band=first.band,
        last=last.total,
        last_band=last.band,
    )


def _figures(change: Change) -> list[dict]:
    """The change figures in reading order, each with its value in words and its "how this is measured" text."""
    how = HOW_MEASURED[change.instrument]

    def yes_no(value):
        return _("Yes") if value else _("No")

    def points(value):
        return "—" if value is None else str(value)

    rci = "—" if change.rci is None else f"{change.rci:+.2f}"
    rows = [
        ("baseline", _("First score"), points(change.baseline)),
        ("latest", _("Latest score"), points(change.latest)),
        ("change", _("Change"), "—" if change.change is None else f"{change.change:+d}"),
        ("rci", _("Reliable Change Index"), rci),
        ("reliable_improvement", _("Reliable improvement"), yes_no(change.reliable_improvement)),
        ("reliable_deterioration", _("Reliable deterioration"), yes_no(change.reliable_deterioration)),
        (
            "caseness",
            _("At the treatment level now"),
            "—" if change.latest_caseness is None else yes_no(change.latest_caseness),
        ),
        ("recovery", _("Recovery"), yes_no(change.recovery)),
        ("reliable_recovery", _("Reliable recovery"), yes_no(change.reliable_recovery)),
        ("response", _("Response"), yes_no(change.response)),
    ]
    if change.remission is not None:
        rows.append(("remission", _("Remission"), yes_no(change.remission)))
    return [{"key": key, "label": label, "value": value, "how": str(how[key])} for key, label, value in rows]


def instrument_trends(measures: list[Measure]) -> list[InstrumentTrend]:
    """One trend per instrument the member has scores on, PHQ-9 first; `measures` from done_measures()."""
    trends = []
    for instrument in Instrument:
        mine = [m for m in measures if m.instrument == instrument]
        if not mine:
            continue
        rows = [ScoreRow(m.completed_at, m.total, severity_label(severity(instrument, m.total))) for m in mine]
        change = change_over_time(instrument, [(m.completed_at, m.total) for m in mine])
        defined = definition(instrument)
        bands = band_ranges(instrument)
        summary = _trend_words(rows, defined.code)
        chart = {
            "kind": "score",
            "label": _("%(code)s total", code=defined.code),
            "min": 0,
            "max": bands[-1].high,
            "bands": [
                {"low": b.low, "high": b.high, "severity": b.severity.value, "label": severity_label(b.severity)}
                for b in bands
            ],
            "points": [
                {"x": _ms(r.completed_at), "y": r.total, "when": date_text(r.completed_at), "band": r.band}
                for r in rows
            ],
        }
        trends.append(
            InstrumentTrend(
                instrument,
                defined.code,
                str(defined.title),
                bands[-1].high,
                rows,
                change,
                chart,
                summary,
                _figures(change),
            )
        )
    return trends


# Mood, sessions attended and small wins on one time axis --------------------------------------------------------------


def mood_checkins(patient_id: int, since: datetime, *, group_id: int | None = None) -> list[tuple[datetime, int]]:
    """(when, mood) of the member's check-ins that gave a mood, oldest first. With a group, the check-ins between
    sessions and those in that group's sessions (what its facilitators see); one statement."""
    query = select(CheckIn.created_at, CheckIn.mood).where(
        CheckIn.user_id == patient_id, CheckIn.mood.is_not(None), CheckIn.created_at >= since
    )
    if group_id is not None:
        in_group = select(SessionOccurrence.id).where(SessionOccurrence.group_id == group_id)
        query = query.where(or_(CheckIn.occurrence_id.is_(None), CheckIn.occurrence_id.in_(in_group)))
    return [(when, mood) for when, mood in db.session.execute(query.order_by(CheckIn.created_at, CheckIn.id))]


def sessions_attended(patient_id: int, since: datetime, *, group_id: int | None = None) -> list[tuple[datetime, str]]:
    """(start, group name) of the sessions the member joined (as recorded by a facilitator), oldest first."""
    query = (
        select(SessionOccurrence.starts_at, TherapyGroup.name)
        .join(Attendance, Attendance.occurrence_id == SessionOccurrence.id)
        .join(TherapyGroup, TherapyGroup.id == SessionOccurrence.group_id)
        .where(Attendance.user_id == patient_id, Attendance.status.in_(JOINED), SessionOccurrence.starts_at >= since)
    )
    if group_id is not None:
        query = query.where(SessionOccurrence.group_id == group_id)
    return [(when, name) for when, name in db.session.execute(query.order_by(SessionOccurrence.starts_at))]


def small_wins(patient_id: int, since: datetime) -> list[tuple[datetime, str]]:
    """(when, text) of the member's own small wins, oldest first: for the member's own page only (goals and wins are
    private unless the member shares them)."""
    rows = db.session.execute(
        select(SmallWin.created_at, SmallWin.text)
        .where(SmallWin.patient_id == patient_id, SmallWin.created_at >= since)
        .order_by(SmallWin.created_at, SmallWin.id)
    )
    return [(when, text) for when, text in rows]


def _week_start(moment: datetime, zone) -> datetime:
    local = moment.astimezone(zone)
    return (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)


def mood_trend(moods, sessions, wins, *, zone, since: datetime, now: datetime) -> dict:
    """The mood chart's data and its text table: one row per week with a check-in, a session or a win."""
    weeks: dict[datetime, dict] = {}

    def week(moment):
        start = _week_start(moment, zone)
        return weeks.setdefault(start, {"start": start, "moods": [], "sessions": 0, "wins": 0})

    for when, mood in moods:
        week(when)["moods"].append(mood)
    for when, _name in sessions:
        week(when)["sessions"] += 1
    for when, _text in wins:
        week(when)["wins"] += 1
    rows = []
    for start in sorted(weeks, reverse=True):
        entry = weeks[start]
        rows.append(
            {
                "week": start,
                "mood": round(mean(entry["moods"]), 1) if entry["moods"] else None,
                "checkins": len(entry["moods"]),
                "sessions": entry["sessions"],
                "wins": entry["wins"],
            }
        )
    chart = {
        "kind": "mood",
        "label": _("Mood (0 lowest, 10 best)"),
        "min": 0,
        "max": 10,
        "end": _ms(now),
        "points": [{"x": _ms(when), "y": mood, "when": datetime_text(when)} for when, mood in moods],
        "sessions": [{"x": _ms(when), "when": datetime_text(when), "text": name} for when, name in sessions],
        "wins": [{"x": _ms(when), "when": date_text(when), "text": text} for when, text in wins],
        "names": {"mood": _("Mood"), "sessions": _("Session attended"), "wins": _("Small win")},
    }
    if moods:
        summary = _(
            "Mood: %(n)d check-ins since %(since)s, averaging %(mean)s out of 10; %(sessions)d sessions "
            "attended and %(wins)d small wins in the same time.",
            n=len(moods),
            since=date_text(since),
            mean=f"{mean(m for _w, m in moods):.1f}",
            sessions=len(sessions),
            wins=len(wins),
        )
    else:
        summary = _(
            "Mood: no check-ins with a mood since %(since)s; %(sessions)d sessions attended and %(wins)d "
            "small wins in the same time.",
            since=date_text(since),
            sessions=len(sessions),
            wins=len(wins),
        )
    return {"chart": chart, "rows": rows, "summary": summary, "empty": not (moods or sessions or wins)}


# Safety alerts of one member in one group -----------------------------------------------------------------------------


def member_alerts(patient_id: int, group_id: int) -> list[SafetyAlert]:
    """The member's safety alerts in the group, open ones first, then newest first; who acknowledged each is loaded
    with them (two statements whatever their number)."""
    return list(
        db.session.scalars(
            select(SafetyAlert)
            .where(SafetyAlert.patient_id == patient_id, SafetyAlert.group_id == group_id)
            .options(selectinload(SafetyAlert.acknowledged_by))
            .order_by(SafetyAlert.acknowledged_at.is_not(None), SafetyAlert.created_at.desc(), SafetyAlert.id.desc())
        )
    )
