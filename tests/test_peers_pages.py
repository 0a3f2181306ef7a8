"""The peers pages: proposing, answering privately, the pair space, what facilitators see (engagement, and only the
reported items, audited), the crisis resources after a risk phrase, and refusals across groups."""

from __future__ import annotations

import re

import pytest
from groups_fixtures import *  # noqa: F403
from sqlalchemy import select

from app.audit import AuditEvent
from app.extensions import db
from app.peers import chat, services
from app.peers.models import ConcernKind, PairStatus, PeerConcern, PeerPair

PRIVATE_WORDS = "Walked to the river at dawn"
REPORTED_WORDS = "I skipped every meal again"


def strip_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', "", html)


@pytest.fixture
def trio(facilitator, make_group, make_member):
    group = make_group(facilitator)
    alex = make_member(group, display_name="Alex Rivera").user
    sam = make_member(group, display_name="Sam Okafor").user
    kim = make_member(group, display_name="Kim Lee").user
    return group, alex, sam, kim


def _client(app, login, user):
    client = app.test_client()
    login(client, user)
    return client


def test_a_facilitator_proposes_and_both_accept_through_the_pages(app, login, post, facilitator, trio):
    group, alex, sam, _kim = trio
    staff = _client(app, login, facilitator)
    page = staff.get(f"/groups/{group.id}/peers")
    assert page.status_code == 200 and "Propose a pair" in page.text
    answer = post(staff, f"/groups/{group.id}/peers", {"first_id": alex.id, "second_id": sam.id, "weekday": "1",
                                                      "time": "18:30"})
    assert answer.status_code == 302
    pair = db.session.scalar(select(PeerPair))
    for user in (alex, sam):
        client = _client(app, login, user)
        assert "Would you like to be peers?" in client.get("/peers").text
        assert post(client, f"/peers/{pair.id}/answer", {"accept": "yes"}).status_code == 302
    db.session.refresh(pair)
    assert pair.status == PairStatus.ACTIVE
    alex_client = _client(app, login, alex)
    assert post(alex_client, f"/peers/{pair.id}/checkins", {"tried": PRIVATE_WORDS}).status_code == 302
    sam_page = _client(app, login, sam).get(f"/peers/{pair.id}")
    assert PRIVATE_WORDS in sam_page.text and "Tuesdays" in sam_page.text
    staff_page = staff.get(f"/groups/{group.id}/peers")
    assert PRIVATE_WORDS not in staff_page.text and "Alex Rivera" in staff_page.text
    assert staff.get(f"/peers/{pair.id}").status_code == 404  # the space is the members' alone


def test_a_decline_reads_only_not_matched_to_the_other(app, login, post, facilitator, trio):
    group, alex, sam, _kim = trio
    pair = services.propose_pair(facilitator, group, alex.id, sam.id)
    db.session.commit()
    post(_client(app, login, alex), f"/peers/{pair.id}/answer", {"accept": "yes"})
    post(_client(app, login, sam), f"/peers/{pair.id}/answer", {"accept": "no"})
    alex_page = _client(app, login, alex).get("/peers").text
    assert "Not matched this time" in alex_page and "declin" not in alex_page.lower()


def test_a_cross_group_proposal_is_refused_with_a_reason(app, login, post, facilitator, trio, make_group,
                                                         make_member):
    group, alex, _sam, _kim = trio
    other = make_member(make_group(facilitator, name="Thursday group")).user
    staff = _client(app, login, facilitator)
    answer = post(staff, f"/groups/{group.id}/peers", {"first_id": alex.id, "second_id": other.id})
    assert answer.status_code == 422 and "Both must be active members of this group." in answer.text
    assert db.session.scalar(select(PeerPair)) is None


def test_members_of_other_pairs_and_other_groups_find_nothing(app, login, facilitator, trio, make_group,
                                                              make_member):
    group, alex, sam, kim = trio
    pair = services.propose_pair(facilitator, group, alex.id, sam.id)
    db.session.commit()
    assert _client(app, login, kim).get(f"/peers/{pair.id}").status_code == 404
    other_facilitator_group = make_group(facilitator, name="Other")
    outsider = make_member(other_facilitator_group).user
    assert _client(app, login, outsider).get(f"/peers/{pair.id}").status_code == 404


