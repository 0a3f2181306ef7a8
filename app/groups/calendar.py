"""Calendar feeds (secret, revocable feed URLs) and iCalendar (RFC 5545) for sessions: local times with their
VTIMEZONE, so calendars keep 18:00 at 18:00.

A calendar that imported a session recognises a later copy by its UID and keeps the copy with the higher SEQUENCE
(RFC 5545 3.8.7.4); DTSTAMP and LAST-MODIFIED are when the session last changed, not when the feed was fetched, so
fetching twice gives the same event and a moved session replaces the one imported before.
"""

from __future__ import annotations

from flask import current_app
from icalendar import Calendar, Event
from sqlalchemy import select

from app import audit
from app.accounts import services as account_services
from app.accounts.models import User
from app.extensions import db
from app.groups.models import CalendarFeed, OccurrenceStatus, SessionOccurrence
from app.input_checks import one_line
from app.models_base import utcnow
from app.recurrence import to_local


def build_calendar(name: str, occurrences: list[SessionOccurrence]) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Momentum//Therapy groups//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", one_line(name))
    host = current_app.config.get("SERVER_NAME") or "momentum.local"
    now = utcnow()
    for occurrence in occurrences:
        group = occurrence.group
        # The group's name, link and place show in every event: a change to them is a change to the event too.
        modified = max(occurrence.updated_at or occurrence.created_at, group.updated_at or group.created_at)
        cancelled = occurrence.status == OccurrenceStatus.CANCELLED
        sequence = occurrence.sequence or 0
        if not cancelled and group.is_closed_for_changes and occurrence.starts_at > now:
            # A group that ended before its sessions were cancelled with it holds no more sessions all the same.
            cancelled, sequence = True, sequence + 1
        event = Event()
        event.add("uid", f"session-{occurrence.id}@{host}")
        event.add("dtstamp", modified)
        event.add("last-modified", modified)
        event.add("sequence", sequence)
        event.add("dtstart", to_local(occurrence.starts_at, group.timezone))
        event.add("dtend", to_local(occurrence.ends_at, group.timezone))
        # Names, places and links are one line; what an older version let in is written as one line all the same.
        event.add("summary", one_line(group.name))
        if occurrence.effective_location:
            event.add("location", one_line(occurrence.effective_location))
        if occurrence.effective_video_link:
            event.add("url", one_line(occurrence.effective_video_link).replace(" ", "%20"))
        if cancelled:
            event.add("status", "CANCELLED")
            if occurrence.cancel_reason:
                event.add("description", occurrence.cancel_reason)
        else:
            event.add("status", "CONFIRMED")
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()


# Calendar feeds -------------------------------------------------------------------------------------------------------


def create_calendar_feed(user: User) -> tuple[CalendarFeed, str]:
    """A new secret feed URL; an earlier one stops working."""
    for feed in db.session.scalars(select(CalendarFeed).where(CalendarFeed.user_id == user.id,
                                                              CalendarFeed.revoked_at.is_(None))):
        feed.revoked_at = utcnow()
    raw = account_services.new_token()
    feed = CalendarFeed(user_id=user.id, token_hash=account_services.hash_token(raw))
    db.session.add(feed)
    db.session.flush()
    audit.record("calendar_feed_create", actor=user, subject=user, target=f"calendar_feed:{feed.id}")
    return feed, raw


def revoke_calendar_feeds(user: User) -> None:
    for feed in db.session.scalars(select(CalendarFeed).where(CalendarFeed.user_id == user.id,
                                                              CalendarFeed.revoked_at.is_(None))):
        feed.revoked_at = utcnow()
    db.session.flush()
    audit.record("calendar_feed_revoke", actor=user, subject=user)


def find_calendar_feed(raw: str) -> CalendarFeed | None:
    if not raw or len(raw) > 200:
        return None
    return db.session.scalar(select(CalendarFeed).where(
        CalendarFeed.token_hash == account_services.hash_token(raw), CalendarFeed.revoked_at.is_(None)))
