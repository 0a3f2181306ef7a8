"""The live room's reads: presence, each viewer's state of the room, the payloads pushes and answers carry, check-ins
and open alerts for pages and the API, and the panels of the home page and the session page."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, time, timedelta

from flask import session
from flask_babel import format_datetime, format_time
from flask_babel import gettext as _
from sqlalchemy import and_, select
from sqlalchemy.orm import contains_eager, selectinload

from app import policy, recurrence, signals, zones
from app.accounts.models import User
from app.extensions import db
from app.groups import queries as group_queries
from app.groups.models import Membership, MembershipStatus, OccurrenceStatus, SessionOccurrence, TherapyGroup
from app.models_base import utcnow
from app.rooms.forms import CheckInForm
from app.rooms.models import AlertKind, CheckIn, LiveRoom, RoomPresence, SafetyAlert

PRESENCE_TIMEOUT = timedelta(seconds=75)
#: How long the member's home page shows their last call for support, and whether it was seen.
SUPPORT_SHOWN_FOR = timedelta(days=2)
#: Past alerts on one page of the facilitator's list.
ALERTS_PER_PAGE = 50


def _presence(room: LiveRoom) -> list[RoomPresence]:
    cutoff = utcnow() - PRESENCE_TIMEOUT
    return list(db.session.scalars(select(RoomPresence).where(RoomPresence.room_id == room.id,
                                                              RoomPresence.last_seen_at >= cutoff)))


def present_user_ids(room: LiveRoom) -> set[int]:
    return {p.user_id for p in _presence(room)}

def groups_for_alerts(user: User, occurrence: SessionOccurrence | None) -> list[TherapyGroup]:
    """Whose facilitators hear of a check-in: the session's group; between sessions, every group the patient is a
    member of, a paused membership included (a pause from the group is not a pause from its facilitators' care)."""
    if occurrence is not None:
        return [occurrence.group]
    return [m.group for m in group_queries.memberships_for_patient(user) if m.status in group_queries.MEMBER_STATUSES]

def alert_payload(alert: SafetyAlert) -> dict:
    membership = group_queries.relation(alert.patient_id, alert.group_id).membership
    return {"id": alert.id, "kind": alert.kind.value, "group_id": alert.group_id, "session_id": alert.occurrence_id,
            "user_id": alert.patient_id,
            "name": membership.shown_name if membership else alert.patient.display_name,
            "created_at": alert.created_at.isoformat(),
            "acknowledged": alert.acknowledged_at is not None,
            "acknowledged_by": alert.acknowledged_by.display_name if alert.acknowledged_by else None}


def support_seen_payload(alert: SafetyAlert) -> dict:
    """What the member who called for support is told once a facilitator has seen it: who, and when (never the
    facilitator's note)."""
    return {"alert_id": alert.id, "session_id": alert.occurrence_id,
            "seen_by": alert.acknowledged_by.display_name if alert.acknowledged_by else None,
            "seen_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None}


def latest_support_call(user: User, *, occurrence: SessionOccurrence | None = None) -> SafetyAlert | None:
    """The member's latest "I need support now": in this session's room, or (on the home page) of the last days."""
    query = select(SafetyAlert).where(SafetyAlert.patient_id == user.id, SafetyAlert.kind == AlertKind.NEED_SUPPORT)
    if occurrence is not None:
        query = query.where(SafetyAlert.occurrence_id == occurrence.id)
    else:
        query = query.where(SafetyAlert.created_at >= utcnow() - SUPPORT_SHOWN_FOR)
    return db.session.scalar(query.order_by(SafetyAlert.created_at.desc(), SafetyAlert.id.desc()).limit(1))


def crisis_resources(user: User) -> dict:
    """The organisation's crisis resources (empty fields mean: contact local emergency services)."""
    organisation = user.organisation
    fields = ("crisis_name", "crisis_phone", "crisis_text", "crisis_url", "crisis_note")
    return {name.removeprefix("crisis_"): getattr(organisation, name) if organisation else "" for name in fields}

def checkin_payload(checkin: CheckIn, name: str, full: bool) -> dict:
    base = {"id": checkin.id, "user_id": checkin.user_id, "name": name, "session_id": checkin.occurrence_id,
            "created_at": checkin.created_at.isoformat(), "client_id": None}
    if not full:
        return {**base, "checked_in": True}
    energy = checkin.energy.value if checkin.energy else None
    return {**base, "checked_in": True, "mood": checkin.mood, "energy": energy,
            "note": checkin.note, "passed": checkin.passed}


def shown_name(user_id: int, group_id: int) -> str:
    membership = group_queries.relation(user_id, group_id).membership
    return membership.shown_name if membership else db.session.get(User, user_id).display_name


def shown_names(group_ids, user_ids) -> dict[int, str]:
    """The names these people go by, in one statement however many they are: the name a member chose in the first
    of these groups they belong to (what the facilitator knows them by), else the account's."""
    user_ids = set(user_ids)
    if not user_ids:
        return {}
    rows = db.session.execute(
        select(User.id, User.display_name, Membership.preferred_name)
        .outerjoin(Membership, and_(Membership.user_id == User.id, Membership.group_id.in_(list(group_ids))))
        .where(User.id.in_(user_ids)).order_by(User.id, Membership.group_id))
    names: dict[int, str] = {}
    for user_id, display, preferred in rows:
        names.setdefault(user_id, preferred or display)
    return names


def presence_list(occurrence: SessionOccurrence, room: LiveRoom, present: set[int] | None = None,
                  names: dict[int, str] | None = None) -> list[dict]:
    present = present_user_ids(room) if present is None else present
    names = shown_names([occurrence.group_id], present) if names is None else names
    facilitator_ids = {f.user_id for f in occurrence.group.facilitators}
    people = [{"user_id": user_id, "name": names[user_id], "facilitator": user_id in facilitator_ids}
              for user_id in sorted(present)]
    return sorted(people, key=lambda p: (not p["facilitator"], p["name"].casefold()))


def _named_in(room: LiveRoom, present: set[int]) -> set[int]:
    """Whom the room's state names: the speakers, raised hands, who left early and who is here."""
    return {*(room.speaker_order or []), *(room.hands or []), *(room.left_early or []), *present}


def public_state(occurrence: SessionOccurrence, room: LiveRoom, *, present: set[int] | None = None,
                 names: dict[int, str] | None = None) -> dict:
    """What everyone in the room sees; `present` and `names` when the caller has read them already."""
    present = present_user_ids(room) if present is None else present
    names = shown_names([occurrence.group_id], _named_in(room, present)) if names is None else names
    return {
        "session_id": occurrence.id, "version": room.version, "round": room.round_number,
        # A check-in circle is open from its start to its end, with nobody to open it.
        "open": room.is_open or (occurrence.is_circle and occurrence.starts_at <= utcnow() < occurrence.ends_at),
        "speaker": ({"user_id": room.current_speaker_id, "name": names[room.current_speaker_id]}
                    if room.current_speaker_id else None),
        # Each person once, in the order of their first turn (a skipped speaker offered again keeps their place).
        "order": [{"user_id": uid, "name": names[uid], "skipped": uid in (room.skipped or [])}
                  for uid in dict.fromkeys(room.speaker_order or [])],
        "hands": [{"user_id": uid, "name": names[uid]} for uid in room.hands or []],
        "left_early": [{"user_id": uid, "name": names[uid]} for uid in room.left_early or []],
        "present": presence_list(occurrence, room, present, names),
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


def state_for(viewer: User, occurrence: SessionOccurrence, room: LiveRoom) -> dict:
    """Everything a viewer may see of the room now: what a client re-syncs from on (re)connect."""
    group = occurrence.group
    facilitator = policy.can_manage_group(viewer, group)
    full = facilitator or group.checkin_visibility == "all"
    latest = latest_checkins(occurrence)
    present = present_user_ids(room)
    names = shown_names([group.id], _named_in(room, present) | {c.user_id for c in latest})
    checkins = [checkin_payload(c, names[c.user_id], full or c.user_id == viewer.id) for c in latest]
    state = {**public_state(occurrence, room, present=present, names=names), "checkins": checkins,
             "facilitator": facilitator,
             "visibility": group.checkin_visibility, "me": viewer.id}
    if facilitator:
        state["alerts"] = [alert_payload(a) for a in open_alerts([group.id], occurrence)]
        state["members"] = [{"user_id": m.user_id, "name": m.shown_name} for m in group_queries.active_members(group)]
        state["members_from"] = members_from(occurrence, room)
    else:
        call = latest_support_call(viewer, occurrence=occurrence)
        state["support"] = support_seen_payload(call) if call else None
    return state


def members_from(occurrence: SessionOccurrence, room: LiveRoom) -> str | None:
    """What the facilitator of a room open before the members' time is told: when members can come in."""
    opens_at = policy.members_enter_at(occurrence)
    now = utcnow()
    if not room.is_open or now >= opens_at:
        return None
    same_day = format_datetime(opens_at, "yyyy-MM-dd") == format_datetime(now, "yyyy-MM-dd")
    when = format_time(opens_at, "HH:mm") if same_day else format_datetime(opens_at, "EEE d MMM, HH:mm")
    return _("The room is open for you. Members can come in from %(when)s, %(n)d minutes before the session.",
             when=when, n=occurrence.group.lobby_minutes)


def state_etag(state: dict) -> str:
    """A short fingerprint of a viewer's state: a periodic sync that finds it unchanged answers only that."""
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()[:20]


# Check-ins for pages and the API --------------------------------------------------------------------------------------


def history(user: User, limit: int = 60) -> list[CheckIn]:
    """The member's own check-ins, newest first, live and between sessions."""
    return list(db.session.scalars(select(CheckIn).where(CheckIn.user_id == user.id)
                                   .order_by(CheckIn.created_at.desc()).limit(limit)))


def alert_in_organisation(alert_id: int, organisation_id: int | None) -> SafetyAlert | None:
    return db.session.scalar(select(SafetyAlert).where(SafetyAlert.id == alert_id,
                                                       SafetyAlert.organisation_id == organisation_id))


def alert_history(user: User, page: int = 1) -> tuple[list[SafetyAlert], dict[int, str], bool]:
    """Past and open alerts of the groups the facilitator runs, newest first, a page at a time: the alerts, the name
    each member goes by in the alert's group, and whether older ones follow."""
    group_ids = [g.id for g in group_queries.groups_for_facilitator(user)]
    if not group_ids:
        return [], {}, False
    alerts = list(db.session.scalars(
        select(SafetyAlert).where(SafetyAlert.group_id.in_(group_ids))
        .options(selectinload(SafetyAlert.group), selectinload(SafetyAlert.patient),
                 selectinload(SafetyAlert.acknowledged_by))
        .order_by(SafetyAlert.created_at.desc(), SafetyAlert.id.desc())
        .offset((page - 1) * ALERTS_PER_PAGE).limit(ALERTS_PER_PAGE + 1)))
    more = len(alerts) > ALERTS_PER_PAGE
    alerts = alerts[:ALERTS_PER_PAGE]
    rows = db.session.execute(
        select(Membership.group_id, Membership.user_id, Membership.preferred_name, User.display_name)
        .join(User, User.id == Membership.user_id)
        .where(Membership.group_id.in_(sorted({a.group_id for a in alerts})),
               Membership.user_id.in_(sorted({a.patient_id for a in alerts})))) if alerts else []
    by_group = {(group_id, user_id): preferred or display for group_id, user_id, preferred, display in rows}
    names = {a.id: by_group.get((a.group_id, a.patient_id)) or a.patient.display_name for a in alerts}
    return alerts, names, more


def recent_between_session_checkins(group_ids: list[int], limit: int = 20) -> list[CheckIn]:
    """Check-ins members of these groups made between sessions, newest first (for their facilitators)."""
    if not group_ids:
        return []
    members = select(Membership.user_id).where(Membership.group_id.in_(group_ids),
                                               Membership.status.in_(group_queries.MEMBER_STATUSES))
    return list(db.session.scalars(select(CheckIn).where(CheckIn.occurrence_id.is_(None), CheckIn.user_id.in_(members))
                                   .order_by(CheckIn.created_at.desc()).limit(limit)))


@signals.session_records_asked.connect
def _sessions_with_checkins(_sender, *, occurrence_ids: set[int]) -> set[int]:
    """Which of these sessions hold check-ins: a session that does is kept when its series changes."""
    return set(db.session.scalars(select(CheckIn.occurrence_id).where(CheckIn.occurrence_id.in_(occurrence_ids))
                                  .distinct()))


# Pages' panels --------------------------------------------------------------------------------------------------------


def facilitator_alerts_panel(user: User) -> dict:
    group_ids = [g.id for g in group_queries.groups_for_facilitator(user)]
    alerts = open_alerts(group_ids)
    recent = recent_between_session_checkins(group_ids, limit=10)
    names = shown_names(group_ids, {c.user_id for c in recent})
    return {"alerts": alerts, "names": {a.id: shown_name(a.patient_id, a.group_id) for a in alerts},
            "checkins": recent, "checkin_names": {c.id: names[c.user_id] for c in recent}}


#: The longest a group's lobby may open before its session (the group form's bound).
LONGEST_LOBBY = timedelta(minutes=120)


def facilitator_day(user: User, groups: list[TherapyGroup]) -> dict:
    """What is on now in these groups (under way, or with its lobby time come, or with its room open, each with its
    room if it has one) and the rest of today's sessions in the facilitator's own zone, in two statements; the next
    session to come in a third when the rest of today holds none."""
    now = utcnow()
    running = [g.id for g in groups if g.status not in group_queries.ENDED]
    if not running:
        return {"on_now": [], "today": [], "next": None, "now": now}
    zone = zones.usable_zone(user.timezone)
    today = recurrence.to_local(now, zone).date()
    day_start = recurrence.to_utc(datetime.combine(today, time()), zone)
    day_end = recurrence.to_utc(datetime.combine(today + timedelta(days=1), time()), zone)
    sessions = list(db.session.scalars(
        select(SessionOccurrence).join(TherapyGroup)
        .where(SessionOccurrence.group_id.in_(running),
               SessionOccurrence.starts_at >= min(day_start, now - timedelta(hours=8)),
               SessionOccurrence.starts_at < max(day_end, now + LONGEST_LOBBY), SessionOccurrence.is_circle.is_(False))
        .options(contains_eager(SessionOccurrence.group))
        .order_by(SessionOccurrence.starts_at, SessionOccurrence.id)))
    current = [o for o in sessions if o.status == OccurrenceStatus.SCHEDULED and o.ends_at > now]
    rooms = {room.occurrence_id: room for room in db.session.scalars(
        select(LiveRoom).where(LiveRoom.occurrence_id.in_([o.id for o in current])))} if current else {}
    on_now = [o for o in current if now >= o.starts_at - timedelta(minutes=o.group.lobby_minutes)
              or (o.id in rooms and rooms[o.id].is_open)]
    later = [o for o in sessions if o not in on_now and day_start <= o.starts_at < day_end]
    upcoming = None
    if not later:
        upcoming = next((o for o in group_queries.upcoming_for_groups(running, limit=len(on_now) + 1)
                         if o not in on_now), None)
    return {"on_now": [(o, rooms.get(o.id)) for o in on_now], "today": later, "next": upcoming, "now": now}


def dashboard_state(user: User) -> dict:
    """What the facilitator's home page shows live, from the database: for a page that reconnected, or that checks
    now and then in case a push was lost."""
    panel = facilitator_alerts_panel(user)
    names = panel["checkin_names"]
    return {"alerts": [alert_payload(a) for a in panel["alerts"]],
            "checkins": [checkin_payload(c, names[c.id], True) for c in panel["checkins"]]}


def session_checkins_panel(user: User, occurrence: SessionOccurrence) -> dict:
    """The session page's check-ins: each member's latest, for the group's facilitators only."""
    if not policy.can_manage_group(user, occurrence.group):
        return {"checkins": []}
    return {"checkins": latest_checkins(occurrence),
            "names": {m.user_id: m.shown_name for m in occurrence.group.memberships}}


def patient_checkin_panel(user: User) -> dict:
    call = latest_support_call(user)
    return {"client_id": uuid.uuid4().hex, "form": CheckInForm(), "show_support": session.pop("show_support", False),
            "support_call": call, "support_call_text": _support_call_text(call) if call else ""}


def patient_next(user: User) -> dict:
    """What comes next for a member: groups to finish joining, the sessions on now (under way, or with the lobby
    time come, or with the room open to them) with their rooms, else the soonest next session. One statement per kind
    of row, however many groups."""
    now = utcnow()
    memberships = group_queries.memberships_for_patient(user)
    groups = [m.group for m in memberships if m.status == MembershipStatus.ACTIVE]
    upcoming = group_queries.next_occurrences(groups)  # one query for every group
    rooms = {room.occurrence_id: room for room in db.session.scalars(
        select(LiveRoom).where(LiveRoom.occurrence_id.in_([o.id for o in upcoming.values()])))} if upcoming else {}
    on_now = []
    for occurrence in sorted(upcoming.values(), key=lambda o: o.starts_at):
        room = rooms.get(occurrence.id)
        lobby = now >= occurrence.starts_at - timedelta(minutes=occurrence.group.lobby_minutes)
        open_to_me = room is not None and policy.can_enter_room(user, occurrence, room, now)
        if lobby or open_to_me:
            on_now.append((occurrence, open_to_me))
    later = sorted((o for o in upcoming.values() if all(o is not n for n, _open in on_now)),
                   key=lambda o: o.starts_at)
    return {"to_join": [m for m in memberships if m.status == MembershipStatus.INVITED],
            "on_now": on_now, "next": later[0] if later and not on_now else None, "now": now}


def _support_call_text(call: SafetyAlert) -> str:
    """The member's own call for support while no one has seen it yet: when it went, in their zone."""
    at = format_time(call.created_at, "HH:mm")
    if format_datetime(call.created_at, "yyyy-MM-dd") == format_datetime(utcnow(), "yyyy-MM-dd"):
        return _("You asked for support at %(time)s. Your facilitator has been told privately.", time=at)
    return _("You asked for support on %(day)s at %(time)s. Your facilitator has been told privately.",
             day=format_datetime(call.created_at, "EEEE"), time=at)
