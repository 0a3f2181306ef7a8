"""Writes for groups: groups and agreements, enrolment and the waitlist, agendas and facilitator notes (schedules and
sessions: schedules.py; attendance: attendance.py; calendar feeds: calendar.py). They validate, flush and audit; the
boundary commits."""

from __future__ import annotations

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from app import audit, signals
from app.accounts import services as account_services
from app.accounts.models import Invitation, RoleName, User
from app.extensions import db
from app.groups import schedules
from app.groups.models import (
    ACCOMMODATIONS,
    AgendaItem,
    Enrolment,
    FacilitatorNote,
    GroupAgreement,
    GroupFacilitator,
    GroupFormat,
    GroupStatus,
    Membership,
    MembershipStatus,
    OccurrenceStatus,
    SessionOccurrence,
    SpeakingComfort,
    TherapyGroup,
)
from app.groups.rules import GroupError, lock_group, require_open
from app.links import external_url
from app.models_base import utcnow
from app.notifications.email import queue_email
from app.zones import equivalent, may_choose


def default_agreement_text() -> str:
    return _(
        "What is said in the group stays in the group.\n"
        "We listen without judging and speak for ourselves.\n"
        "Passing is always fine.\n"
        "We arrive on time when we can and say when we cannot come.\n"
        "If you are in crisis, contact emergency services: this group cannot respond in an emergency."
    )


# Groups ---------------------------------------------------------------------------------------------------------------


GROUP_FIELDS = ("name", "description", "focus", "format", "location", "video_link", "capacity", "enrolment", "status",
                "timezone", "checkin_visibility", "distress_threshold", "lobby_minutes")


def _apply_group_fields(group: TherapyGroup, data: dict, kept_zone: str | None) -> None:
    """`kept_zone` is the zone the group had: it may stay, even if it is no longer offered."""
    for field in GROUP_FIELDS:
        if field in data and data[field] is not None:
            value = data[field]
            # A str enum (format, status, from the API) is a str too: strip only plain text, or the enum is lost.
            setattr(group, field, value.strip() if type(value) is str else value)
    if not may_choose(group.timezone, kept=kept_zone):
        raise GroupError(_("Choose a time zone from the list."), "timezone")
    if group.capacity is None or group.capacity < 1 or group.capacity > 500:
        raise GroupError(_("Capacity must be between 1 and 500."), "capacity")
    if group.checkin_visibility not in ("all", "presence"):
        raise GroupError(_("Choose what members see of each other's check-ins."), "checkin_visibility")
    if not 0 <= group.distress_threshold <= 10:
        raise GroupError(_("The threshold is a mood from 0 to 10."), "distress_threshold")
    if not 0 <= group.lobby_minutes <= 120:
        raise GroupError(_("The room can open up to 120 minutes before the session."), "lobby_minutes")
    if group.format in (GroupFormat.IN_PERSON, GroupFormat.HYBRID) and not group.location:
        raise GroupError(_("An in-person or hybrid group needs a place."), "location")
    if group.format in (GroupFormat.ONLINE, GroupFormat.HYBRID) and not group.video_link:
        raise GroupError(_("An online or hybrid group needs a video link."), "video_link")
    if group.video_link and not group.video_link.lower().startswith("https://"):
        raise GroupError(_("The video link must start with https://"), "video_link")
    if not group.name:
        raise GroupError(_("The group needs a name."), "name")


def create_group(facilitator: User, data: dict) -> TherapyGroup:
    # Column defaults apply only at INSERT; validation below needs them on the new object for fields not given.
    defaults = {column.key: column.default.arg for column in TherapyGroup.__table__.columns
                if column.default is not None and column.default.is_scalar}
    group = TherapyGroup(**{**defaults, "organisation_id": facilitator.organisation_id,
                            "timezone": data.get("timezone") or equivalent(facilitator.timezone) or "UTC"})
    _apply_group_fields(group, data, kept_zone=None)
    group.facilitators.append(GroupFacilitator(user_id=facilitator.id, lead=True))
    group.agreements.append(GroupAgreement(version=1, text=(data.get("agreement") or "").strip()
                                           or default_agreement_text(), created_by_id=facilitator.id))
    db.session.add(group)
    db.session.flush()
    audit.record("group_create", actor=facilitator, target=f"group:{group.id}")
    return group


