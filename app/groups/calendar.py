"""iCalendar (RFC 5545) for sessions: local times with their VTIMEZONE, so calendars keep 18:00 at 18:00."""

from __future__ import annotations

from flask import current_app
from icalendar import Calendar, Event

from app.groups.models import OccurrenceStatus, SessionOccurrence
from app.groups.recurrence import to_local
from app.models_base import utcnow


def build_calendar(name: str, occurrences: list[SessionOccurrence]) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Momentum//Therapy groups//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    stamp = utcnow()
    host = current_app.config.get("SERVER_NAME") or "momentum.local"
    for occurrence in occurrences:
        group = occurrence.group
        event = Event()
        event.add("uid", f"session-{occurrence.id}@{host}")
        event.add("dtstamp", stamp)
        event.add("dtstart", to_local(occurrence.starts_at, group.timezone))
        event.add("dtend", to_local(occurrence.ends_at, group.timezone))
        event.add("summary", group.name)
        if occurrence.effective_location:
            event.add("location", occurrence.effective_location)
        if occurrence.effective_video_link:
            event.add("url", occurrence.effective_video_link)
        if occurrence.status == OccurrenceStatus.CANCELLED:
            event.add("status", "CANCELLED")
            event.add("description", occurrence.cancel_reason)
        else:
            event.add("status", "CONFIRMED")
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()
