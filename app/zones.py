"""The time zones people can choose: IANA's, as the tzdata package lists them, less any that zoneinfo or Babel cannot
load ("Factory" has no name Babel knows). A machine's own aliases ("localtime") are not zones anyone lives in."""

from __future__ import annotations

from importlib import resources
from zoneinfo import ZoneInfo

from babel.dates import get_timezone


def _loads(name: str) -> bool:
    try:
        ZoneInfo(name)
        get_timezone(name)
    except (LookupError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError, a LookupError
        return False
    return True


TIMEZONES = frozenset(name for name in resources.files("tzdata").joinpath("zones").read_text().split()
                      if _loads(name))


def usable_zone(*names: str | None) -> str:
    """The first of `names` that is a zone people can choose, else UTC: a zone stored before it stopped loading
    (an older list, a tzdata release that dropped it) must not break every page of the person it belongs to."""
    return next((name for name in names if name in TIMEZONES), "UTC")
