"""A refusal from a service, shown on the page: next to its field when it names one, else as a message. Either way
nothing of the refused change is kept: this is the one place a page's refusal rolls back."""

from __future__ import annotations

from flask import flash

from app.extensions import db
from app.refusal import Refusal


def flash_refusal(error: Refusal) -> None:
    """A refusal with no form to show it on (a button): the next page says why."""
    db.session.rollback()
    flash(error.message, "error")


def show_error(form, error: Refusal) -> None:
    db.session.rollback()
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")
