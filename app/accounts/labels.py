"""Translated labels for values stored in English (roles, states), used by templates and the API."""

from flask_babel import lazy_gettext as _l

from app.accounts.models import RoleName

ROLE_LABELS = {
    RoleName.ADMIN: _l("Admin"),
    RoleName.FACILITATOR: _l("Facilitator"),
    RoleName.PATIENT: _l("Member"),
    RoleName.SUPPORTER: _l("Supporter"),
}

INVITATION_STATE_LABELS = {
    "pending": _l("Waiting"),
    "accepted": _l("Accepted"),
    "expired": _l("Expired"),
    "revoked": _l("Withdrawn"),
}


def role_label(role: RoleName | str | None) -> str:
    return str(ROLE_LABELS.get(RoleName(role), role)) if role else ""


def invitation_state_label(state: str) -> str:
    return str(INVITATION_STATE_LABELS.get(state, state))
