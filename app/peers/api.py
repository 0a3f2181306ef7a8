"""JSON API of peer pairs: a member's pairs and their space (answers, pause, leave, block, peer check-ins, reactions,
concerns), and a facilitator's proposals, endings and reading of what was reported."""

from __future__ import annotations

from flask_login import current_user, login_required

from app import policy
from app.api_base import ApiBlueprint, document_errors
from app.extensions import account_or_address, limiter
from app.groups import queries as group_queries
from app.groups.models import TherapyGroup
from app.peers import queries, services
from app.peers.models import PeerCheckIn, PeerConcern, PeerPair
from app.peers.schemas import (
    AnswerSchema,
    ConcernRequestSchema,
    ConcernSchema,
    PairCreateSchema,
    PairSchema,
    PeerCheckInRequestSchema,
    PeerCheckInSchema,
    ReactionSchema,
)
from app.rooms.queries import crisis_resources

blp = ApiBlueprint("peers_api", __name__, url_prefix="/api/v1", description="Peer pairs")


def _pair(pair_id: int) -> PeerPair:
    return queries.pair_in_organisation(pair_id, current_user.organisation_id) or policy.hidden(PeerPair, pair_id)


def _member_pair(pair_id: int) -> PeerPair:
    pair = _pair(pair_id)
    policy.require_pair_member(current_user, pair)
    return pair


def _row(pair: PeerPair) -> dict:
    """A member's view, or a facilitator's (engagement, never content)."""
    _last, upcoming = queries.rhythm_times(pair)
    row = {"id": pair.id, "group_id": pair.group_id, "rhythm_weekday": pair.rhythm_weekday,
           "rhythm_time": pair.rhythm_time, "rhythm_zone": pair.rhythm_zone, "next_checkin_at": upcoming}
    if policy.is_pair_member(current_user, pair):
        other = pair.other(current_user.id)
        return {**row, "status": queries.status_for(pair, current_user.id),
                "peer_name": queries.shown_name(other.user_id, pair.group_id),
                "nudge": queries.needs_nudge(pair, current_user)}
    seen = queries.engagement([pair])[pair.id]
    return {**row, "status": pair.status.value, "member_ids": [m.user_id for m in pair.members],
            "checkins_count": seen.checkins, "last_contact_at": seen.last_contact}


def _checkin_row(checkin: PeerCheckIn) -> dict:
    return {"id": checkin.id, "author_id": checkin.author_id, "mine": checkin.author_id == current_user.id,
            "tried": checkin.tried, "how_it_went": checkin.how_it_went, "whats_next": checkin.whats_next,
            "created_at": checkin.created_at, "reactions": sorted({r.kind.value for r in checkin.reactions})}


@blp.get("/pairs")
@login_required
@blp.response(200, PairSchema(many=True))
@document_errors(blp, 401, 403, 429)
def list_pairs():
    """Your peer pairs: open and proposed first, then those that ended."""
    policy.require_use(current_user, "peers")
    return [_row(p) for p in queries.pairs_of(current_user)]


