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

#: The supporter's words for each class, of the person who shares it: their page's headings ("Alex's goals").
SHARED_HEADINGS = {
    DataClass.SESSIONS: _l("%(name)s's sessions and attendance"),
    DataClass.GOALS: _l("%(name)s's goals and small wins"),
    DataClass.MOOD: _l("%(name)s's weekly mood"),
    DataClass.MEASURES: _l("%(name)s's questionnaire results"),
    DataClass.RELAPSE_HELP: _l("How you can help %(name)s"),
    DataClass.ENCOURAGEMENT: _l("Your notes to %(name)s"),
}

#: The same, as kinds in a list of what someone shares with the supporter.
SHARED_KINDS = {
    DataClass.SESSIONS: _l("Sessions and attendance"),
    DataClass.GOALS: _l("Goals and small wins"),
    DataClass.MOOD: _l("A weekly mood summary"),
    DataClass.MEASURES: _l("Questionnaire results"),
    DataClass.RELAPSE_HELP: _l("How you can help"),
    DataClass.ENCOURAGEMENT: _l("Notes of encouragement from you"),
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


def shared_heading(value, name: str) -> str:
    return str(SHARED_HEADINGS[DataClass(value)]) % {"name": name}


def shared_kind(value) -> str:
    return str(SHARED_KINDS[DataClass(value)])
