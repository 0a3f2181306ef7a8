"""Recurring times: RFC 5545 RRULEs expanded in a local time zone (a group's sessions), with RFC 5545's rules for DST.

A session at 18:00 Berlin stays at 18:00 Berlin: the rule is expanded on local wall-clock times, then each is converted
to UTC. RFC 5545 section 3.3.5: an ambiguous local time (clocks go back) means its first occurrence; a local time in
the spring-forward gap is read with the UTC offset from before the gap (PEP 495's fold=0 does exactly both).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from app.refusal import Refusal

#: The most occurrences one series may produce; a rule must end by count or by date.
MAX_OCCURRENCES = 260
#: The furthest a series may reach.
MAX_SPAN = timedelta(days=3 * 366)
#: The years a session may be in.
YEARS = (1970, 2200)
#: The longest gap between sessions a rule may ask for, in its own unit (days, weeks, months or years).
MAX_INTERVAL = 52
#: The RRULE parts a schedule may use; see _checked_rule for why the others are refused.
ALLOWED_PARTS = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "WKST")
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_WEEKDAY = re.compile(r"([+-]?[1-5])?(MO|TU|WE|TH|FR|SA|SU)")


class ScheduleError(Refusal):
    """The schedule cannot be used; `code` says why so that pages and the API can explain it."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(code=code)
        self.detail = detail


def local_time_kind(naive: datetime, zone: str) -> str:
    """'ok', 'gap' (does not exist: clocks went forward) or 'ambiguous' (happens twice: clocks went back)."""
    if not YEARS[0] <= naive.year <= YEARS[1]:
        # Near the years 1 and 9999 the conversion to UTC overflows; no session is planned that far away.
        raise ScheduleError("out_of_range", naive.isoformat(timespec="minutes"))
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


def _checked_rule(text: str, zone: str) -> str:
    """The rule as python-dateutil should read it, or ScheduleError.

    Only parts whose combinations produce a session in every period are accepted: python-dateutil searches a rule that
    never matches (BYMONTH=2;BYMONTHDAY=30, a BYSETPOS beyond the set, DAILY;INTERVAL=7;BYDAY= another weekday) up to
    the year 9999, seconds of CPU for one request; INTERVAL=0 repeats the first session. A UTC UNTIL (RFC 5545's form
    when DTSTART has a time zone) becomes the zone's wall-clock time, and a date-only UNTIL includes that day.
    """
    parts = _rule_parts(text)
    freq = parts.get("FREQ")
    if freq not in ("DAILY", "WEEKLY", "MONTHLY", "YEARLY"):
        raise ScheduleError("invalid_rule", "frequency")
    _check_bounds(parts)
    if "BYDAY" in parts:
        for day in parts["BYDAY"].split(","):
            match = _WEEKDAY.fullmatch(day)
            if match is None or freq == "DAILY" or (match.group(1) and freq == "WEEKLY"):
                raise ScheduleError("invalid_rule", "BYDAY")
    if "WKST" in parts and parts["WKST"] not in _WEEKDAYS:
        raise ScheduleError("invalid_rule", "WKST")
    if "UNTIL" in parts:
        parts["UNTIL"] = _local_until(parts["UNTIL"], zone)
    return ";".join(f"{key}={value}" for key, value in parts.items())


def _rule_parts(text: str) -> dict[str, str]:
    """KEY=value pieces, each allowed and given once."""
    parts: dict[str, str] = {}
    for piece in text.split(";"):
        key, sep, value = piece.partition("=")
        if not sep or not value or key not in ALLOWED_PARTS or key in parts:
            raise ScheduleError("invalid_rule", piece)
        parts[key] = value
    return parts


def _check_bounds(parts: dict[str, str]) -> None:
    """One end (a COUNT or an UNTIL, never both: RFC 5545), and an interval and a count the series can hold."""
    if "COUNT" in parts and "UNTIL" in parts:
        raise ScheduleError("invalid_rule", "COUNT and UNTIL")
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise ScheduleError("unbounded")
    if "INTERVAL" in parts and not (re.fullmatch(r"[0-9]{1,3}", parts["INTERVAL"])
                                    and 1 <= int(parts["INTERVAL"]) <= MAX_INTERVAL):
        raise ScheduleError("invalid_rule", "INTERVAL")
    if "COUNT" in parts:
        if not re.fullmatch(r"[0-9]{1,9}", parts["COUNT"]):
            raise ScheduleError("invalid_rule", "COUNT")
        if int(parts["COUNT"]) == 0:
            raise ScheduleError("no_occurrences")
        if int(parts["COUNT"]) > MAX_OCCURRENCES:
            raise ScheduleError("too_many")


def _local_until(value: str, zone: str) -> str:
    """UNTIL as the zone's wall-clock time: a UTC one converted, a date-only one at the end of that day."""
    match = re.fullmatch(r"([0-9]{8})(T[0-9]{6}Z?)?", value)
    if match is None:
        raise ScheduleError("invalid_rule", "UNTIL")
    try:
        until = datetime.strptime(match.group(1) + (match.group(2) or "T235959").rstrip("Z"), "%Y%m%dT%H%M%S")
    except ValueError:
        raise ScheduleError("invalid_rule", "UNTIL") from None
    if value.endswith("Z"):
        until = until.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return until.strftime("%Y%m%dT%H%M%S")


def expand(rule: str, dtstart_local: datetime, zone: str) -> list[datetime]:
    """Every start of the series, in UTC. Refuses rules that never end, produce nothing, or produce too much."""
    if local_time_kind(dtstart_local, zone) == "gap":
        raise ScheduleError("nonexistent_local_time", dtstart_local.isoformat(timespec="minutes"))
    text = rule.strip().upper()
    if text.startswith("RRULE:"):
        text = text[len("RRULE:"):]
    if "\n" in text or "DTSTART" in text:
        raise ScheduleError("invalid_rule")
    text = _checked_rule(text, zone)
    try:
        parsed = rrulestr(text, dtstart=dtstart_local)
    except (ValueError, TypeError, OverflowError) as error:
        raise ScheduleError("invalid_rule", str(error)) from None
    if parsed._until is not None and parsed._until - dtstart_local > MAX_SPAN:
        raise ScheduleError("too_long")
    starts = []
    for local in parsed:
        if local - dtstart_local > MAX_SPAN:
            raise ScheduleError("too_long")
        starts.append(to_utc(local, zone))
        if len(starts) > MAX_OCCURRENCES:
            raise ScheduleError("too_many")
    if not starts:
        raise ScheduleError("no_occurrences")
    return starts
