"""Check-ins, safety alerts and live rooms: the writes, and the room state each viewer is sent.

Kept apart from services.py because the live room is its own small world (presence, rounds, hands) that the
Socket.IO handlers, the pages and the API all drive. Writes flush and audit; the event or request boundary commits,
and pushes leave only after that commit (app/push.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app import audit, policy
from app.accounts import services as account_services
from app.accounts.models import User
from app.extensions import db
from app.groups import queries
from app.groups.models import (
    AlertKind,
    Attendance,
    AttendanceStatus,
    CheckIn,
    Energy,
    GroupFacilitator,
    LiveRoom,
    Membership,
    MembershipStatus,
    OccurrenceStatus,
    RoomPresence,
    SafetyAlert,
    SessionOccurrence,
    TherapyGroup,
)
from app.models_base import utcnow
from app.push import notify_data_changed, queue_disconnect, queue_push
from app.realtime import user_room

PRESENCE_TIMEOUT = timedelta(seconds=75)
NOTE_MAX = 280
CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")


class CheckInError(ValueError):
    """Refused: `code` is what a client sees in the acknowledgement, `message` what a person reads."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(code)
        self.code = code
        self.message = message or code


# Room names -----------------------------------------------------------------------------------------------------------


def session_room(occurrence_id: int) -> str:
    """Everyone in the live room: presence, room state."""
    return f"session:{occurrence_id}"


def members_room(occurrence_id: int) -> str:
    """Members of the live room: check-ins as the group's visibility setting allows."""
    return f"session:{occurrence_id}:members"


def facilitators_room(occurrence_id: int) -> str:
    """Facilitators in the live room: every check-in in full."""
    return f"session:{occurrence_id}:facilitators"


def push_to_facilitators(event_name: str, payload: dict, group_id: int) -> None:
    """To every socket of the group's facilitators, wherever they are in the app (safety alerts, check-ins between
    sessions). Addressed to each account's own room, with the facilitators looked up now: a room of the group joined
    on connect would go on feeding a co-facilitator removed since, and miss one added since."""
    for user_id in db.session.scalars(select(GroupFacilitator.user_id).where(GroupFacilitator.group_id == group_id)):
        queue_push(event_name, payload, user_room(user_id))


# Live rooms -----------------------------------------------------------------------------------------------------------


def room_of(occurrence: SessionOccurrence, *, lock: bool = False) -> LiveRoom:
    query = select(LiveRoom).where(LiveRoom.occurrence_id == occurrence.id)
    if lock:
        query = query.with_for_update()
    room = db.session.scalar(query)
    if room is None:
        room = LiveRoom(occurrence_id=occurrence.id)
        db.session.add(room)
        db.session.flush()
    return room


def lobby_opens_at(occurrence: SessionOccurrence) -> datetime:
    return occurrence.starts_at - timedelta(minutes=occurrence.group.lobby_minutes)


def check_can_enter(user: User, occurrence: SessionOccurrence, room: LiveRoom, now: datetime) -> None:
    group = occurrence.group
    if policy.can_manage_group(user, group):
        return
    if not policy.can_enter_live_room(user, group):
        raise CheckInError("not_found")
    if not room.is_open:
        raise CheckInError("room_closed", _("The room is not open yet. Your facilitator opens it shortly before the "
                                            "session."))
    if now < lobby_opens_at(occurrence):
        raise CheckInError("room_closed", _("The room opens %(n)d minutes before the session.",
                                            n=group.lobby_minutes))


def open_room(by: User, occurrence: SessionOccurrence) -> LiveRoom:
    if occurrence.status == OccurrenceStatus.CANCELLED:
        raise CheckInError("cancelled", _("This session is cancelled."))
    room = room_of(occurrence, lock=True)
    room.opened_at, room.opened_by_id, room.closed_at = utcnow(), by.id, None
    room.version += 1
    db.session.flush()
    audit.record("room_open", actor=by, target=f"session:{occurrence.id}")
    push_room_state(occurrence, room)
    return room


