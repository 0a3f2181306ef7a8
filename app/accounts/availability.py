"""When a member is usually free: weekday and part-of-day slots in their own zone ("tue-evening"), and those slots as
UTC hours of one reference week, so that two people in different zones can be compared (peer pair suggestions)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

UTC = ZoneInfo("UTC")
HOURS_IN_WEEK = 7 * 24

#: Weekday keys, Monday first (date.weekday() order).
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class PartOfDay(StrEnum):
    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"
    #: Never offered as a slot; names the hours outside the three parts when overlap is read in another zone.
    NIGHT = "night"


#: Local hours [start, end) of each part a member may choose. A product choice (the parts of a day as people name
#: them), not a clinical figure.
PART_HOURS = {PartOfDay.MORNING: (8, 12), PartOfDay.AFTERNOON: (12, 17), PartOfDay.EVENING: (17, 22)}
CHOOSABLE_PARTS = tuple(PART_HOURS)
#: Every slot a member may choose, in the order the profile form shows them.
SLOTS = tuple(f"{day}-{part}" for day in DAYS for part in CHOOSABLE_PARTS)


SLOTS_REFUSED = _l("Choose your usual free times from the list: a day and a morning, afternoon or evening.")


def only_slots(value: object) -> bool:
    """Whether `value` is a list of known slots (what a form or a JSON body may set)."""
    return isinstance(value, list) and all(isinstance(slot, str) and slot in SLOTS for slot in value)


def in_order(slots: list[str]) -> list[str]:
    """The known slots, once each, in the form's order (what is stored)."""
    chosen = set(slots)
    return [slot for slot in SLOTS if slot in chosen]


def week_start(today: date) -> datetime:
    """Monday 00:00 UTC of the week holding `today`: the reference week whose zone offsets (summer or winter time)
    the comparison uses."""
    monday = today - timedelta(days=today.weekday())
    return datetime.combine(monday, time(0), tzinfo=UTC)


def utc_hours(slots: list[str], zone: str, start: datetime) -> frozenset[int]:
    """The hours of the reference week (0 = Monday 00:00 UTC, wrapping at the week's end) that `slots`, read in
    `zone`, cover. An hour that starts at a half-hour offset counts as the UTC hour it starts in."""
    tz = ZoneInfo(zone)
    monday = start.date()
    hours = set()
    for slot in slots:
        if slot not in SLOTS:
            continue
        day, part = slot.split("-")
        first, end = PART_HOURS[PartOfDay(part)]
        local_day = monday + timedelta(days=DAYS.index(day))
        for hour in range(first, end):
            instant = datetime.combine(local_day, time(hour), tzinfo=tz).astimezone(UTC)
            hours.add(int((instant - start).total_seconds() // 3600) % HOURS_IN_WEEK)
    return frozenset(hours)


def part_of(hour: int) -> PartOfDay:
    for part, (first, end) in PART_HOURS.items():
        if first <= hour < end:
            return part
    return PartOfDay.NIGHT


def local_periods(hours: frozenset[int] | set[int], zone: str, start: datetime) -> list[tuple[int, PartOfDay]]:
    """The (weekday, part of day) periods the UTC `hours` fall in, read in `zone`: the period with the most hours
    first, then in the week's order."""
    tz = ZoneInfo(zone)
    counts: Counter[tuple[int, PartOfDay]] = Counter()
    for hour in hours:
        local = (start + timedelta(hours=hour)).astimezone(tz)
        counts[(local.weekday(), part_of(local.hour))] += 1
    order = list(PartOfDay)
    return sorted(counts, key=lambda p: (-counts[p], p[0], order.index(p[1])))
