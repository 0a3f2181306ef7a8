"""Peer pairs: the suitability check, private answers, pause and leave, blocks, what facilitators may and may not see,
risk phrases in both languages, concerns and the audit of their reading, and a member leaving the group."""

from __future__ import annotations

from datetime import timedelta

import pytest
from groups_fixtures import *  # noqa: F403
from sqlalchemy import select

from app.accounts.models import RoleName
from app.audit import AuditEvent
from app.demo import load_demo
from app.extensions import db
from app.groups import services as group_services
from app.groups.models import MembershipStatus
from app.peers import queries, services
from app.peers.models import ConcernKind, EndReason, PairStatus, PeerBlock, PeerConcern, ReactionKind
from app.peers.risk import check_risk
from app.progress import services as progress_services
from app.realtime.push import PUSH_KEY
from app.rooms.models import AlertKind, SafetyAlert

SECRET_TRIED = "Walked to the river at dawn"


@pytest.fixture
def peers(facilitator, make_group, make_member):
    """A group with three active members: Alex, Sam and Kim."""
    group = make_group(facilitator)
    alex = make_member(group, display_name="Alex Rivera").user
    sam = make_member(group, display_name="Sam Okafor").user
    kim = make_member(group, display_name="Kim Lee").user
    return group, alex, sam, kim


def _active_pair(facilitator, group, a, b):
    pair = services.propose_pair(facilitator, group, a.id, b.id, weekday=1, at="18:30")
    services.respond(a, pair, True)
    services.respond(b, pair, True)
    db.session.commit()
    return pair


def test_a_pair_is_active_only_when_both_accept(facilitator, peers):
    group, alex, sam, _kim = peers
    pair = services.propose_pair(facilitator, group, alex.id, sam.id)
    assert pair.suitability == {"two_people": True, "both_active": True, "no_block": True, "no_open_alert": True,
                                "not_paired": True}
    services.respond(alex, pair, True)
    assert pair.status == PairStatus.PROPOSED
    assert queries.status_for(pair, sam.id) == "proposed"  # Sam is not told Alex's answer
    services.respond(sam, pair, True)
    assert pair.status == PairStatus.ACTIVE and pair.activated_at is not None


def test_a_decline_reads_not_matched_to_the_other(facilitator, peers):
    group, alex, sam, _kim = peers
    pair = services.propose_pair(facilitator, group, alex.id, sam.id)
    services.respond(alex, pair, True)
    services.respond(sam, pair, False)
    assert pair.status == PairStatus.ENDED and pair.ended_reason == EndReason.DECLINED
    assert queries.status_for(pair, alex.id) == "not_matched"
    assert queries.status_for(pair, sam.id) == "declined"
    with pytest.raises(services.PeerRefusal):
        services.respond(alex, pair, True)


def test_pairs_across_groups_or_with_inactive_members_are_refused(facilitator, peers, make_group, make_member,
                                                                   make_user, make_organisation):
    group, alex, _sam, _kim = peers
    elsewhere = make_member(make_group(facilitator, name="Thursday group")).user
    with pytest.raises(services.PeerRefusal) as refused:
        services.propose_pair(facilitator, group, alex.id, elsewhere.id)
    assert refused.value.details["failed"] == ["both_active"]
    stranger = make_user(RoleName.PATIENT, organisation_=make_organisation())
    with pytest.raises(services.PeerRefusal):
        services.propose_pair(facilitator, group, alex.id, stranger.id)
    with pytest.raises(services.PeerRefusal):
        services.propose_pair(facilitator, group, alex.id, alex.id)
    assert queries.pairs_of_group(group) == []


def test_an_open_safety_alert_refuses_a_proposal(facilitator, peers):
    group, alex, sam, _kim = peers
    db.session.add(SafetyAlert(organisation_id=group.organisation_id, group_id=group.id, patient_id=sam.id,
                               kind=AlertKind.NEED_SUPPORT))
    db.session.flush()
    with pytest.raises(services.PeerRefusal) as refused:
        services.propose_pair(facilitator, group, alex.id, sam.id)
    assert refused.value.details["failed"] == ["no_open_alert"]


