"""The pair chat (issue 12): only the two members of an active pair reach it; a message is stored once per client id
and pushed to both; its author's delete removes its words and drops it for both; read state and typing reach the peer
(typing is never stored); a reconnecting client reads what it missed from the database; the purge keeps each
organisation's retention period; the page works without its script and the API does the same."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from room_fixtures import *  # noqa: F403
from room_fixtures import CRISIS, ack, add_member, received
from sqlalchemy import func, select

from app.accounts.models import RoleName
from app.audit import AuditEvent
from app.extensions import db
from app.models_base import utcnow
from app.peers import purge
from app.peers import services as peer_services
from app.peers.chat import pair_chat_room
from app.peers.models import (
    MESSAGE_MAX,
    ConcernKind,
    MemberResponse,
    PairStatus,
    PeerConcern,
    PeerMessage,
    PeerPair,
    PeerPairMember,
)
from app.realtime.push import queue_push


def make_pair(group, first, second, status: PairStatus = PairStatus.ACTIVE) -> PeerPair:
    pair = PeerPair(organisation_id=group.organisation_id, group_id=group.id, status=status,
                    proposed_by_id=group.facilitators[0].user_id, activated_at=utcnow(),
                    members=[PeerPairMember(user_id=first.id, response=MemberResponse.ACCEPTED),
                             PeerPairMember(user_id=second.id, response=MemberResponse.ACCEPTED)])
    db.session.add(pair)
    db.session.commit()
    return pair


@pytest.fixture
def chat(room):
    """Pat and Olly paired in the room's group (Mo, the third member, is not in the pair)."""
    first, second, third = room.members
    return {"pair": make_pair(room.group, first, second), "pat": first, "olly": second, "mo": third,
            "facilitator": room.facilitator, "group": room.group}


@pytest.fixture
def joined(chat, connect_as):
    """joined(user) -> a socket of that member in the pair's chat, its pushes so far drained."""

    def join(user):
        sio = connect_as(user)
        answer = ack(sio, "join_pair_chat", {"pair_id": chat["pair"].id})
        assert answer["ok"] is True, answer
        received(sio)
        return sio

    return join


def send(sio, pair_id, body, client_id="client-key-0001"):
    return ack(sio, "send_pair_message", {"pair_id": pair_id, "body": body, "client_id": client_id})


def stored_messages(pair_id) -> list[PeerMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(PeerMessage).where(PeerMessage.pair_id == pair_id).order_by(PeerMessage.id)))


# Sending --------------------------------------------------------------------------------------------------------------


def test_a_message_reaches_both_members_and_a_retry_is_stored_once(chat, joined):
    pat, olly = joined(chat["pat"]), joined(chat["olly"])
    pair_id = chat["pair"].id

    first = send(pat, pair_id, "Went for the walk today!", "walk-key-0001")
    again = send(pat, pair_id, "Went for the walk today!", "walk-key-0001")

    assert first["ok"] is True and first["duplicate"] is False
    assert again["ok"] is True and again["duplicate"] is True
    assert again["message"]["id"] == first["message"]["id"]
    assert [m.body for m in stored_messages(pair_id)] == ["Went for the walk today!"]
    heard = received(olly, "pair_message")
    assert [(m["body"], m["author_id"]) for m in heard] == [("Went for the walk today!", chat["pat"].id)]
    assert len(received(pat, "pair_message")) == 1


@pytest.mark.parametrize("body, error", [("", "invalid_body"), ("   ", "invalid_body"), (None, "invalid_body"),
                                         ("x" * (MESSAGE_MAX + 1), "too_long"), ("bad \x07 bell", "invalid_body")])
def test_an_empty_overlong_or_unreadable_message_is_refused_and_nothing_is_stored(chat, joined, body, error):
    pat, olly = joined(chat["pat"]), joined(chat["olly"])

    answer = send(pat, chat["pair"].id, body)

    assert answer["ok"] is False and answer["error"] == error and answer["message"]
    assert stored_messages(chat["pair"].id) == []
    assert received(olly, "pair_message") == []


def test_a_message_of_the_longest_length_is_sent(chat, joined):
    pat = joined(chat["pat"])
    assert send(pat, chat["pair"].id, "y" * MESSAGE_MAX)["ok"] is True


def test_a_missing_client_id_is_refused(chat, joined):
    pat = joined(chat["pat"])
    answer = ack(pat, "send_pair_message", {"pair_id": chat["pair"].id, "body": "hello"})
    assert answer["error"] == "invalid_client_id"
    assert stored_messages(chat["pair"].id) == []


