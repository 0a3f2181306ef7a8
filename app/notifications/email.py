"""Email that leaves only after the transaction that caused it commits, on a thread of its own (no answer waits on
the mail relay). With MAIL_SUPPRESS_SEND (development) each email is printed instead, whole, on the server's
output: a password reset or an invitation can be tried without a mail server."""

from __future__ import annotations

import logging
import sys
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


#: Where a suppressed email is written: its own logger, so that it shows whatever level the app's log is at.
mail_log = logging.getLogger("momentum.mail")


class _StandardError(logging.Handler):
    """Writes to whatever standard error is when the record comes, not when the handler was made."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(self.format(record) + "\n")


def print_suppressed_mail() -> None:
    """Send suppressed emails to standard error (once per process)."""
    if not mail_log.handlers:
        handler = _StandardError()
        handler.setFormatter(logging.Formatter("%(message)s"))
        mail_log.addHandler(handler)
        mail_log.setLevel(logging.INFO)


def send_now(to: str, subject: str, body: str) -> None:
    message = Message(subject=subject, recipients=[to], body=body)
    if current_app.config.get("MAIL_SUPPRESS_SEND"):
        mail_log.info("---- email, not sent ----\nTo: %s\nSubject: %s\n\n%s\n----", to, subject, body)
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