def close_room(by: User, occurrence: SessionOccurrence) -> LiveRoom:
    room = room_of(occurrence, lock=True)
    room.closed_at = utcnow()
    room.speaker_index, room.hands = None, []
    room.version += 1
    member_sids = [p.sid for p in _presence(room) if not policy.can_manage_group(db.session.get(User, p.user_id),
                                                                                 occurrence.group)]
    db.session.execute(delete(RoomPresence).where(RoomPresence.room_id == room.id))
    db.session.flush()
    audit.record("room_close", actor=by, target=f"session:{occurrence.id}")
    push_room_state(occurrence, room)
    # Members leave with the room: their sockets are disconnected and re-sync (to "closed") when they reconnect.
    queue_disconnect(member_sids)
    return room


def join_room_presence(user: User, occurrence: SessionOccurrence, sid: str) -> LiveRoom:
    room = room_of(occurrence)
    check_can_enter(user, occurrence, room, utcnow())
    presence = db.session.scalar(select(RoomPresence).where(RoomPresence.room_id == room.id, RoomPresence.sid == sid))
    if presence is None:
        db.session.add(RoomPresence(room_id=room.id, user_id=user.id, sid=sid))
    else:
        presence.last_seen_at = utcnow()
    db.session.flush()
    push_presence(occurrence, room)
    return room


def leave_room_presence(sid: str) -> list[SessionOccurrence]:
    """Remove a socket from every room it was in (on leave or disconnect); returns the sessions it left."""
    rows = list(db.session.scalars(select(RoomPresence).where(RoomPresence.sid == sid)))
    left = []
    for row in rows:
        room = db.session.get(LiveRoom, row.room_id)
        db.session.delete(row)
        left.append(room)
    db.session.flush()
    for room in left:
        push_presence(room.occurrence, room)
    return [room.occurrence for room in left]


def heartbeat(sid: str) -> None:
    for row in db.session.scalars(select(RoomPresence).where(RoomPresence.sid == sid)):
        row.last_seen_at = utcnow()
    db.session.flush()


def _presence(room: LiveRoom) -> list[RoomPresence]:
    cutoff = utcnow() - PRESENCE_TIMEOUT
    return list(db.session.scalars(select(RoomPresence).where(RoomPresence.room_id == room.id,
                                                              RoomPresence.last_seen_at >= cutoff)))


def present_user_ids(room: LiveRoom) -> set[int]:
    return {p.user_id for p in _presence(room)}


def eject_from_group(user_id: int, group_id: int) -> None:
    """A member removed from the group (or an account deactivated) leaves every live room of the group at once."""
    _eject(list(db.session.scalars(
        select(RoomPresence).join(LiveRoom).join(SessionOccurrence)
        .where(RoomPresence.user_id == user_id, SessionOccurrence.group_id == group_id))))


def eject_everywhere(user_id: int) -> None:
    """Every live-room socket of an account, on any app process, is disconnected after the commit."""
    _eject(list(db.session.scalars(select(RoomPresence).where(RoomPresence.user_id == user_id))))


def _eject(rows: list[RoomPresence]) -> None:
    rooms = {row.room_id for row in rows}
    for row in rows:
        db.session.delete(row)
    db.session.flush()
    # Pushes go out in the order queued: the sockets leave first, so the presence list that follows (the people
    # still in the room) never reaches the person who was sent out. Their disconnect handler finds no rows left to
    # remove, so the others learn here that they are gone.
    queue_disconnect([row.sid for row in rows])
    for room_id in rooms:
        room = db.session.get(LiveRoom, room_id)
        push_presence(room.occurrence, room)


# Facilitator controls -------------------------------------------------------------------------------------------------


def _members_by_name(occurrence: SessionOccurrence) -> list[Membership]:
    return queries.active_members(occurrence.group)


def start_round(by: User, occurrence: SessionOccurrence) -> LiveRoom:
    room = _open_room_for_change(occurrence)
    present = present_user_ids(room)
    order = [m.user_id for m in _members_by_name(occurrence) if m.user_id in present
             and m.user_id not in (room.left_early or [])]
    room.round_number += 1
    room.speaker_order, room.speaker_index, room.skipped = order, (0 if order else None), []
    return _changed(by, occurrence, room, "room_round_start")


