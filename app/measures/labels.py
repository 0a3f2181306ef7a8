"""Words for severity bands, as a member and their facilitator read them; how often a schedule asks, and the state
of a measure as the facilitator reads it."""

from flask_babel import lazy_gettext as _l

from app.measures.models import Frequency, MeasureStatus
from app.measures.scoring import Severity

SEVERITY_LABELS = {
    Severity.MINIMAL: _l("Minimal"),
    Severity.MILD: _l("Mild"),
    Severity.MODERATE: _l("Moderate"),
    Severity.MODERATELY_SEVERE: _l("Moderately severe"),
    Severity.SEVERE: _l("Severe"),
}


def severity_label(severity) -> str:
    return str(SEVERITY_LABELS[Severity(severity)])


FREQUENCY_LABELS = {
    Frequency.ONCE: _l("Once"),
    Frequency.WEEKLY: _l("Every week"),
    Frequency.FORTNIGHTLY: _l("Every two weeks"),
    Frequency.MONTHLY: _l("Every month"),
    Frequency.BEFORE_SESSION: _l("Before each group session"),
}


def frequency_label(frequency) -> str:
    return str(FREQUENCY_LABELS[Frequency(frequency)])


#: The facilitator's words; a member never reads "missed" (their words: "This one has closed.").
STAFF_STATUS_LABELS = {
    MeasureStatus.DUE: _l("Due"),
    MeasureStatus.DONE: _l("Done"),
    MeasureStatus.MISSED: _l("Missed"),
    MeasureStatus.WITHDRAWN: _l("No longer asked"),
}


def staff_status_label(status) -> str:
    return str(STAFF_STATUS_LABELS[MeasureStatus(status)])
