"""The live room's writes: opening and closing the room, presence, rounds and raised hands, check-ins and the calls
for support they raise (app/rooms/alerts.py raises and acknowledges the alerts), and the pushes that follow them.
Writes flush and audit; the event or request boundary commits, and pushes leave only after that commit
(app/realtime/push.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import NotFound

from app import audit, policy, signals
from app.accounts.models import User
from app.extensions import db
from app.groups import queries as group_queries
from app.groups.models import (
    Attendance,
    AttendanceStatus,
    Membership,
    OccurrenceStatus,
    SessionOccurrence,
    TherapyGroup,
)
from app.input_checks import UNPAIRED_SURROGATE, is_one_line
from app.models_base import utcnow
from app.realtime.push import (
    notify_data_changed,
    queue_close_room,
    queue_disconnect,
    queue_enter_room,
    queue_leave_room,
)
from app.realtime.sockets import account_sids
from app.refusal import Refusal
from app.rooms.alerts import announce_alert, new_alert, raise_alert
from app.rooms.models import AlertKind, CheckIn, Energy, LiveRoom, RoomPresence, SafetyAlert
from app.rooms.pushes import (
    facilitators_room,
    lobby_room,
    members_room,
    push_checkin,
    push_presence,
    push_room_state,
    session_room,
)
from app.rooms.queries import (
    PRESENCE_TIMEOUT,
    checkin_payload,
    crisis_resources,
    groups_for_alerts,
    present_user_ids,
    shown_name,
)

NOTE_MAX = 280
CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")
#: A mood at or under this is a distress signal when no group of the patient's sets its own threshold.
DEFAULT_DISTRESS_THRESHOLD = 2


class CheckInError(Refusal):
    """Refused: `code` is what a client sees in the acknowledgement, `message` what a person reads; an `invalid_x`
    code names the field x."""

    conflicts = Refusal.conflicts | {"room_closed", "cancelled", "no_round"}

    def __init__(self, code: str, message: str = ""):
        field = code.removeprefix("invalid_") if code.startswith("invalid_") else None
        super().__init__(message or code, field=field, code=code)


# Live rooms -----------------------------------------------------------------------------------------------------------


def room_of(occurrence: SessionOccurrence, *, lock: bool | str = False) -> LiveRoom:
    """The session's live room, made on first use. `lock=True` for a change to the room (FOR UPDATE), `"share"` for
    a write that must not cross a change (a check-in against a close: FOR SHARE waits for the close to commit)."""

    def find() -> LiveRoom | None:
        query = select(LiveRoom).where(LiveRoom.occurrence_id == occurrence.id)
        if lock:
            query = query.with_for_update(read=lock == "share")
        return db.session.scalar(query)

    room = find()
    if room is None:
        try:
            with db.session.begin_nested():
                db.session.add(LiveRoom(occurrence_id=occurrence.id))
        except IntegrityError:
            pass  # made a moment ago by a request beside this one: that one is the room
        room = find()
    return room


def open_room(by: User, occurrence: SessionOccurrence) -> LiveRoom:
    if occurrence.status == OccurrenceStatus.CANCELLED:
        raise CheckInError("cancelled", _("This session is cancelled."))
    room = room_of(occurrence, lock=True)
    room.opened_at, room.opened_by_id, room.closed_at = utcnow(), by.id, None
    room.version += 1
    db.session.flush()
    audit.record("room_open", actor=by, target=f"session:{occurrence.id}")
    push_room_state(occurrence, room, opened_or_closed=True)
    return room


def close_room(by: User, occurrence: SessionOccurrence) -> LiveRoom:
    """Close the room: members are taken out of it on every app process (whatever their presence says), and hear
    nothing more of it until it opens again and they enter again; its facilitators stay, to open it again."""
    room = room_of(occurrence, lock=True)
    room.closed_at = utcnow()
    room.speaker_index, room.hands = None, []
    room.version += 1
    facilitator_ids = {f.user_id for f in occurrence.group.facilitators}
    rows = list(db.session.scalars(select(RoomPresence).where(RoomPresence.room_id == room.id)))
    staying = [row for row in rows if row.user_id in facilitator_ids]
    for row in rows:
        if row.user_id not in facilitator_ids:
            db.session.delete(row)
    db.session.flush()
    audit.record("room_close", actor=by, target=f"session:{occurrence.id}")
    push_room_state(occurrence, room, opened_or_closed=True)  # the last thing members hear of the room: it closed
    # Pushes leave in the order queued: every socket leaves the rooms, wherever it is connected, and the
    # facilitators' sockets come back into the room everyone hears.
    queue_close_room(members_room(occurrence.id))
    queue_close_room(session_room(occurrence.id))
    for row in staying:
        queue_enter_room(row.sid, session_room(occurrence.id))
    return room


def enter_room(user: User, occurrence: SessionOccurrence, sid: str) -> LiveRoom:
    """Put a socket in the live room (again, after a reconnect) as the policy allows: its presence, refreshed like a
    heartbeat, and its Socket.IO rooms, entered after the commit."""
    room = room_of(occurrence)
    policy.require_enter_room(user, occurrence, room, utcnow())
    presence = db.session.scalar(select(RoomPresence).where(RoomPresence.room_id == room.id, RoomPresence.sid == sid))
    news = presence is None or presence.last_seen_at < utcnow() - PRESENCE_TIMEOUT
    if presence is None:
        db.session.add(RoomPresence(room_id=room.id, user_id=user.id, sid=sid))
    else:
        presence.last_seen_at = utcnow()
    db.session.flush()
    queue_leave_room(sid, lobby_room(occurrence.id))
    queue_enter_room(sid, session_room(occurrence.id))
    if policy.can_manage_group(user, occurrence.group):
        queue_enter_room(sid, facilitators_room(occurrence.id))
    else:
        queue_enter_room(sid, members_room(occurrence.id))
    if news:  # someone came (or came back): a periodic re-entry by someone present is not news
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

def eject_from_group(user_id: int, group_id: int) -> None:
    """A member or co-facilitator removed from the group leaves every live room of the group at once."""
    _eject(user_id, list(db.session.scalars(
        select(RoomPresence).join(LiveRoom).join(SessionOccurrence)
        .where(RoomPresence.user_id == user_id, SessionOccurrence.group_id == group_id))))


def eject_everywhere(user_id: int) -> None:
    """A deactivated account leaves every live room at once."""
    _eject(user_id, list(db.session.scalars(select(RoomPresence).where(RoomPresence.user_id == user_id))))


def _eject(user_id: int, rows: list[RoomPresence]) -> None:
    """Every socket of the account is disconnected after the commit, on whichever app process holds it: presence
    rows alone would miss a socket still in a Socket.IO room without one. The account's other sockets reconnect,
    and enter again only what the policy now allows."""
    rooms = {row.room_id for row in rows}
    for row in rows:
        db.session.delete(row)
    db.session.flush()
    # Pushes go out in the order queued: the sockets leave first, so the presence list that follows (the people
    # still in the room) never reaches the person who was sent out. Their disconnect handler finds no rows left to
    # remove, so the others learn here that they are gone.
    queue_disconnect(sorted({*account_sids(user_id), *(row.sid for row in rows)}))
    for room_id in rooms:
        room = db.session.get(LiveRoom, room_id)
        push_presence(room.occurrence, room)


# Facilitator controls -------------------------------------------------------------------------------------------------


def _members_by_name(occurrence: SessionOccurrence) -> list[Membership]:
    return group_queries.active_members(occurrence.group)


def start_round(by: User, occurrence: SessionOccurrence) -> LiveRoom:
    room = _open_room_for_change(occurrence)
    present = present_user_ids(room)
    order = [m.user_id for m in _members_by_name(occurrence) if m.user_id in present
             and m.user_id not in (room.left_early or [])]
    room.round_number += 1
    room.speaker_order, room.speaker_index, room.skipped = order, (0 if order else None), []
    return _changed(by, occurrence, room, "room_round_start")


def next_speaker(by: User, occurrence: SessionOccurrence, *, skip: bool = False) -> LiveRoom:
    """On to the next turn. `speaker_order` holds the round's turns: when everyone has had theirs, each person
    skipped is offered a turn once more (a second skip is final) before the round ends."""
    room = _open_room_for_change(occurrence)
    if room.speaker_index is None:
        raise CheckInError("no_round", _("Start a check-in round first."))
    speaker, turns, skipped = room.current_speaker_id, list(room.speaker_order or []), list(room.skipped or [])
    if skip and speaker not in skipped:
        skipped.append(speaker)
    elif not skip and speaker in skipped:
        skipped.remove(speaker)  # offered again, and took the turn this time
    following = room.speaker_index + 1
    if following >= len(turns):
        turns += [uid for uid in skipped if turns.count(uid) == 1]  # not yet offered again
    room.speaker_order, room.skipped = turns, skipped
    room.speaker_index = following if following < len(turns) else None
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
    #: The mood is a distress signal: the member is shown the crisis resources, whether or not an alert could be
    #: raised (a patient in no active group has no facilitator to alert, and needs them all the same).
    distress: bool = False


@dataclass
class SupportResult:
    alerts: list[SafetyAlert] = field(default_factory=list)
    created: bool = True


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
    if not isinstance(note, str) or len(note) > NOTE_MAX:
        raise CheckInError("invalid_note", _("Keep the note to %(n)d characters.", n=NOTE_MAX))
    if not is_one_line(note) or UNPAIRED_SURROGATE.search(note):
        raise CheckInError("invalid_note", _("Keep this on one line, without special characters."))
    return mood, energy_value, note.strip(), False


def record_checkin(user: User, *, client_id, mood=None, energy=None, note="", passed=False,
                   occurrence: SessionOccurrence | None = None) -> CheckInResult:
    """Store a check-in once per client_id (a retry returns the stored one), raise alerts, and queue the pushes."""
    mood, energy_value, note, passed = _validate(mood, energy, note, passed, client_id)
    if occurrence is not None:
        try:
            _may_check_in(user, occurrence)
        except (Refusal, NotFound):
            # A retry of a check-in stored before the room closed (or before the member left) is answered with it.
            stored = _checkin_by_key(user, client_id)
            if stored is None:
                raise
            return _stored(user, stored)
    checkin = _insert_once(user_id=user.id, occurrence_id=occurrence.id if occurrence else None, mood=mood,
                           energy=energy_value, note=note, passed=passed, client_id=client_id)
    if checkin is None:
        # A retry, or the same key on another connection a moment ago: the stored one is the record.
        return _stored(user, _checkin_by_key(user, client_id))
    audit.record("checkin", actor=user, subject=user, target=f"checkin:{checkin.id}")
    alerts = []
    groups = groups_for_alerts(user, occurrence)
    for group in groups:
        if checkin.mood is not None and checkin.mood <= group.distress_threshold:
            alerts.append(raise_alert(user, group, AlertKind.LOW_MOOD, occurrence, checkin))
    push_checkin(user, checkin, occurrence)
    notify_data_changed(user.id, "mood_summary")
    return CheckInResult(checkin, True, alerts, distress=_is_distress(checkin, groups))


def _may_check_in(user: User, occurrence: SessionOccurrence) -> None:
    # Shared lock: a close committing meanwhile is waited for, and then refuses this check-in.
    room = room_of(occurrence, lock="share")
    policy.require_enter_room(user, occurrence, room, utcnow())
    if policy.can_manage_group(user, occurrence.group):
        raise CheckInError("forbidden", _("Facilitators do not check in."))


def _insert_once(**values) -> CheckIn | None:
    """The new check-in, or None when its key is taken: one INSERT ... ON CONFLICT DO NOTHING, which neither a
    lookup before it nor a savepoint around it has to guard."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (insert(CheckIn).values(**values)
                 .on_conflict_do_nothing(index_elements=[CheckIn.user_id, CheckIn.client_id]).returning(CheckIn))
    return db.session.scalars(statement).first()


