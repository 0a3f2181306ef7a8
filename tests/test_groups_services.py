"""Group services and queries: groups, agreements, enrolment and the waitlist, invitations, schedules and their
exceptions, attendance (with two facilitators at once), engagement, and facilitator notes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from groups_fixtures import *  # noqa: F403
from groups_fixtures import NOW, audit_actions, enrol, occurrences_of, run_overlapping, set_weekly_schedule, utc
from sqlalchemy import select

from app.accounts import services as account_services
from app.accounts.models import Invitation, RoleName
from app.extensions import db
from app.groups import attendance, queries, schedules, services
from app.groups.attendance import AttendanceEntry
from app.groups.models import (
    AgendaItem,
    Attendance,
    AttendanceStatus,
    GroupAgreement,
    GroupStatus,
    Membership,
    MembershipStatus,
    OccurrenceStatus,
    Schedule,
    SessionOccurrence,
)
from app.groups.rules import GroupError
from app.models_base import utcnow

PRESENT = AttendanceStatus.PRESENT_ONLINE
ABSENT = AttendanceStatus.ABSENT


def membership(group, user) -> Membership:
    return db.session.scalar(select(Membership).where(Membership.group_id == group.id, Membership.user_id == user.id))


def invited(group, user) -> Membership:
    """A membership as the invitation hook leaves it: invited, before the agreement and the intake."""
    row = Membership(group_id=group.id, user_id=user.id, status=MembershipStatus.INVITED)
    db.session.add(row)
    db.session.commit()
    return row


def record(facilitator, occurrence, statuses: dict, comments: dict | None = None) -> list[int]:
    """Save a sheet loaded just now: the previous values are what is on record."""
    on_record = queries.attendance_for(occurrence)
    entries = []
    for user_id, status in statuses.items():
        row = on_record.get(user_id)
        entries.append(AttendanceEntry(user_id=user_id, status=status, comment=(comments or {}).get(user_id, ""),
                                       previous_status=row.status if row else None,
                                       previous_comment=row.comment if row else ""))
    saved = attendance.record_attendance(facilitator, occurrence, entries)
    db.session.commit()
    return saved.conflicts


def berlin(moment: datetime) -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d %H:%M")


def future(group) -> list[SessionOccurrence]:
    return [o for o in occurrences_of(group) if o.starts_at > NOW]


# Groups ---------------------------------------------------------------------------------------------------------------


def test_a_new_group_is_led_by_its_creator_and_starts_with_agreement_version_1(make_group, facilitator):
    group = make_group(facilitator, agreement="We keep what is said here to ourselves.")

    assert [(f.user_id, f.lead) for f in group.facilitators] == [(facilitator.id, True)]
    assert [(a.version, a.text) for a in group.agreements] == [(1, "We keep what is said here to ourselves.")]
    assert group.organisation_id == facilitator.organisation_id
    assert group.timezone == "Europe/Berlin"
    assert audit_actions("group_create")[-1].actor_id == facilitator.id


def test_capacity_below_the_active_members_is_refused_and_nothing_changes(make_group, make_member, facilitator):
    group = make_group(facilitator, capacity=3)
    for _ in range(3):
        make_member(group)

    with pytest.raises(GroupError) as caught:
        services.update_group(facilitator, group, {"capacity": 2, "name": "Renamed"})
    db.session.rollback()

    assert caught.value.code == "capacity_below_members"
    assert caught.value.field == "capacity"
    assert "3 members" in caught.value.message
    db.session.refresh(group)
    assert (group.capacity, group.name) == (3, "Tuesday evening group")


def test_capacity_equal_to_the_active_members_is_accepted(make_group, make_member, facilitator):
    group = make_group(facilitator, capacity=5)
    make_member(group)
    make_member(group)

    services.update_group(facilitator, group, {"capacity": 2})
    db.session.commit()

    assert group.capacity == 2


@pytest.mark.parametrize(("data", "field"), [
    ({"capacity": 0}, "capacity"),
    ({"capacity": 501}, "capacity"),
    ({"format": "in_person", "location": ""}, "location"),
    ({"format": "hybrid", "location": "Room 4", "video_link": ""}, "video_link"),
    ({"video_link": "http://video.example.org/room"}, "video_link"),
    ({"video_link": "javascript:alert(1)"}, "video_link"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"name": "   "}, "name"),
    ({"distress_threshold": 11}, "distress_threshold"),
])
def test_group_fields_are_checked(make_group, facilitator, data, field):
    group = make_group(facilitator)

    with pytest.raises(GroupError) as caught:
        services.update_group(facilitator, group, data)
    db.session.rollback()

    assert caught.value.field == field


@pytest.mark.parametrize("status", ["finished", "cancelled"])
def test_a_group_that_has_ended_cannot_be_changed(group_with_members, facilitator, make_user, status):
    group = group_with_members
    occurrence = future(group)[0]
    first = services.add_agenda_item(facilitator, occurrence, title="Arrive")
    second = services.add_agenda_item(facilitator, occurrence, title="Plan")
    services.update_group(facilitator, group, {"status": status})
    db.session.commit()
    newcomer = invited(group, make_user(RoleName.PATIENT))
    attempts = {
        "edit": lambda: services.update_group(facilitator, group, {"name": "Renamed"}),
        "reopen": lambda: services.update_group(facilitator, group, {"status": "active"}),
        "agreement": lambda: services.update_agreement(facilitator, group, "New rules"),
        "schedule": lambda: schedules.save_schedule(facilitator, group, dtstart_local=datetime(2026, 4, 1, 18),
                                                   rule="FREQ=WEEKLY;COUNT=3", duration_minutes=90),
        "invite": lambda: services.invite_member(facilitator, group),
        "extra": lambda: schedules.add_extra_session(facilitator, group, start_local=datetime(2026, 4, 4, 10),
                                                    duration_minutes=60),
        "move": lambda: schedules.update_occurrence(facilitator, occurrence, start_local=datetime(2026, 4, 4, 10)),
        "cancel": lambda: schedules.cancel_occurrence(facilitator, occurrence, "Holiday"),
        "agenda": lambda: services.add_agenda_item(facilitator, occurrence, title="Breathing"),
        "agenda edit": lambda: services.update_agenda_item(facilitator, first, title="X", body="", rationale=""),
        "agenda order": lambda: services.move_agenda_item(facilitator, second, -1),
        "agenda delete": lambda: services.delete_agenda_item(facilitator, first),
        "membership": lambda: services.change_membership_status(facilitator, newcomer, MembershipStatus.LEFT),
        "attendance": lambda: attendance.record_attendance(facilitator, occurrence, []),
        "join": lambda: enrol(group, newcomer.user),
    }
    before = (group.name, group.status, len(occurrences_of(group)), len(group.agreements))

    for name, attempt in attempts.items():
        with pytest.raises(GroupError) as caught:
            attempt()
        db.session.rollback()
        assert caught.value.code == "group_closed", name

    assert (group.name, group.status, len(occurrences_of(group)), len(group.agreements)) == before
    # Cancelled when the group ended (with the reason members see), not by the refused attempt.
    assert occurrence.status == OccurrenceStatus.CANCELLED
    assert "will not take place" in occurrence.cancel_reason and "Holiday" not in occurrence.cancel_reason
    assert [(i.title, i.position) for i in occurrence.agenda_items] == [("Arrive", 1), ("Plan", 2)]
    assert membership(group, newcomer.user).status == MembershipStatus.INVITED


def test_co_facilitators_must_be_active_facilitators_of_the_organisation(make_group, facilitator, make_user,
                                                                          make_organisation, patient):
    group = make_group(facilitator)
    colleague = make_user(RoleName.FACILITATOR)
    elsewhere = make_user(RoleName.FACILITATOR, organisation_=make_organisation())

    for wrong in (patient, elsewhere):
        with pytest.raises(GroupError):
            services.set_co_facilitators(facilitator, group, [wrong])
        db.session.rollback()
    services.set_co_facilitators(facilitator, group, [colleague])
    db.session.commit()

    assert {(f.user_id, f.lead) for f in group.facilitators} == {(facilitator.id, True), (colleague.id, False)}
    services.set_co_facilitators(facilitator, group, [])
    db.session.commit()
    assert [f.user_id for f in group.facilitators] == [facilitator.id]  # the lead cannot be removed


# The agreement and the intake -----------------------------------------------------------------------------------------


def test_joining_records_the_accepted_agreement_version_and_time(make_group, facilitator, patient, clock):
    group = make_group(facilitator)
    clock.shift(timedelta(minutes=7))

    row = enrol(group, patient, preferred_name="P.", hopes="Company", doable="Listening",
                speaking_comfort="very_uneasy", accommodations=("camera_off", "reminders"),
                accommodations_note="I may need to leave early.")

    assert row.status == MembershipStatus.ACTIVE
    assert row.agreement.version == 1
    assert row.agreement_accepted_at == NOW + timedelta(minutes=7)
    assert row.joined_at == NOW + timedelta(minutes=7)
    assert (row.preferred_name, row.intake_hopes, row.intake_doable, row.speaking_comfort.value,
            row.accommodations, row.accommodations_note) == (
        "P.", "Company", "Listening", "very_uneasy", ["camera_off", "reminders"], "I may need to leave early.")
    event = audit_actions("membership_join")[-1]
    assert '"agreement_version": 1' in event.details


def test_a_new_agreement_version_must_be_accepted_again_and_the_new_acceptance_is_recorded(
        make_group, facilitator, patient, clock):
    group = make_group(facilitator)
    row = enrol(group, patient)
    first = row.agreement

    clock.shift(timedelta(days=2))
    second = services.update_agreement(facilitator, group, "New rules: cameras optional.")
    db.session.commit()

    assert (first.version, second.version) == (1, 2)
    assert [a.version for a in group.agreements] == [1, 2]
    assert group.current_agreement == second
    assert row.agreement == first  # still the version they accepted
    assert first.text != second.text  # the old text is kept, not overwritten

    with pytest.raises(GroupError):
        services.accept_current_agreement(patient, row, first.id)
    db.session.rollback()
    clock.shift(timedelta(hours=3))
    services.accept_current_agreement(patient, row, second.id)
    db.session.commit()

    assert row.agreement == second
    assert row.agreement_accepted_at == NOW + timedelta(days=2, hours=3)
    assert '"version": 2' in audit_actions("agreement_accept")[-1].details


def test_joining_with_an_outdated_agreement_is_refused(make_group, facilitator, patient):
    group = make_group(facilitator)
    row = invited(group, patient)
    old = group.current_agreement.id
    services.update_agreement(facilitator, group, "Changed rules")
    db.session.commit()

    with pytest.raises(GroupError) as caught:
        services.join_group(patient, row, agreement_id=old, preferred_name="Pat", hopes="", doable="",
                            speaking_comfort="comfortable", accommodations=[], accommodations_note="")
    db.session.rollback()

    assert caught.value.field == "agreement"
    assert membership(group, patient).status == MembershipStatus.INVITED


def test_saving_the_same_agreement_text_makes_no_new_version(make_group, facilitator):
    group = make_group(facilitator)
    services.update_agreement(facilitator, group, group.current_agreement.text + "  ")
    db.session.commit()

    assert db.session.scalar(select(GroupAgreement.version).where(GroupAgreement.group_id == group.id)
                             .order_by(GroupAgreement.version.desc())) == 1
    with pytest.raises(GroupError):
        services.update_agreement(facilitator, group, "   ")


@pytest.mark.parametrize(("answers", "field"), [
    ({"speaking_comfort": "loud"}, "speaking_comfort"),
    ({"speaking_comfort": ""}, "speaking_comfort"),
    ({"accommodations": ["camera_off", "sing_along"]}, "accommodations"),
])
def test_bad_intake_answers_are_refused_and_nothing_is_stored(make_group, facilitator, patient, answers, field):
    group = make_group(facilitator)
    row = invited(group, patient)
    data = {"agreement_id": group.current_agreement.id, "preferred_name": "Pat", "hopes": "x", "doable": "y",
            "speaking_comfort": "comfortable", "accommodations": [], "accommodations_note": "", **answers}

    with pytest.raises(GroupError) as caught:
        services.join_group(patient, row, **data)
    db.session.rollback()

    assert caught.value.field == field
    row = membership(group, patient)
    assert (row.status, row.intake_hopes, row.agreement_id) == (MembershipStatus.INVITED, "", None)


def test_joining_twice_is_refused(make_group, facilitator, patient):
    group = make_group(facilitator)
    enrol(group, patient)

    with pytest.raises(GroupError) as caught:
        enrol(group, patient)
    assert caught.value.code == "already_joined"


# The waitlist ---------------------------------------------------------------------------------------------------------


def test_a_full_group_puts_the_joiner_on_the_waitlist(make_group, make_member, facilitator, patient):
    group = make_group(facilitator, capacity=2)
    make_member(group)
    make_member(group)

    row = enrol(group, patient)

    assert row.status == MembershipStatus.WAITLISTED
    assert row.waitlisted_at == NOW and row.joined_at is None
    assert row.agreement_accepted_at == NOW  # the agreement and intake are done once, before waiting
    assert queries.waitlist(group) == [row]
    assert group.active_count() == 2


def test_a_freed_place_goes_to_the_person_waiting_longest(make_group, make_member, make_user, facilitator, clock):
    group = make_group(facilitator, capacity=2)
    leaving = make_member(group)
    make_member(group)
    # Invited in one order, but they finish joining (and start waiting) in the other: the queue follows the waiting.
    later = invited(group, make_user(RoleName.PATIENT))
    first = invited(group, make_user(RoleName.PATIENT))
    clock.shift(timedelta(minutes=1))
    enrol(group, first.user)
    clock.shift(timedelta(minutes=1))
    enrol(group, later.user)
    assert [m.id for m in queries.waitlist(group)] == [first.id, later.id]

    clock.shift(timedelta(days=1))
    services.change_membership_status(leaving.user, leaving, MembershipStatus.LEFT, "Moving away")
    db.session.commit()

    assert first.status == MembershipStatus.ACTIVE
    assert first.joined_at == NOW + timedelta(days=1, minutes=2)
    assert later.status == MembershipStatus.WAITLISTED
    assert queries.waitlist(group) == [later]
    assert audit_actions("membership_promoted")[-1].subject_id == first.user_id


def test_raising_the_capacity_gives_the_new_places_to_the_next_people_in_order(make_group, make_member, make_user,
                                                                               facilitator, clock):
    group = make_group(facilitator, capacity=1)
    make_member(group)
    waiting = []
    for _ in range(3):
        clock.shift(timedelta(minutes=1))
        waiting.append(make_member(group))
    assert [m.status for m in waiting] == [MembershipStatus.WAITLISTED] * 3

    services.update_group(facilitator, group, {"capacity": 3})
    db.session.commit()

    assert [m.status for m in waiting] == [MembershipStatus.ACTIVE, MembershipStatus.ACTIVE,
                                           MembershipStatus.WAITLISTED]


def test_a_paused_member_keeps_their_place_so_nobody_jumps_the_waitlist(make_group, make_member, make_user,
                                                                          facilitator, clock):
    group = make_group(facilitator, capacity=2)
    pausing = make_member(group)
    make_member(group)
    newcomer = invited(group, make_user(RoleName.PATIENT))  # invited first, joins last
    clock.shift(timedelta(minutes=1))
    waiting = make_member(group)
    assert waiting.status == MembershipStatus.WAITLISTED

    services.change_membership_status(facilitator, pausing, MembershipStatus.PAUSED, "Surgery")
    db.session.commit()
    clock.shift(timedelta(minutes=1))
    enrol(group, newcomer.user)

    assert newcomer.status == MembershipStatus.WAITLISTED
    assert waiting.status == MembershipStatus.WAITLISTED
    services.change_membership_status(facilitator, pausing, MembershipStatus.ACTIVE)
    db.session.commit()
    assert group.active_count() == 2 == group.capacity


def test_a_paused_member_who_leaves_frees_the_place_for_the_waitlist(make_group, make_member, facilitator, clock):
    group = make_group(facilitator, capacity=1)
    pausing = make_member(group)
    clock.shift(timedelta(minutes=1))
    waiting = make_member(group)
    services.change_membership_status(facilitator, pausing, MembershipStatus.PAUSED)
    db.session.commit()
    assert waiting.status == MembershipStatus.WAITLISTED

    services.change_membership_status(facilitator, pausing, MembershipStatus.LEFT, "Not coming back")
    db.session.commit()

    assert waiting.status == MembershipStatus.ACTIVE


def test_a_closed_cohort_that_has_started_puts_newcomers_on_the_waitlist(make_group, make_member, facilitator):
    group = make_group(facilitator, enrolment="closed", status="forming", capacity=5)
    assert make_member(group).status == MembershipStatus.ACTIVE
    services.update_group(facilitator, group, {"status": "active"})
    db.session.commit()

    assert make_member(group).status == MembershipStatus.WAITLISTED


def test_a_full_group_refuses_a_facilitator_activating_someone(make_group, make_member, facilitator):
    group = make_group(facilitator, capacity=1)
    make_member(group)
    waiting = make_member(group)

    with pytest.raises(GroupError) as caught:
        services.change_membership_status(facilitator, waiting, MembershipStatus.ACTIVE)
    db.session.rollback()

    assert caught.value.code == "group_full"
    assert membership(group, waiting.user).status == MembershipStatus.WAITLISTED


def test_capacity_cannot_go_below_the_places_paused_members_hold(make_group, make_member, facilitator):
    group = make_group(facilitator, capacity=3)
    make_member(group)
    make_member(group)
    services.change_membership_status(facilitator, make_member(group), MembershipStatus.PAUSED, "Surgery")
    db.session.commit()

    with pytest.raises(GroupError) as caught:
        services.update_group(facilitator, group, {"capacity": 2})
    db.session.rollback()

    assert caught.value.code == "capacity_below_members"
    assert "3 members hold a place" in caught.value.message
    assert group.capacity == 3


def test_the_person_given_a_freed_place_is_told_by_email(app, make_group, make_member, facilitator, make_user, clock):
    from app.extensions import mail

    group = make_group(facilitator, capacity=1)
    leaving = make_member(group)
    clock.shift(timedelta(minutes=1))
    waiting = make_member(group, email="waiting@example.org")
    assert waiting.status == MembershipStatus.WAITLISTED

    with app.test_request_context(), mail.record_messages() as outbox:
        services.change_membership_status(facilitator, leaving, MembershipStatus.LEFT, "Moving away")
        assert outbox == []  # nothing leaves before the commit
        db.session.commit()

    assert [m.recipients for m in outbox] == [["waiting@example.org"]]
    assert group.name in outbox[0].subject
    assert f"/groups/{group.id}" in outbox[0].body


def test_reading_a_sessions_notes_is_audited_for_each_member_they_are_about(group_with_members, facilitator,
                                                                            patient):
    group = group_with_members
    occurrence = [o for o in occurrences_of(group) if o.starts_at < NOW][-1]
    zoe = next(m.user for m in queries.active_members(group) if m.shown_name == "Zoe Zimmer")
    services.add_note(facilitator, group, "Pat spoke first.", occurrence=occurrence, member=patient)
    services.add_note(facilitator, group, "Zoe left early.", occurrence=occurrence, member=zoe)
    services.add_note(facilitator, group, "A quiet session.", occurrence=occurrence)
    db.session.commit()

    services.read_notes(facilitator, group, occurrence=occurrence)
    db.session.commit()

    reads = audit_actions("note_read")
    assert sorted((e.subject_id or 0, e.target) for e in reads) == sorted(
        [(patient.id, f"session:{occurrence.id}"), (zoe.id, f"session:{occurrence.id}"),
         (0, f"session:{occurrence.id}")])
    assert {e.actor_id for e in reads} == {facilitator.id}


def test_reading_the_notes_about_one_member_is_audited_with_that_member(group_with_members, facilitator, patient):
    group = group_with_members
    occurrence = [o for o in occurrences_of(group) if o.starts_at < NOW][-1]
    services.add_note(facilitator, group, "Pat spoke first.", occurrence=occurrence, member=patient)
    services.add_note(facilitator, group, "A quiet session.", occurrence=occurrence)
    db.session.commit()

    notes = services.read_notes(facilitator, group, member=patient)
    db.session.commit()

    assert [n.body for n in notes] == ["Pat spoke first."]
    assert [(e.subject_id, e.target) for e in audit_actions("note_read")] == [(patient.id, f"group:{group.id}")]


def test_a_completed_membership_cannot_change_again(make_group, make_member, facilitator):
    group = make_group(facilitator)
    row = make_member(group)
    services.change_membership_status(facilitator, row, MembershipStatus.COMPLETED)
    db.session.commit()

    with pytest.raises(GroupError) as caught:
        services.change_membership_status(facilitator, row, MembershipStatus.ACTIVE)
    assert caught.value.code == "invalid_transition"


# Invitations ----------------------------------------------------------------------------------------------------------


def _group_invitation(app, facilitator, group) -> tuple[Invitation, str]:
    with app.test_request_context():
        invitation, raw = services.invite_member(facilitator, group)
        db.session.commit()
    return invitation, raw


def test_accepting_a_group_invitation_makes_an_invited_membership(app, make_group, facilitator, make_user):
    group = make_group(facilitator)
    invitation, raw = _group_invitation(app, facilitator, group)
    person = make_user(RoleName.PATIENT)

    account_services.accept_invitation(account_services.find_invitation(raw), user=person)
    db.session.commit()

    assert invitation.context == {"group_id": group.id}
    assert membership(group, person).status == MembershipStatus.INVITED


def test_an_invitation_can_be_used_only_once(app, make_group, facilitator, make_user):
    group = make_group(facilitator)
    _invitation, raw = _group_invitation(app, facilitator, group)
    first, second = make_user(RoleName.PATIENT), make_user(RoleName.PATIENT)
    account_services.accept_invitation(account_services.find_invitation(raw), user=first)
    db.session.commit()

    with pytest.raises(account_services.AccountError) as caught:
        account_services.accept_invitation(account_services.find_invitation(raw), user=second)
    db.session.rollback()

    assert "already been used" in caught.value.message
    assert membership(group, second) is None


def test_an_expired_invitation_is_refused(app, make_group, facilitator, make_user, clock):
    group = make_group(facilitator)
    _invitation, raw = _group_invitation(app, facilitator, group)
    clock.shift(timedelta(days=app.config["INVITATION_DAYS"], seconds=1))
    person = make_user(RoleName.PATIENT)

    with pytest.raises(account_services.AccountError) as caught:
        account_services.accept_invitation(account_services.find_invitation(raw), user=person)
    db.session.rollback()

    assert "expired" in caught.value.message
    assert membership(group, person) is None


def test_an_invitation_for_another_organisation_is_refused(app, make_group, facilitator, make_user,
                                                           make_organisation):
    group = make_group(facilitator)
    _invitation, raw = _group_invitation(app, facilitator, group)
    outsider = make_user(RoleName.PATIENT, organisation_=make_organisation())

    with pytest.raises(account_services.AccountError) as caught:
        account_services.accept_invitation(account_services.find_invitation(raw), user=outsider)
    db.session.rollback()

    assert "another organisation" in caught.value.message
    assert membership(group, outsider) is None
    assert account_services.find_invitation(raw).accepted_at is None  # still usable by the right person


def test_an_invitation_naming_a_group_of_another_organisation_makes_no_membership(
        app, make_group, make_user, make_organisation, facilitator, patient):
    elsewhere = make_organisation()
    their_group = make_group(make_user(RoleName.FACILITATOR, organisation_=elsewhere, timezone="Europe/Berlin"))
    with app.test_request_context():
        _invitation, raw = account_services.create_invitation(facilitator, facilitator.organisation, RoleName.PATIENT,
                                                              context={"group_id": their_group.id})
        db.session.commit()

    with pytest.raises(account_services.AccountError):
        account_services.accept_invitation(account_services.find_invitation(raw), user=patient)
    db.session.rollback()

    assert membership(their_group, patient) is None


def test_an_invitation_to_a_group_that_has_ended_is_refused(app, make_group, facilitator, patient):
    group = make_group(facilitator)
    _invitation, raw = _group_invitation(app, facilitator, group)
    services.update_group(facilitator, group, {"status": "finished"})
    db.session.commit()

    with pytest.raises(account_services.AccountError):
        account_services.accept_invitation(account_services.find_invitation(raw), user=patient)
    db.session.rollback()

    assert membership(group, patient) is None


# Schedules ------------------------------------------------------------------------------------------------------------


def test_a_schedule_creates_future_sessions_at_18h_berlin_across_the_clock_change(make_group, facilitator):
    group = make_group(facilitator)

    sessions = set_weekly_schedule(facilitator, group, datetime(2026, 3, 19, 18, 0), count=4)

    # 19 March is already over at NOW: only the three later sessions exist.
    assert [o.starts_at for o in sessions] == [utc(2026, 3, 26, 17), utc(2026, 4, 2, 16), utc(2026, 4, 9, 16)]
    assert {berlin(o.starts_at)[-5:] for o in sessions} == {"18:00"}
    assert all(o.recurrence_id == o.starts_at and not o.is_exception for o in sessions)
    assert group.schedule.dtstart_local == "2026-03-19T18:00"
    assert group.schedule.timezone == "Europe/Berlin"


def test_a_new_york_group_keeps_18h_new_york_across_its_own_clock_change(make_group, make_user, clock):
    clock.move_to(datetime(2026, 2, 20, tzinfo=timezone.utc))
    new_yorker = make_user(RoleName.FACILITATOR, timezone="America/New_York")
    group = make_group(new_yorker)

    sessions = set_weekly_schedule(new_yorker, group, datetime(2026, 3, 5, 18, 0), count=3)

    assert group.timezone == "America/New_York"
    assert [o.starts_at for o in sessions] == [utc(2026, 3, 5, 23), utc(2026, 3, 12, 22), utc(2026, 3, 19, 22)]


@pytest.mark.parametrize(("zone", "gap"), [("Europe/Berlin", datetime(2026, 3, 29, 2, 30)),
                                           ("America/New_York", datetime(2027, 3, 14, 2, 30))])
def test_a_schedule_starting_in_the_gap_is_refused_with_a_clear_message(make_group, facilitator, zone, gap):
    group = make_group(facilitator, timezone=zone)

    with pytest.raises(GroupError) as caught:
        schedules.save_schedule(facilitator, group, dtstart_local=gap, rule="FREQ=WEEKLY;COUNT=4",
                               duration_minutes=90)
    db.session.rollback()

    assert caught.value.code == "nonexistent_local_time"
    assert "does not exist" in caught.value.message
    assert db.session.scalar(select(Schedule).where(Schedule.group_id == group.id)) is None
    assert occurrences_of(group) == []


@pytest.mark.parametrize(("rule", "code"), [("FREQ=WEEKLY", "unbounded"),
                                            ("FREQ=WEEKLY;UNTIL=20260301T000000", "no_occurrences"),
                                            ("FREQ=WEEKLY;COUNT=0", "no_occurrences"),
                                            ("FREQ=DAILY;COUNT=400", "too_many"),
                                            ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=2", "invalid_rule")])
def test_a_schedule_that_cannot_be_used_is_refused_and_nothing_is_saved(make_group, facilitator, rule, code):
    group = make_group(facilitator)

    with pytest.raises(GroupError) as caught:
        schedules.save_schedule(facilitator, group, dtstart_local=datetime(2026, 4, 1, 18), rule=rule,
                               duration_minutes=90)
    db.session.rollback()

    assert caught.value.code == code
    assert caught.value.message
    assert occurrences_of(group) == []
    assert db.session.scalar(select(Schedule).where(Schedule.group_id == group.id)) is None


def test_a_schedule_whose_sessions_are_all_in_the_past_is_refused(make_group, facilitator):
    """It would save a series with no sessions at all, silently."""
    group = make_group(facilitator)

    with pytest.raises(GroupError) as caught:
        schedules.save_schedule(facilitator, group, dtstart_local=datetime(2026, 2, 5, 18), rule="FREQ=WEEKLY;COUNT=4",
                               duration_minutes=90)
    db.session.rollback()

    assert caught.value.code == "no_occurrences"
    assert db.session.scalar(select(Schedule).where(Schedule.group_id == group.id)) is None


@pytest.mark.parametrize("minutes", [0, 14, 481, -30])
def test_a_session_length_outside_15_minutes_to_8_hours_is_refused(group_with_members, facilitator, minutes):
    group = group_with_members
    attempts = [
        lambda: schedules.save_schedule(facilitator, group, dtstart_local=datetime(2026, 4, 1, 18),
                                       rule="FREQ=WEEKLY;COUNT=2", duration_minutes=minutes),
        lambda: schedules.add_extra_session(facilitator, group, start_local=datetime(2026, 4, 1, 10),
                                           duration_minutes=minutes),
        lambda: schedules.update_occurrence(facilitator, future(group)[0], duration_minutes=minutes),
    ]
    for attempt in attempts:
        with pytest.raises(GroupError) as caught:
            attempt()
        db.session.rollback()
        assert caught.value.field == "duration_minutes"
    assert len(occurrences_of(group)) == 8
    assert {o.duration_minutes for o in occurrences_of(group)} == {90}


# One session changed alone, and the series edited around it -----------------------------------------------------------


def test_moving_one_session_leaves_the_rest_of_the_series_alone(group_with_members, facilitator):
    group = group_with_members
    before = {o.id: (o.starts_at, o.duration_minutes) for o in occurrences_of(group)}
    moved = future(group)[1]  # Thursday 2 April, 18:00 Berlin

    schedules.update_occurrence(facilitator, moved, start_local=datetime(2026, 4, 3, 17, 30), duration_minutes=60)
    db.session.commit()

    assert moved.starts_at == utc(2026, 4, 3, 15, 30)
    assert moved.recurrence_id == utc(2026, 4, 2, 16)  # it is still the 2 April session of the series
    assert moved.is_exception
    assert {o.id: (o.starts_at, o.duration_minutes) for o in occurrences_of(group) if o.id != moved.id} == \
        {k: v for k, v in before.items() if k != moved.id}


def test_cancelling_one_session_keeps_the_reason_and_leaves_the_others(group_with_members, facilitator):
    group = group_with_members
    cancelled = future(group)[2]

    with pytest.raises(GroupError):
        schedules.cancel_occurrence(facilitator, cancelled, "   ")
    db.session.rollback()
    schedules.cancel_occurrence(facilitator, cancelled, "Easter holiday: see you next week.")
    db.session.commit()

    assert (cancelled.status, cancelled.cancel_reason) == (OccurrenceStatus.CANCELLED,
                                                           "Easter holiday: see you next week.")
    assert [o.status for o in occurrences_of(group) if o.id != cancelled.id] == [OccurrenceStatus.SCHEDULED] * 7
    assert queries.next_occurrence(group) == future(group)[0]


def test_a_different_link_for_one_session_only(group_with_members, facilitator):
    group = group_with_members
    one = future(group)[0]

    with pytest.raises(GroupError):
        schedules.update_occurrence(facilitator, one, video_link="http://plain.example.org")
    db.session.rollback()
    schedules.update_occurrence(facilitator, one, video_link="https://backup.example.org/room")
    db.session.commit()

    assert one.effective_video_link == "https://backup.example.org/room"
    assert {o.effective_video_link for o in occurrences_of(group) if o.id != one.id} == \
        {"https://video.example.org/room"}


def test_moving_a_session_into_the_gap_is_refused_and_changes_nothing(group_with_members, facilitator):
    occurrence = future(group_with_members)[0]

    with pytest.raises(GroupError) as caught:
        schedules.update_occurrence(facilitator, occurrence, start_local=datetime(2026, 3, 29, 2, 15))
    db.session.rollback()

    assert caught.value.code == "nonexistent_local_time"
    assert (occurrence.starts_at, occurrence.is_exception) == (utc(2026, 3, 26, 17), False)


def test_editing_the_series_keeps_moved_cancelled_and_relinked_sessions(group_with_members, facilitator):
    group = group_with_members
    first, second, third = future(group)[:3]
    schedules.update_occurrence(facilitator, first, start_local=datetime(2026, 3, 27, 18, 0))
    schedules.cancel_occurrence(facilitator, second, "Holiday")
    schedules.update_occurrence(facilitator, third, video_link="https://backup.example.org/room")
    db.session.commit()

    # Longer sessions, and two more of them.
    set_weekly_schedule(facilitator, group, datetime(2026, 3, 5, 18, 0), count=10, duration_minutes=120)

    # The moved session keeps its own start; its length was never its own, so it follows the series.
    assert (first.starts_at, first.duration_minutes) == (utc(2026, 3, 27, 17), 120)
    assert (second.status, second.cancel_reason) == (OccurrenceStatus.CANCELLED, "Holiday")
    assert third.video_link == "https://backup.example.org/room"
    rest = [o for o in future(group) if o.id not in (first.id, second.id, third.id)]
    assert {o.duration_minutes for o in rest} == {120}
    assert [berlin(o.starts_at) for o in future(group)][-2:] == ["2026-04-30 18:00", "2026-05-07 18:00"]
    assert len(future(group)) == 7


def test_changing_the_series_time_keeps_a_cancelled_day_cancelled(group_with_members, facilitator):
    """Moving every session from 18:00 to 18:30 must not bring back, at 18:30, the session cancelled for a holiday."""
    group = group_with_members
    holiday = future(group)[2]  # 9 April
    schedules.cancel_occurrence(facilitator, holiday, "Holiday")
    db.session.commit()

    set_weekly_schedule(facilitator, group, datetime(2026, 3, 5, 18, 30), count=8)

    on_the_day = [o for o in future(group) if berlin(o.starts_at).startswith("2026-04-09")]
    assert [(o.status, o.cancel_reason) for o in on_the_day] == [(OccurrenceStatus.CANCELLED, "Holiday")]
    assert {berlin(o.starts_at)[-5:] for o in future(group)} == {"18:30"}
    assert len(future(group)) == 5


def test_changing_the_series_time_keeps_a_moved_session_where_it_was_moved(group_with_members, facilitator):
    group = group_with_members
    moved = future(group)[1]
    schedules.update_occurrence(facilitator, moved, start_local=datetime(2026, 4, 3, 10, 0))
    db.session.commit()

    set_weekly_schedule(facilitator, group, datetime(2026, 3, 5, 19, 0), count=8)

    assert berlin(moved.starts_at) == "2026-04-03 10:00"
    assert [berlin(o.starts_at) for o in future(group)] == [
        "2026-03-26 19:00", "2026-04-03 10:00", "2026-04-09 19:00", "2026-04-16 19:00", "2026-04-23 19:00"]


def test_changing_the_series_time_keeps_the_agenda_prepared_for_upcoming_sessions(group_with_members, facilitator):
    group = group_with_members
    upcoming = future(group)[0]
    services.add_agenda_item(facilitator, upcoming, title="Activity scheduling", rationale="Small steps add up.")
    db.session.commit()

    set_weekly_schedule(facilitator, group, datetime(2026, 3, 5, 18, 30), count=8)

    on_the_day = [o for o in future(group) if berlin(o.starts_at).startswith("2026-03-26")]
    assert len(on_the_day) == 1
    assert [item.title for item in on_the_day[0].agenda_items] == ["Activity scheduling"]
    assert berlin(on_the_day[0].starts_at) == "2026-03-26 18:30"


def test_shortening_the_series_removes_later_sessions_but_keeps_past_ones_and_recorded_ones(
        group_with_members, facilitator, patient):
    group = group_with_members
    past = [o for o in occurrences_of(group) if o.starts_at < NOW]
    record(facilitator, past[0], {patient.id: PRESENT})

    set_weekly_schedule(facilitator, group, datetime(2026, 3, 19, 18, 0), count=2)

    assert [o.id for o in occurrences_of(group) if o.starts_at < NOW] == [o.id for o in past]
    assert [berlin(o.starts_at) for o in future(group)] == ["2026-03-26 18:00"]
    assert db.session.scalar(select(Attendance).where(Attendance.user_id == patient.id)) is not None


def test_extra_one_off_sessions_sit_beside_the_series_and_survive_editing_it(group_with_members, facilitator):
    group = group_with_members
    extra = schedules.add_extra_session(facilitator, group, start_local=datetime(2026, 3, 31, 10, 0),
                                       duration_minutes=60, location="Room 2")
    db.session.commit()

    assert (extra.starts_at, extra.recurrence_id, extra.is_extra) == (utc(2026, 3, 31, 8), None, True)
    assert extra.effective_location == "Room 2"
    set_weekly_schedule(facilitator, group, datetime(2026, 3, 5, 18, 30), count=8)
    assert extra in future(group)
    assert len(future(group)) == 6


@pytest.mark.parametrize(("start", "code"), [(datetime(2026, 3, 29, 2, 30), "nonexistent_local_time"),
                                             (datetime(2026, 3, 20, 12, 0), "invalid"),
                                             (datetime(2025, 1, 1, 9, 0), "invalid")])
def test_an_extra_session_in_the_gap_or_in_the_past_is_refused(make_group, facilitator, start, code):
    group = make_group(facilitator)
    with pytest.raises(GroupError) as caught:
        schedules.add_extra_session(facilitator, group, start_local=start, duration_minutes=60)
    db.session.rollback()

    assert caught.value.code == code
    assert occurrences_of(group) == []


@pytest.mark.parametrize(("zone", "typed", "first"), [
    ("Europe/Berlin", datetime(2026, 10, 25, 2, 30), utc(2026, 10, 25, 0, 30)),
    ("America/New_York", datetime(2026, 11, 1, 1, 30), utc(2026, 11, 1, 5, 30)),
])
def test_an_extra_session_at_an_ambiguous_time_takes_its_first_occurrence(make_group, facilitator, zone, typed, first):
    group = make_group(facilitator, timezone=zone)

    extra = schedules.add_extra_session(facilitator, group, start_local=typed, duration_minutes=60)

    assert extra.starts_at == first


def test_an_extra_session_needs_a_secure_link(make_group, facilitator):
    group = make_group(facilitator)
    with pytest.raises(GroupError) as caught:
        schedules.add_extra_session(facilitator, group, start_local=datetime(2026, 4, 1, 10), duration_minutes=60,
                                   video_link="ftp://files.example.org")
    assert caught.value.field == "video_link"


# The weekday, the time zone and the length of the series change under sessions already prepared ----------------------


def days(sessions) -> list[str]:
    return [berlin(o.starts_at) for o in sessions]


def test_changing_the_weekday_moves_each_session_with_its_agenda_notes_and_own_link(group_with_members,
                                                                                     facilitator, patient):
    group = group_with_members
    prepared, noted, relinked = future(group)[:3]  # Thursdays 26 March, 2 and 9 April
    services.add_agenda_item(facilitator, prepared, title="Activity scheduling", rationale="Small steps add up.")
    services.add_note(facilitator, group, "Ask Pat about the new job.", occurrence=noted, member=patient)
    schedules.update_occurrence(facilitator, relinked, video_link="https://backup.example.org/room")
    db.session.commit()
    past_before = [(o.id, o.starts_at) for o in occurrences_of(group) if o.starts_at < NOW]

    # The group moves to Fridays: the series now starts on Friday 6 March.
    set_weekly_schedule(facilitator, group, datetime(2026, 3, 6, 18, 0), count=8)

    assert [(o.id, o.starts_at) for o in occurrences_of(group) if o.starts_at < NOW] == past_before
    assert days(future(group)) == ["2026-03-20 18:00", "2026-03-27 18:00", "2026-04-03 18:00", "2026-04-10 18:00",
                                   "2026-04-17 18:00", "2026-04-24 18:00"]  # Fridays only, one a week
    assert berlin(prepared.starts_at) == "2026-03-27 18:00"
    assert [i.title for i in prepared.agenda_items] == ["Activity scheduling"]
    assert berlin(noted.starts_at) == "2026-04-03 18:00"
    assert [n.body for n in services.read_notes(facilitator, group, occurrence=noted)] == ["Ask Pat about the new job."]
    assert (berlin(relinked.starts_at), relinked.effective_video_link) == ("2026-04-10 18:00",
                                                                          "https://backup.example.org/room")


def test_changing_the_weekday_keeps_a_session_moved_alone_where_it_was_and_adds_no_twin(group_with_members,
                                                                                        facilitator):
    group = group_with_members
    moved = future(group)[1]  # Thursday 2 April, moved to Saturday 4 April
    schedules.update_occurrence(facilitator, moved, start_local=datetime(2026, 4, 4, 10, 0))
    db.session.commit()

    set_weekly_schedule(facilitator, group, datetime(2026, 3, 6, 18, 0), count=8)

    assert berlin(moved.starts_at) == "2026-04-04 10:00"
    assert days(future(group)) == ["2026-03-20 18:00", "2026-03-27 18:00", "2026-04-04 10:00", "2026-04-10 18:00",
                                   "2026-04-17 18:00", "2026-04-24 18:00"]


def test_a_series_change_that_would_drop_a_session_holding_notes_is_refused(group_with_members, facilitator,
                                                                           patient):
    group = group_with_members
    last = future(group)[-1]  # 23 April
    services.add_note(facilitator, group, "Plan the ending well.", occurrence=last, member=patient)
    db.session.commit()
    before = [(o.id, o.starts_at) for o in occurrences_of(group)]

    with pytest.raises(GroupError) as caught:
        schedules.save_schedule(facilitator, group, dtstart_local=datetime(2026, 3, 5, 18, 0),
                               rule="FREQ=WEEKLY;COUNT=6", duration_minutes=90)
    db.session.rollback()

    assert caught.value.code == "sessions_with_records"
    assert "2026-04-23 18:00" in caught.value.message
    assert [(o.id, o.starts_at) for o in occurrences_of(group)] == before
    assert group.schedule.rrule == "FREQ=WEEKLY;INTERVAL=1;COUNT=8"


def test_a_session_far_from_any_in_the_new_series_is_not_dragged_there(group_with_members, facilitator):
    """Every other week instead of weekly: the weeks that go are removed, not pushed weeks later."""
    group = group_with_members
    dropped = {o.id for o in future(group) if berlin(o.starts_at)[:10] in ("2026-03-26", "2026-04-09", "2026-04-23")}

    set_weekly_schedule(facilitator, group, datetime(2026, 3, 5, 18, 0), count=6, interval_weeks=2)

    assert days(future(group)) == ["2026-04-02 18:00", "2026-04-16 18:00", "2026-04-30 18:00", "2026-05-14 18:00"]
    assert dropped.isdisjoint(o.id for o in occurrences_of(group))


def test_changing_the_time_zone_keeps_every_session_at_its_local_time_in_the_new_zone(group_with_members,
                                                                                      facilitator):
    group = group_with_members
    prepared = future(group)[0]
    services.add_agenda_item(facilitator, prepared, title="Arrive")
    extra = schedules.add_extra_session(facilitator, group, start_local=datetime(2026, 4, 1, 10, 0),
                                       duration_minutes=60)
    db.session.commit()
    past_before = [(o.id, o.starts_at) for o in occurrences_of(group) if o.starts_at < NOW]

    services.update_group(facilitator, group, {"timezone": "America/New_York"})
    db.session.commit()

    assert (group.timezone, group.schedule.timezone) == ("America/New_York", "America/New_York")
    assert [(o.id, o.starts_at) for o in occurrences_of(group) if o.starts_at < NOW] == past_before
    from zoneinfo import ZoneInfo

    new_york = [o.starts_at.astimezone(ZoneInfo("America/New_York")).strftime("%a %H:%M") for o in future(group)]
    assert new_york == ["Thu 18:00", "Wed 10:00", "Thu 18:00", "Thu 18:00", "Thu 18:00", "Thu 18:00"]
    assert prepared.starts_at == utc(2026, 3, 26, 22) and [i.title for i in prepared.agenda_items] == ["Arrive"]
    assert extra.starts_at == utc(2026, 4, 1, 14)
    assert len(future(group)) == 6


def test_a_longer_series_lengthens_cancelled_and_relinked_sessions_but_not_one_given_its_own_length(
        group_with_members, facilitator):
    group = group_with_members
    cancelled, relinked, own_length = future(group)[:3]
    schedules.cancel_occurrence(facilitator, cancelled, "Holiday")
    schedules.update_occurrence(facilitator, relinked, video_link="https://backup.example.org/room")
    schedules.update_occurrence(facilitator, own_length, duration_minutes=60)
    db.session.commit()

    set_weekly_schedule(facilitator, group, datetime(2026, 3, 5, 18, 0), count=8, duration_minutes=120)

    assert (cancelled.duration_minutes, cancelled.status) == (120, OccurrenceStatus.CANCELLED)
    assert (relinked.duration_minutes, relinked.video_link) == (120, "https://backup.example.org/room")
    assert own_length.duration_minutes == 60
    assert {o.duration_minutes for o in future(group)[3:]} == {120}


def test_a_session_cannot_be_moved_into_the_past(group_with_members, facilitator):
    occurrence = future(group_with_members)[0]

    with pytest.raises(GroupError) as caught:
        schedules.update_occurrence(facilitator, occurrence, start_local=datetime(2026, 3, 19, 18, 0))
    db.session.rollback()

    assert (caught.value.code, caught.value.field) == ("in_the_past", "start")
    assert occurrence.starts_at == utc(2026, 3, 26, 17)


# A group that ends ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "words"), [("cancelled", "This group has been cancelled"),
                                                ("finished", "This group has finished")])
def test_a_group_that_ends_cancels_its_sessions_to_come_with_a_reason(group_with_members, facilitator, status,
                                                                     words):
    group = group_with_members
    past = [o for o in occurrences_of(group) if o.starts_at < NOW]

    services.update_group(facilitator, group, {"status": status})
    db.session.commit()

    assert {(o.status, o.cancel_reason.startswith(words)) for o in future(group)} == {(OccurrenceStatus.CANCELLED,
                                                                                      True)}
    assert {o.status for o in past} == {OccurrenceStatus.SCHEDULED}
    assert queries.next_occurrence(group) is None


def test_a_group_marked_ended_without_its_sessions_cancelled_has_no_next_session(group_with_members, patient):
    """Groups that ended before their sessions were cancelled with them: nothing is advertised all the same."""
    group = group_with_members
    group.status = GroupStatus.CANCELLED
    db.session.commit()

    assert queries.next_occurrence(group) is None
    assert [e["next_session"] for e in queries.patient_dashboard(patient)["entries"]] == [None]
    assert queries.upcoming_for_groups([group.id]) == []


# Members who join late, and attendance --------------------------------------------------------------------------------


def test_a_member_who_joins_late_is_part_of_every_future_session(group_with_members, make_member, facilitator,
                                                                  clock):
    group = group_with_members
    late = make_member(group, display_name="Lena Late")

    for occurrence in future(group):
        assert late.user_id in {m.user_id for m, _record in queries.attendance_sheet(occurrence)}
    first = future(group)[0]
    clock.move_to(first.starts_at)
    conflicts = record(facilitator, first, {late.user_id: PRESENT})
    assert conflicts == []


def test_sessions_before_a_member_joined_do_not_count_against_them(group_with_members, make_member, facilitator,
                                                                    patient, clock):
    group = group_with_members
    past = [o for o in occurrences_of(group) if o.starts_at < NOW]  # 5, 12 and 19 March
    late = make_member(group, display_name="Lena Late")  # joins on 20 March
    # The sheets of earlier sessions list everyone active now; the facilitator marks the newcomer absent on them.
    for occurrence in past:
        record(facilitator, occurrence, {patient.id: PRESENT, late.user_id: ABSENT})
    clock.move_to(datetime(2026, 3, 27, 12, tzinfo=timezone.utc))
    record(facilitator, future(group)[0], {patient.id: PRESENT, late.user_id: PRESENT})

    engagement = {m.membership.user_id: m for m in queries.engagement(group).members}
    assert (engagement[late.user_id].joined, engagement[late.user_id].counted) == (1, 1)
    assert engagement[late.user_id].missed_in_a_row == 0
    assert queries.engagement(group).at_risk == []
    assert queries.member_attendance_summary(late.user, group) == (1, 1)


def test_the_sheet_lists_only_active_members_sorted_by_the_name_the_group_knows(group_with_members, make_user,
                                                                                  make_member, facilitator):
    group = group_with_members
    gone = make_member(group, display_name="Aaron Gone")
    services.change_membership_status(facilitator, gone, MembershipStatus.LEFT)
    paused = make_member(group, display_name="Abe Paused")
    services.change_membership_status(facilitator, paused, MembershipStatus.PAUSED)
    invited(group, make_user(RoleName.PATIENT, display_name="Adam Invited"))
    make_member(group, display_name="anna lower-case")
    db.session.commit()

    names = [m.shown_name for m, _record in queries.attendance_sheet(future(group)[0])]

    assert names == ["anna lower-case", "Ben Berg", "Pat", "Zoe Zimmer"]


def test_attendance_for_someone_who_is_not_an_active_member_is_skipped_and_reported(group_with_members, facilitator,
                                                                                     make_member, other_patient):
    group = group_with_members
    gone = make_member(group)
    services.change_membership_status(facilitator, gone, MembershipStatus.LEFT)
    db.session.commit()
    occurrence = [o for o in occurrences_of(group) if o.starts_at < NOW][-1]

    saved = attendance.record_attendance(facilitator, occurrence, [
        AttendanceEntry(user_id=gone.user_id, status=PRESENT),
        AttendanceEntry(user_id=other_patient.id, status=PRESENT)])
    db.session.commit()

    assert (saved.skipped, saved.conflicts) == ([gone.user_id, other_patient.id], [])
    assert queries.attendance_for(occurrence) == {}


def test_a_member_paused_since_the_sheet_was_loaded_costs_nobody_else_their_row(group_with_members, facilitator,
                                                                                 make_user):
    """A co-facilitator pauses Ben while the sheet is open: Pat's and Zoe's rows are saved all the same."""
    group = group_with_members
    occurrence = [o for o in occurrences_of(group) if o.starts_at < NOW][-1]
    ids = {m.shown_name: m.user_id for m in queries.active_members(group)}
    loaded = _loaded_sheet(occurrence)
    ben = next(m for m in queries.active_members(group) if m.shown_name == "Ben Berg")
    services.change_membership_status(make_user(RoleName.FACILITATOR), ben, MembershipStatus.PAUSED, "Unwell")
    db.session.commit()

    saved = attendance.record_attendance(facilitator, occurrence, [
        AttendanceEntry(user_id=uid, status=status, comment=comment, previous_status=loaded[uid][0],
                        previous_comment=loaded[uid][1])
        for uid, (status, comment) in {ids["Pat"]: (PRESENT, "On time"), ids["Zoe Zimmer"]: (ABSENT, ""),
                                       ids["Ben Berg"]: (PRESENT, "")}.items()])
    db.session.commit()

    assert (saved.skipped, saved.conflicts) == ([ids["Ben Berg"]], [])
    assert {uid: (a.status, a.comment) for uid, a in queries.attendance_for(occurrence).items()} == {
        ids["Pat"]: (PRESENT, "On time"), ids["Zoe Zimmer"]: (ABSENT, "")}


@pytest.mark.parametrize("which", ["cancelled", "future"])
def test_attendance_cannot_be_recorded_for_a_cancelled_or_future_session(group_with_members, facilitator, patient,
                                                                         which):
    group = group_with_members
    if which == "cancelled":
        occurrence = [o for o in occurrences_of(group) if o.starts_at < NOW][-1]
        schedules.cancel_occurrence(facilitator, occurrence, "Snow")
        db.session.commit()
    else:
        occurrence = future(group)[0]

    with pytest.raises(GroupError) as caught:
        attendance.record_attendance(facilitator, occurrence, [AttendanceEntry(user_id=patient.id, status=PRESENT)])
    db.session.rollback()

    assert caught.value.code == {"cancelled": "session_cancelled", "future": "session_not_started"}[which]
    assert queries.attendance_for(occurrence) == {}


def _loaded_sheet(occurrence) -> dict[int, tuple]:
    """What a sheet shows when it is loaded: user id -> (status, comment) on record."""
    return {m.user_id: ((r.status, r.comment) if r else (None, "")) for m, r in queries.attendance_sheet(occurrence)}


def _save(by, occurrence, loaded: dict, changes: dict) -> list[int]:
    """Submit a whole sheet as the page does: every row, with what it showed when loaded and what it shows now."""
    entries = []
    for user_id, (status, comment) in loaded.items():
        new_status, new_comment = changes.get(user_id, (status, comment))
        entries.append(AttendanceEntry(user_id=user_id, status=new_status, comment=new_comment,
                                       previous_status=status, previous_comment=comment))
    saved = attendance.record_attendance(by, occurrence, entries)
    db.session.commit()
    return saved.conflicts


def test_two_facilitators_saving_different_rows_at_once_both_keep_their_changes(group_with_members, facilitator,
                                                                                 make_user, patient):
    group = group_with_members
    colleague = make_user(RoleName.FACILITATOR)
    services.set_co_facilitators(facilitator, group, [colleague])
    db.session.commit()
    occurrence = [o for o in occurrences_of(group) if o.starts_at < NOW][-1]
    ids = {m.shown_name: m.user_id for m in queries.active_members(group)}
    record(facilitator, occurrence, {ids["Zoe Zimmer"]: ABSENT})

    mine = _loaded_sheet(occurrence)
    theirs = _loaded_sheet(occurrence)
    first = _save(facilitator, occurrence, mine, {ids["Pat"]: (PRESENT, "On time")})
    second = _save(colleague, occurrence, theirs, {ids["Ben Berg"]: (AttendanceStatus.LEFT_EARLY, "Felt unwell"),
                                                   ids["Zoe Zimmer"]: (AttendanceStatus.EXCUSED, "Told us")})

    assert first == second == []
    on_record = {uid: (a.status, a.comment, a.recorded_by_id) for uid, a in queries.attendance_for(occurrence).items()}
    assert on_record == {
        ids["Pat"]: (PRESENT, "On time", facilitator.id),
        ids["Ben Berg"]: (AttendanceStatus.LEFT_EARLY, "Felt unwell", colleague.id),
        ids["Zoe Zimmer"]: (AttendanceStatus.EXCUSED, "Told us", colleague.id),
    }


def test_the_same_row_changed_by_two_facilitators_keeps_the_first_and_reports_the_second(group_with_members,
                                                                                         facilitator, make_user):
    group = group_with_members
    colleague = make_user(RoleName.FACILITATOR)
    services.set_co_facilitators(facilitator, group, [colleague])
    db.session.commit()
    occurrence = [o for o in occurrences_of(group) if o.starts_at < NOW][-1]
    ids = {m.shown_name: m.user_id for m in queries.active_members(group)}

    mine = _loaded_sheet(occurrence)
    theirs = _loaded_sheet(occurrence)
    assert _save(facilitator, occurrence, mine, {ids["Pat"]: (PRESENT, "")}) == []
    conflicts = _save(colleague, occurrence, theirs, {ids["Pat"]: (ABSENT, "Not seen"),
                                                      ids["Ben Berg"]: (PRESENT, "")})

    assert conflicts == [ids["Pat"]]
    on_record = queries.attendance_for(occurrence)
    assert (on_record[ids["Pat"]].status, on_record[ids["Pat"]].comment) == (PRESENT, "")
    assert on_record[ids["Ben Berg"]].status == PRESENT  # the rest of the second sheet is saved
    assert '"conflicts": [%d]' % ids["Pat"] in audit_actions("attendance_record")[-1].details


def test_the_same_change_made_by_two_facilitators_is_no_conflict(group_with_members, facilitator, make_user):
    group = group_with_members
    colleague = make_user(RoleName.FACILITATOR)
    services.set_co_facilitators(facilitator, group, [colleague])
    db.session.commit()
    occurrence = [o for o in occurrences_of(group) if o.starts_at < NOW][-1]
    pat = next(m.user_id for m in queries.active_members(group) if m.shown_name == "Pat")
    mine, theirs = _loaded_sheet(occurrence), _loaded_sheet(occurrence)

    _save(facilitator, occurrence, mine, {pat: (PRESENT, "")})
    assert _save(colleague, occurrence, theirs, {pat: (PRESENT, "")}) == []


def test_clearing_a_row_removes_the_record(group_with_members, facilitator, patient):
    occurrence = [o for o in occurrences_of(group_with_members) if o.starts_at < NOW][-1]
    record(facilitator, occurrence, {patient.id: PRESENT})

    record(facilitator, occurrence, {patient.id: None})

    assert queries.attendance_for(occurrence) == {}


# Two writers at once, for real: two threads, two transactions, on a SQLite file or PostgreSQL ------------------------


def _clinic(app, patients: int, capacity: int):
    """A group with a facilitator, a co-facilitator, `patients` invited patients and a session that began an hour
    ago; committed, in the shared database."""
    from conftest import password_hash

    from app.accounts.models import Organisation, Role, User

    organisation = Organisation(name="Writers' Clinic", slug="writers-clinic")
    db.session.add(organisation)
    db.session.flush()

    def person(role, name):
        user = User(email=f"{name.lower().replace(' ', '.')}@example.org", password_hash=password_hash(),
                    display_name=name, timezone="Europe/Berlin")
        user.roles.append(Role(organisation_id=organisation.id, name=role))
        db.session.add(user)
        db.session.flush()
        return user

    lead, colleague = person(RoleName.FACILITATOR, "Fran Lead"), person(RoleName.FACILITATOR, "Cole League")
    group = services.create_group(lead, {"name": "Evening group", "format": "online", "status": "active",
                                         "video_link": "https://video.example.org/room", "capacity": capacity,
                                         "timezone": "Europe/Berlin"})
    services.set_co_facilitators(lead, group, [colleague])
    people = [person(RoleName.PATIENT, f"Patient {n}") for n in range(patients)]
    for user in people:
        db.session.add(Membership(group_id=group.id, user_id=user.id, status=MembershipStatus.INVITED))
    occurrence = SessionOccurrence(group_id=group.id, starts_at=utcnow() - timedelta(hours=1),
                                   duration_minutes=90, is_exception=True)
    db.session.add(occurrence)
    db.session.commit()
    return lead.id, colleague.id, group.id, [u.id for u in people], occurrence.id


def _join(user_id: int, group_id: int):
    from app.accounts.models import User

    user = db.session.get(User, user_id)
    row = db.session.scalar(select(Membership).where(Membership.group_id == group_id, Membership.user_id == user_id))
    group = row.group
    return services.join_group(user, row, agreement_id=group.current_agreement.id, preferred_name=user.display_name,
                               hopes="", doable="", speaking_comfort="comfortable", accommodations=[],
                               accommodations_note="").status


def test_two_people_joining_at_once_for_the_last_place_get_one_place_and_one_waitlist(shared_database_app):
    app = shared_database_app
    _lead, _colleague, group_id, (first_in, second, third), _occurrence = _clinic(app, patients=3, capacity=2)
    assert _join(first_in, group_id) == MembershipStatus.ACTIVE  # one place left
    db.session.commit()

    results = run_overlapping(app, lambda: _join(second, group_id), lambda: _join(third, group_id))

    assert sorted(results.values()) == sorted([MembershipStatus.ACTIVE, MembershipStatus.WAITLISTED]), results
    statuses = db.session.scalars(select(Membership.status).where(Membership.group_id == group_id))
    assert sorted(statuses) == sorted([MembershipStatus.ACTIVE, MembershipStatus.ACTIVE,
                                       MembershipStatus.WAITLISTED])


@pytest.mark.parametrize("on_record", [None, AttendanceStatus.EXCUSED], ids=["no row yet", "row on record"])
def test_two_facilitators_saving_the_same_row_at_once_lose_nothing(shared_database_app, on_record):
    """Both loaded the sheet before either saved: the first save wins, the second is told; no error, no lost entry."""
    from app.accounts.models import User

    app = shared_database_app
    lead, colleague, group_id, (member,), occurrence_id = _clinic(app, patients=1, capacity=5)
    _join(member, group_id)
    if on_record is not None:
        db.session.add(Attendance(occurrence_id=occurrence_id, user_id=member, status=on_record))
    db.session.commit()

    def save(by_id, status):
        occurrence = db.session.get(SessionOccurrence, occurrence_id)
        return attendance.record_attendance(db.session.get(User, by_id), occurrence, [AttendanceEntry(
            user_id=member, status=status, previous_status=on_record)])

    results = run_overlapping(app, lambda: save(lead, PRESENT), lambda: save(colleague, ABSENT))

    assert isinstance(results["first"], attendance.AttendanceSaved) and results["first"].conflicts == []
    assert isinstance(results["second"], attendance.AttendanceSaved), results["second"]
    assert results["second"].conflicts == [member]
    db.session.expire_all()
    assert db.session.scalar(select(Attendance.status).where(Attendance.occurrence_id == occurrence_id)) == PRESENT


# Engagement -----------------------------------------------------------------------------------------------------------


@pytest.fixture
def ten_past_sessions(clock, make_group, make_member, facilitator, patient):
    """A group set up on 1 January with weekly sessions from 8 January: ten of them are over by NOW."""
    clock.move_to(datetime(2026, 1, 1, 9, tzinfo=timezone.utc))
    group = make_group(facilitator)
    enrol(group, patient, preferred_name="Pat")
    zoe = make_member(group, display_name="Zoe Zimmer")
    set_weekly_schedule(facilitator, group, datetime(2026, 1, 8, 18, 0), count=12)
    clock.move_to(NOW)
    past = [o for o in occurrences_of(group) if o.starts_at < NOW]
    assert len(past) == 11
    return group, past, zoe


def test_attendance_rates_count_only_the_last_8_sessions(ten_past_sessions, facilitator, patient):
    group, past, zoe = ten_past_sessions
    # Pat missed the three oldest sessions and joined the last eight; Zoe joined six of the last eight.
    for i, occurrence in enumerate(past):
        record(facilitator, occurrence, {patient.id: ABSENT if i < 3 else PRESENT,
                                         zoe.user_id: ABSENT if i in (4, 7) else AttendanceStatus.BRIEF_CHECKIN})

    engagement = queries.engagement(group)

    assert [s.id for s in engagement.sessions] == [o.id for o in past[-8:]]
    rates = {m.membership.user_id: (m.joined, m.counted, m.rate) for m in engagement.members}
    assert rates[patient.id] == (8, 8, 1.0)
    assert rates[zoe.user_id] == (6, 8, 0.75)
    assert engagement.rate == 14 / 16
    assert engagement.at_risk == []


def test_two_or_more_missed_in_a_row_is_flagged_and_excused_absences_are_not(ten_past_sessions, facilitator,
                                                                             patient):
    group, past, zoe = ten_past_sessions
    for occurrence in past[:-3]:
        record(facilitator, occurrence, {patient.id: PRESENT, zoe.user_id: PRESENT})
    # The last three: Pat missed two in a row; Zoe was excused twice and missed once.
    record(facilitator, past[-3], {patient.id: PRESENT, zoe.user_id: AttendanceStatus.EXCUSED})
    record(facilitator, past[-2], {patient.id: ABSENT, zoe.user_id: AttendanceStatus.EXCUSED})
    record(facilitator, past[-1], {patient.id: ABSENT, zoe.user_id: ABSENT})

    engagement = queries.engagement(group)

    assert [(m.membership.user_id, m.missed_in_a_row) for m in engagement.at_risk] == [(patient.id, 2)]
    zoe_row = next(m for m in engagement.members if m.membership.user_id == zoe.user_id)
    assert (zoe_row.joined, zoe_row.counted, zoe_row.missed_in_a_row) == (5, 6, 1)


def test_a_joined_session_ends_a_run_of_missed_ones(ten_past_sessions, facilitator, patient):
    group, past, _zoe = ten_past_sessions
    record(facilitator, past[-3], {patient.id: ABSENT})
    record(facilitator, past[-2], {patient.id: ABSENT})
    record(facilitator, past[-1], {patient.id: AttendanceStatus.LEFT_EARLY})

    assert queries.engagement(group).at_risk == []


def test_the_members_summary_counts_sessions_joined_of_the_last_six_recorded(ten_past_sessions, facilitator,
                                                                              patient):
    group, past, _zoe = ten_past_sessions
    for i, occurrence in enumerate(past):
        record(facilitator, occurrence, {patient.id: ABSENT if i == len(past) - 2 else PRESENT})

    assert queries.member_attendance_summary(patient, group) == (5, 6)


def test_cancelled_sessions_do_not_count_in_attendance(ten_past_sessions, facilitator, patient):
    group, past, _zoe = ten_past_sessions
    for occurrence in past:
        record(facilitator, occurrence, {patient.id: PRESENT})
    schedules.cancel_occurrence(facilitator, past[-1], "Snow")
    db.session.commit()

    engagement = queries.engagement(group)

    assert past[-1] not in engagement.sessions and len(engagement.sessions) == 8


# Facilitator notes ----------------------------------------------------------------------------------------------------


def test_every_note_write_and_read_is_in_the_audit_trail(group_with_members, facilitator, patient):
    group = group_with_members
    occurrence = [o for o in occurrences_of(group) if o.starts_at < NOW][-1]

    note = services.add_note(facilitator, group, "Quiet today; check in next week.", occurrence=occurrence,
                             member=patient)
    db.session.commit()
    notes = services.read_notes(facilitator, group, occurrence=occurrence)
    db.session.commit()

    assert [n.body for n in notes] == ["Quiet today; check in next week."]
    written = audit_actions("note_write")[-1]
    assert (written.actor_id, written.subject_id, written.target) == (facilitator.id, patient.id, f"note:{note.id}")
    read = audit_actions("note_read")[-1]
    assert (read.actor_id, read.target, read.occurred_at) == (facilitator.id, f"session:{occurrence.id}", NOW)
    with pytest.raises(GroupError):
        services.add_note(facilitator, group, "  ", occurrence=occurrence)


# Agenda ---------------------------------------------------------------------------------------------------------------


def test_agenda_items_keep_their_order_and_can_be_moved(group_with_members, facilitator):
    occurrence = future(group_with_members)[0]
    for title in ("Arrive", "Breathing", "Plan the week"):
        services.add_agenda_item(facilitator, occurrence, title=title, rationale=f"Why {title}")
    db.session.commit()

    services.move_agenda_item(facilitator, occurrence.agenda_items[2], -1)
    db.session.commit()
    db.session.expire(occurrence)

    assert [i.title for i in occurrence.agenda_items] == ["Arrive", "Plan the week", "Breathing"]
    assert db.session.scalar(select(AgendaItem.rationale).where(AgendaItem.title == "Breathing")) == "Why Breathing"
