"""Groups, their live rooms and alerts, and peer pairs."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import gettext as _
from werkzeug.exceptions import Forbidden

from app.accounts.models import RoleName
from app.groups import queries as group_queries
from app.groups.models import MembershipStatus, OccurrenceStatus
from app.peers.models import MemberResponse, PairStatus
from app.policy.core import Denied, _signed_in, role_of
from app.refusal import Refusal

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
    return (
        role_of(user) == RoleName.PATIENT
        and membership is not None
        and membership.user_id == user.id
        and membership.status == MembershipStatus.INVITED
        and membership.group.organisation_id == user.organisation_id
    )


def require_join_group(user, membership) -> None:
    if not can_join_group(user, membership):
        raise Denied(subject_id=getattr(membership, "user_id", None))


def can_leave_group(user, membership) -> bool:
    return (
        _signed_in(user)
        and membership is not None
        and membership.user_id == user.id
        and membership.status
        in (MembershipStatus.ACTIVE, MembershipStatus.PAUSED, MembershipStatus.WAITLISTED, MembershipStatus.INVITED)
    )


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
    raise RoomNotOpen(
        _("The room opens %(n)d minutes before the session.", n=occurrence.group.lobby_minutes),
        opens_in=max(1, int((members_enter_at(occurrence) - now).total_seconds())),
    )


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
    return (
        role_of(user) == RoleName.PATIENT
        and pair is not None
        and pair.organisation_id == user.organisation_id
        and pair.member(user.id) is not None
    )


def require_pair_member(user, pair) -> None:
    if not is_pair_member(user, pair):
        raise Denied()


def can_chat_in_pair(user, pair) -> bool:
    """A member who accepted, still in the pair and its group, while it is active (not paused, not ended)."""
    member = pair.member(user.id) if is_pair_member(user, pair) else None
    return (
        member is not None
        and member.response == MemberResponse.ACCEPTED
        and member.left_at is None
        and pair.status == PairStatus.ACTIVE
        and _membership_active(user, pair.group)
    )