def next_speaker(by: User, occurrence: SessionOccurrence, *, skip: bool = False) -> LiveRoom:
    room = _open_room_for_change(occurrence)
    if room.speaker_index is None:
        raise CheckInError("no_round", _("Start a check-in round first."))
    if skip:
        room.skipped = [*(room.skipped or []), room.current_speaker_id]
    following = room.speaker_index + 1
    room.speaker_index = following if following < len(room.speaker_order or []) else None
    return _changed(by, occurrence, room, "room_skip" if skip else "room_next")


def set_hand(user: User, occurrence: SessionOccurrence, raised: bool) -> LiveRoom:
    room = _open_room_for_change(occurrence)
    hands = [h for h in (room.hands or []) if h != user.id]
    if raised:
        hands.append(user.id)
    room.hands = hands
    return _changed(None, occurrence, room, None)


def lower_hand_for(by: User, occurrence: SessionOccurrence, user_id: int) -> LiveRoom:
    room = _open_room_for_change(occurrence)
    room.hands = [h for h in (room.hands or []) if h != user_id]
    return _changed(by, occurrence, room, "room_hand_lower")


def mark_left_early(by: User, occurrence: SessionOccurrence, user_id: int) -> LiveRoom:
    if user_id not in {m.user_id for m in _members_by_name(occurrence)}:
        raise CheckInError("not_found")
    room = _open_room_for_change(occurrence)
    if user_id not in (room.left_early or []):
        room.left_early = [*(room.left_early or []), user_id]
    room.hands = [h for h in (room.hands or []) if h != user_id]
    record = db.session.scalar(select(Attendance).where(Attendance.occurrence_id == occurrence.id,
                                                        Attendance.user_id == user_id))
    if record is None:
        record = Attendance(occurrence_id=occurrence.id, user_id=user_id, status=AttendanceStatus.LEFT_EARLY)
        db.session.add(record)
    record.status, record.recorded_by_id, record.recorded_at = AttendanceStatus.LEFT_EARLY, by.id, utcnow()
    return _changed(by, occurrence, room, "room_left_early", subject=user_id)


def _open_room_for_change(occurrence: SessionOccurrence) -> LiveRoom:
    room = room_of(occurrence, lock=True)
    if not room.is_open:
        raise CheckInError("room_closed", _("The room is closed."))
    return room


def _changed(by: User | None, occurrence: SessionOccurrence, room: LiveRoom, action: str | None,
             subject: int | None = None) -> LiveRoom:
    room.version += 1
    db.session.flush()
    if action:
        audit.record(action, actor=by, subject=subject, target=f"session:{occurrence.id}")
    push_room_state(occurrence, room)
    return room


# Check-ins and alerts -------------------------------------------------------------------------------------------------


@dataclass
class CheckInResult:
    checkin: CheckIn
    created: bool
    alerts: list[SafetyAlert]


def _validate(mood, energy, note, passed, client_id) -> tuple[int | None, Energy | None, str, bool]:
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise CheckInError("invalid_client_id", _("This check-in could not be read. Please try again."))
    if passed is True:
        return None, None, "", True
    if passed not in (False, None):
        raise CheckInError("invalid", _("This check-in could not be read. Please try again."))
    if isinstance(mood, bool) or not isinstance(mood, int) or not 0 <= mood <= 10:
        raise CheckInError("invalid_mood", _("Choose a mood from 0 to 10, or pass."))
    if energy in (None, ""):
        energy_value = None
    else:
        try:
            energy_value = Energy(energy)
        except ValueError:
            raise CheckInError("invalid_energy", _("Choose low, medium or high energy.")) from None
    if note is None:
        note = ""
    if not isinstance(note, str) or len(note) > NOTE_MAX or "\x00" in note:
        raise CheckInError("invalid_note", _("Keep the note to %(n)d characters.", n=NOTE_MAX))
    return mood, energy_value, note.strip(), False


