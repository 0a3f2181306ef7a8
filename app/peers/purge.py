"""The retention of pair chats: messages older than their organisation's retention period (90 days unless it says
otherwise) are deleted for good, every PEER_PURGE_SECONDS by each app process and on demand with `flask peers purge`.
Until a purge has run, an old message is still shown: the purge is the one place that removes them."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import delete, select

from app import audit
from app.accounts.models import Organisation
from app.extensions import db, socketio
from app.models_base import utcnow
from app.peers.models import PeerMessage, PeerPair

_start_lock = threading.Lock()
DEFAULT_RETENTION_DAYS = 90


def purge_messages(now: datetime | None = None) -> dict[int, int]:
    """Delete every message past its organisation's retention period; answers how many went, per organisation (only
    those that lost some). Each removal is in the audit trail, as a count: the words are gone."""
    now = now or utcnow()
    removed = {}
    for organisation_id, days in db.session.execute(select(Organisation.id, Organisation.peer_message_retention_days)):
        cutoff = now - timedelta(days=days or DEFAULT_RETENTION_DAYS)
        pairs = select(PeerPair.id).where(PeerPair.organisation_id == organisation_id)
        result = db.session.execute(delete(PeerMessage).where(PeerMessage.pair_id.in_(pairs),
                                                              PeerMessage.created_at < cutoff))
        if result.rowcount:
            removed[organisation_id] = result.rowcount
            audit.record("peer_messages_purged", organisation_id=organisation_id, target="peer_message",
                         details={"count": result.rowcount, "retention_days": days})
    return removed


def purge_once(app: Flask) -> None:
    """One pass, committed on its own like a request."""
    with app.app_context():
        try:
            purge_messages()
            db.session.commit()
        except Exception:
            db.session.rollback()
            app.logger.exception("peer message purge failed; the next one tries again")
        finally:
            db.session.remove()


def _run(app: Flask, interval: float) -> None:
    while True:
        purge_once(app)
        socketio.sleep(interval)


def start_once() -> None:
    """Start this process's purge as a Socket.IO background task on its first request (CLI commands make an app too,
    and need none). Several processes purging at once delete each message once."""
    app = current_app._get_current_object()
    interval = app.config.get("PEER_PURGE_SECONDS", 0)
    if not interval or "peer_purge" in app.extensions:
        return
    with _start_lock:
        if "peer_purge" not in app.extensions:
            app.extensions["peer_purge"] = socketio.start_background_task(_run, app, interval)


@click.group("peers")
def peers_cli() -> None:
    """Peer pairs."""


@peers_cli.command("purge")
@with_appcontext
def purge_command() -> None:
    """Delete the pair chat messages past each organisation's retention period."""
    removed = purge_messages()
    db.session.commit()
    click.echo(f"Removed {sum(removed.values())} messages past their retention period.")
