"""Translated labels for group values stored in English."""

from flask_babel import lazy_gettext as _l

from app.groups.forms import ATTENDANCE_LABELS
from app.groups.models import GroupFormat, GroupStatus, MembershipStatus

MEMBERSHIP_STATUS_LABELS = {
    MembershipStatus.INVITED: _l("Invited"),
    MembershipStatus.WAITLISTED: _l("On the waitlist"),
    MembershipStatus.ACTIVE: _l("Active"),
    MembershipStatus.PAUSED: _l("Paused"),
    MembershipStatus.LEFT: _l("Left"),
    MembershipStatus.COMPLETED: _l("Completed"),
}

GROUP_STATUS_LABELS = {
    GroupStatus.FORMING: _l("Forming"),
    GroupStatus.ACTIVE: _l("Active"),
    GroupStatus.FINISHED: _l("Finished"),
    GroupStatus.CANCELLED: _l("Cancelled"),
}

FORMAT_LABELS = {
    GroupFormat.ONLINE: _l("Online"),
    GroupFormat.IN_PERSON: _l("In person"),
    GroupFormat.HYBRID: _l("Hybrid"),
}


def label(value) -> str:
    for table in (MEMBERSHIP_STATUS_LABELS, GROUP_STATUS_LABELS, FORMAT_LABELS, ATTENDANCE_LABELS):
        if value in table:
            return str(table[value])
    return str(value)