def test_a_risk_phrase_shows_the_writer_the_crisis_resources(app, login, post, facilitator, trio, organisation):
    group, alex, sam, _kim = trio
    organisation.crisis_phone = "024 7000 1234"
    pair = services.propose_pair(facilitator, group, alex.id, sam.id)
    services.respond(alex, pair, True)
    services.respond(sam, pair, True)
    db.session.commit()
    answer = post(_client(app, login, alex), f"/peers/{pair.id}/checkins", {"how_it_went": "Hoy quiero morir"})
    assert answer.status_code == 200 and "024 7000 1234" in answer.text
    concern = db.session.scalar(select(PeerConcern))
    assert concern.kind == ConcernKind.RISK_PHRASE and concern.subject_id == alex.id
    assert "Hoy quiero morir" in _client(app, login, sam).get(f"/peers/{pair.id}").text  # shared, not blocked


def test_the_facilitator_reads_exactly_the_reported_item_and_the_read_is_audited(app, login, post, facilitator,
                                                                                trio):
    group, alex, sam, _kim = trio
    pair = services.propose_pair(facilitator, group, alex.id, sam.id)
    services.respond(alex, pair, True)
    services.respond(sam, pair, True)
    reported, _ = services.add_checkin(sam, pair, tried=REPORTED_WORDS)
    services.add_checkin(sam, pair, tried=PRIVATE_WORDS)
    db.session.commit()
    sam_client = _client(app, login, sam)
    before = strip_csrf(sam_client.get(f"/peers/{pair.id}").text)
    post(_client(app, login, alex), f"/peers/{pair.id}/concerns", {"kind": "concern", "checkin_id": reported.id})
    concern = db.session.scalar(select(PeerConcern))
    assert concern.checkin_ids == [reported.id]
    staff = _client(app, login, facilitator)
    page = staff.get(f"/peers/concerns/{concern.id}")
    assert REPORTED_WORDS in page.text and PRIVATE_WORDS not in page.text
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "peer_concern_read")).actor_id \
        == facilitator.id
    assert strip_csrf(sam_client.get(f"/peers/{pair.id}").text) == before  # Sam is told nothing of the report


def test_a_peer_alert_on_the_home_and_alerts_pages_links_straight_to_its_concern(app, login, post, facilitator,
                                                                                  trio):
    group, alex, sam, _kim = trio
    pair = services.propose_pair(facilitator, group, alex.id, sam.id)
    services.respond(alex, pair, True)
    services.respond(sam, pair, True)
    reported, _ = services.add_checkin(sam, pair, tried=REPORTED_WORDS)
    db.session.commit()
    post(_client(app, login, alex), f"/peers/{pair.id}/concerns", {"kind": "concern", "checkin_id": reported.id})
    concern = db.session.scalar(select(PeerConcern))
    staff = _client(app, login, facilitator)
    for path in ("/", "/alerts"):
        page = staff.get(path).text
        assert f'href="/peers/concerns/{concern.id}"' in page, path


@pytest.mark.parametrize(("words", "kind"), [("Sam said something cruel to me", "concern"),
                                             ("Some nights I want to die", None)])
def test_reported_words_stay_for_the_facilitators_after_their_author_deletes_them(app, login, post, facilitator,
                                                                                  trio, words, kind):
    group, alex, sam, _kim = trio
    pair = services.propose_pair(facilitator, group, alex.id, sam.id)
    services.respond(alex, pair, True)
    services.respond(sam, pair, True)
    message, _new, _risky = chat.send_message(sam, pair, words, "words-key-0001")
    chat.send_message(sam, pair, PRIVATE_WORDS, "words-key-0002")
    db.session.commit()
    if kind:  # Alex reports it; a risk phrase raises the concern itself
        post(_client(app, login, alex), f"/peers/{pair.id}/concerns", {"kind": kind, "message_id": message.id})
    concern = db.session.scalar(select(PeerConcern))
    assert concern.message_ids == [message.id]
    assert words in _client(app, login, alex).get(f"/pairs/{pair.id}/chat").text

    chat.delete_message(sam, pair, message.id)
    db.session.commit()

    page = _client(app, login, facilitator).get(f"/peers/concerns/{concern.id}").text
    assert words in page and "deleted by its author since" in page and PRIVATE_WORDS not in page
    read = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "peer_concern_read"))
    assert read.actor_id == facilitator.id and str(message.id) in read.details
    for member in (alex, sam):  # gone from the pair for both
        assert words not in _client(app, login, member).get(f"/pairs/{pair.id}/chat").text
        assert words not in repr(chat.history(pair, member))