# Who gets in ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def outsiders(chat, make_user, make_organisation, other_patient):
    """Everyone who is not one of the pair's two members: the group's third member, its facilitator, a member of
    another pair, a member of another group, a supporter and a patient of another organisation."""
    group = chat["group"]
    paired_elsewhere = make_user(RoleName.PATIENT, display_name="Pia Otherpair")
    partner = make_user(RoleName.PATIENT, display_name="Quinn Partner")
    add_member(group, paired_elsewhere)
    add_member(group, partner)
    make_pair(group, paired_elsewhere, partner)
    elsewhere = make_organisation(name="Hillside", slug="hillside-chat")
    return {"third member": chat["mo"], "facilitator": chat["facilitator"], "member of another pair": paired_elsewhere,
            "member of no group": make_user(RoleName.PATIENT, display_name="Nell Nogroup"),
            "supporter": make_user(RoleName.SUPPORTER, display_name="Sid Supporter"),
            "other organisation": make_user(RoleName.PATIENT, elsewhere, display_name="Oona Elsewhere")}


def test_nobody_but_the_two_members_joins_sends_or_reads(chat, joined, outsiders, connect_as):
    pat = joined(chat["pat"])
    assert send(pat, chat["pair"].id, "Only for Olly", "only-olly-01")["ok"]
    received(pat)
    pair_id = chat["pair"].id
    for who, user in outsiders.items():
        sio = connect_as(user)
        for name, payload in [("join_pair_chat", {}), ("send_pair_message", {"body": "hi", "client_id": "intruder-1"}),
                              ("mark_pair_read", {"message_id": 1}), ("pair_typing", {"typing": True}),
                              ("delete_pair_message", {"message_id": 1})]:
            answer = ack(sio, name, {"pair_id": pair_id, **payload})
            assert answer == {"ok": False, "error": "not_found"}, (who, name, answer)
        assert "Only for Olly" not in repr(received(sio)), who
    send(pat, pair_id, "Still only for Olly", "only-olly-02")
    assert len(stored_messages(pair_id)) == 2
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "socket_denied")) >= 30


def test_the_api_and_the_page_find_nothing_for_outsiders(chat, outsiders, app, login, api_token):
    pair_id = chat["pair"].id
    for who, user in outsiders.items():
        headers = api_token(user)
        client = app.test_client()
        assert client.get(f"/api/v1/pairs/{pair_id}/messages", headers=headers).status_code == 404, who
        login(client, user)
        assert client.get(f"/pairs/{pair_id}/chat").status_code == 404, who


@pytest.mark.parametrize("status", [PairStatus.PAUSED, PairStatus.ENDED, PairStatus.PROPOSED])
def test_a_pair_that_is_not_active_refuses_its_chat(chat, connect_as, status, api_token):
    pair = chat["pair"]
    pair.status = status
    db.session.commit()
    pat = connect_as(chat["pat"])

    assert ack(pat, "join_pair_chat", {"pair_id": pair.id})["error"] == "pair_not_active"
    assert send(pat, pair.id, "hello?")["error"] == "pair_not_active"
    response = pat.http.post(f"/api/v1/pairs/{pair.id}/messages", headers=api_token(chat["pat"]),
                             json={"body": "hello?", "client_id": "api-key-0001"})
    assert response.status_code == 409
    assert stored_messages(pair.id) == []


def test_a_member_who_left_the_pair_is_refused(chat, connect_as):
    chat["pair"].member(chat["olly"].id).left_at = utcnow()
    db.session.commit()
    olly = connect_as(chat["olly"])
    assert ack(olly, "join_pair_chat", {"pair_id": chat["pair"].id})["error"] == "pair_not_active"


def test_a_block_takes_both_members_out_of_the_chat_at_once(chat, joined):
    """Blocking ends the pair and closes its live room: sockets already in the chat hear nothing more of it."""
    pat, olly = joined(chat["pat"]), joined(chat["olly"])
    pair = chat["pair"]
    peer_services.block(chat["olly"], pair)
    db.session.commit()
    queue_push("pair_typing", {"pair_id": pair.id, "user_id": chat["olly"].id, "typing": True},
               pair_chat_room(pair.id))
    db.session.commit()

    assert received(pat, "pair_typing") == [] and received(olly, "pair_typing") == []
    assert send(pat, pair.id, "wait")["error"] == "pair_not_active"
    assert ack(olly, "join_pair_chat", {"pair_id": pair.id})["error"] == "pair_not_active"


