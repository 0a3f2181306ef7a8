"""Plain words for data classes and consent states, which the patient reads back."""

from flask_babel import lazy_gettext as _l

from app.supporters.models import ConsentState, DataClass

DATA_CLASS_LABELS = {
    DataClass.SESSIONS: _l("Upcoming sessions and my attendance"),
    DataClass.GOALS: _l("My goals and small wins"),
    DataClass.MOOD: _l("A weekly mood summary (averages and trend, never what I write)"),
    DataClass.MEASURES: _l("Questionnaire results as bands over time (never my answers)"),
    DataClass.RELAPSE_HELP: _l("The “how you can help” part of my relapse-prevention plan"),
    DataClass.ENCOURAGEMENT: _l("They may send me short notes of encouragement"),
}

STATE_LABELS = {
    ConsentState.PROPOSED: _l("Waiting for them to accept"),
    ConsentState.ACTIVE: _l("Sharing"),
    ConsentState.ON_HOLD: _l("On hold"),
    ConsentState.REVOKED: _l("Stopped"),
    ConsentState.EXPIRED: _l("Ended"),
    ConsentState.RENEWED: _l("Renewed"),
}


def data_class_label(value) -> str:
    try:
        return str(DATA_CLASS_LABELS[DataClass(value)])
    except ValueError:
        return str(value)


def state_label(value) -> str:
    return str(STATE_LABELS.get(value, value))