def update_group(by: User, group: TherapyGroup, data: dict) -> None:
    """Change the group's settings. A new time zone moves the sessions to come so that they keep their local time in
    it; a group that finishes or is cancelled cancels its sessions to come, with the reason members see."""
    lock_group(group)
    require_open(group)
    taken = places_taken(group)
    capacity = data.get("capacity")
    if capacity is not None and capacity < taken:
        # Paused members keep their place (HOLDING_A_PLACE): a capacity below them would overfill the group on return.
        raise GroupError(_("%(n)d members hold a place (active or paused); capacity cannot go below that. "
                           "Change memberships first.", n=taken), "capacity", code="capacity_below_members")
    old_capacity, old_zone = group.capacity, group.timezone
    _apply_group_fields(group, data, kept_zone=old_zone)
    db.session.flush()
    if group.timezone != old_zone:
        schedules.follow_new_timezone(group, old_zone)
    if group.is_closed_for_changes:
        _cancel_sessions_to_come(group)
    elif group.capacity > old_capacity:
        promote_waitlist(group)
    if group.timezone != old_zone or group.is_closed_for_changes:
        schedules.schedule_changed(group)
    audit.record("group_update", actor=by, target=f"group:{group.id}",
                 details={"fields": sorted(k for k in data if k in GROUP_FIELDS)})


def _cancel_sessions_to_come(group: TherapyGroup) -> None:
    """A group that has ended advertises no more sessions: calendars get them as cancelled, with the reason."""
    if group.status == GroupStatus.CANCELLED:
        reason = _("This group has been cancelled, so this session will not take place.")
    else:
        reason = _("This group has finished, so this session will not take place.")
    for occurrence in db.session.scalars(select(SessionOccurrence).where(
            SessionOccurrence.group_id == group.id, SessionOccurrence.status == OccurrenceStatus.SCHEDULED,
            SessionOccurrence.starts_at > utcnow())):
        occurrence.status, occurrence.cancel_reason = OccurrenceStatus.CANCELLED, reason
        schedules.revise(occurrence)
    db.session.flush()


def set_co_facilitators(by: User, group: TherapyGroup, users: list[User]) -> None:
    lock_group(group)
    require_open(group)
    wanted = {u.id for u in users}
    for user in users:
        if user.role_in(group.organisation_id) != RoleName.FACILITATOR or not user.active:
            raise GroupError(_("Co-facilitators must be active facilitators of this organisation."), "co_facilitators")
    removed = {link.user_id for link in group.facilitators if not link.lead and link.user_id not in wanted}
    for link in list(group.facilitators):
        if link.user_id in removed:
            group.facilitators.remove(link)
    present = {link.user_id for link in group.facilitators}
    for user_id in wanted - present:
        group.facilitators.append(GroupFacilitator(user_id=user_id, lead=False))
    db.session.flush()
    for user_id in removed:
        signals.member_left_group.send(user_id=user_id, group_id=group.id)  # they leave its live rooms at once
    audit.record("group_facilitators_update", actor=by, target=f"group:{group.id}", details={"users": sorted(wanted)})


def update_agreement(by: User, group: TherapyGroup, text: str) -> GroupAgreement:
    require_open(group)
    text = text.strip()
    if not text:
        raise GroupError(_("The agreement cannot be empty."), "text")
    current = group.current_agreement
    if current is not None and current.text == text:
        return current
    agreement = GroupAgreement(version=(current.version + 1 if current else 1), text=text, created_by_id=by.id)
    group.agreements.append(agreement)
    db.session.flush()
    audit.record("group_agreement_update", actor=by, target=f"group:{group.id}",
                 details={"version": agreement.version})
    return agreement


