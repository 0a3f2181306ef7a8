"""Email that leaves only after the transaction that caused it commits, on a thread of its own (no answer waits on
the mail relay); in development it goes to the log."""

from __future__ import annotations

import threading

from flask import Flask, current_app
from flask_mail import Message
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import db, mail
from app.input_checks import one_line
from app.models_base import ends_the_transaction

OUTBOX_KEY = "momentum_outbox"


def queue_email(to: str, subject: str, body: str) -> None:
    """Send after commit, so that a rolled-back change never sends a link to something that does not exist. The
    subject is a header: a line break in a name it carries would stop the email, so it is written as one line."""
    db.session.info.setdefault(OUTBOX_KEY, []).append((to, one_line(subject), body))


def send_now(to: str, subject: str, body: str) -> None:
    message = Message(subject=subject, recipients=[to], body=body)
    if current_app.config.get("MAIL_SUPPRESS_SEND"):
        current_app.logger.info("Email to %s: %s\n%s", to, subject, body)
    mail.send(message)


@event.listens_for(Session, "after_commit")
def _send_outbox(session: Session) -> None:
    if not ends_the_transaction(session):
        return
    outbox = session.info.pop(OUTBOX_KEY, [])
    if not outbox:
        return
    app = current_app._get_current_object()
    if app.config.get("MAIL_SEND_IN_BACKGROUND"):
        # Not a daemon: a process that stops lets its last emails leave first.
        threading.Thread(target=_send_all, args=(app, outbox), name="outbox", daemon=False).start()
    else:
        _send_all(app, outbox)


def _send_all(app: Flask, outbox: list[tuple[str, str, str]]) -> None:
    with app.app_context():
        for to, subject, body in outbox:
            try:
                send_now(to, subject, body)
            except Exception:  # a mail outage must not undo a committed change; the log keeps the failure
                app.logger.exception("could not send email to %s", to)


@event.listens_for(Session, "after_rollback")
def _drop_outbox(session: Session) -> None:
    if ends_the_transaction(session):
        session.info.pop(OUTBOX_KEY, None)
