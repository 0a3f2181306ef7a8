"""Translated labels for room values stored in English."""

from flask_babel import lazy_gettext as _l

from app.rooms.models import Energy

ENERGY_LABELS = {Energy.LOW: _l("Low"), Energy.MEDIUM: _l("Medium"), Energy.HIGH: _l("High")}


def label(value) -> str:
    return str(ENERGY_LABELS.get(value, value))
