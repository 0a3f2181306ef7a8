"""The pair chat's page: the history and a form to write, which work without the script too (each post reloads the
page); with it, static/js/pair-chat.js makes the page live."""

from __future__ import annotations

import uuid

from flask import flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.accounts.forms import EmptyForm
from app.extensions import account_or_address, limiter
from app.peers import bp, chat
from app.peers.chat_forms import PairMessageForm
from app.peers.models import MESSAGE_MAX
from app.web import show_error


def chat_texts() -> dict:
    """Words the chat's script shows, translated here so that the script carries none."""
    return {
        "connecting": _("Connecting…"), "connected": _("Live: new messages appear here."),
        "reconnecting": _("Reconnecting… your message is kept and will be sent."),
        "sending": _("Sending…"), "seen": _("Seen"), "delete": _("Delete"), "you": _("You"),
        "typing": _("%(name)s is typing…", name="{name}"), "error": _("Something went wrong."),
        "signed_out": _("You are signed out."),
        "closed": _("The chat is closed while the pair is paused or has ended."),
        "deleted": _("Message deleted."), "write_first": _("Write a message first."),
        "delete_label": _("Delete your message: %(text)s", text="{text}"),
        "support": _("Your message was sent. It sounds like things are very hard right now: your facilitator has "
                     "been told, and help is here at any time."),
        "emergency": _("Or call your local emergency number."),
    }


def _page(pair, form, status: int = 200):
    peer = pair.other(current_user.id)
    names = chat.author_names(pair)
    organisation = current_user.organisation
    return render_template("peers/chat.html", pair=pair, messages=chat.latest_messages(pair), names=names,
                           read=chat.read_state(pair, current_user), form=form, delete_form=EmptyForm(),
                           peer_name=names.get(peer.user_id, "") if peer else "", message_max=MESSAGE_MAX,
                           pair_retention_days=organisation.peer_message_retention_days if organisation else 90,
                           support=session.pop("pair_chat_support", False), i18n=chat_texts()), status


@bp.get("/pairs/<int:pair_id>/chat")
@login_required
def chat_page(pair_id: int):
    pair = chat.load_chat_pair(current_user, pair_id)
    form = PairMessageForm(client_id=uuid.uuid4().hex)
    messages = chat.latest_messages(pair, 1)
    if messages:  # opening the page reads what it shows
        chat.mark_read(current_user, pair, messages[-1].id)
    return _page(pair, form)


@bp.post("/pairs/<int:pair_id>/chat")
@login_required
@limiter.limit("120 per hour", key_func=account_or_address)
def chat_send(pair_id: int):
    pair = chat.load_chat_pair(current_user, pair_id)
    form = PairMessageForm()
    if not form.validate_on_submit():
        return _page(pair, form, 422)
    try:
        _message, _created, risk = chat.send_message(current_user, pair, form.body.data, form.client_id.data)
    except chat.ChatRefusal as error:
        show_error(form, error)
        return _page(pair, form, 422)
    if risk:
        session["pair_chat_support"] = True
    return redirect(url_for("peers.chat_page", pair_id=pair.id, _anchor="chat-form"))


@bp.post("/pairs/<int:pair_id>/chat/<int:message_id>/delete")
@login_required
def chat_delete(pair_id: int, message_id: int):
    pair = chat.load_chat_pair(current_user, pair_id)
    if EmptyForm().validate_on_submit():
        chat.delete_message(current_user, pair, message_id)
        flash(_("Message deleted."), "info")
    return redirect(url_for("peers.chat_page", pair_id=pair.id))