def record_checkin(user: User, *, client_id, mood=None, energy=None, note="", passed=False,
                   occurrence: SessionOccurrence | None = None) -> CheckInResult:
    """Store a check-in once per client_id (a retry returns the stored one), raise alerts, and queue the pushes."""
    mood, energy_value, note, passed = _validate(mood, energy, note, passed, client_id)
    existing = db.session.scalar(select(CheckIn).where(CheckIn.user_id == user.id, CheckIn.client_id == client_id))
    if existing is not None:
        return _stored(existing)
    if occurrence is not None:
        room = room_of(occurrence)
        check_can_enter(user, occurrence, room, utcnow())
        if policy.can_manage_group(user, occurrence.group):
            raise CheckInError("forbidden", _("Facilitators do not check in."))
    checkin = CheckIn(user_id=user.id, occurrence_id=occurrence.id if occurrence else None, mood=mood,
                      energy=energy_value, note=note, passed=passed, client_id=client_id)
    try:
        with db.session.begin_nested():
            db.session.add(checkin)
    except IntegrityError:
        # The same key arrived on another connection a moment ago: that one is the record.
        existing = db.session.scalar(select(CheckIn).where(CheckIn.user_id == user.id, CheckIn.client_id == client_id))
        return _stored(existing)
    audit.record("checkin", actor=user, subject=user, target=f"checkin:{checkin.id}")
    alerts = []
    for group in _groups_for_alerts(user, occurrence):
        if checkin.mood is not None and checkin.mood <= group.distress_threshold:
            alerts.append(_raise_alert(user, group, AlertKind.LOW_MOOD, occurrence, checkin))
    push_checkin(user, checkin, occurrence)
    notify_data_changed(user.id, "mood_summary")
    return CheckInResult(checkin, True, alerts)


def _stored(checkin: CheckIn) -> CheckInResult:
    """A retry: the stored check-in and the alerts it raised then (none raised again). The retry may be answering a
    client whose first acknowledgement was lost, so it must still learn that support was called."""
    alerts = list(db.session.scalars(select(SafetyAlert).where(SafetyAlert.checkin_id == checkin.id)))
    return CheckInResult(checkin, False, alerts)


def _groups_for_alerts(user: User, occurrence: SessionOccurrence | None) -> list[TherapyGroup]:
    if occurrence is not None:
        return [occurrence.group]
    return [m.group for m in queries.memberships_for_patient(user) if m.status == MembershipStatus.ACTIVE]


def need_support(user: User, occurrence: SessionOccurrence | None = None) -> list[SafetyAlert]:
    """The private "I need support now" button: an alert to the facilitators only."""
    if occurrence is not None:
        check_can_enter(user, occurrence, room_of(occurrence), utcnow())
    groups = _groups_for_alerts(user, occurrence)
    return [_raise_alert(user, group, AlertKind.NEED_SUPPORT, occurrence, None) for group in groups]


def _raise_alert(user: User, group: TherapyGroup, kind: AlertKind, occurrence: SessionOccurrence | None,
                 checkin: CheckIn | None) -> SafetyAlert:
    alert = SafetyAlert(organisation_id=group.organisation_id, group_id=group.id, patient_id=user.id, kind=kind,
                        occurrence_id=occurrence.id if occurrence else None,
                        checkin_id=checkin.id if checkin else None)
    db.session.add(alert)
    db.session.flush()
    audit.record("safety_alert", actor=user, subject=user, target=f"alert:{alert.id}",
                 organisation_id=group.organisation_id, details={"kind": kind.value})
    push_to_facilitators("alert", alert_payload(alert), group.id)
    return alert


def acknowledge_alert(by: User, alert: SafetyAlert) -> None:
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by_id = utcnow(), by.id
        db.session.flush()
        audit.record("safety_alert_acknowledge", actor=by, subject=alert.patient_id, target=f"alert:{alert.id}")
        push_to_facilitators("alert", alert_payload(alert), alert.group_id)


# What each viewer is sent ---------------------------------------------------------------------------------------------