def test_pause_resume_and_leave_need_no_reason(facilitator, peers):
    group, alex, sam, _kim = peers
    pair = _active_pair(facilitator, group, alex, sam)
    services.pause(alex, pair)
    assert pair.status == PairStatus.PAUSED
    assert queries.status_for(pair, alex.id) == "paused_by_me" and queries.status_for(pair, sam.id) == "paused"
    with pytest.raises(services.PeerRefusal):
        services.add_checkin(sam, pair, tried="Tea")
    services.resume(alex, pair)
    assert pair.status == PairStatus.ACTIVE
    services.leave(sam, pair)
    assert pair.status == PairStatus.ENDED and pair.ended_reason == EndReason.LEFT
    assert queries.status_for(pair, alex.id) == "ended"


def test_a_block_ends_the_pair_closes_its_room_and_refuses_the_next_proposal(facilitator, peers):
    group, alex, sam, _kim = peers
    pair = _active_pair(facilitator, group, alex, sam)
    services.block(alex, pair)
    assert pair.status == PairStatus.ENDED and pair.ended_reason == EndReason.BLOCKED
    assert queries.status_for(pair, sam.id) == "ended"  # never "blocked"
    pushes = db.session.info.get(PUSH_KEY, [])
    assert ("close_room", None, None, services.peer_pair_room(pair.id), None) in pushes
    db.session.commit()
    assert db.session.scalar(select(PeerBlock.blocked_id)) == sam.id
    with pytest.raises(services.PeerRefusal) as refused:
        services.propose_pair(facilitator, group, sam.id, alex.id)
    assert refused.value.details["failed"] == ["no_block"]


def test_leaving_the_group_ends_the_pair(facilitator, peers):
    group, alex, sam, _kim = peers
    pair = _active_pair(facilitator, group, alex, sam)
    membership = next(m for m in group.memberships if m.user_id == sam.id)
    group_services.change_membership_status(facilitator, membership, MembershipStatus.LEFT)
    db.session.commit()
    assert pair.status == PairStatus.ENDED and pair.ended_reason == EndReason.LEFT_GROUP


def test_checkins_reactions_and_shared_goals(facilitator, peers):
    group, alex, sam, _kim = peers
    pair = _active_pair(facilitator, group, alex, sam)
    checkin, risky = services.add_checkin(alex, pair, tried=SECRET_TRIED, how_it_went="Calm", whats_next="Again",
                                          client_id="c-1")
    assert not risky
    again, _ = services.add_checkin(alex, pair, tried=SECRET_TRIED, client_id="c-1")
    assert again.id == checkin.id
    assert services.react(sam, checkin, ReactionKind.CELEBRATE) is True
    assert services.react(sam, checkin, ReactionKind.CELEBRATE) is False
    with pytest.raises(services.PeerRefusal):
        services.react(alex, checkin, ReactionKind.CELEBRATE)
    goal = progress_services.create_goal(alex, title="Walk every morning")
    progress_services.add_win(alex, "Walked today", goal)
    share = services.share_goal(alex, pair, goal)
    assert [s.goal_id for s in queries.shared_goals(pair)] == [goal.id]
    assert [w.text for w in queries.recent_wins([goal.id])[goal.id]] == ["Walked today"]
    with pytest.raises(services.PeerRefusal):
        services.stop_sharing(sam, share)
    with pytest.raises(services.PeerRefusal):
        services.share_goal(sam, pair, goal)  # not Sam's goal
    services.stop_sharing(alex, share)
    assert queries.shared_goals(pair) == []
    services.leave(alex, pair)
    with pytest.raises(services.PeerRefusal):
        services.react(sam, checkin, ReactionKind.THINKING_OF_YOU)


def test_facilitators_see_engagement_not_content(facilitator, peers):
    group, alex, sam, _kim = peers
    pair = _active_pair(facilitator, group, alex, sam)
    services.add_checkin(alex, pair, tried=SECRET_TRIED)
    seen = queries.engagement([pair])[pair.id]
    assert seen.checkins == 1 and seen.last_contact is not None and not seen.paused
    assert SECRET_TRIED not in repr(seen)


@pytest.mark.parametrize("text", ["Some days I want to die", "A veces pienso en QUITARME la vida",
                                  "No puedo más con esto"])
def test_risk_phrases_in_english_and_spanish_alert_and_are_not_blocked(facilitator, peers, text):
    group, alex, sam, _kim = peers
    pair = _active_pair(facilitator, group, alex, sam)
    checkin, risky = services.add_checkin(alex, pair, how_it_went=text)
    assert risky and checkin.id is not None and checkin.how_it_went == text
    concern = db.session.scalar(select(PeerConcern))
    assert concern.kind == ConcernKind.RISK_PHRASE and concern.subject_id == alex.id
    assert concern.checkin_ids == [checkin.id] and concern.reporter_id is None
    alert = db.session.get(SafetyAlert, concern.alert_id)
    assert alert.kind == AlertKind.PEER_RISK and alert.patient_id == alex.id and alert.group_id == group.id


