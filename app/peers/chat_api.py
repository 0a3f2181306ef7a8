"""JSON API of the pair chat: the latest messages, sending one (once per client id) and deleting one's own. Only the
two members of an active pair reach it; everyone else finds nothing."""

from __future__ import annotations

from flask_login import current_user, login_required
from marshmallow import fields, validate

from app.api_base import ApiBlueprint, Paragraph, Schema, document_errors
from app.extensions import account_or_address, limiter
from app.peers import chat
from app.peers.models import MESSAGE_MAX

blp = ApiBlueprint("peers_chat_api", __name__, url_prefix="/api/v1", description="The chat of a peer pair")


class PairMessageSchema(Schema):
    id = fields.Integer(strict=True, required=True)
    pair_id = fields.Integer(strict=True, required=True)
    author_id = fields.Integer(strict=True, required=True)
    author_name = fields.String(required=True)
    client_id = fields.String(required=True)
    body = fields.String(required=True, metadata={"description": "empty once its author deleted it"})
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    deleted = fields.Boolean(required=True)


class ReadStateSchema(Schema):
    mine = fields.Integer(strict=True, allow_none=True, metadata={"description": "the newest message you have read"})
    peer = fields.Integer(strict=True, allow_none=True,
                          metadata={"description": "the newest message your peer has read"})


class PairChatSchema(Schema):
    pair_id = fields.Integer(strict=True, required=True)
    me = fields.Integer(strict=True, required=True)
    messages = fields.List(fields.Nested(PairMessageSchema), required=True,
                           metadata={"description": f"the latest {chat.HISTORY_SIZE}, oldest first, deleted ones left "
                                                    "out"})
    read = fields.Nested(ReadStateSchema, required=True)


class PairMessageCreateSchema(Schema):
    body = Paragraph(required=True, validate=validate.Length(min=1, max=MESSAGE_MAX))
    client_id = fields.String(required=True, validate=validate.Regexp(chat.CLIENT_ID.pattern),
                              metadata={"description": "the client's idempotency key: a retry with the same key is "
                                                       "stored once and answered with the stored message"})


class PairMessageSentSchema(Schema):
    message = fields.Nested(PairMessageSchema, required=True)
    duplicate = fields.Boolean(required=True)
    support = fields.Boolean(required=True, metadata={
        "description": "the words matched the organisation's risk phrases: show the writer the crisis resources"})


@blp.get("/pairs/<int:pair_id>/messages")
@login_required
@blp.response(200, PairChatSchema)
@document_errors(blp, 401, 404, 409, 429)
def list_messages(pair_id: int):
    """The pair's latest messages and each member's read state (the two members of an active pair)."""
    pair = chat.load_chat_pair(current_user, pair_id)
    return chat.history(pair, current_user)


@blp.post("/pairs/<int:pair_id>/messages")
@login_required
@limiter.limit("120 per hour", key_func=account_or_address)
@blp.arguments(PairMessageCreateSchema)
@blp.response(201, PairMessageSentSchema)
@document_errors(blp, 400, 401, 404, 409, 422, 429)
def send_message(data, pair_id: int):
    """Send a message to your peer; the same `client_id` again answers with the stored one."""
    pair = chat.load_chat_pair(current_user, pair_id)
    message, created, risk = chat.send_message(current_user, pair, data["body"], data["client_id"])
    return {"message": chat.message_payload(message, chat.author_names(pair)), "duplicate": not created,
            "support": risk}


@blp.delete("/pairs/<int:pair_id>/messages/<int:message_id>")
@login_required
@blp.response(204)
@document_errors(blp, 400, 401, 404, 409, 429)
def delete_message(pair_id: int, message_id: int):
    """Delete your own message: it disappears for both of you, and its words are removed."""
    pair = chat.load_chat_pair(current_user, pair_id)
    chat.delete_message(current_user, pair, message_id)
    return None