def test_a_pause_takes_both_members_out_of_the_chat_until_it_resumes(chat, joined):
    """Pausing closes the pair's live room like an end: sockets already in the chat hear nothing more of it, both are
    told the chat closed, and after resuming they join again."""
    pat, olly = joined(chat["pat"]), joined(chat["olly"])
    pair = chat["pair"]
    peer_services.pause(chat["olly"], pair)
    db.session.commit()
    queue_push("pair_typing", {"pair_id": pair.id, "user_id": chat["olly"].id, "typing": True},
               pair_chat_room(pair.id))
    db.session.commit()

    assert received(pat, "peer_pair_ended") == [{"pair_id": pair.id}]
    assert received(olly, "peer_pair_ended") == [{"pair_id": pair.id}]
    assert received(pat, "pair_typing") == [] and received(olly, "pair_typing") == []
    assert send(pat, pair.id, "wait")["error"] == "pair_not_active"

    peer_services.resume(chat["olly"], pair)
    db.session.commit()
    assert ack(olly, "join_pair_chat", {"pair_id": pair.id})["ok"] is True
    assert ack(pat, "join_pair_chat", {"pair_id": pair.id})["ok"] is True
    assert send(pat, pair.id, "Back again", "back-key-0001")["ok"] is True
    assert [m["body"] for m in received(olly, "pair_message")] == ["Back again"]


# Deleting, reading, typing --------------------------------------------------------------------------------------------


def test_the_author_deletes_a_message_and_it_disappears_for_both(chat, joined, connect_as):
    pat, olly = joined(chat["pat"]), joined(chat["olly"])
    pair_id = chat["pair"].id
    sent = send(pat, pair_id, "Something I regret writing", "regret-key-01")["message"]
    send(pat, pair_id, "And something I keep", "keep-key-0001")
    received(olly), received(pat)

    answer = ack(pat, "delete_pair_message", {"pair_id": pair_id, "message_id": sent["id"]})

    assert answer["ok"] is True
    assert received(olly, "pair_message_deleted") == [{"pair_id": pair_id, "id": sent["id"]}]
    assert received(pat, "pair_message_deleted") == [{"pair_id": pair_id, "id": sent["id"]}]
    row = stored_messages(pair_id)[0]
    assert row.id == sent["id"] and row.body == "" and row.deleted_at is not None
    history = ack(connect_as(chat["olly"]), "join_pair_chat", {"pair_id": pair_id})
    assert [m["body"] for m in history["messages"]] == ["And something I keep"]
    assert "regret" not in repr(history)


def test_only_the_author_deletes_a_message(chat, joined):
    pat, olly = joined(chat["pat"]), joined(chat["olly"])
    sent = send(pat, chat["pair"].id, "Mine to delete", "mine-key-0001")["message"]

    answer = ack(olly, "delete_pair_message", {"pair_id": chat["pair"].id, "message_id": sent["id"]})

    assert answer == {"ok": False, "error": "not_found"}
    assert stored_messages(chat["pair"].id)[0].body == "Mine to delete"


def test_read_state_reaches_the_peer_and_never_goes_back(chat, joined):
    pat, olly = joined(chat["pat"]), joined(chat["olly"])
    pair_id = chat["pair"].id
    first = send(pat, pair_id, "One", "read-key-0001")["message"]["id"]
    second = send(pat, pair_id, "Two", "read-key-0002")["message"]["id"]
    received(pat)

    assert ack(olly, "mark_pair_read", {"pair_id": pair_id, "message_id": second})["last_read_message_id"] == second
    assert received(pat, "pair_read") == [{"pair_id": pair_id, "user_id": chat["olly"].id,
                                           "last_read_message_id": second}]
    assert ack(olly, "mark_pair_read", {"pair_id": pair_id, "message_id": first})["last_read_message_id"] == second
    assert ack(olly, "mark_pair_read", {"pair_id": pair_id, "message_id": second + 50})["last_read_message_id"] \
        == second
    assert received(pat, "pair_read") == []
    state = ack(pat, "join_pair_chat", {"pair_id": pair_id})["read"]
    assert state == {"mine": second, "peer": second}  # one's own message counts as read


def test_typing_reaches_only_the_peer_and_is_never_stored(chat, joined):
    pat, olly = joined(chat["pat"]), joined(chat["olly"])
    before = matrix_rows()

    answer = ack(pat, "pair_typing", {"pair_id": chat["pair"].id, "typing": True})

    assert answer == {"ok": True, "typing": True}
    assert received(olly, "pair_typing") == [{"pair_id": chat["pair"].id, "user_id": chat["pat"].id, "typing": True}]
    assert received(pat, "pair_typing") == []
    assert matrix_rows() == before
    assert ack(pat, "pair_typing", {"pair_id": chat["pair"].id, "typing": "yes"})["error"] == "invalid"


