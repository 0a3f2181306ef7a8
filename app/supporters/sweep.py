"""The consent sweep: every CONSENT_SWEEP_SECONDS, each app process writes down the expiries that have happened (and
ends the supporters' live access) and sends the renewal reminders that are due. Reads never write: until the sweep
has run, an ended consent is simply read as ended."""

from __future__ import annotations

import threading

from flask import Flask, current_app

from app.extensions import db, socketio
from app.supporters import services

_start_lock = threading.Lock()


def sweep_once(app: Flask) -> None:
    """One pass, committed on its own like a request (its pushes and emails leave after the commit)."""
    with app.app_context():
        try:
            services.record_expiries()
            services.remind_renewals()
            db.session.commit()
        except Exception:
            db.session.rollback()
            app.logger.exception("consent sweep failed; the next one tries again")
        finally:
            db.session.remove()


def _run(app: Flask, interval: float) -> None:
    while True:
        sweep_once(app)
        socketio.sleep(interval)


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
