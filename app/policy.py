"""Every authorization rule in one place: pages, the API, sockets and templates all ask here.

Each predicate takes explicit arguments and returns a bool; each ``require_*`` twin raises instead.
A rule that hides an object from outsiders raises Denied, a NotFound, so that a forbidden object and a missing one look
alike to the client; the error handler records it as the denial it is.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NoReturn

from flask_babel import gettext as _
from werkzeug.exceptions import Forbidden, NotFound

from app.accounts.models import Invitation, Organisation, RoleName, User
from app.extensions import db
from app.groups import queries as group_queries
from app.groups.models import MembershipStatus, OccurrenceStatus
from app.models_base import utcnow
from app.peers.models import MemberResponse, PairStatus
from app.refusal import Refusal
from app.supporters import queries as supporter_queries
from app.supporters.models import ConsentState, DataClass


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
    RoleName.PATIENT: {"home", "profile", "groups", "peers", "goals", "sharing"},
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
    return can_manage_account(user, account) and account.role_in(user.organisation_id) in {RoleName.FACILITATOR,
                                                                                            RoleName.ADMIN}


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


# Groups --------------------------------------------------------------------------------------------------------------
# Facilitators of a group (lead or co-) manage it; its members see its sessions; nobody else sees inside it.


def _group_role(user, group) -> str | None:
    """'facilitator', 'member' (active or paused), 'waiting' (invited or waitlisted), or None."""
    if not _signed_in(user) or group is None or group.organisation_id != user.organisation_id:
        return None
    return group_queries.relation(user.id, group.id).kind


def can_create_group(user) -> bool:
    return role_of(user) == RoleName.FACILITATOR


def require_create_group(user) -> None:
    if not can_create_group(user):
        raise Forbidden()


def is_group_facilitator(user, group) -> bool:
    return role_of(user) == RoleName.FACILITATOR and _group_role(user, group) == "facilitator"


can_manage_group = can_see_intake = is_group_facilitator


def require_manage_group(user, group) -> None:
    if not can_manage_group(user, group):
        raise Denied()


def is_group_member(user, group) -> bool:
    return role_of(user) == RoleName.PATIENT and _group_role(user, group) == "member"


def can_view_group(user, group) -> bool:
    """The group's page: its facilitators, its members, and people invited or waiting (who see only the basics)."""
    return _group_role(user, group) is not None


def require_view_group(user, group) -> None:
    if not can_view_group(user, group):
        raise Denied()


def can_view_sessions(user, group) -> bool:
    return is_group_facilitator(user, group) or is_group_member(user, group)


def require_view_sessions(user, group) -> None:
    if not can_view_sessions(user, group):
        raise Denied()


def can_join_group(user, membership) -> bool:
    return (role_of(user) == RoleName.PATIENT and membership is not None and membership.user_id == user.id
            and membership.status == MembershipStatus.INVITED
            and membership.group.organisation_id == user.organisation_id)


def require_join_group(user, membership) -> None:
    if not can_join_group(user, membership):
        raise Denied(subject_id=getattr(membership, "user_id", None))


def can_leave_group(user, membership) -> bool:
    return (_signed_in(user) and membership is not None and membership.user_id == user.id
            and membership.status in (MembershipStatus.ACTIVE, MembershipStatus.PAUSED,
                                      MembershipStatus.WAITLISTED, MembershipStatus.INVITED))


def require_leave_group(user, membership) -> None:
    if not can_leave_group(user, membership):
        raise Denied(subject_id=getattr(membership, "user_id", None))


def can_read_facilitator_notes(user, group) -> bool:
    """Facilitator notes never reach patients, peers or supporters (CLINICAL.md safety rule 3)."""
    return is_group_facilitator(user, group)


def require_read_facilitator_notes(user, group) -> None:
    if not can_read_facilitator_notes(user, group):
        raise Denied()


def can_enter_live_room(user, group) -> bool:
    """Members of the group (active) and its facilitators; supporters and everyone else never."""
    return is_group_facilitator(user, group) or (is_group_member(user, group) and _membership_active(user, group))


class RoomNotOpen(Refusal):
    """Someone who may be in a live room, refused because it is not open to them yet: `code` for clients, `message`
    for people, and in `details` the seconds until the lobby opens (`opens_in`) when only the lobby time is missing."""

    code = "room_closed"
    conflicts = Refusal.conflicts | {"room_closed"}

    def __init__(self, message: str, opens_in: int | None = None):
        super().__init__(message, details={"opens_in": opens_in} if opens_in is not None else None)