def _checkin_by_key(user: User, client_id: str) -> CheckIn | None:
    return db.session.scalar(select(CheckIn).where(CheckIn.user_id == user.id, CheckIn.client_id == client_id))


def _stored(user: User, checkin: CheckIn) -> CheckInResult:
    """A retry: the stored check-in and the alerts it raised then (none raised again). The retry may be answering a
    client whose first acknowledgement was lost, so it must still learn that support was called."""
    alerts = list(db.session.scalars(select(SafetyAlert).where(SafetyAlert.checkin_id == checkin.id)))
    occurrence = db.session.get(SessionOccurrence, checkin.occurrence_id) if checkin.occurrence_id else None
    return CheckInResult(checkin, False, alerts, distress=bool(alerts) or _is_distress(
        checkin, groups_for_alerts(user, occurrence)))


def _is_distress(checkin: CheckIn, groups: list[TherapyGroup]) -> bool:
    """A very low mood, by the most careful threshold among the patient's groups (CLINICAL.md safety rule 2)."""
    threshold = max((group.distress_threshold for group in groups), default=DEFAULT_DISTRESS_THRESHOLD)
    return checkin.mood is not None and checkin.mood <= threshold


def need_support(user: User, occurrence: SessionOccurrence | None = None, *,
                 client_id: str | None = None) -> SupportResult:
    """The private "I need support now" button: an alert to the facilitators only, once per client key (a press
    retried after a lost acknowledgement, or pressed again while the first is on its way, is the same call).

    A member who may be in the live room is heard before it opens too: someone waiting in the lobby may need help."""
    if client_id is not None and (not isinstance(client_id, str) or not CLIENT_ID.match(client_id)):
        raise CheckInError("invalid_client_id", _("This could not be sent. Please try again."))
    stored = _support_alerts(user, client_id)
    if stored:
        return SupportResult(stored, created=False)
    if occurrence is not None:
        room_of(occurrence, lock="share")
        if not policy.can_enter_live_room(user, occurrence.group):
            raise CheckInError("not_found")
    groups = groups_for_alerts(user, occurrence)
    try:
        with db.session.begin_nested():
            alerts = [new_alert(user, group, AlertKind.NEED_SUPPORT, occurrence, None, client_id=client_id)
                      for group in groups]
    except IntegrityError:
        # The same key arrived on another connection a moment ago: that call is the record.
        return SupportResult(_support_alerts(user, client_id), created=False)
    for alert in alerts:
        announce_alert(user, alert)
    return SupportResult(alerts)


def _support_alerts(user: User, client_id: str | None) -> list[SafetyAlert]:
    if client_id is None:
        return []
    return list(db.session.scalars(select(SafetyAlert).where(SafetyAlert.patient_id == user.id,
                                                             SafetyAlert.client_id == client_id)))


def own_checkin_answer(user: User, result: CheckInResult) -> dict:
    """What the member is told once their check-in is stored: it in full, whether it was a retry, and the crisis
    resources when it raised an alert (a retry says so again, as the first answer may be the one that was lost)."""
    checkin = result.checkin
    occurrence = db.session.get(SessionOccurrence, checkin.occurrence_id) if checkin.occurrence_id else None
    name = shown_name(user.id, occurrence.group_id) if occurrence else user.display_name
    answer = {**checkin_payload(checkin, name, True), "client_id": checkin.client_id, "duplicate": not result.created}
    if result.distress:
        answer["support"] = crisis_resources(user)
    return answer


@signals.account_deactivated.connect
def _on_account_deactivated(account: User) -> None:
    eject_everywhere(account.id)


@signals.member_left_group.connect
def _on_member_left_group(_sender, *, user_id: int, group_id: int) -> None:
    eject_from_group(user_id, group_id)
