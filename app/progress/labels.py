"""Words for goal states, as the patient and their supporters read them."""

from flask_babel import lazy_gettext as _l

from app.progress.models import GoalStatus

STATUS_LABELS = {
    GoalStatus.ACTIVE: _l("Working on it"),
    GoalStatus.DONE: _l("Done"),
    GoalStatus.SET_ASIDE: _l("Set aside for now"),
}


def goal_status_label(status) -> str:
    return str(STATUS_LABELS[GoalStatus(status)])
