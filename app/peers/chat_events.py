"""Socket.IO events of the pair chat. Every event loads the pair and asks the policy again (only the two members of an
active pair get anywhere); acknowledgements follow the commit, and the chat room is entered after it."""

from __future__ import annotations

from flask import request

from app.peers import chat
from app.realtime.sockets import event, payload_id
from app.rooms.queries import crisis_resources


def _pair(user, payload):
    return chat.load_chat_pair(user, payload_id(payload, "pair_id"))


# Joining is what a page does by itself (on load and after every reconnect): it does not count as activity.
@event("join_pair_chat", automatic=True)
def join_pair_chat(user, payload):
    """Enter the pair's chat and read it from the database (after a reconnect too: what was pushed meanwhile is
    there)."""
    pair = _pair(user, payload)
    chat.enter_chat(pair, request.sid)
    return chat.history(pair, user)


@event("send_pair_message")
def send_pair_message(user, payload):
    pair = _pair(user, payload)
    message, created, risk = chat.send_message(user, pair, payload.get("body"), payload.get("client_id"))
    answer = {"message": chat.message_payload(message, chat.author_names(pair)), "duplicate": not created}
    if risk:  # the message is sent all the same; its writer is shown where help is
        answer["support"] = crisis_resources(user)
    return answer


@event("delete_pair_message")
def delete_pair_message(user, payload):
    pair = _pair(user, payload)
    message = chat.delete_message(user, pair, payload_id(payload, "message_id"))
    return {"id": message.id, "deleted": True}


@event("pair_typing", automatic=True)
def pair_typing(user, payload):
    pair = _pair(user, payload)
    return {"typing": chat.typing(user, pair, payload.get("typing", True), request.sid)}


@event("mark_pair_read", automatic=True)
def mark_pair_read(user, payload):
    pair = _pair(user, payload)
    return {"last_read_message_id": chat.mark_read(user, pair, payload.get("message_id"))}