# Enrolment ------------------------------------------------------------------------------------------------------------


def invite_member(by: User, group: TherapyGroup, email: str = "") -> tuple[Invitation, str]:
    """An email invitation, or a code to share when no address is given; both are single use."""
    require_open(group)
    return account_services.create_invitation(by, group.organisation, RoleName.PATIENT, email=email,
                                              context={"group_id": group.id})


@signals.invitation_accepted.connect
def on_invitation_accepted(invitation: Invitation, *, user: User) -> None:
    group_id = (invitation.context or {}).get("group_id")
    if group_id is None:
        return
    group = db.session.get(TherapyGroup, group_id)
    if group is None or group.organisation_id != invitation.organisation_id or group.is_closed_for_changes:
        raise account_services.AccountError(_("This group is no longer taking members."))
    membership = db.session.scalar(select(Membership).where(Membership.group_id == group.id,
                                                            Membership.user_id == user.id))
    if membership is None:
        membership = Membership(group_id=group.id, user_id=user.id, status=MembershipStatus.INVITED)
        db.session.add(membership)
    elif membership.status in (MembershipStatus.LEFT, MembershipStatus.COMPLETED):
        membership.status, membership.status_changed_at = MembershipStatus.INVITED, utcnow()
    db.session.flush()
    audit.record("membership_invited", actor=user, subject=user, target=f"membership:{membership.id}",
                 organisation_id=group.organisation_id)



#: Memberships that hold a place: a paused member keeps theirs (pausing frees nothing, resuming needs no free place).
HOLDING_A_PLACE = (MembershipStatus.ACTIVE, MembershipStatus.PAUSED)


def places_taken(group: TherapyGroup) -> int:
    return sum(1 for m in group.memberships if m.status in HOLDING_A_PLACE)


def _has_place(group: TherapyGroup) -> bool:
    if group.enrolment == Enrolment.CLOSED and group.status == GroupStatus.ACTIVE:
        return False  # a closed cohort takes nobody once it has started
    return places_taken(group) < group.capacity


def join_group(user: User, membership: Membership, *, agreement_id: int, preferred_name: str, hopes: str,
               doable: str, speaking_comfort: str, accommodations: list[str], accommodations_note: str) -> Membership:
    """Accept the agreement and answer the intake: active if there is a place, otherwise on the waitlist."""
    group = membership.group
    lock_group(group)  # two people taking the last place one after the other: one gets it, one waits
    require_open(group)
    if membership.status != MembershipStatus.INVITED:
        raise GroupError(_("You have already joined this group."), code="already_joined")
    current = group.current_agreement
    if current is None or agreement_id != current.id:
        raise GroupError(_("The group agreement has changed. Read the current version and accept it."), "agreement")
    unknown = set(accommodations) - set(ACCOMMODATIONS)
    if unknown:
        raise GroupError(_("Choose accommodations from the list."), "accommodations")
    try:
        comfort = SpeakingComfort(speaking_comfort)
    except ValueError:
        raise GroupError(_("Choose how comfortable you feel speaking in a group."), "speaking_comfort") from None
    now = utcnow()
    membership.preferred_name = preferred_name.strip()
    membership.intake_hopes = hopes.strip()
    membership.intake_doable = doable.strip()
    membership.speaking_comfort = comfort
    membership.accommodations = sorted(set(accommodations))
    membership.accommodations_note = accommodations_note.strip()
    membership.agreement_id, membership.agreement_accepted_at = current.id, now
    if _has_place(group):
        membership.status, membership.joined_at = MembershipStatus.ACTIVE, now
    else:
        membership.status, membership.waitlisted_at = MembershipStatus.WAITLISTED, now
    membership.status_changed_at = now
    db.session.flush()
    audit.record("membership_join", actor=user, subject=user, target=f"membership:{membership.id}",
                 details={"status": membership.status.value, "agreement_version": current.version})
    return membership