def members_enter_at(occurrence):
    """When the members of the session's group may enter its live room (once a facilitator has opened it)."""
    return occurrence.starts_at - timedelta(minutes=occurrence.group.lobby_minutes)


def can_enter_room(user, occurrence, room, now) -> bool:
    """Into the live room of a session now: its group's facilitators at any time (to open it); its active members
    once a facilitator has opened it and the group's lobby time has come. A check-in circle: both, from start to end."""
    group = occurrence.group
    if occurrence.is_circle:
        on = occurrence.status == OccurrenceStatus.SCHEDULED and occurrence.starts_at <= now < occurrence.ends_at
        return on and can_enter_live_room(user, group)
    if can_manage_group(user, group):
        return True
    return can_enter_live_room(user, group) and room.is_open and now >= members_enter_at(occurrence)


def require_enter_room(user, occurrence, room, now) -> None:
    """Denied (a 404) for anyone who may never be in the room; RoomNotOpen for a member who is early."""
    if can_enter_room(user, occurrence, room, now):
        return
    if not can_enter_live_room(user, occurrence.group):
        raise Denied()
    if occurrence.is_circle:
        raise RoomNotOpen(_("This check-in circle is open only from its start to its end."))
    if room.closed_at is not None:
        raise RoomNotOpen(_("The room is closed."))
    if not room.is_open:
        raise RoomNotOpen(_("The room is not open yet. Your facilitator opens it shortly before the session."))
    raise RoomNotOpen(_("The room opens %(n)d minutes before the session.", n=occurrence.group.lobby_minutes),
                      opens_in=max(1, int((members_enter_at(occurrence) - now).total_seconds())))


def require_enter_live_room(user, group) -> None:
    if not can_enter_live_room(user, group):
        raise Denied()


def _membership_active(user, group) -> bool:
    membership = group_queries.relation(user.id, group.id).membership
    return membership is not None and membership.status == MembershipStatus.ACTIVE


def can_check_in_between_sessions(user) -> bool:
    return role_of(user) == RoleName.PATIENT


def can_acknowledge_alert(user, alert) -> bool:
    return is_group_facilitator(user, alert.group)


def require_acknowledge_alert(user, alert) -> None:
    if not can_acknowledge_alert(user, alert):
        raise Denied(subject_id=alert.patient_id)


def can_follow_alerts(user) -> bool:
    """The open safety alerts (and check-ins between sessions) of the groups one runs: facilitators."""
    return role_of(user) == RoleName.FACILITATOR


def require_follow_alerts(user) -> None:
    if not can_follow_alerts(user):
        raise Forbidden()


def is_pair_member(user, pair) -> bool:
    """A pair's space is its two members' alone: its facilitators see how it goes, never what is written in it."""
    return (role_of(user) == RoleName.PATIENT and pair is not None and pair.organisation_id == user.organisation_id
            and pair.member(user.id) is not None)


def require_pair_member(user, pair) -> None:
    if not is_pair_member(user, pair):
        raise Denied()


def can_chat_in_pair(user, pair) -> bool:
    """A member who accepted, still in the pair and its group, while it is active (not paused, not ended)."""
    member = pair.member(user.id) if is_pair_member(user, pair) else None
    return (member is not None and member.response == MemberResponse.ACCEPTED and member.left_at is None
            and pair.status == PairStatus.ACTIVE and _membership_active(user, pair.group))


# Supporters and consent ----------------------------------------------------------------------------------------------
# A supporter reads patient data only while a consent is active, the time is inside its period, the data class is in
# its scope, and the data falls inside its data period (SECURITY.md 3). Item answers, alerts and facilitator notes
# never reach a supporter, whatever a consent says (CLINICAL.md safety rule 3): no data class carries them.


def can_manage_sharing(user) -> bool:
    return role_of(user) == RoleName.PATIENT


def require_manage_sharing(user) -> None:
    if not can_manage_sharing(user):
        raise Forbidden()


def owns_consent(user, consent) -> bool:
    return _signed_in(user) and consent is not None and consent.patient_id == user.id


def require_own_consent(user, consent) -> None:
    if not owns_consent(user, consent):
        raise _denied_consent(consent)


