"""What every page blueprint shares: the panels a domain adds to the home page and to a session's page, a refusal
shown on a form, same-site redirects, and times as a person reads them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from babel import Locale
from babel.dates import get_timezone_location, match_skeleton
from flask import flash, redirect, url_for
from flask_babel import format_date, format_datetime, get_locale, get_timezone
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
# One way to show a moment, in the viewer's zone and language, never with seconds: a date ("Thu 10 Dec 2026"), a time
# ("07:00"), or both ("Thu 10 Dec 2026, 07:00"). Babel gives each language its order and words ("jue, 10 dic 2026,
# 7:00"); English reads the day before the month, with a 24-hour clock, as the rest of Momentum's English does.

#: The CLDR skeletons of the three forms: the fields shown, which each locale orders and punctuates its own way.
DATE_SKELETON, TIME_SKELETON, DAY_SKELETON = "yMMMEd", "Hm", "yMMMd"
#: Where Momentum's own reading differs from the locale's (Babel's "en" is American: "Thu, Dec 10, 2026").
HOUSE_PATTERNS = {("en", DATE_SKELETON): "EEE d MMM y", ("en", DAY_SKELETON): "d MMM y"}


@lru_cache(maxsize=64)
def _pattern(language: str, skeleton: str) -> str:
    if (language, skeleton) in HOUSE_PATTERNS:
        return HOUSE_PATTERNS[(language, skeleton)]
    locale = Locale.parse(language)
    return str(locale.datetime_skeletons[match_skeleton(skeleton, locale.datetime_skeletons)].pattern)


@lru_cache(maxsize=16)
def _joined(language: str) -> str:
    """How the locale joins a date and a time ("{1}, {0}"), as a Babel pattern."""
    glue = Locale.parse(language).datetime_formats["medium"]
    return glue.replace("{1}", _pattern(language, DATE_SKELETON)).replace("{0}", _pattern(language, TIME_SKELETON))


def _language() -> str:
    return get_locale().language if get_locale() else "en"


def datetime_text(value: datetime | None) -> str:
    """"Thu 10 Dec 2026, 07:00" in the viewer's zone."""
    return format_datetime(value, _joined(_language())) if value is not None else ""


def date_text(value: date | datetime | None) -> str:
    """"Thu 10 Dec 2026": a moment's day in the viewer's zone, or a calendar day as it is."""
    if value is None:
        return ""
    pattern = _pattern(_language(), DATE_SKELETON)
    return format_datetime(value, pattern) if isinstance(value, datetime) else format_date(value, pattern)


def time_text(value: datetime | None) -> str:
    """"07:00" in the viewer's zone."""
    return format_datetime(value, _pattern(_language(), TIME_SKELETON)) if value is not None else ""


def short_date_text(value: date | datetime | None) -> str:
    """"30 Nov 2026" without the weekday: for a column of dates that must stay narrow (a week's row in a table)."""
    if value is None:
        return ""
    pattern = _pattern(_language(), DAY_SKELETON)
    return format_datetime(value, pattern) if isinstance(value, datetime) else format_date(value, pattern)


#: The Jinja filters of the three forms (the `datetime`, `date` and `time` macros of _macros.html wrap them in <time>),
#: and the short day of a crowded column.
TIME_FILTERS = {"datetime": datetime_text, "date": date_text, "time": time_text, "short_date": short_date_text}


def session_time(value: datetime) -> str:
    """"Thu 26 Mar 2026, 18:00, Berlin time": the viewer's own zone, which an offset like +0100 does not say."""
    city = get_timezone_location(get_timezone(), locale=get_locale(), return_city=True)
    return _("%(when)s, %(city)s time", when=datetime_text(value), city=city)
