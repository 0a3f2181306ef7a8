"""Who is who: the refusal that looks like "not found", roles, navigation areas, accounts and the organisation."""

from __future__ import annotations

from typing import NoReturn

from werkzeug.exceptions import Forbidden, NotFound

from app.accounts.models import Invitation, Organisation, RoleName, User
from app.extensions import db


class Denied(NotFound):
    """A refusal answered as "not found" (SECURITY.md 14 wants every denial in the audit trail, with whose data it
    was and under which consent, where the rule knows)."""

    def __init__(self, subject_id: int | None = None, consent_id: int | None = None, message: str | None = None):
        super().__init__()
        self.subject_id = subject_id
        self.consent_id = consent_id
        if message is not None:
            self.data = {"message": message}  # as flask_smorest's abort(404, message=...) would carry it


def _denied_consent(consent) -> Denied:
    return Denied(subject_id=getattr(consent, "patient_id", None), consent_id=getattr(consent, "id", None))


def hidden(model, object_id: int) -> NoReturn:
    """For a lookup scoped to what the caller holds (their organisation, their tokens) that found nothing: Denied
    when the object exists, so that reaching for someone else's shows in the audit trail; NotFound when it does not.
    """
    found = db.session.get(model, object_id)
    if found is None:
        raise NotFound()
    if isinstance(found, User):
        whose = found.id
    else:
        whose = getattr(found, "patient_id", None) or getattr(found, "user_id", None)
    raise Denied(subject_id=whose)


# What each role may reach in the navigation; the templates ask `can_use(user, area)`.
AREAS = {
    RoleName.ADMIN: {"home", "profile", "people", "organisation", "audit"},
    RoleName.FACILITATOR: {"home", "profile", "groups"},
    RoleName.PATIENT: {"home", "profile", "groups", "peers", "goals", "sharing", "measures"},
    RoleName.SUPPORTER: {"home", "profile", "shared"},
}

# Who may invite whom: admins bring in staff, facilitators bring in patients, patients bring in supporters.
INVITES = {
    RoleName.ADMIN: {RoleName.ADMIN, RoleName.FACILITATOR},
    RoleName.FACILITATOR: {RoleName.PATIENT},
    RoleName.PATIENT: {RoleName.SUPPORTER},
    RoleName.SUPPORTER: set(),
}


def _signed_in(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and user.is_active


def role_of(user) -> RoleName | None:
    return user.role if _signed_in(user) else None


def can_use(user, area: str) -> bool:
    role = role_of(user)
    return role is not None and area in AREAS[role]


def require_use(user, area: str) -> None:
    if not can_use(user, area):
        raise Forbidden()


def is_admin_of(user, organisation: Organisation | int | None) -> bool:
    org_id = getattr(organisation, "id", organisation)
    return _signed_in(user) and org_id is not None and user.organisation_id == org_id and user.role == RoleName.ADMIN


def can_manage_organisation(user, organisation: Organisation) -> bool:
    return is_admin_of(user, organisation)


def require_manage_organisation(user, organisation: Organisation) -> None:
    if not can_manage_organisation(user, organisation):
        raise Forbidden()


def can_invite(user, organisation: Organisation | int, role: RoleName) -> bool:
    org_id = getattr(organisation, "id", organisation)
    my_role = role_of(user)
    return my_role is not None and user.organisation_id == org_id and role in INVITES[my_role]


def require_invite(user, organisation: Organisation | int, role: RoleName) -> None:
    if not can_invite(user, organisation, role):
        raise Forbidden()


def can_revoke_invitation(user, invitation: Invitation) -> bool:
    if not _signed_in(user) or invitation.organisation_id != user.organisation_id:
        return False
    return invitation.created_by_id == user.id or is_admin_of(user, invitation.organisation_id)


def require_revoke_invitation(user, invitation: Invitation) -> None:
    if not can_revoke_invitation(user, invitation):
        raise Denied()


def can_manage_account(user, account: User) -> bool:
    """Admins deactivate and reactivate anyone with a role in their own organisation (staff, members, supporters),
    never themselves."""
    if not is_admin_of(user, user.organisation_id if _signed_in(user) else None) or account.id == user.id:
        return False
    return account.role_in(user.organisation_id) is not None


def require_manage_account(user, account: User) -> None:
    if not can_manage_account(user, account):
        raise Denied(subject_id=account.id)


def can_reset_second_factor(user, account: User) -> bool:
    """The admins who manage a staff account may clear its second factors (a lost phone), never their own."""
    return can_manage_account(user, account) and account.role_in(user.organisation_id) in {
        RoleName.FACILITATOR,
        RoleName.ADMIN,
    }


def require_reset_second_factor(user, account: User) -> None:
    if not can_reset_second_factor(user, account):
        raise Denied(subject_id=account.id)


def can_see_organisation_people(user, organisation: Organisation) -> bool:
    return is_admin_of(user, organisation)


def require_see_organisation_people(user, organisation: Organisation) -> None:
    if not can_see_organisation_people(user, organisation):
        raise Forbidden()


def can_read_audit_trail(user, organisation: Organisation) -> bool:
    """The organisation's admins read (and export) its rows of the audit trail; nobody else reads any."""
    return is_admin_of(user, organisation)


def require_read_audit_trail(user, organisation: Organisation) -> None:
    if not can_read_audit_trail(user, organisation):
        raise Forbidden()
