"""Writes for peer support: proposing a pair (after the suitability check), each member's private answer, pausing,
leaving, ending and blocking, the rhythm, peer check-ins and reactions, shared goals, and concerns to the facilitators.
"""

from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import select

from app import audit, signals
from app.accounts.models import User
from app.extensions import db
from app.groups.models import TherapyGroup
from app.input_checks import UNPAIRED_SURROGATE, is_one_line
from app.models_base import utcnow
from app.peers import queries
from app.peers.models import (
    CHECKIN_FIELD_MAX,
    ConcernKind,
    EndReason,
    MemberResponse,
    PairStatus,
    PeerBlock,
    PeerCheckIn,
    PeerConcern,
    PeerPair,
    PeerPairMember,
    PeerReaction,
    PeerSharedGoal,
    ReactionKind,
)
from app.peers.risk import check_risk
from app.progress.models import Goal, GoalStatus
from app.realtime.push import queue_close_room, queue_push
from app.realtime.sockets import user_room
from app.refusal import Refusal
from app.rooms.alerts import new_alert
from app.rooms.models import AlertKind
from app.rooms.pushes import push_to_facilitators
from app.rooms.queries import alert_payload

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
CONCERN_ALERTS = {ConcernKind.WORRIED: AlertKind.PEER_WORRY, ConcernKind.CONCERN: AlertKind.PEER_CONCERN,
                  ConcernKind.RISK_PHRASE: AlertKind.PEER_RISK}


class PeerRefusal(Refusal):
    conflicts = Refusal.conflicts | {"unsuitable", "not_open", "not_proposed", "answered", "not_active"}


def peer_pair_room(pair_id: int) -> str:
    """The Socket.IO room of a pair's live space: both members' sockets, closed when the pair ends."""
    return f"peer-pair-{pair_id}"


# Forming a pair ------------------------------------------------------------------------------------------------------


def _clean_rhythm(weekday, at) -> tuple[int | None, str | None]:
    if weekday in (None, "") and at in (None, ""):
        return None, None
    if not isinstance(weekday, int) or not 0 <= weekday <= 6:
        raise PeerRefusal(_("Choose a day of the week."), field="weekday", code="invalid_rhythm")
    if not isinstance(at, str) or not _TIME.match(at):
        raise PeerRefusal(_("Give a time like 18:30."), field="time", code="invalid_rhythm")
    return weekday, at


def propose_pair(by: User, group: TherapyGroup, a_id: int, b_id: int, *, weekday=None, at=None) -> PeerPair:
    """A facilitator's proposal, after the suitability check (recorded with it); refused with the checks that failed.
    """
    weekday, at = _clean_rhythm(weekday, at)
    checks = queries.suitability(group, a_id, b_id)
    failed = [name for name, passed in checks.items() if not passed]
    if failed:
        raise PeerRefusal(_unsuitable_message(failed[0]), code="unsuitable", details={"failed": failed})
    pair = PeerPair(organisation_id=group.organisation_id, group_id=group.id, proposed_by_id=by.id,
                    suitability=checks, suitable=True, status=PairStatus.PROPOSED, rhythm_weekday=weekday,
                    rhythm_time=at, rhythm_zone=by.zone)
    pair.members = [PeerPairMember(user_id=a_id), PeerPairMember(user_id=b_id)]
    db.session.add(pair)
    db.session.flush()
    audit.record("peer_pair_propose", actor=by, subject=a_id, target=f"peer_pair:{pair.id}",
                 organisation_id=group.organisation_id, details={"members": [a_id, b_id], "checks": checks})
    for user_id in (a_id, b_id):
        queue_push("peer_proposal", {"pair_id": pair.id}, user_room(user_id))
    return pair


def _unsuitable_message(check: str) -> str:
    return {
        "two_people": _("Choose two different members."),
        "both_active": _("Both must be active members of this group."),
        "no_block": _("These two cannot be paired."),
        "no_open_alert": _("One of them has an open safety alert: see to it before proposing a pair."),
        "not_paired": _("These two are already paired or proposed."),
    }[check]


