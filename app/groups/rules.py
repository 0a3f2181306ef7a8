"""What every change to a group answers to: the refusal a domain rule raises, the group still open to changes,
and the lock that puts writers of one group's memberships one after the other."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.groups.models import (
    Membership,
    TherapyGroup,
)
from app.refusal import Refusal


class GroupError(Refusal):
    """A domain rule refused the change; `message` is shown as is, `field` points at the input at fault."""

    conflicts = Refusal.conflicts | {"group_closed", "already_joined", "group_full", "invalid_transition",
                                     "session_cancelled", "session_not_started", "sessions_with_records"}


def require_open(group: TherapyGroup) -> None:
    if group.is_closed_for_changes:
        raise GroupError(_("This group has ended; it can no longer be changed."), code="group_closed")


def lock_group(group: TherapyGroup) -> None:
    """Take the group's row lock and read the group and its memberships again, as committed.

    Places are counted in Python: without the lock, two people joining for the last place on PostgreSQL both count it
    free and both become active. The lock is held until the commit, so writers of one group's memberships go one after
    the other (SQLite's BEGIN IMMEDIATE already serialises every writer; the statement is harmless there). Take it
    before the first audit record of the transaction: every writer waits for the audit chain's head after that, and
    the other order could deadlock.
    """
    db.session.flush()
    db.session.execute(select(TherapyGroup).where(TherapyGroup.id == group.id).with_for_update()
                       .execution_options(populate_existing=True))
    db.session.expire(group, ["memberships"])
    db.session.scalars(select(Membership).where(Membership.group_id == group.id)
                       .execution_options(populate_existing=True)).all()
