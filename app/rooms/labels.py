"""Translated labels for room values stored in English."""

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

from app.rooms.models import Energy

ENERGY_LABELS = {Energy.LOW: _l("Low"), Energy.MEDIUM: _l("Medium"), Energy.HIGH: _l("High")}


def label(value) -> str:
    return str(ENERGY_LABELS.get(value, value))


#: Words for a mood from 0 to 10, by the bands the one-tap check-in offers (1 very low, 3 low, 5 okay, 7 good,
#: 9 very good): a mood is never shown as a bare number.
MOOD_BANDS = ((2, lazy_pgettext("mood", "very low")), (4, lazy_pgettext("mood", "low")),
              (6, lazy_pgettext("mood", "okay")), (8, lazy_pgettext("mood", "good")),
              (10, lazy_pgettext("mood", "very good")))


def mood_word(mood: int) -> str:
    return str(next(word for top, word in MOOD_BANDS if mood <= top))