def respond(user: User, pair: PeerPair, accept: bool) -> None:
    """A member's private answer. A decline ends the proposal; the other is told only "not matched this time"."""
    member = pair.member(user.id)
    if pair.status != PairStatus.PROPOSED:
        raise PeerRefusal(_("This proposal is no longer open."), code="not_proposed")
    if member.response != MemberResponse.PENDING:
        raise PeerRefusal(_("You have answered already."), code="answered")
    now = utcnow()
    member.response = MemberResponse.ACCEPTED if accept else MemberResponse.DECLINED
    member.responded_at = now
    if not accept:
        _end(pair, EndReason.DECLINED, user)
    elif all(m.response == MemberResponse.ACCEPTED for m in pair.members):
        pair.status, pair.activated_at = PairStatus.ACTIVE, now
    audit.record("peer_pair_answer", actor=user, subject=user, target=f"peer_pair:{pair.id}",
                 organisation_id=pair.organisation_id, details={"accepted": accept})


def pause(user: User, pair: PeerPair) -> None:
    if not pair.is_open:
        raise PeerRefusal(_("This pair is not active."), code="not_open")
    pair.member(user.id).paused_at = pair.member(user.id).paused_at or utcnow()
    pair.status = PairStatus.PAUSED
    _close_chat(pair)


def resume(user: User, pair: PeerPair) -> None:
    if not pair.is_open:
        raise PeerRefusal(_("This pair is not active."), code="not_open")
    pair.member(user.id).paused_at = None
    if all(m.paused_at is None for m in pair.members):
        pair.status = PairStatus.ACTIVE


def leave(user: User, pair: PeerPair) -> None:
    """Leaving needs no reason; the other member reads only that the pair ended."""
    if pair.status == PairStatus.ENDED:
        raise PeerRefusal(_("This pair has ended."), code="not_open")
    pair.member(user.id).left_at = utcnow()
    _end(pair, EndReason.LEFT, user)


def end_pair(by: User, pair: PeerPair) -> None:
    if pair.status == PairStatus.ENDED:
        raise PeerRefusal(_("This pair has ended."), code="not_open")
    _end(pair, EndReason.ENDED_BY_FACILITATOR, by)
    audit.record("peer_pair_end", actor=by, subject=pair.members[0].user_id, target=f"peer_pair:{pair.id}",
                 organisation_id=pair.organisation_id)


def block(user: User, pair: PeerPair) -> PeerBlock:
    """Ends the pair at once and closes its live space; no pair between the two is proposed again."""
    other = pair.other(user.id)
    found = db.session.scalar(select(PeerBlock).where(PeerBlock.blocker_id == user.id,
                                                      PeerBlock.blocked_id == other.user_id))
    if found is None:
        found = PeerBlock(blocker_id=user.id, blocked_id=other.user_id, pair_id=pair.id)
        db.session.add(found)
    if pair.status != PairStatus.ENDED:
        _end(pair, EndReason.BLOCKED, user)
    audit.record("peer_block", actor=user, subject=user, target=f"peer_pair:{pair.id}",
                 organisation_id=pair.organisation_id)
    db.session.flush()
    return found


def _end(pair: PeerPair, reason: EndReason, by: User | None) -> None:
    pair.status, pair.ended_at, pair.ended_reason = PairStatus.ENDED, utcnow(), reason
    pair.ended_by_id = by.id if by is not None else None
    _close_chat(pair)


def _close_chat(pair: PeerPair) -> None:
    """Paused or ended: the sockets in the pair's live room leave it and both members' open chats show it closed."""
    queue_close_room(peer_pair_room(pair.id))
    for member in pair.members:
        queue_push("peer_pair_ended", {"pair_id": pair.id}, user_room(member.user_id))


@signals.member_left_group.connect
def _on_member_left_group(_sender, *, user_id: int, group_id: int) -> None:
    pairs = db.session.scalars(
        select(PeerPair).join(PeerPairMember)
        .where(PeerPair.group_id == group_id, PeerPairMember.user_id == user_id, PeerPair.status != PairStatus.ENDED))
    for pair in pairs:
        _end(pair, EndReason.LEFT_GROUP, None)