def alert_payload(alert: SafetyAlert) -> dict:
    membership = db.session.scalar(select(Membership).where(Membership.group_id == alert.group_id,
                                                            Membership.user_id == alert.patient_id))
    return {"id": alert.id, "kind": alert.kind.value, "group_id": alert.group_id, "session_id": alert.occurrence_id,
            "user_id": alert.patient_id,
            "name": membership.shown_name if membership else alert.patient.display_name,
            "created_at": alert.created_at.isoformat(),
            "acknowledged": alert.acknowledged_at is not None,
            "acknowledged_by": alert.acknowledged_by.display_name if alert.acknowledged_by else None}


def crisis_resources(user: User) -> dict:
    """The organisation's crisis resources (empty fields mean: contact local emergency services)."""
    organisation = user.organisation
    fields = ("crisis_name", "crisis_phone", "crisis_text", "crisis_url", "crisis_note")
    return {name.removeprefix("crisis_"): getattr(organisation, name) if organisation else "" for name in fields}


def own_checkin_answer(user: User, result: CheckInResult) -> dict:
    """What the member is told once their check-in is stored: it in full, whether it was a retry, and the crisis
    resources when it raised an alert (a retry says so again, as the first answer may be the one that was lost)."""
    checkin = result.checkin
    occurrence = db.session.get(SessionOccurrence, checkin.occurrence_id) if checkin.occurrence_id else None
    name = _shown_name(user.id, occurrence.group_id) if occurrence else user.display_name
    answer = {**checkin_payload(checkin, name, True), "client_id": checkin.client_id, "duplicate": not result.created}
    if result.alerts:
        answer["support"] = crisis_resources(user)
    return answer


def checkin_payload(checkin: CheckIn, name: str, full: bool) -> dict:
    base = {"id": checkin.id, "user_id": checkin.user_id, "name": name, "session_id": checkin.occurrence_id,
            "created_at": checkin.created_at.isoformat(), "client_id": None}
    if not full:
        return {**base, "checked_in": True}
    energy = checkin.energy.value if checkin.energy else None
    return {**base, "checked_in": True, "mood": checkin.mood, "energy": energy,
            "note": checkin.note, "passed": checkin.passed}


def _shown_name(user_id: int, group_id: int) -> str:
    membership = db.session.scalar(select(Membership).where(Membership.group_id == group_id,
                                                            Membership.user_id == user_id))
    return membership.shown_name if membership else db.session.get(User, user_id).display_name


def push_checkin(user: User, checkin: CheckIn, occurrence: SessionOccurrence | None) -> None:
    if occurrence is not None:
        group = occurrence.group
        name = _shown_name(user.id, group.id)
        queue_push("checkin", checkin_payload(checkin, name, True), facilitators_room(occurrence.id))
        queue_push("checkin", checkin_payload(checkin, name, group.checkin_visibility == "all"),
                   members_room(occurrence.id))
        return
    for group in _groups_for_alerts(user, None):
        payload = checkin_payload(checkin, _shown_name(user.id, group.id), True)
        push_to_facilitators("checkin", {**payload, "group_id": group.id}, group.id)


def push_presence(occurrence: SessionOccurrence, room: LiveRoom) -> None:
    queue_push("presence", {"session_id": occurrence.id, "present": presence_list(occurrence, room)},
               session_room(occurrence.id))


def push_room_state(occurrence: SessionOccurrence, room: LiveRoom) -> None:
    """Room state without check-ins (each viewer's visibility differs); clients re-sync check-ins on join."""
    queue_push("room_state", public_state(occurrence, room), session_room(occurrence.id))


def presence_list(occurrence: SessionOccurrence, room: LiveRoom) -> list[dict]:
    present = present_user_ids(room)
    facilitator_ids = {f.user_id for f in occurrence.group.facilitators}
    people = []
    for user_id in sorted(present):
        people.append({"user_id": user_id, "name": _shown_name(user_id, occurrence.group_id),
                       "facilitator": user_id in facilitator_ids})
    return sorted(people, key=lambda p: (not p["facilitator"], p["name"].casefold()))


