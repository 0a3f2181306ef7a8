"""Recurring schedules: RFC 5545 RRULEs expanded in the group's time zone, with RFC 5545's rules for DST.

A session at 18:00 Berlin stays at 18:00 Berlin: the rule is expanded on local wall-clock times, then each is converted
to UTC. RFC 5545 section 3.3.5: an ambiguous local time (clocks go back) means its first occurrence; a local time in
the spring-forward gap is read with the UTC offset from before the gap (PEP 495's fold=0 does exactly both).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrulestr

#: The most occurrences one series may produce; a rule must end by count or by date.
MAX_OCCURRENCES = 260
#: The furthest a series may reach.
MAX_SPAN = timedelta(days=3 * 366)
ALLOWED_FREQUENCIES = {DAILY, WEEKLY, MONTHLY, YEARLY}


class ScheduleError(ValueError):
    """The schedule cannot be used; `code` says why so that pages and the API can explain it."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(code)
        self.code = code
        self.detail = detail


def local_time_kind(naive: datetime, zone: str) -> str:
    """'ok', 'gap' (does not exist: clocks went forward) or 'ambiguous' (happens twice: clocks went back)."""
    tz = ZoneInfo(zone)
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    round_trip = first.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None)
    if round_trip != naive:
        return "gap"
    if first.utcoffset() != second.utcoffset():
        return "ambiguous"
    return "ok"


def to_utc(naive: datetime, zone: str) -> datetime:
    """RFC 5545: ambiguous -> first occurrence; in the gap -> the offset before the gap (fold=0 in both cases)."""
    return naive.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(timezone.utc)


def to_utc_strict(naive: datetime, zone: str) -> datetime:
    """For a time a person typed: a time that does not exist is refused rather than silently shifted."""
    if local_time_kind(naive, zone) == "gap":
        raise ScheduleError("nonexistent_local_time", naive.isoformat(timespec="minutes"))
    return to_utc(naive, zone)


def to_local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def build_rrule(*, interval_weeks: int = 1, count: int | None = None, until: date | None = None,
                byday: str | None = None) -> str:
    """A weekly (or every-n-weeks) rule ending after `count` sessions or on `until` (inclusive)."""
    if not count and not until:
        raise ScheduleError("unbounded")
    parts = ["FREQ=WEEKLY", f"INTERVAL={int(interval_weeks)}"]
    if byday:
        parts.append(f"BYDAY={byday}")
    if count:
        parts.append(f"COUNT={int(count)}")
    else:
        parts.append("UNTIL=" + datetime.combine(until, time(23, 59, 59)).strftime("%Y%m%dT%H%M%S"))
    return ";".join(parts)


def expand(rule: str, dtstart_local: datetime, zone: str) -> list[datetime]:
    """Every start of the series, in UTC. Refuses rules that never end, produce nothing, or produce too much."""
    if local_time_kind(dtstart_local, zone) == "gap":
        raise ScheduleError("nonexistent_local_time", dtstart_local.isoformat(timespec="minutes"))
    text = rule.strip().upper()
    if text.startswith("RRULE:"):
        text = text[len("RRULE:"):]
    if "\n" in text or "DTSTART" in text:
        raise ScheduleError("invalid_rule")
    try:
        parsed = rrulestr(text, dtstart=dtstart_local)
    except (ValueError, TypeError, OverflowError) as error:
        raise ScheduleError("invalid_rule", str(error)) from None
    if parsed._freq not in ALLOWED_FREQUENCIES:
        raise ScheduleError("invalid_rule", "frequency")
    if parsed._count is None and parsed._until is None:
        raise ScheduleError("unbounded")
    if parsed._until is not None and parsed._until - dtstart_local > MAX_SPAN:
        raise ScheduleError("too_long")
    starts = []
    for local in parsed:
        starts.append(to_utc(local, zone))
        if len(starts) > MAX_OCCURRENCES:
            raise ScheduleError("too_many")
    if not starts:
        raise ScheduleError("no_occurrences")
    return starts