def accept_current_agreement(user: User, membership: Membership, agreement_id: int) -> None:
    current = membership.group.current_agreement
    if current is None or current.id != agreement_id:
        raise GroupError(_("The group agreement has changed. Read the current version and accept it."), "agreement")
    membership.agreement_id, membership.agreement_accepted_at = current.id, utcnow()
    db.session.flush()
    audit.record("agreement_accept", actor=user, subject=user, target=f"membership:{membership.id}",
                 details={"version": current.version})


ALLOWED_TRANSITIONS = {
    MembershipStatus.ACTIVE: {MembershipStatus.PAUSED, MembershipStatus.LEFT, MembershipStatus.COMPLETED},
    MembershipStatus.PAUSED: {MembershipStatus.ACTIVE, MembershipStatus.LEFT, MembershipStatus.COMPLETED},
    MembershipStatus.WAITLISTED: {MembershipStatus.LEFT, MembershipStatus.ACTIVE},
    MembershipStatus.INVITED: {MembershipStatus.LEFT},
    MembershipStatus.LEFT: {MembershipStatus.ACTIVE},
    MembershipStatus.COMPLETED: set(),
}


def change_membership_status(by: User, membership: Membership, status: MembershipStatus, reason: str = "") -> None:
    group = membership.group
    lock_group(group)
    require_open(group)
    if status == membership.status:
        return
    if status not in ALLOWED_TRANSITIONS[membership.status]:
        raise GroupError(_("A membership cannot go from %(old)s to %(new)s.", old=membership.status.value,
                           new=status.value), "status", code="invalid_transition")
    freeing = membership.status in HOLDING_A_PLACE and status not in HOLDING_A_PLACE
    if status == MembershipStatus.ACTIVE and membership.status != MembershipStatus.PAUSED \
            and places_taken(group) >= group.capacity:
        raise GroupError(_("The group is full."), "status", code="group_full")
    now = utcnow()
    membership.status, membership.status_changed_at = status, now
    membership.status_reason = reason.strip()
    if status == MembershipStatus.ACTIVE and membership.joined_at is None:
        membership.joined_at = now
    db.session.flush()
    audit.record("membership_status", actor=by, subject=membership.user_id, target=f"membership:{membership.id}",
                 details={"status": status.value})
    if status != MembershipStatus.ACTIVE:
        signals.member_left_group.send(user_id=membership.user_id, group_id=group.id)  # out of the live rooms at once
    if freeing:
        promote_waitlist(group)


def promote_waitlist(group: TherapyGroup) -> list[Membership]:
    """Give freed places to the people waiting longest, and tell each of them by email."""
    lock_group(group)
    promoted = []
    waiting = sorted((m for m in group.memberships if m.status == MembershipStatus.WAITLISTED),
                     key=lambda m: (m.waitlisted_at or m.invited_at, m.id))
    for membership in waiting:
        if not _has_place(group):
            break
        membership.status, membership.joined_at = MembershipStatus.ACTIVE, utcnow()
        membership.status_changed_at = membership.joined_at
        promoted.append(membership)
        db.session.flush()
        audit.record("membership_promoted", subject=membership.user_id, target=f"membership:{membership.id}",
                     organisation_id=group.organisation_id)
        _email_place_free(membership)
    return promoted


def _email_place_free(membership: Membership) -> None:
    """The waitlist page promises it: "we will tell you when a place frees". Sent after the commit."""
    user, group = membership.user, membership.group
    link = external_url("groups.show", group_id=group.id)
    with force_locale(user.locale):
        subject = _("A place is free for you in %(group)s", group=group.name)
        body = _("A place in %(group)s has freed up and it is yours: you are now a member of the group.\n\n"
                 "Its sessions are on your Momentum home page.", group=group.name)
        body += "\n" + link
    queue_email(user.email, subject, body)


# Agenda ---------------------------------------------------------------------------------------------------------------