@blp.post("/pairs")
@login_required
@limiter.limit("60 per hour", key_func=account_or_address)
@blp.arguments(PairCreateSchema)
@blp.response(201, PairSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def create_pair(data):
    """Propose a pair of two active members of a group you run; refused (409, the message naming what failed) when
    the suitability check fails."""
    group = (group_queries.group_in_organisation(data["group_id"], current_user.organisation_id)
             or policy.hidden(TherapyGroup, data["group_id"]))
    policy.require_manage_group(current_user, group)
    pair = services.propose_pair(current_user, group, data["first_id"], data["second_id"], weekday=data["weekday"],
                                 at=data["time"])
    return _row(pair)


@blp.get("/pairs/<int:pair_id>")
@login_required
@blp.response(200, PairSchema)
@document_errors(blp, 401, 404, 429)
def get_pair(pair_id: int):
    """A member sees the pair as they are told it; the group's facilitators see how it goes, never what is written."""
    pair = _pair(pair_id)
    if not policy.is_pair_member(current_user, pair):
        policy.require_manage_group(current_user, pair.group)
    return _row(pair)


@blp.post("/pairs/<int:pair_id>/answer")
@login_required
@blp.arguments(AnswerSchema)
@blp.response(200, PairSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def answer_pair(data, pair_id: int):
    """Your private answer to a proposal: a no is told to the other only as "not matched this time"."""
    pair = _member_pair(pair_id)
    services.respond(current_user, pair, data["accept"])
    return _row(pair)


def _member_act(pair_id: int, act) -> dict:
    pair = _member_pair(pair_id)
    act(current_user, pair)
    return _row(pair)


@blp.post("/pairs/<int:pair_id>/pause")
@login_required
@blp.response(200, PairSchema)
@document_errors(blp, 400, 401, 404, 409, 429)
def pause_pair(pair_id: int):
    return _member_act(pair_id, services.pause)


@blp.post("/pairs/<int:pair_id>/resume")
@login_required
@blp.response(200, PairSchema)
@document_errors(blp, 400, 401, 404, 409, 429)
def resume_pair(pair_id: int):
    return _member_act(pair_id, services.resume)


@blp.post("/pairs/<int:pair_id>/leave")
@login_required
@blp.response(200, PairSchema)
@document_errors(blp, 400, 401, 404, 409, 429)
def leave_pair(pair_id: int):
    """Leave without a reason; the other reads only that the pair ended."""
    return _member_act(pair_id, services.leave)


@blp.post("/pairs/<int:pair_id>/block")
@login_required
@blp.response(200, PairSchema)
@document_errors(blp, 400, 401, 404, 429)
def block_peer(pair_id: int):
    """Block the other member: the pair ends at once and its live space closes."""
    return _member_act(pair_id, services.block)


@blp.post("/pairs/<int:pair_id>/end")
@login_required
@blp.response(200, PairSchema)
@document_errors(blp, 400, 401, 404, 409, 429)
def end_pair(pair_id: int):
    """A facilitator of the group ends the pair."""
    pair = _pair(pair_id)
    policy.require_manage_group(current_user, pair.group)
    services.end_pair(current_user, pair)
    return _row(pair)


@blp.get("/pairs/<int:pair_id>/checkins")
@login_required
@blp.response(200, PeerCheckInSchema(many=True))
@document_errors(blp, 401, 404, 429)
def list_checkins(pair_id: int):
    """The pair's latest peer check-ins, for its two members only."""
    pair = _member_pair(pair_id)
    return [_checkin_row(c) for c in queries.checkins(pair)] if pair.is_open else []


@blp.post("/pairs/<int:pair_id>/checkins")
@login_required
@limiter.limit("120 per hour", key_func=account_or_address)
@blp.arguments(PeerCheckInRequestSchema)
@blp.response(201, PeerCheckInSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def create_checkin(data, pair_id: int):
    """A peer check-in, idempotent by client_id. Words on the risk list are kept and shared all the same; the answer
    then carries the crisis resources, and the group's facilitators are alerted."""
    pair = _member_pair(pair_id)
    checkin, risky = services.add_checkin(current_user, pair, **data)
    row = {**_checkin_row(checkin), "risk": risky}
    if risky:
        row["support"] = crisis_resources(current_user)
    return row


@blp.post("/pairs/<int:pair_id>/checkins/<int:checkin_id>/reactions")
@login_required
@blp.arguments(ReactionSchema)
@blp.response(200, PeerCheckInSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def react(data, pair_id: int, checkin_id: int):
    """Add a reaction to your peer's check-in, or take it back when it is there."""
    pair = _member_pair(pair_id)
    checkin = queries.checkin_in_pair(pair, checkin_id) or policy.hidden(PeerCheckIn, checkin_id)
    services.react(current_user, checkin, data["kind"])
    return _checkin_row(checkin)


@blp.post("/pairs/<int:pair_id>/concerns")
@login_required
@limiter.limit("30 per hour", key_func=account_or_address)
@blp.arguments(ConcernRequestSchema)
@blp.response(201, ConcernSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def report_concern(data, pair_id: int):
    """Tell the group's facilitators: worried about your peer, or a concern about what they wrote (the chosen items
    only). Your peer is never told who told them."""
    pair = _member_pair(pair_id)
    concern = services.report_concern(current_user, pair, data["kind"], checkin_ids=data["checkin_ids"],
                                      message_ids=data["message_ids"])
    return {"id": concern.id, "pair_id": pair.id, "kind": concern.kind.value, "created_at": concern.created_at}


@blp.get("/pairs/concerns/<int:concern_id>")
@login_required
@blp.response(200, ConcernSchema)
@document_errors(blp, 401, 404, 429)
def get_concern(concern_id: int):
    """What was reported, for the group's facilitators: exactly the reported items; the read is audited."""
    concern = (queries.concern_in_organisation(concern_id, current_user.organisation_id)
               or policy.hidden(PeerConcern, concern_id))
    policy.require_manage_group(current_user, concern.pair.group)
    checkins, messages = services.read_concern(current_user, concern)
    return {"id": concern.id, "pair_id": concern.pair_id, "kind": concern.kind.value,
            "created_at": concern.created_at, "subject_id": concern.subject_id, "reporter_id": concern.reporter_id,
            "checkins": [_checkin_row(c) for c in checkins],
            "messages": [{**m, "created_at": m["created_at"].isoformat()} for m in messages]}
