"""The time zones people can choose, and those a stored choice may still hold.

Stored zones load from IANA's full list as the tzdata package has it (less those zoneinfo or Babel cannot load:
"Factory" has no name Babel knows; a machine's own "localtime" is no zone anyone lives in). Offered zones are fewer:
one name per place people live, as zone.tab lists them for each country (what `tzselect` offers), and UTC; none of
the legacy aliases ("US/Eastern", "GB", "Etc/GMT+5"). A stored alias keeps working, and is shown as the place it
stands for ("US/Eastern" as America/New_York) when the person next chooses."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import get_timezone, get_timezone_location


def _loads(name: str) -> bool:
    try:
        ZoneInfo(name)
        get_timezone(name)
    except (LookupError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError, a LookupError
        return False
    return True


_DATA = resources.files("tzdata")

TIMEZONES = frozenset(name for name in _DATA.joinpath("zones").read_text().split() if _loads(name))


def _zone_table() -> dict[str, str]:
    """zone.tab: each place's zone, with its country's ISO code."""
    rows = (line.split("\t") for line in _DATA.joinpath("zoneinfo", "zone.tab").read_text().splitlines()
            if line and not line.startswith("#"))
    return {row[2].strip(): row[0] for row in rows if len(row) >= 3}


def _links() -> dict[str, str]:
    """Each alias and the zone it stands for, from tzdata.zi's link lines ("L America/New_York US/Eastern")."""
    lines = _DATA.joinpath("zoneinfo", "tzdata.zi").read_text().splitlines()
    return {parts[2]: parts[1] for parts in (line.split() for line in lines) if len(parts) == 3 and parts[0] == "L"}


COUNTRY_OF = {name: country for name, country in _zone_table().items() if name in TIMEZONES}
#: What a person may choose.
CHOOSABLE = frozenset(COUNTRY_OF) | {"UTC"}
LINKS = _links()

#: The zones most people writing each language live in, offered right after their own and their organisation's.
COMMON = {
    "en": ("Europe/London", "Europe/Dublin", "America/New_York", "America/Chicago", "America/Denver",
           "America/Los_Angeles", "America/Toronto", "Australia/Sydney", "Pacific/Auckland", "Asia/Kolkata",
           "Africa/Johannesburg", "UTC"),
    "es": ("Europe/Madrid", "Atlantic/Canary", "America/Mexico_City", "America/Bogota", "America/Lima",
           "America/Argentina/Buenos_Aires", "America/Santiago", "America/Caracas", "America/New_York",
           "America/Los_Angeles", "UTC"),
}


def usable_zone(*names: str | None) -> str:
    """The first of `names` that loads, else UTC: a zone stored before it stopped loading (an older list, a tzdata
    release that dropped it) must not break every page of the person it belongs to."""
    return next((name for name in names if name in TIMEZONES), "UTC")


def may_choose(name: str | None, kept: str | None = None) -> bool:
    """Whether `name` may be saved: one of the offered zones, or the one already stored (`kept`), if it loads."""
    return name in CHOOSABLE or (name is not None and name == kept and name in TIMEZONES)


def equivalent(name: str | None) -> str | None:
    """The offered zone a stored name stands for (itself, or the zone an alias links to), or None."""
    seen = 0
    while name is not None and name not in CHOOSABLE and seen < 5:
        name, seen = LINKS.get(name), seen + 1
    return name if name in CHOOSABLE else None


def likely_zones(*first: str | None, language: str = "en") -> list[str]:
    """The zones to offer before the rest: `first` (the person's own, their organisation's), then the common ones
    for their language; each once, each offered."""
    found: list[str] = []
    for name in (*first, *COMMON.get(language, COMMON["en"])):
        name = equivalent(name)
        if name is not None and name not in found:
            found.append(name)
    return found


def _aliases() -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for alias in LINKS:
        target = equivalent(alias)
        if target is not None and alias not in CHOOSABLE:
            found.setdefault(target, []).append(alias)
    return {target: tuple(sorted(names)) for target, names in found.items()}


#: The older names of each offered zone ("Asia/Calcutta" for Asia/Kolkata), which some browsers still report.
ALIASES = _aliases()


@lru_cache(maxsize=8)
def zone_labels(language: str) -> dict[str, str]:
    """Each offered zone as a place a person recognises, in their language: "Berlín · Alemania"."""
    locale = Locale.parse(language)
    labels = {}
    for name in CHOOSABLE:
        if name == "UTC":
            labels[name] = "UTC"
            continue
        city = get_timezone_location(name, locale=locale, return_city=True)
        country = locale.territories.get(COUNTRY_OF[name], "")
        labels[name] = f"{city} · {country}" if country else city
    return labels
