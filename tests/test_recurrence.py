"""Recurring schedules: RFC 5545 rules expanded on local wall-clock time, across daylight-saving changes in two zones.

Europe/Berlin: summer time from Sunday 29 March 2026 (02:00 -> 03:00), winter time from 25 October (03:00 -> 02:00).
America/New_York: summer time from Sunday 8 March 2026 (02:00 -> 03:00), winter time from 1 November (02:00 -> 01:00).
"""

from __future__ import annotations

import time
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from app import recurrence
from app.recurrence import ScheduleError, build_rrule, expand, local_time_kind, to_utc, to_utc_strict

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def local_times(starts: list[datetime], zone: str) -> list[str]:
    return [s.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M") for s in starts]


# A session at 18:00 stays at 18:00 local time, so it moves by an hour in UTC ------------------------------------------


def test_berlin_18h_stays_18h_local_across_the_spring_change():
    starts = expand("FREQ=WEEKLY;COUNT=4", datetime(2026, 3, 19, 18, 0), BERLIN)

    assert starts == [utc(2026, 3, 19, 17), utc(2026, 3, 26, 17), utc(2026, 4, 2, 16), utc(2026, 4, 9, 16)]
    assert {t[-5:] for t in local_times(starts, BERLIN)} == {"18:00"}


def test_berlin_18h_stays_18h_local_across_the_autumn_change():
    starts = expand("FREQ=WEEKLY;COUNT=3", datetime(2026, 10, 15, 18, 0), BERLIN)

    assert starts == [utc(2026, 10, 15, 16), utc(2026, 10, 22, 16), utc(2026, 10, 29, 17)]


def test_new_york_18h_stays_18h_local_across_the_spring_change():
    starts = expand("FREQ=WEEKLY;COUNT=3", datetime(2026, 2, 26, 18, 0), NEW_YORK)

    assert starts == [utc(2026, 2, 26, 23), utc(2026, 3, 5, 23), utc(2026, 3, 12, 22)]
    assert {t[-5:] for t in local_times(starts, NEW_YORK)} == {"18:00"}


def test_new_york_18h_stays_18h_local_across_the_autumn_change():
    starts = expand("FREQ=WEEKLY;COUNT=3", datetime(2026, 10, 22, 18, 0), NEW_YORK)

    assert starts == [utc(2026, 10, 22, 22), utc(2026, 10, 29, 22), utc(2026, 11, 5, 23)]


def test_the_two_zones_change_on_different_dates():
    """Between 8 and 29 March New York is already on summer time and Berlin is not: the gap between them is 5 hours."""
    berlin = expand("FREQ=WEEKLY;COUNT=6", datetime(2026, 3, 5, 18, 0), BERLIN)
    new_york = expand("FREQ=WEEKLY;COUNT=6", datetime(2026, 3, 5, 12, 0), NEW_YORK)

    gaps = [(b - n).total_seconds() / 3600 for b, n in zip(berlin, new_york, strict=True)]
    assert gaps == [-0.0, 1.0, 1.0, 1.0, 0.0, 0.0]


def test_every_other_week_keeps_its_local_time():
    starts = expand(build_rrule(interval_weeks=2, count=3), datetime(2026, 3, 19, 18, 0), BERLIN)

    assert local_times(starts, BERLIN) == ["2026-03-19 18:00", "2026-04-02 18:00", "2026-04-16 18:00"]


def test_an_end_date_includes_a_session_on_that_day():
    starts = expand(build_rrule(until=date(2026, 4, 9)), datetime(2026, 3, 19, 18, 0), BERLIN)

    assert local_times(starts, BERLIN)[-1] == "2026-04-09 18:00"
    assert len(starts) == 4


def test_a_utc_end_as_rfc_5545_writes_it_is_read_in_the_groups_zone():
    """RFC 5545: with a DTSTART in a time zone, UNTIL is given in UTC. 9 April 16:00 UTC is 18:00 in Berlin."""
    starts = expand("FREQ=WEEKLY;UNTIL=20260409T160000Z", datetime(2026, 3, 19, 18, 0), BERLIN)
    assert local_times(starts, BERLIN)[-1] == "2026-04-09 18:00"

    earlier = expand("FREQ=WEEKLY;UNTIL=20260409T155959Z", datetime(2026, 3, 19, 18, 0), BERLIN)
    assert local_times(earlier, BERLIN)[-1] == "2026-04-02 18:00"


def test_a_weekly_rule_on_two_weekdays():
    starts = expand("FREQ=WEEKLY;BYDAY=MO,TH;COUNT=4", datetime(2026, 3, 23, 18, 0), BERLIN)

    assert local_times(starts, BERLIN) == ["2026-03-23 18:00", "2026-03-26 18:00", "2026-03-30 18:00",
                                           "2026-04-02 18:00"]


def test_an_rrule_prefix_and_lower_case_are_accepted():
    assert expand("rrule:freq=weekly;count=2", datetime(2026, 3, 19, 18, 0), BERLIN) == \
        [utc(2026, 3, 19, 17), utc(2026, 3, 26, 17)]


# Local times that do not exist or happen twice ------------------------------------------------------------------------


@pytest.mark.parametrize(("naive", "zone", "kind"), [
    (datetime(2026, 3, 29, 2, 30), BERLIN, "gap"),
    (datetime(2026, 3, 8, 2, 30), NEW_YORK, "gap"),
    (datetime(2026, 3, 8, 2, 30), BERLIN, "ok"),  # New York's gap day is an ordinary day in Berlin
    (datetime(2026, 3, 29, 2, 30), NEW_YORK, "ok"),
    (datetime(2026, 10, 25, 2, 30), BERLIN, "ambiguous"),
    (datetime(2026, 11, 1, 1, 30), NEW_YORK, "ambiguous"),
    (datetime(2026, 11, 1, 1, 30), BERLIN, "ok"),
    (datetime(2026, 3, 29, 3, 0), BERLIN, "ok"),
])
def test_local_time_kind(naive, zone, kind):
    assert local_time_kind(naive, zone) == kind


@pytest.mark.parametrize(("naive", "zone"), [(datetime(2026, 3, 29, 2, 30), BERLIN),
                                             (datetime(2026, 3, 8, 2, 15), NEW_YORK)])
def test_a_typed_time_in_the_spring_forward_gap_is_refused(naive, zone):
    with pytest.raises(ScheduleError) as caught:
        to_utc_strict(naive, zone)
    assert caught.value.code == "nonexistent_local_time"


@pytest.mark.parametrize(("naive", "zone", "first"), [
    (datetime(2026, 10, 25, 2, 30), BERLIN, utc(2026, 10, 25, 0, 30)),  # 02:30 summer time (+02:00)
    (datetime(2026, 11, 1, 1, 30), NEW_YORK, utc(2026, 11, 1, 5, 30)),  # 01:30 EDT (-04:00)
])
def test_an_ambiguous_typed_time_means_its_first_occurrence(naive, zone, first):
    assert to_utc_strict(naive, zone) == first
    assert to_utc(naive, zone) == first


@pytest.mark.parametrize(("first_local", "zone"), [(datetime(2026, 3, 29, 2, 30), BERLIN),
                                                   (datetime(2026, 3, 8, 2, 30), NEW_YORK)])
def test_a_series_cannot_start_in_the_gap(first_local, zone):
    with pytest.raises(ScheduleError) as caught:
        expand("FREQ=WEEKLY;COUNT=3", first_local, zone)
    assert caught.value.code == "nonexistent_local_time"


def test_a_berlin_series_crossing_the_gap_uses_the_offset_before_the_gap():
    """RFC 5545 3.3.5: 02:30 on 29 March does not exist; it is read with +01:00, i.e. 01:30 UTC (03:30 summer time)."""
    starts = expand("FREQ=WEEKLY;COUNT=3", datetime(2026, 3, 22, 2, 30), BERLIN)

    assert starts == [utc(2026, 3, 22, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 4, 5, 0, 30)]
    assert local_times(starts, BERLIN) == ["2026-03-22 02:30", "2026-03-29 03:30", "2026-04-05 02:30"]


def test_a_new_york_series_crossing_the_gap_uses_the_offset_before_the_gap():
    starts = expand("FREQ=WEEKLY;COUNT=3", datetime(2026, 3, 1, 2, 30), NEW_YORK)

    assert starts == [utc(2026, 3, 1, 7, 30), utc(2026, 3, 8, 7, 30), utc(2026, 3, 15, 6, 30)]
    assert local_times(starts, NEW_YORK) == ["2026-03-01 02:30", "2026-03-08 03:30", "2026-03-15 02:30"]


def test_a_berlin_series_on_the_ambiguous_hour_takes_the_first_occurrence():
    starts = expand("FREQ=WEEKLY;COUNT=3", datetime(2026, 10, 18, 2, 30), BERLIN)

    assert starts == [utc(2026, 10, 18, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 11, 1, 1, 30)]


def test_a_new_york_series_on_the_ambiguous_hour_takes_the_first_occurrence():
    starts = expand("FREQ=WEEKLY;COUNT=3", datetime(2026, 10, 25, 1, 30), NEW_YORK)

    assert starts == [utc(2026, 10, 25, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 8, 6, 30)]


# Rules that cannot be used --------------------------------------------------------------------------------------------


def test_a_rule_that_never_ends_is_refused():
    for rule in ("FREQ=WEEKLY", "FREQ=WEEKLY;INTERVAL=2", "RRULE:FREQ=DAILY;BYDAY=MO"):
        with pytest.raises(ScheduleError) as caught:
            expand(rule, datetime(2026, 3, 19, 18, 0), BERLIN)
        assert caught.value.code in ("unbounded", "invalid_rule"), rule
    with pytest.raises(ScheduleError) as caught:
        expand("FREQ=WEEKLY;INTERVAL=1", datetime(2026, 3, 19, 18, 0), BERLIN)
    assert caught.value.code == "unbounded"


def test_building_a_rule_without_an_end_is_refused():
    with pytest.raises(ScheduleError) as caught:
        build_rrule(interval_weeks=1)
    assert caught.value.code == "unbounded"


@pytest.mark.parametrize("rule", ["FREQ=WEEKLY;UNTIL=20260301T000000", "FREQ=WEEKLY;COUNT=0",
                                  "FREQ=WEEKLY;UNTIL=20260319T175959"])
def test_a_schedule_with_no_occurrences_is_refused(rule):
    with pytest.raises(ScheduleError) as caught:
        expand(rule, datetime(2026, 3, 19, 18, 0), BERLIN)
    assert caught.value.code == "no_occurrences"


def test_more_sessions_than_the_limit_are_refused():
    with pytest.raises(ScheduleError) as caught:
        expand(f"FREQ=DAILY;COUNT={recurrence.MAX_OCCURRENCES + 1}", datetime(2026, 3, 19, 18, 0), BERLIN)
    assert caught.value.code == "too_many"
    with pytest.raises(ScheduleError) as caught:
        expand("FREQ=DAILY;UNTIL=20280101T000000", datetime(2026, 3, 19, 18, 0), BERLIN)
    assert caught.value.code == "too_many"
    assert len(expand(f"FREQ=DAILY;COUNT={recurrence.MAX_OCCURRENCES}", datetime(2026, 3, 19, 18, 0), BERLIN)) == \
        recurrence.MAX_OCCURRENCES


@pytest.mark.parametrize("rule", ["FREQ=WEEKLY;UNTIL=20300101T000000", "FREQ=YEARLY;COUNT=5",
                                  "FREQ=MONTHLY;INTERVAL=12;COUNT=5"])
def test_a_series_longer_than_three_years_is_refused(rule):
    """Also when it ends by a count: five yearly sessions span four years."""
    with pytest.raises(ScheduleError) as caught:
        expand(rule, datetime(2026, 3, 19, 18, 0), BERLIN)
    assert caught.value.code == "too_long"


@pytest.mark.parametrize("rule", [
    "FREQ=HOURLY;COUNT=3", "FREQ=MINUTELY;COUNT=3", "FREQ=SECONDLY;COUNT=3", "FREQ=FORTNIGHTLY;COUNT=3", "COUNT=3",
    "FREQ=WEEKLY;COUNT=3;UNTIL=20260501T000000", "FREQ=WEEKLY;COUNT=3;COUNT=4", "FREQ=WEEKLY;COUNT=x",
    "FREQ=WEEKLY;COUNT=-1", "FREQ=WEEKLY;INTERVAL=0;COUNT=3", "FREQ=WEEKLY;INTERVAL=-1;COUNT=3",
    "FREQ=WEEKLY;INTERVAL=99999999999999999999;COUNT=3", "FREQ=WEEKLY;BYDAY=XX;COUNT=3", "FREQ=WEEKLY;BYDAY=2MO;COUNT=3",
    "FREQ=WEEKLY;UNTIL=2026-05-01;", "FREQ=WEEKLY;UNTIL=20261301T000000", "FREQ=WEEKLY;COUNT=3\nRDATE:20260501",
    "DTSTART:20260319T180000\nRRULE:FREQ=WEEKLY;COUNT=3", "FREQ=WEEKLY;COUNT=3;BYHOUR=9,10",
    "FREQ=WEEKLY;COUNT=3;BYSETPOS=3", "FREQ=WEEKLY;COUNT=3;X-NAME=1", "", ";;", "FREQ=WEEKLY;COUNT=\x00",
])
def test_malformed_or_unsupported_rules_are_refused(rule):
    with pytest.raises(ScheduleError) as caught:
        expand(rule, datetime(2026, 3, 19, 18, 0), BERLIN)
    assert caught.value.code in ("invalid_rule", "unbounded")


@pytest.mark.parametrize("rule", [
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=2",  # 30 February never comes
    "FREQ=DAILY;INTERVAL=7;BYDAY=TU;COUNT=1",  # every 7 days from a Thursday never lands on a Tuesday
    "FREQ=MONTHLY;BYDAY=5MO;BYMONTHDAY=1;COUNT=1",
    "FREQ=WEEKLY;BYDAY=MO;BYSETPOS=3;COUNT=1",
    "FREQ=YEARLY;BYYEARDAY=366;BYMONTH=1;COUNT=1",
])
def test_a_rule_that_never_matches_is_answered_at_once(rule):
    """python-dateutil looks for a match up to the year 9999 (seconds of CPU): such rules must not reach it."""
    began = time.perf_counter()
    with pytest.raises(ScheduleError):
        expand(rule, datetime(2026, 3, 19, 18, 0), BERLIN)
    assert time.perf_counter() - began < 0.2


@pytest.mark.parametrize("first_local", [datetime(9999, 12, 31, 23, 0), datetime(1, 1, 1, 0, 30)])
@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
def test_dates_at_the_ends_of_the_calendar_are_refused_not_crashed_on(first_local, zone):
    with pytest.raises(ScheduleError) as caught:
        expand("FREQ=DAILY;COUNT=3", first_local, zone)
    assert caught.value.code == "out_of_range"
    with pytest.raises(ScheduleError):
        to_utc_strict(first_local, zone)