def set_rhythm(user: User, pair: PeerPair, weekday, at) -> None:
    """The agreed rhythm, in the zone of the member who set it; each member reads it in their own zone."""
    if not pair.is_open:
        raise PeerRefusal(_("This pair is not active."), code="not_open")
    pair.rhythm_weekday, pair.rhythm_time = _clean_rhythm(weekday, at)
    pair.rhythm_zone = user.zone


# The pair space ------------------------------------------------------------------------------------------------------


def _clean_field(value, field: str) -> str:
    value = (value or "").strip() if isinstance(value, str) or value is None else None
    if value is None or len(value) > CHECKIN_FIELD_MAX:
        raise PeerRefusal(_("Keep each part to %(n)d characters.", n=CHECKIN_FIELD_MAX), field=field,
                          code="invalid_checkin")
    if not is_one_line(value) or UNPAIRED_SURROGATE.search(value):
        raise PeerRefusal(_("Keep this on one line, without special characters."), field=field,
                          code="invalid_checkin")
    return value


def add_checkin(user: User, pair: PeerPair, *, tried: str = "", how_it_went: str = "", whats_next: str = "",
                client_id: str | None = None) -> tuple[PeerCheckIn, bool]:
    """A peer check-in and whether it matched a risk phrase (then the writer is shown the crisis resources and the
    facilitators are alerted; the check-in is kept and shared all the same)."""
    if pair.status != PairStatus.ACTIVE:
        raise PeerRefusal(_("Check-ins are for an active pair."), code="not_active")
    texts = {"tried": _clean_field(tried, "tried"), "how_it_went": _clean_field(how_it_went, "how_it_went"),
             "whats_next": _clean_field(whats_next, "whats_next")}
    if not any(texts.values()):
        raise PeerRefusal(_("Write a few words in at least one part."), field="tried", code="invalid_checkin")
    if client_id:
        found = db.session.scalar(select(PeerCheckIn).where(PeerCheckIn.author_id == user.id,
                                                            PeerCheckIn.client_id == client_id))
        if found is not None:
            return found, False
    checkin = PeerCheckIn(pair_id=pair.id, author_id=user.id, client_id=client_id or None, **texts)
    db.session.add(checkin)
    db.session.flush()
    risky = check_risk(user.organisation, " \n".join(texts.values()))
    if risky:
        raise_risk_alert(user, pair, checkin_ids=[checkin.id])
    other = pair.other(user.id)
    queue_push("peer_checkin", {"pair_id": pair.id, "checkin_id": checkin.id}, user_room(other.user_id))
    return checkin, risky


def react(user: User, checkin: PeerCheckIn, kind: ReactionKind) -> bool:
    """Adds the reaction, or takes it back when it is there already; True when it is there now."""
    if checkin.author_id == user.id:
        raise PeerRefusal(_("React to your peer's check-ins."), code="own_checkin")
    if not db.session.get(PeerPair, checkin.pair_id).is_open:
        raise PeerRefusal(_("This pair is not active."), code="not_open")
    found = db.session.scalar(select(PeerReaction).where(PeerReaction.checkin_id == checkin.id,
                                                         PeerReaction.user_id == user.id, PeerReaction.kind == kind))
    if found is not None:
        db.session.delete(found)
        db.session.flush()
        return False
    db.session.add(PeerReaction(checkin_id=checkin.id, user_id=user.id, kind=kind))
    db.session.flush()
    return True


def share_goal(user: User, pair: PeerPair, goal: Goal) -> PeerSharedGoal:
    if not pair.is_open:
        raise PeerRefusal(_("This pair is not active."), code="not_open")
    if goal.patient_id != user.id or goal.status != GoalStatus.ACTIVE:
        raise PeerRefusal(_("Choose one of your active goals."), field="goal_id", code="invalid_goal")
    found = next((s for s in queries.shared_goals(pair) if s.goal_id == goal.id), None)
    if found is not None:
        return found
    share = PeerSharedGoal(pair_id=pair.id, goal_id=goal.id, shared_by_id=user.id)
    db.session.add(share)
    db.session.flush()
    return share


