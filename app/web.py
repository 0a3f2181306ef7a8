"""What every page blueprint shares: the panels a domain adds to the home page and to a session's page, a refusal
shown on a form, same-site redirects, and times as a person reads them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urlsplit

from babel.dates import get_timezone_location
from flask import flash, redirect, url_for
from flask_babel import format_datetime, get_locale, get_timezone
from flask_babel import gettext as _

from app.extensions import db
from app.refusal import Refusal

# Panels ---------------------------------------------------------------------------------------------------------------
# Each domain adds what it shows on a role's home page, and on a session's page, in order; the page's own domain need
# not know the others. The factory registers them all in one place.


@dataclass(frozen=True)
class Panel:
    role: str
    template: str
    context: Callable[[object], dict]
    order: int = 100


@dataclass(frozen=True)
class SessionPanel:
    template: str
    context: Callable[[object, object], dict]
    order: int = 100


PANELS: list[Panel] = []
SESSION_PANELS: list[SessionPanel] = []


def register_panel(role: str, template: str, context: Callable[[object], dict], order: int = 100) -> None:
    if not any(p.role == role and p.template == template for p in PANELS):
        PANELS.append(Panel(role, template, context, order))


def register_session_panel(template: str, context: Callable[[object, object], dict], order: int = 100) -> None:
    """A panel on a session's page: `context(user, occurrence)` gives what its template shows."""
    if not any(p.template == template for p in SESSION_PANELS):
        SESSION_PANELS.append(SessionPanel(template, context, order))


def panels_for(user) -> list[tuple[str, dict]]:
    role = user.role.value if user.role else None
    return [(p.template, p.context(user)) for p in sorted(PANELS, key=lambda p: p.order) if p.role == role]


def session_panels_for(user, occurrence) -> list[tuple[str, dict]]:
    return [(p.template, p.context(user, occurrence)) for p in sorted(SESSION_PANELS, key=lambda p: p.order)]


# Refusals on a page ---------------------------------------------------------------------------------------------------
# A refusal from a service, shown next to its field when it names one, else as a message. Either way nothing of the
# refused change is kept: this is the one place a page's refusal rolls back.


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


# Redirects ------------------------------------------------------------------------------------------------------------
# Same-site only: `next` accepts a relative path on this site and nothing else.


def is_safe_next(target: str | None) -> bool:
    if not target or len(target) > 2000:
        return False
    # Decode repeatedly so that encoded tricks (%2F%2F, %5C, %0D%0A) are judged in their decoded form.
    decoded = target
    for _round in range(3):
        decoded = unquote(decoded)
    for candidate in (target, decoded):
        if any(ord(ch) < 32 or ch == "\x7f" for ch in candidate):
            return False
        if "\\" in candidate:
            return False
        if not candidate.startswith("/") or candidate.startswith("//"):
            return False
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return False
    return True


def redirect_next(target: str | None, fallback_endpoint: str = "accounts.home"):
    return redirect(target if is_safe_next(target) else url_for(fallback_endpoint))


# Times ----------------------------------------------------------------------------------------------------------------


def session_time(value: datetime) -> str:
    """"Thu 26 Mar 2026, 18:00, Berlin time": the viewer's own zone, which an offset like +0100 does not say."""
    when = format_datetime(value, "EEE d MMM y, HH:mm")
    city = get_timezone_location(get_timezone(), locale=get_locale(), return_city=True)
    return _("%(when)s, %(city)s time", when=when, city=city)
