"""A refusal from a service, shown on the page's form: next to its field when it names one, else as a message."""

from __future__ import annotations

from flask import flash


def show_error(form, error) -> None:
    """`error` is a domain error with a `message` and an optional `field` (AccountError, GroupError, ...)."""
    field = getattr(form, error.field, None) if getattr(error, "field", None) else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")