def public_state(occurrence: SessionOccurrence, room: LiveRoom) -> dict:
    group_id = occurrence.group_id
    names = {uid: _shown_name(uid, group_id) for uid in {*(room.speaker_order or []), *(room.hands or []),
                                                        *(room.left_early or [])}}
    return {
        "session_id": occurrence.id, "open": room.is_open, "version": room.version, "round": room.round_number,
        "speaker": ({"user_id": room.current_speaker_id, "name": names[room.current_speaker_id]}
                    if room.current_speaker_id else None),
        "order": [{"user_id": uid, "name": names[uid], "skipped": uid in (room.skipped or [])}
                  for uid in room.speaker_order or []],
        "hands": [{"user_id": uid, "name": names[uid]} for uid in room.hands or []],
        "left_early": [{"user_id": uid, "name": names[uid]} for uid in room.left_early or []],
        "present": presence_list(occurrence, room),
    }


def latest_checkins(occurrence: SessionOccurrence) -> list[CheckIn]:
    """Each member's latest check-in in this session (an update is a newer row)."""
    latest: dict[int, CheckIn] = {}
    for checkin in db.session.scalars(select(CheckIn).where(CheckIn.occurrence_id == occurrence.id)
                                      .order_by(CheckIn.created_at, CheckIn.id)):
        latest[checkin.user_id] = checkin
    return list(latest.values())


def open_alerts(group_ids: list[int], occurrence: SessionOccurrence | None = None) -> list[SafetyAlert]:
    if not group_ids:
        return []
    query = select(SafetyAlert).where(SafetyAlert.group_id.in_(group_ids), SafetyAlert.acknowledged_at.is_(None))
    if occurrence is not None:
        query = query.where(SafetyAlert.occurrence_id == occurrence.id)
    return list(db.session.scalars(query.order_by(SafetyAlert.created_at)))


def state_for(viewer: User, occurrence: SessionOccurrence) -> dict:
    """Everything a viewer may see of the room now: what a client re-syncs from on (re)connect."""
    room = room_of(occurrence)
    group = occurrence.group
    facilitator = policy.can_manage_group(viewer, group)
    full = facilitator or group.checkin_visibility == "all"
    checkins = []
    for checkin in latest_checkins(occurrence):
        own = checkin.user_id == viewer.id
        checkins.append(checkin_payload(checkin, _shown_name(checkin.user_id, group.id), full or own))
    state = {**public_state(occurrence, room), "checkins": checkins, "facilitator": facilitator,
             "visibility": group.checkin_visibility, "me": viewer.id}
    if facilitator:
        state["alerts"] = [alert_payload(a) for a in open_alerts([group.id], occurrence)]
    return state


account_services.ACCOUNT_DEACTIVATED_HOOKS.append(eject_everywhere)


# Home-page panels -----------------------------------------------------------------------------------------------------


def facilitator_alerts_panel(user: User) -> dict:
    group_ids = [g.id for g in queries.groups_for_facilitator(user)]
    alerts = open_alerts(group_ids)
    return {"alerts": alerts, "names": {a.id: _shown_name(a.patient_id, a.group_id) for a in alerts},
            "checkins": queries.recent_between_session_checkins(group_ids, limit=10)}


def patient_checkin_panel(user: User) -> dict:
    import uuid

    from flask import session

    from app.groups.forms import CheckInForm

    now = utcnow()
    groups = [m.group for m in queries.memberships_for_patient(user) if m.status == MembershipStatus.ACTIVE]
    upcoming = queries.next_occurrences(groups)  # one query for every group, not one per group
    rooms = {room.occurrence_id: room for room in db.session.scalars(
        select(LiveRoom).where(LiveRoom.occurrence_id.in_([o.id for o in upcoming.values()])))} if upcoming else {}
    live = []
    for group in groups:
        occurrence = upcoming.get(group.id)
        room = rooms.get(occurrence.id) if occurrence else None
        if room is not None and room.is_open and now >= lobby_opens_at(occurrence):
            live.append(occurrence)
    return {"client_id": uuid.uuid4().hex, "form": CheckInForm(), "show_support": session.pop("show_support", False),
            "live": live}
