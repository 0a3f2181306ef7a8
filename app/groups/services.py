"""Writes for groups: groups and agreements, enrolment and the waitlist, schedules and occurrences, attendance,
agendas, facilitator notes and calendar feeds. Services validate, flush and audit; the boundary commits."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from app import audit, signals
from app.accounts import services as account_services
from app.accounts.models import Invitation, RoleName, User
from app.extensions import db
from app.groups import recurrence
from app.groups.models import (
    ACCOMMODATIONS,
    AgendaItem,
    Attendance,
    AttendanceStatus,
    CalendarFeed,
    Enrolment,
    FacilitatorNote,
    GroupAgreement,
    GroupFacilitator,
    GroupFormat,
    GroupStatus,
    Membership,
    MembershipStatus,
    OccurrenceStatus,
    Schedule,
    SessionOccurrence,
    SpeakingComfort,
    TherapyGroup,
)
from app.links import external_url
from app.models_base import utcnow
from app.notifications.email import queue_email
from app.push import notify_data_changed
from app.refusal import Refusal
from app.zones import TIMEZONES


class GroupError(Refusal):
    """A domain rule refused the change; `message` is shown as is, `field` points at the input at fault."""

    conflicts = Refusal.conflicts | {"group_closed", "already_joined", "group_full", "invalid_transition",
                                     "session_cancelled", "session_not_started", "sessions_with_records"}


def default_agreement_text() -> str:
    return _(
        "What is said in the group stays in the group.\n"
        "We listen without judging and speak for ourselves.\n"
        "Passing is always fine.\n"
        "We arrive on time when we can and say when we cannot come.\n"
        "If you are in crisis, contact emergency services: this group cannot respond in an emergency."
    )


def schedule_error_message(error: recurrence.ScheduleError) -> str:
    messages = {
        "nonexistent_local_time": _("That time does not exist on that day in this time zone (the clocks go forward). "
                                    "Choose another time."),
        "unbounded": _("A series needs an end: a number of sessions or an end date."),
        "no_occurrences": _("This schedule produces no sessions. Check the start date and the end."),
        "too_many": _("A series can have at most %(n)d sessions.", n=recurrence.MAX_OCCURRENCES),
        "too_long": _("A series can span at most three years."),
        "invalid_rule": _("This repeat rule cannot be used."),
        "out_of_range": _("Check the date, time and length."),
    }
    return messages.get(error.code, messages["invalid_rule"])


def _require_open(group: TherapyGroup) -> None:
    if group.is_closed_for_changes:
        raise GroupError(_("This group has ended; it can no longer be changed."), code="group_closed")


def _lock_group(group: TherapyGroup) -> None:
    """Take the group's row lock and read the group and its memberships again, as committed.

    Places are counted in Python: without the lock, two people joining for the last place on PostgreSQL both count it
    free and both become active. The lock is held until the commit, so writers of one group's memberships go one after
    the other (SQLite's BEGIN IMMEDIATE already serialises every writer; the statement is harmless there). Take it
    before the first audit record of the transaction: every writer waits for the audit chain's head after that, and
    the other order could deadlock.
    """
    db.session.flush()
    db.session.execute(select(TherapyGroup).where(TherapyGroup.id == group.id).with_for_update()
                       .execution_options(populate_existing=True))
    db.session.expire(group, ["memberships"])
    db.session.scalars(select(Membership).where(Membership.group_id == group.id)
                       .execution_options(populate_existing=True)).all()


# Groups ---------------------------------------------------------------------------------------------------------------


GROUP_FIELDS = ("name", "description", "focus", "format", "location", "video_link", "capacity", "enrolment", "status",
                "timezone", "checkin_visibility", "distress_threshold", "lobby_minutes")


def _apply_group_fields(group: TherapyGroup, data: dict) -> None:
    for field in GROUP_FIELDS:
        if field in data and data[field] is not None:
            value = data[field]
            # A str enum (format, status, from the API) is a str too: strip only plain text, or the enum is lost.
            setattr(group, field, value.strip() if type(value) is str else value)
    if group.timezone not in TIMEZONES:
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
                            "timezone": data.get("timezone") or facilitator.timezone})
    _apply_group_fields(group, data)
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
    _lock_group(group)
    _require_open(group)
    taken = places_taken(group)
    capacity = data.get("capacity")
    if capacity is not None and capacity < taken:
        # Paused members keep their place (HOLDING_A_PLACE): a capacity below them would overfill the group on return.
        raise GroupError(_("%(n)d members hold a place (active or paused); capacity cannot go below that. "
                           "Change memberships first.", n=taken), "capacity", code="capacity_below_members")
    old_capacity, old_zone = group.capacity, group.timezone
    _apply_group_fields(group, data)
    db.session.flush()
    if group.timezone != old_zone:
        _follow_new_timezone(group, old_zone)
    if group.is_closed_for_changes:
        _cancel_sessions_to_come(group)
    elif group.capacity > old_capacity:
        promote_waitlist(group)
    if group.timezone != old_zone or group.is_closed_for_changes:
        _schedule_changed(group)
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
        _revise(occurrence)
    db.session.flush()


def set_co_facilitators(by: User, group: TherapyGroup, users: list[User]) -> None:
    _lock_group(group)
    _require_open(group)
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
    _require_open(group)
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
    _require_open(group)
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
    _lock_group(group)  # two people taking the last place one after the other: one gets it, one waits
    _require_open(group)
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
    _lock_group(group)
    _require_open(group)
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
    _lock_group(group)
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


# Schedules and occurrences --------------------------------------------------------------------------------------------


def save_schedule(by: User, group: TherapyGroup, *, dtstart_local: datetime, rule: str,
                  duration_minutes: int) -> Schedule:
    """Set the series and bring future occurrences in line, keeping exceptions and anything already past."""
    _require_open(group)
    if not 15 <= duration_minutes <= 480:
        raise GroupError(_("A session lasts between 15 minutes and 8 hours."), "duration_minutes")
    try:
        starts = recurrence.expand(rule, dtstart_local, group.timezone)
        if all(start <= utcnow() for start in starts):
            raise recurrence.ScheduleError("no_occurrences")  # saved, it would add no session at all
    except recurrence.ScheduleError as error:
        raise GroupError(schedule_error_message(error), "rrule", code=error.code) from None
    old_starts = _series_starts(group.schedule)
    schedule = group.schedule or Schedule(group_id=group.id)
    schedule.dtstart_local = dtstart_local.isoformat(timespec="minutes")
    schedule.timezone = group.timezone
    schedule.rrule = rule
    schedule.duration_minutes = duration_minutes
    if group.schedule is None:
        group.schedule = schedule
    _sync_occurrences(group, starts, duration_minutes, old_starts)
    db.session.flush()
    audit.record("schedule_save", actor=by, target=f"group:{group.id}", details={"rrule": rule,
                                                                               "sessions": len(starts)})
    _schedule_changed(group)
    return schedule


def _schedule_changed(group: TherapyGroup) -> None:
    """Members' supporters who may see upcoming sessions get a nudge to refresh (after commit)."""
    for user_id in db.session.scalars(select(Membership.user_id).where(Membership.group_id == group.id,
                                                                       Membership.status == MembershipStatus.ACTIVE)):
        notify_data_changed(user_id, "sessions_attendance")


def _series_starts(schedule: Schedule | None) -> list[datetime]:
    """The starts the saved series gives (UTC), in order: where each of its sessions sits in it."""
    if schedule is None:
        return []
    try:
        return recurrence.expand(schedule.rrule, datetime.fromisoformat(schedule.dtstart_local), schedule.timezone)
    except (recurrence.ScheduleError, ValueError):
        return []


def _follow_new_timezone(group: TherapyGroup, old_zone: str) -> None:
    """The group's time zone changed: every session to come keeps its local wall-clock time, now in the new zone.

    The series is expanded again from its local start in the new zone (so a session at 18:00 stays at 18:00 there);
    sessions moved one by one and extra sessions keep the local time they were given.
    """
    now = utcnow()
    for occurrence in db.session.scalars(select(SessionOccurrence).where(SessionOccurrence.group_id == group.id,
                                                                         SessionOccurrence.starts_at > now)):
        if occurrence.recurrence_id is None or "start" in _overrides(occurrence):
            local = recurrence.to_local(occurrence.starts_at, old_zone).replace(tzinfo=None)
            occurrence.starts_at = recurrence.to_utc(local, group.timezone)
            _revise(occurrence)
    schedule = group.schedule
    if schedule is None:
        db.session.flush()
        return
    old_starts = _series_starts(schedule)
    try:
        starts = recurrence.expand(schedule.rrule, datetime.fromisoformat(schedule.dtstart_local), group.timezone)
    except recurrence.ScheduleError as error:
        raise GroupError(schedule_error_message(error), "timezone", code=error.code) from None
    schedule.timezone = group.timezone
    _sync_occurrences(group, starts, schedule.duration_minutes, old_starts)
    db.session.flush()


#: How far a session of the series may follow an edit of the series: further away, it is another session.
FOLLOW_WITHIN = timedelta(days=7)


def _sync_occurrences(group: TherapyGroup, starts: list[datetime], duration_minutes: int,
                      old_starts: list[datetime]) -> None:
    """Future sessions follow the new series; past ones stay as they were.

    A future session the new series no longer has at the same moment moves to the new series' session at the same
    place in the series (the fourth stays the fourth when the weekday or the time changes) or, failing that, to the
    nearest free one, if less than a week away. It keeps its id, agenda, notes and attendance, and what it sets for
    itself (`overrides`): one moved alone stays where it was moved, one cancelled stays cancelled, one with its own
    link or place keeps it and follows the series' new time. Its length follows the series unless it set its own.

    A session that finds no place in the new series goes, unless it was moved alone; if it already holds an agenda,
    notes, attendance or check-ins, the change is refused rather than losing them.
    """
    now = utcnow()
    existing = {occ.recurrence_id: occ for occ in db.session.scalars(
        select(SessionOccurrence).where(SessionOccurrence.group_id == group.id,
                                        SessionOccurrence.recurrence_id.is_not(None)))}
    wanted = set(starts)
    place = {start: index for index, start in enumerate(old_starts)}
    free = {start for start in starts if start > now and start not in existing}
    leaving = sorted((occ for key, occ in existing.items() if key not in wanted and occ.starts_at > now),
                     key=lambda occ: occ.recurrence_id)
    unplaced = []
    for occurrence in leaving:
        key = occurrence.recurrence_id
        index = place.get(key)
        same_place = starts[index] if index is not None and index < len(starts) else None
        if same_place in free and abs(same_place - key) < FOLLOW_WITHIN:
            new_start = same_place
        else:
            near = [start for start in free if abs(start - key) < FOLLOW_WITHIN]
            new_start = min(near, key=lambda start: (abs(start - key), start), default=None)
        if new_start is None:
            unplaced.append(occurrence)
            continue
        free.discard(new_start)
        del existing[key]
        existing[new_start] = occurrence
        occurrence.recurrence_id = new_start
        if "start" not in _overrides(occurrence):
            occurrence.starts_at = new_start
            _revise(occurrence)
    kept = _holding_records({occ.id for occ in unplaced})
    lost = [occ for occ in unplaced if occ.id in kept and "start" not in _overrides(occ)]
    if lost:
        days = ", ".join(recurrence.to_local(occ.starts_at, group.timezone).strftime("%Y-%m-%d %H:%M")
                         for occ in lost)
        raise GroupError(_("The new schedule has no session for %(days)s, which already has an agenda, notes, "
                           "attendance or check-ins. Keep it in the series, or move it on its own first.", days=days),
                         "rrule", code="sessions_with_records")
    for occurrence in unplaced:
        if "start" not in _overrides(occurrence):
            db.session.delete(occurrence)
    for start in starts:
        occurrence = existing.get(start)
        if occurrence is None:
            if start > now:
                db.session.add(SessionOccurrence(group_id=group.id, recurrence_id=start, starts_at=start,
                                                 duration_minutes=duration_minutes))
        elif occurrence.starts_at > now and "duration" not in _overrides(occurrence) \
                and occurrence.duration_minutes != duration_minutes:
            occurrence.duration_minutes = duration_minutes
            _revise(occurrence)


def _overrides(occurrence: SessionOccurrence) -> set[str]:
    return set(occurrence.overrides or ())


def _holding_records(occurrence_ids: set[int]) -> set[int]:
    """Which of these sessions hold something a person wrote: agenda items, notes, attendance or check-ins."""
    if not occurrence_ids:
        return set()
    found: set[int] = set()
    for column in (AgendaItem.occurrence_id, FacilitatorNote.occurrence_id, Attendance.occurrence_id):
        found.update(db.session.scalars(select(column).where(column.in_(occurrence_ids)).distinct()))
    for _receiver, held in signals.session_records_asked.send(None, occurrence_ids=occurrence_ids):
        found.update(held)
    return found


def _revise(occurrence: SessionOccurrence) -> None:
    """The session changed in a way a calendar shows: the next feed carries a higher SEQUENCE (RFC 5545 3.8.7.4)."""
    if occurrence.id is not None:
        occurrence.sequence = (occurrence.sequence or 0) + 1
        occurrence.updated_at = utcnow()


def add_extra_session(by: User, group: TherapyGroup, *, start_local: datetime, duration_minutes: int,
                      video_link: str = "", location: str = "") -> SessionOccurrence:
    _require_open(group)
    starts_at = _typed_local_time(start_local, group.timezone)
    if starts_at <= utcnow():
        raise GroupError(_("An extra session must be in the future."), "start")
    if not 15 <= duration_minutes <= 480:
        raise GroupError(_("A session lasts between 15 minutes and 8 hours."), "duration_minutes")
    _check_link(video_link)
    occurrence = SessionOccurrence(group_id=group.id, recurrence_id=None, starts_at=starts_at,
                                   duration_minutes=duration_minutes, video_link=video_link.strip(),
                                   location=location.strip(), is_exception=True)
    db.session.add(occurrence)
    db.session.flush()
    audit.record("session_add", actor=by, target=f"session:{occurrence.id}")
    _schedule_changed(group)
    return occurrence


def _typed_local_time(value: datetime, zone: str) -> datetime:
    try:
        return recurrence.to_utc_strict(value, zone)
    except recurrence.ScheduleError as error:
        raise GroupError(schedule_error_message(error), "start", code=error.code) from None


def _check_link(link: str) -> None:
    if link and not link.strip().lower().startswith("https://"):
        raise GroupError(_("The video link must start with https://"), "video_link")


def update_occurrence(by: User, occurrence: SessionOccurrence, *, start_local: datetime | None = None,
                      duration_minutes: int | None = None, video_link: str | None = None,
                      location: str | None = None) -> None:
    """Change one session without touching the rest of the series.

    Only what differs from the session as it is counts as changed, and is remembered in `overrides` so that a later
    edit of the series leaves it alone (and sets the rest): a new link alone does not pin the session's time.
    """
    _require_open(occurrence.group)
    overrides = _overrides(occurrence)
    changed = []
    if start_local is not None:
        starts_at = _typed_local_time(start_local, occurrence.group.timezone)
        if starts_at != occurrence.starts_at:
            if starts_at <= utcnow():
                raise GroupError(_("A session cannot be moved into the past."), "start", code="in_the_past")
            occurrence.starts_at = starts_at
            changed.append("start")
            if starts_at == occurrence.recurrence_id:
                overrides.discard("start")  # back where the series puts it: it follows the series again
            else:
                overrides.add("start")
    if duration_minutes is not None:
        if not 15 <= duration_minutes <= 480:
            raise GroupError(_("A session lasts between 15 minutes and 8 hours."), "duration_minutes")
        if duration_minutes != occurrence.duration_minutes:
            occurrence.duration_minutes = duration_minutes
            changed.append("duration")
            overrides.add("duration")
    for name, value in (("video_link", video_link), ("location", location)):
        if value is None:
            continue
        if name == "video_link":
            _check_link(value)
        value = value.strip()
        if value != getattr(occurrence, name):
            setattr(occurrence, name, value)
            changed.append(name)
            # An empty value means "the group's", which follows the group: no override.
            (overrides.add if value else overrides.discard)(name)
    if changed:
        occurrence.overrides = sorted(overrides)
        occurrence.is_exception = True
        _revise(occurrence)
    db.session.flush()
    audit.record("session_update", actor=by, target=f"session:{occurrence.id}", details={"changed": changed})
    _schedule_changed(occurrence.group)


def cancel_occurrence(by: User, occurrence: SessionOccurrence, reason: str) -> None:
    _require_open(occurrence.group)
    if not reason.strip():
        raise GroupError(_("Tell members why the session is cancelled."), "reason")
    occurrence.status, occurrence.cancel_reason = OccurrenceStatus.CANCELLED, reason.strip()
    occurrence.is_exception = True
    _revise(occurrence)
    db.session.flush()
    audit.record("session_cancel", actor=by, target=f"session:{occurrence.id}")
    _schedule_changed(occurrence.group)


def restore_occurrence(by: User, occurrence: SessionOccurrence) -> None:
    _require_open(occurrence.group)
    occurrence.status, occurrence.cancel_reason = OccurrenceStatus.SCHEDULED, ""
    _revise(occurrence)
    db.session.flush()
    audit.record("session_restore", actor=by, target=f"session:{occurrence.id}")
    _schedule_changed(occurrence.group)


# Attendance -----------------------------------------------------------------------------------------------------------


@dataclass
class AttendanceEntry:
    user_id: int
    status: AttendanceStatus | None
    comment: str = ""
    #: What the sheet showed when it was loaded: a save changes only what this person changed.
    previous_status: AttendanceStatus | None = None
    previous_comment: str = ""


@dataclass
class AttendanceSaved:
    """What a save of the sheet did not change, so that the facilitator can be told and nothing typed is lost."""

    #: Rows someone else changed since the sheet was loaded: their entries are kept.
    conflicts: list[int] = dataclasses.field(default_factory=list)
    #: Rows of people who are not (or no longer) active members: nothing was saved for them.
    skipped: list[int] = dataclasses.field(default_factory=list)


def record_attendance(by: User, occurrence: SessionOccurrence, entries: list[AttendanceEntry]) -> AttendanceSaved:
    """Save the rows this facilitator changed; every other row of the sheet is still saved when some cannot be.

    A row changed meanwhile by someone else keeps their entry and is reported as a conflict; a row of someone who
    stopped being an active member since the sheet was loaded (a co-facilitator paused them) is reported as skipped.
    """
    group = occurrence.group
    _require_open(group)
    if occurrence.status == OccurrenceStatus.CANCELLED:
        raise GroupError(_("This session was cancelled: there is no attendance to record."), code="session_cancelled")
    if occurrence.starts_at > utcnow():
        raise GroupError(_("This session has not started yet: record attendance once it has begun."),
                         code="session_not_started")
    # Lock the occurrence so that two saves of the same sheet run one after the other (SQLite's BEGIN IMMEDIATE
    # already serialises writers; on PostgreSQL this row lock does). Who is active is read after it, as committed.
    db.session.execute(select(SessionOccurrence.id).where(SessionOccurrence.id == occurrence.id).with_for_update())
    active = set(db.session.scalars(select(Membership.user_id).where(Membership.group_id == group.id,
                                                                     Membership.status == MembershipStatus.ACTIVE)))
    current = {a.user_id: a for a in db.session.scalars(
        select(Attendance).where(Attendance.occurrence_id == occurrence.id)
        .execution_options(populate_existing=True))}
    saved = AttendanceSaved()
    changed = []
    for entry in entries:
        row = current.get(entry.user_id)
        untouched = entry.status == entry.previous_status and entry.comment.strip() == entry.previous_comment.strip()
        if untouched:
            continue
        if entry.user_id not in active:
            saved.skipped.append(entry.user_id)
            continue
        on_record = (row.status if row else None, row.comment if row else "")
        if on_record != (entry.previous_status, entry.previous_comment.strip()) and \
                on_record != (entry.status, entry.comment.strip()):
            saved.conflicts.append(entry.user_id)
            continue
        if entry.status is None:
            if row is not None:
                db.session.delete(row)
                changed.append(entry.user_id)
            continue
        if row is None:
            row = Attendance(occurrence_id=occurrence.id, user_id=entry.user_id, status=entry.status)
            db.session.add(row)
            current[entry.user_id] = row
        row.status, row.comment = entry.status, entry.comment.strip()[:500]
        row.recorded_by_id, row.recorded_at = by.id, utcnow()
        changed.append(entry.user_id)
    db.session.flush()
    audit.record("attendance_record", actor=by, subject=changed[0] if len(changed) == 1 else None,
                 target=f"session:{occurrence.id}",
                 details={"changed": len(changed), "members": sorted(changed), "conflicts": saved.conflicts,
                          "skipped": saved.skipped})
    for user_id in changed:
        notify_data_changed(user_id, "sessions_attendance")
    return saved


# Agenda ---------------------------------------------------------------------------------------------------------------


def add_agenda_item(by: User, occurrence: SessionOccurrence, *, title: str, body: str = "",
                    rationale: str = "") -> AgendaItem:
    _require_open(occurrence.group)
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
    _require_open(item.occurrence.group)
    if not title.strip():
        raise GroupError(_("An agenda item needs a title."), "title")
    item.title, item.body, item.rationale = title.strip(), body.strip(), rationale.strip()
    db.session.flush()
    audit.record("agenda_update", actor=by, target=f"agenda_item:{item.id}")


def delete_agenda_item(by: User, item: AgendaItem) -> None:
    _require_open(item.occurrence.group)
    occurrence_id = item.occurrence_id
    db.session.delete(item)
    db.session.flush()
    audit.record("agenda_delete", actor=by, target=f"session:{occurrence_id}")


def move_agenda_item(by: User, item: AgendaItem, direction: int) -> None:
    _require_open(item.occurrence.group)
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


# Calendar feeds -------------------------------------------------------------------------------------------------------


def create_calendar_feed(user: User) -> tuple[CalendarFeed, str]:
    """A new secret feed URL; an earlier one stops working."""
    for feed in db.session.scalars(select(CalendarFeed).where(CalendarFeed.user_id == user.id,
                                                              CalendarFeed.revoked_at.is_(None))):
        feed.revoked_at = utcnow()
    raw = account_services.new_token()
    feed = CalendarFeed(user_id=user.id, token_hash=account_services.hash_token(raw))
    db.session.add(feed)
    db.session.flush()
    audit.record("calendar_feed_create", actor=user, subject=user, target=f"calendar_feed:{feed.id}")
    return feed, raw


def revoke_calendar_feeds(user: User) -> None:
    for feed in db.session.scalars(select(CalendarFeed).where(CalendarFeed.user_id == user.id,
                                                              CalendarFeed.revoked_at.is_(None))):
        feed.revoked_at = utcnow()
    db.session.flush()
    audit.record("calendar_feed_revoke", actor=user, subject=user)


def find_calendar_feed(raw: str) -> CalendarFeed | None:
    if not raw or len(raw) > 200:
        return None
    return db.session.scalar(select(CalendarFeed).where(
        CalendarFeed.token_hash == account_services.hash_token(raw), CalendarFeed.revoked_at.is_(None)))


