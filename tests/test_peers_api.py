"""The pairs API: a proposal refused with the failed checks, private answers, a risk phrase's answer, what a
facilitator reads of a pair (engagement, never content) and of a concern (only the reported items)."""

from __future__ import annotations

import pytest
from groups_fixtures import *  # noqa: F403
from sqlalchemy import select

from app.extensions import db
from app.peers.models import PeerPair

PRIVATE_WORDS = "Baked bread for the first time in months"


@pytest.fixture
def trio(facilitator, make_group, make_member):
    group = make_group(facilitator)
    return group, *(make_member(group, display_name=name).user for name in ("Alex Rivera", "Sam Okafor", "Kim Lee"))


def test_a_pair_through_the_api(client, api_token, facilitator, trio, organisation):
    group, alex, sam, _kim = trio
    organisation.crisis_phone = "024 7000 1234"
    db.session.commit()
    staff = api_token(facilitator)
    refused = client.post("/api/v1/pairs", json={"group_id": group.id, "first_id": alex.id, "second_id": alex.id},
                          headers=staff)
    assert refused.status_code == 409 and refused.json["error"]["message"] == "Choose two different members."
    made = client.post("/api/v1/pairs", json={"group_id": group.id, "first_id": alex.id, "second_id": sam.id,
                                              "weekday": 2, "time": "09:00"}, headers=staff)
    assert made.status_code == 201
    pair_id = made.json["id"]
    for user in (alex, sam):
        answer = client.post(f"/api/v1/pairs/{pair_id}/answer", json={"accept": True}, headers=api_token(user))
        assert answer.status_code == 200
    assert answer.json["status"] == "active" and answer.json["peer_name"] == "Alex Rivera"
    alex_headers = api_token(alex)
    written = client.post(f"/api/v1/pairs/{pair_id}/checkins", json={"tried": PRIVATE_WORDS}, headers=alex_headers)
    assert written.status_code == 201 and written.json["risk"] is False
    risky = client.post(f"/api/v1/pairs/{pair_id}/checkins", json={"how_it_went": "I feel suicidal"},
                        headers=alex_headers)
    assert risky.json["risk"] is True and risky.json["support"]["phone"] == "024 7000 1234"
    seen = client.get(f"/api/v1/pairs/{pair_id}", headers=staff)
    assert seen.status_code == 200 and seen.json["checkins_count"] == 2 and PRIVATE_WORDS not in seen.text
    assert client.get(f"/api/v1/pairs/{pair_id}/checkins", headers=staff).status_code == 404
    sam_headers = api_token(sam)
    checkins = client.get(f"/api/v1/pairs/{pair_id}/checkins", headers=sam_headers).json
    first = next(c for c in checkins if c["tried"] == PRIVATE_WORDS)
    reacted = client.post(f"/api/v1/pairs/{pair_id}/checkins/{first['id']}/reactions", json={"kind": "celebrate"},
                          headers=sam_headers)
    assert reacted.json["reactions"] == ["celebrate"]
    reported = client.post(f"/api/v1/pairs/{pair_id}/concerns", json={"kind": "concern", "checkin_ids": [first["id"]]},
                           headers=sam_headers)
    assert reported.status_code == 201 and "reporter_id" not in reported.json
    concern = client.get(f"/api/v1/pairs/concerns/{reported.json['id']}", headers=staff).json
    assert [c["tried"] for c in concern["checkins"]] == [PRIVATE_WORDS] and concern["reporter_id"] == sam.id
    assert client.get(f"/api/v1/pairs/concerns/{reported.json['id']}", headers=alex_headers).status_code == 404
    blocked = client.post(f"/api/v1/pairs/{pair_id}/block", headers=alex_headers)
    assert blocked.json["status"] == "ended"
    assert client.get(f"/api/v1/pairs/{pair_id}", headers=sam_headers).json["status"] == "ended"
    assert db.session.get(PeerPair, pair_id).ended_reason.value == "blocked"
    assert db.session.scalar(select(PeerPair.id)) == pair_id