def matrix_rows() -> dict[str, int]:
    """How many rows each table holds, the audit trail aside."""
    db.session.expire_all()
    return {table.name: db.session.scalar(select(func.count()).select_from(table))
            for table in db.metadata.sorted_tables if not table.name.startswith("audit")}


# After a reconnect ----------------------------------------------------------------------------------------------------


def test_a_member_who_reconnects_reads_what_was_sent_meanwhile(chat, joined, connect_as):
    pat, olly = joined(chat["pat"]), joined(chat["olly"])
    pair_id = chat["pair"].id
    send(pat, pair_id, "Before you left", "before-key-01")
    olly.disconnect()
    send(pat, pair_id, "While you were away", "away-key-0001")
    gone = send(pat, pair_id, "Deleted while away", "gone-key-0001")["message"]["id"]
    ack(pat, "delete_pair_message", {"pair_id": pair_id, "message_id": gone})

    again = connect_as(chat["olly"])
    state = ack(again, "join_pair_chat", {"pair_id": pair_id})

    assert [m["body"] for m in state["messages"]] == ["Before you left", "While you were away"]
    assert state["read"]["peer"] == gone
    send(pat, pair_id, "Welcome back", "back-key-0001")
    assert [m["body"] for m in received(again, "pair_message")] == ["Welcome back"]


# Retention ------------------------------------------------------------------------------------------------------------


def test_the_purge_removes_messages_past_each_organisations_retention(chat, joined, make_user, make_organisation):
    organisation = chat["pair"].group.organisation
    organisation.peer_message_retention_days = 30
    db.session.commit()
    pat = joined(chat["pat"])
    pair_id = chat["pair"].id
    old = utcnow()
    send(pat, pair_id, "Forty days ago", "old-key-00001")
    db.session.add(PeerMessage(pair_id=pair_id, author_id=chat["olly"].id, body="Twenty days ago",
                               client_id="mid-key-00001", created_at=old + timedelta(days=20)))
    elsewhere = make_organisation(name="Keeps longer", slug="keeps-longer")
    assert elsewhere.peer_message_retention_days == 90
    other_pair = PeerPair(organisation_id=elsewhere.id, group_id=chat["group"].id, status=PairStatus.ACTIVE)
    db.session.add(other_pair)
    db.session.flush()
    db.session.add(PeerMessage(pair_id=other_pair.id, author_id=chat["pat"].id, body="Kept for ninety days",
                               client_id="other-org-key-1", created_at=old))
    db.session.commit()

    removed = purge.purge_messages(now=old + timedelta(days=40))
    db.session.commit()

    assert removed == {organisation.id: 1}
    assert [m.body for m in stored_messages(pair_id)] == ["Twenty days ago"]
    assert [m.body for m in stored_messages(other_pair.id)] == ["Kept for ninety days"]
    trail = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "peer_messages_purged")).all()
    assert [(e.organisation_id, json.loads(e.details)["count"]) for e in trail] == [(organisation.id, 1)]
    assert purge.purge_messages(now=old + timedelta(days=40)) == {}


def test_flask_peers_purge_removes_what_is_past_retention(app, chat, joined):
    pat = joined(chat["pat"])
    send(pat, chat["pair"].id, "Old news", "old-news-key1")
    with time_machine.travel(utcnow() + timedelta(days=91), tick=False):
        result = app.test_cli_runner().invoke(args=["peers", "purge"])
    assert result.exit_code == 0, result.output
    assert "Removed 1 messages" in result.output
    assert stored_messages(chat["pair"].id) == []


# Without the script, and the API --------------------------------------------------------------------------------------


def test_the_page_shows_the_chat_and_its_form_posts_a_message_once(chat, login, client, post):
    login(client, chat["pat"])
    pair_id = chat["pair"].id
    page = client.get(f"/pairs/{pair_id}/chat")
    assert page.status_code == 200
    assert "No messages yet" in page.get_data(as_text=True)

    for _ in range(2):  # a double submit
        response = post(client, f"/pairs/{pair_id}/chat", {"body": "Hello from the form", "client_id": "form-key-001"})
        assert response.status_code == 302
    assert [m.body for m in stored_messages(pair_id)] == ["Hello from the form"]
    assert "Hello from the form" in client.get(f"/pairs/{pair_id}/chat").get_data(as_text=True)

    message_id = stored_messages(pair_id)[0].id
    assert post(client, f"/pairs/{pair_id}/chat/{message_id}/delete").status_code == 302
    assert "Hello from the form" not in client.get(f"/pairs/{pair_id}/chat").get_data(as_text=True)
    assert stored_messages(pair_id)[0].deleted_at is not None