def test_risk_phrases_match_whole_words_and_follow_the_organisation(organisation):
    assert check_risk(organisation, "I felt suicidal last night")
    assert not check_risk(organisation, "The diet went fine")
    assert not check_risk(organisation, "A killer workout")
    organisation.risk_phrases = "dark cloud\n"
    assert check_risk(organisation, "A DARK cloud again")
    assert not check_risk(organisation, "I want to die")


def test_a_concern_carries_only_the_reported_items_and_each_read_is_audited(facilitator, peers):
    group, alex, sam, _kim = peers
    pair = _active_pair(facilitator, group, alex, sam)
    reported, _ = services.add_checkin(sam, pair, tried="Reported words")
    services.add_checkin(sam, pair, tried="Private words")
    own, _ = services.add_checkin(alex, pair, tried="Alex's own")
    with pytest.raises(services.PeerRefusal):
        services.report_concern(alex, pair, ConcernKind.CONCERN, checkin_ids=[own.id])
    with pytest.raises(services.PeerRefusal):
        services.report_concern(alex, pair, ConcernKind.CONCERN)
    concern = services.report_concern(alex, pair, ConcernKind.CONCERN, checkin_ids=[reported.id])
    db.session.commit()
    assert concern.subject_id == sam.id and concern.reporter_id == alex.id
    assert db.session.get(SafetyAlert, concern.alert_id).patient_id == sam.id
    checkins, messages = services.read_concern(facilitator, concern)
    db.session.commit()
    assert [c.tried for c in checkins] == ["Reported words"] and messages == []
    read = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "peer_concern_read")).all()
    assert [(r.actor_id, r.subject_id, r.target) for r in read] == [(facilitator.id, sam.id,
                                                                     f"peer_concern:{concern.id}")]


def test_worry_needs_no_items(facilitator, peers):
    group, alex, sam, _kim = peers
    pair = _active_pair(facilitator, group, alex, sam)
    concern = services.report_concern(sam, pair, ConcernKind.WORRIED)
    assert db.session.get(SafetyAlert, concern.alert_id).kind == AlertKind.PEER_WORRY
    assert concern.subject_id == alex.id


def test_suggestions_rank_shared_goal_words(facilitator, peers):
    group, alex, sam, kim = peers
    progress_services.create_goal(alex, title="Walk outside each morning")
    progress_services.create_goal(sam, title="Morning walk with the dog")
    progress_services.create_goal(kim, title="Call my sister")
    db.session.commit()
    best = queries.suggestions(group)[0]
    assert {best.a.user_id, best.b.user_id} == {alex.id, sam.id} and "morning" in best.shared_words
    _active_pair(facilitator, group, alex, sam)
    assert all(alex.id not in (s.a.user_id, s.b.user_id) for s in queries.suggestions(group))


def test_the_nudge_comes_after_a_missed_planned_checkin_only(facilitator, peers, clock):
    group, alex, sam, _kim = peers
    pair = _active_pair(facilitator, group, alex, sam)  # Tuesdays 18:30; now is a Friday
    assert not queries.needs_nudge(pair, alex)  # no planned check-in since the pair began
    clock.shift(timedelta(days=5))  # Wednesday: Tuesday's passed
    assert queries.needs_nudge(pair, alex)
    services.add_checkin(alex, pair, tried="Tea with a neighbour")
    assert not queries.needs_nudge(pair, alex)
    assert queries.needs_nudge(pair, sam)


def test_the_demo_has_alex_and_sam_as_an_active_pair_with_checkins_and_messages(app):
    accounts = load_demo()
    db.session.commit()
    alex = accounts["alex@example.org"]
    pairs = queries.pairs_of(alex)
    assert [p.status for p in pairs] == [PairStatus.ACTIVE]
    assert {m.user.display_name for m in pairs[0].members} == {"Alex", "Sam"}
    assert len(queries.checkins(pairs[0])) == 3 and queries.shared_goals(pairs[0])
    load_demo()
    assert len(queries.pairs_of(alex)) == 1  # loading it again adds nothing
