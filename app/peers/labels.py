"""Words for peer pairs as each person reads them: a member's view of the pair's state (never the other's answer or
why it ended), reactions, weekdays, and, for facilitators, concern kinds and end reasons."""

from babel.lists import format_list
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.accounts.labels import period_label
from app.peers.models import ConcernKind, EndReason, ReactionKind

MEMBER_STATUS = {
    "proposed": _l("Proposed: waiting for your answer"),
    "answered": _l("You said yes: waiting for both answers"),
    "active": _l("Active"),
    "paused": _l("Paused for now"),
    "paused_by_me": _l("You paused this pair"),
    "not_matched": _l("Not matched this time"),
    "declined": _l("You said no, thank you"),
    "ended": _l("This pair has ended"),
}

FACILITATOR_STATUS = {"proposed": _l("Proposed"), "active": _l("Active"), "paused": _l("Paused"),
                      "ended": _l("Ended")}

END_REASONS = {
    EndReason.LEFT: _l("a member left"),
    EndReason.ENDED_BY_FACILITATOR: _l("ended by a facilitator"),
    EndReason.BLOCKED: _l("a member blocked the other"),
    EndReason.LEFT_GROUP: _l("a member left the group"),
    EndReason.DECLINED: _l("a member declined"),
}

REACTIONS = {ReactionKind.CELEBRATE: _l("Celebrate"), ReactionKind.THINKING_OF_YOU: _l("Thinking of you")}

CONCERN_KINDS = {ConcernKind.WORRIED: _l("worried about their peer"),
                 ConcernKind.CONCERN: _l("reported a concern about what their peer wrote"),
                 ConcernKind.RISK_PHRASE: _l("wrote words on the risk list")}

WEEKDAYS = [_l("Mondays"), _l("Tuesdays"), _l("Wednesdays"), _l("Thursdays"), _l("Fridays"), _l("Saturdays"),
            _l("Sundays")]


def member_status_label(code: str) -> str:
    return str(MEMBER_STATUS[code])


def facilitator_status_label(status) -> str:
    return str(FACILITATOR_STATUS[getattr(status, "value", status)])


def end_reason_label(reason) -> str:
    return str(END_REASONS[EndReason(reason)]) if reason else ""


def reaction_label(kind) -> str:
    return str(REACTIONS[ReactionKind(kind)])


def concern_kind_label(kind) -> str:
    return str(CONCERN_KINDS[ConcernKind(kind)])


def free_together_label(periods, most: int = 2) -> str:
    """Why a suggestion's two members may suit each other in time: "Both usually free on Tuesday evenings" (the
    `most` longest periods both are free, already read in the facilitator's zone); "" when they share none."""
    if not periods:
        return ""
    names = [period_label(weekday, part) for weekday, part in periods[:most]]
    return _("Both usually free on %(times)s", times=format_list(names, locale=get_locale() or "en"))