def can_view_consent(user, consent) -> bool:
    """The patient who gave it, the supporter it was given to, and the facilitators who may hold it."""
    return consent is not None and (owns_consent(user, consent) or is_consent_grantee(user, consent)
                                    or _facilitates_patient(user, consent.patient_id))


def is_consent_grantee(user, consent) -> bool:
    """The supporter a consent was given to: they learn that access has ended, never why."""
    return consent is not None and role_of(user) == RoleName.SUPPORTER and consent.supporter_id == user.id


def require_view_consent(user, consent) -> None:
    if not can_view_consent(user, consent):
        raise _denied_consent(consent)


def grantee_sees_terms(user, consent) -> bool:
    """The terms (purpose, classes) reach the supporter only while the consent is in force for them: once it has
    ended, or while a clinical hold is in force, they are the patient's alone again."""
    if not is_consent_grantee(user, consent):
        return False
    return (consent.state_at(utcnow()) == ConsentState.ACTIVE
            and supporter_queries.open_hold(consent.patient_id, user.id) is None)


def can_export_consent(user, consent) -> bool:
    """The FHIR export carries the terms: the patient and their facilitators always, the supporter while it is in
    force for them."""
    return consent is not None and (owns_consent(user, consent) or _facilitates_patient(user, consent.patient_id)
                                    or grantee_sees_terms(user, consent))


def require_export_consent(user, consent) -> None:
    if not can_export_consent(user, consent):
        raise _denied_consent(consent)


def allowed_data_classes(user, patient_id: int) -> dict:
    """Data class -> the consent allowing it, for a supporter now; empty for anyone else, and while a clinical hold
    on this supporter is in force."""
    if role_of(user) != RoleName.SUPPORTER:
        return {}
    return supporter_queries.permitting_consents(user, patient_id, utcnow())


def can_read_patient_data(user, patient_id: int, data_class: str) -> bool:
    return data_class in allowed_data_classes(user, patient_id)


# Goals and small wins ---------------------------------------------------------------------------------------------


def can_keep_goals(user) -> bool:
    return role_of(user) == RoleName.PATIENT


def require_keep_goals(user) -> None:
    if not can_keep_goals(user):
        raise Forbidden()


def owns_goal(user, goal) -> bool:
    return _signed_in(user) and goal is not None and goal.patient_id == user.id


def require_own_goal(user, goal) -> None:
    if not owns_goal(user, goal):
        raise Denied(subject_id=getattr(goal, "patient_id", None))


def goals_consent(user, patient_id: int):
    """The consent under which a supporter sees this patient's goals and small wins now, or None."""
    return allowed_data_classes(user, patient_id).get(DataClass.GOALS.value)


def supporter_sees_goal(user, goal) -> bool:
    """A supporter sees a goal while a consent allows goals and small wins, when the goal was set inside its data
    period."""
    consent = goals_consent(user, goal.patient_id) if goal is not None else None
    return consent is not None and goal.created_at >= consent.data_from


def can_comment_on_goal(user, goal) -> bool:
    """Only a supporter the patient asked, for as long as they see the goal and the patient has not stopped it."""
    return supporter_sees_goal(user, goal) and any(
        c.supporter_id == user.id and c.ended_at is None for c in goal.commenters)


def require_comment_on_goal(user, goal):
    """Returns the consent the comment is written under."""
    if not can_comment_on_goal(user, goal):
        raise Denied(subject_id=getattr(goal, "patient_id", None))
    return goals_consent(user, goal.patient_id)


def _facilitates_patient(user, patient_id: int) -> bool:
    if role_of(user) != RoleName.FACILITATOR:
        return False
    return group_queries.facilitates_member(user.id, patient_id, user.organisation_id)


def can_hold_supporter(user, link) -> bool:
    """A facilitator of a group the patient belongs to may place (and lift) a clinical hold on a supporter's
    involvement with that patient."""
    return link is not None and _facilitates_patient(user, link.patient_id)


def require_hold_supporter(user, link) -> None:
    if not can_hold_supporter(user, link):
        raise Denied(subject_id=getattr(link, "patient_id", None))


def can_view_patient_supporters(user, patient_id: int) -> bool:
    return _facilitates_patient(user, patient_id)


def require_view_patient_supporters(user, patient_id: int) -> None:
    if not can_view_patient_supporters(user, patient_id):
        raise Denied(subject_id=patient_id)