def test_the_page_refuses_an_empty_message_with_a_clear_word(chat, login, client, post):
    login(client, chat["pat"])
    response = post(client, f"/pairs/{chat['pair'].id}/chat", {"body": "  ", "client_id": "form-key-002"})
    assert response.status_code == 422
    assert "Write a message first." in response.get_data(as_text=True)
    assert stored_messages(chat["pair"].id) == []


def test_the_api_lists_sends_once_and_deletes(chat, client, api_token, joined):
    olly = joined(chat["olly"])
    headers = api_token(chat["pat"])
    url = f"/api/v1/pairs/{chat['pair'].id}/messages"
    body = {"body": "Sent from the app", "client_id": "api-key-0002"}

    first = client.post(url, json=body, headers=headers)
    again = client.post(url, json=body, headers=headers)

    assert first.status_code == 201 and first.json["duplicate"] is False
    assert again.status_code == 201 and again.json["duplicate"] is True
    assert [m["body"] for m in received(olly, "pair_message")] == ["Sent from the app"]
    listed = client.get(url, headers=headers)
    assert [m["body"] for m in listed.json["messages"]] == ["Sent from the app"]
    assert client.post(url, json={"body": "z" * (MESSAGE_MAX + 1), "client_id": "api-key-0003"},
                       headers=headers).status_code == 422
    message_id = first.json["message"]["id"]
    assert client.delete(f"{url}/{message_id}", headers=api_token(chat["olly"])).status_code == 404
    assert client.delete(f"{url}/{message_id}", headers=headers).status_code == 204
    assert received(olly, "pair_message_deleted") == [{"pair_id": chat["pair"].id, "id": message_id}]
    assert client.get(url, headers=headers).json["messages"] == []


# Risk phrases ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("words", ["Honestly I want to die some days", "A veces pienso que no puedo más"])
def test_a_message_with_a_risk_phrase_is_sent_and_alerts_the_facilitators_with_it_alone(chat, joined, connect_as,
                                                                                        words):
    pat, olly = joined(chat["pat"]), joined(chat["olly"])
    facilitator = connect_as(chat["facilitator"])
    send(pat, chat["pair"].id, "An ordinary first message", "plain-key-0001")
    assert db.session.scalar(select(func.count(PeerConcern.id))) == 0

    answer = send(pat, chat["pair"].id, words, "risk-key-00001")

    assert answer["ok"] is True and answer["support"]["phone"] == CRISIS["crisis_phone"]
    assert [m["body"] for m in received(olly, "pair_message")] == ["An ordinary first message", words]
    concern = db.session.scalar(select(PeerConcern))
    assert concern.kind == ConcernKind.RISK_PHRASE and concern.subject_id == chat["pat"].id
    assert concern.message_ids == [answer["message"]["id"]] and concern.reporter_id is None
    alerts = received(facilitator, "alert")
    assert len(alerts) == 1 and words not in repr(alerts)
    assert received(olly, "alert") == []


def test_a_retried_message_with_a_risk_phrase_alerts_once_and_shows_help_again(chat, joined):
    pat = joined(chat["pat"])
    send(pat, chat["pair"].id, "I want to die", "risk-key-00002")
    assert send(pat, chat["pair"].id, "I want to die", "risk-key-00002")["support"]
    assert db.session.scalar(select(func.count(PeerConcern.id))) == 1


def test_an_admin_sets_how_long_pair_chats_are_kept_and_members_read_it(app, admin, chat, login, post):
    client = app.test_client()
    login(client, admin)
    form = {"name": "Riverside Clinic", "locale": "en", "timezone": "UTC", "peer_message_retention_days": "30"}

    assert post(client, "/admin/organisation", form).status_code == 302
    assert chat["pair"].group.organisation.peer_message_retention_days == 30
    refused = post(client, "/admin/organisation", {**form, "peer_message_retention_days": "0"})
    assert refused.status_code == 200 and "Keep messages between 1 and 3650 days." in refused.text
    db.session.expire_all()
    assert chat["pair"].group.organisation.peer_message_retention_days == 30

    member = app.test_client()
    login(member, chat["pat"])
    assert "Messages are kept for 30 days." in member.get(f"/pairs/{chat['pair'].id}/chat").text