def stop_sharing(user: User, share: PeerSharedGoal) -> None:
    if share.shared_by_id != user.id:
        raise PeerRefusal(_("Only the goal's owner stops sharing it."), code="forbidden")
    share.stopped_at = share.stopped_at or utcnow()


# Safety --------------------------------------------------------------------------------------------------------------


def _concern(pair: PeerPair, kind: ConcernKind, reporter: User | None, subject_id: int, *,
             checkin_ids: list[int], message_ids: list[int]) -> PeerConcern:
    group = db.session.get(TherapyGroup, pair.group_id)
    subject = db.session.get(User, subject_id)
    alert = new_alert(subject, group, CONCERN_ALERTS[kind], None, None)
    words = {str(m.id): {"author_id": m.author_id, "created_at": m.created_at.isoformat(), "body": m.body}
             for m in queries.messages_in_pair(pair, list(message_ids))}
    concern = PeerConcern(pair_id=pair.id, reporter_id=reporter.id if reporter else None, subject_id=subject_id,
                          kind=kind, checkin_ids=sorted(set(checkin_ids)), message_ids=sorted(set(message_ids)),
                          reported_words=words, alert_id=alert.id)
    db.session.add(concern)
    db.session.flush()
    push_to_facilitators("alert", alert_payload(alert), group.id)
    return concern


def report_concern(user: User, pair: PeerPair, kind: ConcernKind, *, checkin_ids=(), message_ids=()) -> PeerConcern:
    """"I'm worried about my peer" or "report a concern": the group's facilitators get an alert with only the items
    chosen (the peer's check-ins or messages in this pair); the peer is never told who reported."""
    if kind == ConcernKind.RISK_PHRASE:
        raise PeerRefusal(_("Choose what to tell the facilitators."), field="kind", code="invalid_concern")
    other = pair.other(user.id)
    checkins = [c for c in (queries.checkin_in_pair(pair, i) for i in checkin_ids) if c is not None]
    messages = queries.messages_in_pair(pair, list(message_ids))
    if len(checkins) != len(set(checkin_ids)) or len(messages) != len(set(message_ids)) or any(
            item.author_id != other.user_id for item in [*checkins, *messages]):
        raise PeerRefusal(_("Choose what your peer wrote in this pair."), field="items", code="invalid_concern")
    if kind == ConcernKind.CONCERN and not checkins and not messages:
        raise PeerRefusal(_("Choose what you want the facilitators to see."), field="items",
                          code="invalid_concern")
    concern = _concern(pair, kind, user, other.user_id, checkin_ids=[c.id for c in checkins],
                       message_ids=[m.id for m in messages])
    audit.record("peer_concern_report", actor=user, subject=other.user_id, target=f"peer_concern:{concern.id}",
                 organisation_id=pair.organisation_id, details={"kind": kind.value})
    return concern


def raise_risk_alert(writer: User, pair: PeerPair, *, checkin_ids=(), message_ids=()) -> PeerConcern:
    """What a risk phrase in a peer check-in or message does (the writer's words are not blocked): the group's
    facilitators get an alert carrying only the item that matched."""
    concern = _concern(pair, ConcernKind.RISK_PHRASE, None, writer.id, checkin_ids=list(checkin_ids),
                       message_ids=list(message_ids))
    audit.record("peer_risk_phrase", actor=writer, subject=writer, target=f"peer_concern:{concern.id}",
                 organisation_id=pair.organisation_id)
    return concern


def read_concern(by: User, concern: PeerConcern):
    """The reported items, for the group's facilitators; every read is on the audit trail."""
    checkins, messages = queries.reported_items(concern)
    audit.record("peer_concern_read", actor=by, subject=concern.subject_id, target=f"peer_concern:{concern.id}",
                 organisation_id=concern.pair.organisation_id,
                 details={"checkin_ids": [c.id for c in checkins], "message_ids": [m["id"] for m in messages]})
    return checkins, messages
