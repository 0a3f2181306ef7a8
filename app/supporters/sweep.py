"""The periodic sweep: every CONSENT_SWEEP_SECONDS, and as soon as a consent ends if that is sooner, each app process
writes down the expiries that have happened (and ends the supporters' live access), sends the renewal reminders
that are due, and opens the measures whose windows have begun (recording the missed ones). Reads never write: until
the sweep has run, an ended consent is simply read as ended, and an ended measure as missed."""

from __future__ import annotations

import threading

from flask import Flask, current_app

from app.extensions import db, socketio
from app.measures import services as measure_services
from app.models_base import utcnow
from app.supporters import queries, services

_start_lock = threading.Lock()


#: However soon the next consent ends, passes are at least this far apart (seconds).
MIN_WAIT = 0.5


def sweep_once(app: Flask) -> float | None:
    """One pass, committed on its own like a request (its pushes and emails leave after the commit). Answers in how
    many seconds the next consent ends (None: none is running)."""
    with app.app_context():
        try:
            services.record_expiries()
            services.remind_renewals()
            measure_services.sweep()
            db.session.commit()
            next_end = queries.next_consent_end(utcnow())
            return None if next_end is None else (next_end - utcnow()).total_seconds()
        except Exception:
            db.session.rollback()
            app.logger.exception("consent sweep failed; the next one tries again")
            return None
        finally:
            db.session.remove()


def next_wait(interval: float, until_next_end: float | None) -> float:
    """The interval, or less when a consent ends sooner: an ending reaches the supporter's open page as it happens,
    not up to an interval later."""
    if until_next_end is None:
        return interval
    return min(interval, max(MIN_WAIT, until_next_end + 0.05))


def _run(app: Flask, interval: float) -> None:
    while True:
        socketio.sleep(next_wait(interval, sweep_once(app)))


def start_once() -> None:
    """Start this process's sweep as a Socket.IO background task, on its first request (not in CLI commands, which
    make an app too). A sweep that runs in several processes at once writes each expiry once (the sweep locks)."""
    app = current_app._get_current_object()
    interval = app.config.get("CONSENT_SWEEP_SECONDS", 0)
    if not interval or "consent_sweep" in app.extensions:
        return
    with _start_lock:
        if "consent_sweep" not in app.extensions:
            app.extensions["consent_sweep"] = socketio.start_background_task(_run, app, interval)
