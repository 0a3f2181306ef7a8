"""Times as a person reads them: in their own time zone, named by its city rather than an offset."""

from __future__ import annotations

from datetime import datetime

from babel.dates import get_timezone_location
from flask_babel import format_datetime, get_locale, get_timezone
from flask_babel import gettext as _


def session_time(value: datetime) -> str:
    """"Thu 26 Mar 2026, 18:00, Berlin time": the viewer's own zone, which an offset like +0100 does not say."""
    when = format_datetime(value, "EEE d MMM y, HH:mm")
    city = get_timezone_location(get_timezone(), locale=get_locale(), return_city=True)
    return _("%(when)s, %(city)s time", when=when, city=city)
