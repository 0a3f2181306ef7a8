"""Every authorization rule in one place: pages, the API, sockets and templates all ask here.

Each predicate takes explicit arguments and returns a bool; each ``require_*`` twin raises instead.
A rule that hides an object from outsiders raises NotFound, so that a forbidden object and a missing one look alike.
"""

from __future__ import annotations

from werkzeug.exceptions import Forbidden, NotFound

from app.accounts.models import Invitation, Organisation, RoleName, User

# What each role may reach in the navigation; the templates ask `can_use(user, area)`.
AREAS = {
    RoleName.ADMIN: {"home", "profile", "people", "organisation"},
    RoleName.FACILITATOR: {"home", "profile"},
    RoleName.PATIENT: {"home", "profile"},
    RoleName.SUPPORTER: {"home", "profile"},
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
        raise NotFound()


def can_manage_account(user, account: User) -> bool:
    """Admins deactivate and reactivate staff of their own organisation, never themselves."""
    if not is_admin_of(user, user.organisation_id if _signed_in(user) else None) or account.id == user.id:
        return False
    return account.role_in(user.organisation_id) in {RoleName.FACILITATOR, RoleName.ADMIN}


def require_manage_account(user, account: User) -> None:
    if not can_manage_account(user, account):
        raise NotFound()


def can_see_organisation_people(user, organisation: Organisation) -> bool:
    return is_admin_of(user, organisation)


def require_see_organisation_people(user, organisation: Organisation) -> None:
    if not can_see_organisation_people(user, organisation):
        raise Forbidden()