def add_agenda_item(by: User, occurrence: SessionOccurrence, *, title: str, body: str = "",
                    rationale: str = "") -> AgendaItem:
    require_open(occurrence.group)
    if not title.strip():
        raise GroupError(_("An agenda item needs a title."), "title")
    position = max((item.position for item in occurrence.agenda_items), default=0) + 1
    item = AgendaItem(occurrence_id=occurrence.id, position=position, title=title.strip(), body=body.strip(),
                      rationale=rationale.strip())
    occurrence.agenda_items.append(item)
    db.session.flush()
    audit.record("agenda_add", actor=by, target=f"session:{occurrence.id}")
    return item


def update_agenda_item(by: User, item: AgendaItem, *, title: str, body: str, rationale: str) -> None:
    require_open(item.occurrence.group)
    if not title.strip():
        raise GroupError(_("An agenda item needs a title."), "title")
    item.title, item.body, item.rationale = title.strip(), body.strip(), rationale.strip()
    db.session.flush()
    audit.record("agenda_update", actor=by, target=f"agenda_item:{item.id}")


def delete_agenda_item(by: User, item: AgendaItem) -> None:
    require_open(item.occurrence.group)
    occurrence_id = item.occurrence_id
    db.session.delete(item)
    db.session.flush()
    audit.record("agenda_delete", actor=by, target=f"session:{occurrence_id}")


def move_agenda_item(by: User, item: AgendaItem, direction: int) -> None:
    require_open(item.occurrence.group)
    items = item.occurrence.agenda_items
    index = items.index(item)
    other = index + (1 if direction > 0 else -1)
    if 0 <= other < len(items):
        items[index].position, items[other].position = items[other].position, items[index].position
        db.session.flush()
        audit.record("agenda_reorder", actor=by, target=f"agenda_item:{item.id}")


# Facilitator notes ----------------------------------------------------------------------------------------------------


def add_note(by: User, group: TherapyGroup, body: str, *, occurrence: SessionOccurrence | None = None,
             member: User | None = None) -> FacilitatorNote:
    if not body.strip():
        raise GroupError(_("The note is empty."), "body")
    note = FacilitatorNote(group_id=group.id, occurrence_id=occurrence.id if occurrence else None,
                           member_id=member.id if member else None, author_id=by.id, body=body.strip())
    db.session.add(note)
    db.session.flush()
    audit.record("note_write", actor=by, subject=member, target=f"note:{note.id}")
    return note


def read_notes(by: User, group: TherapyGroup, *, occurrence: SessionOccurrence | None = None,
               member: User | None = None) -> list[FacilitatorNote]:
    """Notes for a session or a member; the read itself is audited, once for each member the notes are about."""
    query = select(FacilitatorNote).where(FacilitatorNote.group_id == group.id)
    if occurrence is not None:
        query = query.where(FacilitatorNote.occurrence_id == occurrence.id)
    if member is not None:
        query = query.where(FacilitatorNote.member_id == member.id)
    notes = list(db.session.scalars(query.order_by(FacilitatorNote.created_at.desc())))
    target = f"session:{occurrence.id}" if occurrence else f"group:{group.id}"
    about = {note.member_id for note in notes if note.member_id is not None}
    if member is not None:
        about.add(member.id)
    about = sorted(about)
    for member_id in about:
        audit.record("note_read", actor=by, subject=member_id, target=target,
                     details={"count": sum(1 for note in notes if note.member_id == member_id)})
    if not about:  # notes about the session as a whole, or none: the read is on record all the same
        audit.record("note_read", actor=by, target=target, details={"count": len(notes)})
    elif any(note.member_id is None for note in notes):
        audit.record("note_read", actor=by, target=target,
                     details={"count": sum(1 for note in notes if note.member_id is None)})
    return notes


def record_facilitator_read(by: User, action: str, *, target: str, member_ids, details: dict | None = None) -> None:
    """SECURITY.md 14: a facilitator's read of patient data (intake answers, an attendance sheet, engagement) is
    audited. One page shows several members at once: one record names them all (the subject when there is one)."""
    members = sorted(set(member_ids))
    if not members:
        return
    audit.record(action, actor=by, subject=members[0] if len(members) == 1 else None, target=target,
                 details={**(details or {}), "members": members})


