"""Translated labels for values stored in English (roles, states), used by templates and the API."""

from flask_babel import lazy_gettext as _l

from app.accounts.availability import DAYS, PartOfDay
from app.accounts.models import RoleName

ROLE_LABELS = {
    RoleName.ADMIN: _l("Admin"),
    RoleName.FACILITATOR: _l("Facilitator"),
    RoleName.PATIENT: _l("Member"),
    RoleName.SUPPORTER: _l("Supporter"),
}

INVITATION_STATE_LABELS = {
    "pending": _l("Waiting"),
    "accepted": _l("Accepted"),
    "expired": _l("Expired"),
    "revoked": _l("Withdrawn"),
}


def role_label(role: RoleName | str | None) -> str:
    return str(ROLE_LABELS.get(RoleName(role), role)) if role else ""


def invitation_state_label(state: str) -> str:
    return str(INVITATION_STATE_LABELS.get(state, state))


DAY_LABELS = dict(zip(DAYS, (_l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"),
                             _l("Saturday"), _l("Sunday")), strict=True))

PART_LABELS = {PartOfDay.MORNING: _l("Morning"), PartOfDay.AFTERNOON: _l("Afternoon"),
               PartOfDay.EVENING: _l("Evening"), PartOfDay.NIGHT: _l("Night")}

#: A part of a day that recurs each week, as in "Both usually free on Tuesday evenings".
_PERIODS = {PartOfDay.MORNING: _l("%(day)s mornings"), PartOfDay.AFTERNOON: _l("%(day)s afternoons"),
            PartOfDay.EVENING: _l("%(day)s evenings"), PartOfDay.NIGHT: _l("%(day)s nights")}


def period_label(weekday: int, part: PartOfDay) -> str:
    """A weekly period, `weekday` counted from Monday = 0: "Tuesday evenings"."""
    return str(_PERIODS[part]) % {"day": DAY_LABELS[DAYS[weekday]]}


#: What each action the audit trail records means, for the people who read the trail (every `audit.record` call names
#: one of these; tests/test_audit_page.py finds them all in the code and fails on one without a label).
ACTION_LABELS = {
    # Signing in, accounts and the organisation
    "login": _l("Sign-in"),
    "logout": _l("Sign-out"),
    "password_change": _l("Password changed"),
    "password_reset_request": _l("Password reset asked for"),
    "password_reset": _l("Password reset"),
    "second_factor_enrol": _l("Second factor set up"),
    "second_factor_use": _l("Second factor used to sign in"),
    "second_factor_remove": _l("Second factor removed"),
    "second_factor_reset": _l("Second factors reset by an admin"),
    "recovery_codes_create": _l("Recovery codes made"),
    "recovery_code_use": _l("Recovery code used to sign in"),
    "profile_update": _l("Profile changed"),
    "api_token_create": _l("API token created"),
    "api_token_revoke": _l("API token revoked"),
    "organisation_create": _l("Organisation created"),
    "organisation_update": _l("Organisation settings changed"),
    "crisis_resources_update": _l("Crisis resources changed"),
    "account_create": _l("Account created"),
    "account_deactivate": _l("Account deactivated"),
    "account_reactivate": _l("Account reactivated"),
    "people_viewed": _l("People list read"),
    "invitation_create": _l("Invitation created"),
    "invitation_email": _l("Invitation email sent"),
    "invitation_revoke": _l("Invitation withdrawn"),
    "invitation_accept": _l("Invitation accepted"),
    "request_denied": _l("Request refused"),
    "socket_denied": _l("Live connection refused"),
    "audit_head_repaired": _l("Audit trail changed without the key"),
    "audit_trail_viewed": _l("Audit trail viewed"),
    "audit_trail_exported": _l("Audit trail exported"),
    # Groups, sessions and the live room
    "group_create": _l("Group created"),
    "group_update": _l("Group changed"),
    "group_facilitators_update": _l("Group facilitators changed"),
    "group_agreement_update": _l("Group agreement changed"),
    "membership_invited": _l("Invited to a group"),
    "membership_join": _l("Joined a group"),
    "membership_status": _l("Membership status changed"),
    "membership_promoted": _l("Moved up from the waitlist"),
    "agreement_accept": _l("Group agreement accepted"),
    "schedule_save": _l("Schedule saved"),
    "session_add": _l("Session added"),
    "session_update": _l("Session changed"),
    "session_cancel": _l("Session cancelled"),
    "session_restore": _l("Session restored"),
    "attendance_record": _l("Attendance recorded"),
    "attendance_read": _l("Attendance read"),
    "agenda_add": _l("Agenda item added"),
    "agenda_update": _l("Agenda item changed"),
    "agenda_delete": _l("Agenda item removed"),
    "agenda_reorder": _l("Agenda reordered"),
    "note_write": _l("Facilitator note written"),
    "note_read": _l("Facilitator notes read"),
    "intake_read": _l("Intake answers read"),
    "engagement_read": _l("Engagement read"),
    "calendar_feed_create": _l("Calendar feed created"),
    "calendar_feed_revoke": _l("Calendar feed revoked"),
    "room_open": _l("Live room opened"),
    "room_close": _l("Live room closed"),
    "room_round_start": _l("Round started"),
    "room_next": _l("Next speaker"),
    "room_skip": _l("Speaker skipped"),
    "room_hand_lower": _l("Raised hand lowered"),
    "room_left_early": _l("Left the session early"),
    "checkin": _l("Check-in"),
    "checkin_read": _l("Check-in read"),
    "safety_alert": _l("Call for support"),
    "safety_alert_acknowledge": _l("Call for support acknowledged"),
    "safety_alert_note": _l("Note added to a call for support"),
    # Sharing with supporters
    "consent_proposed": _l("Sharing offered"),
    "consent_active": _l("Sharing started"),
    "consent_on_hold": _l("Sharing on hold"),
    "consent_revoked": _l("Sharing stopped"),
    "consent_expired": _l("Sharing ended"),
    "consent_renewed": _l("Sharing renewed"),
    "consent_renewal_reminder": _l("Sharing renewal reminder"),
    "supporter_hold": _l("Clinical hold placed on a supporter"),
    "supporter_hold_lift": _l("Clinical hold lifted"),
    "supporter_read": _l("Shared data read by a supporter"),
    "patient_supporters_read": _l("Member's supporters read"),
    "encouragement_send": _l("Encouragement sent"),
    # Goals and small wins
    "goal_create": _l("Goal set"),
    "goal_update": _l("Goal changed"),
    "goal_thoughts_asked": _l("Thoughts on a goal asked for"),
    "goal_thoughts_stopped": _l("Thoughts on a goal no longer asked for"),
    "goal_comment_create": _l("Thoughts on a goal written"),
    "goal_comment_delete": _l("Thoughts on a goal removed"),
    "small_win_create": _l("Small win noted"),
    "small_win_delete": _l("Small win removed"),
    # Peer pairs
    "peer_pair_propose": _l("Peer pair proposed"),
    "peer_pair_answer": _l("Peer pair proposal answered"),
    "peer_pair_end": _l("Peer pair ended by a facilitator"),
    "peer_block": _l("Peer blocked"),
    "peer_concern_report": _l("Concern about a peer reported"),
    "peer_concern_read": _l("Reported peer content read"),
    "peer_risk_phrase": _l("Risk phrase written to a peer"),
    "peer_message": _l("Message sent to a peer"),
    "peer_message_delete": _l("Message to a peer deleted by its author"),
    "peer_messages_purged": _l("Old peer messages deleted after the retention period"),
    # Measures
    "measure_scheduled": _l("Questionnaire scheduled"),
    "measure_schedule_stopped": _l("Questionnaire schedule stopped"),
    "measure_completed": _l("Questionnaire completed"),
    "measure_read": _l("Questionnaire results read"),
    "measures_paused": _l("Questionnaires paused by the member"),
    "measures_resumed": _l("Questionnaires resumed by the member"),
    "measure_link_used": _l("Questionnaire opened from its emailed link"),
    "measure_link_revoked": _l("Questionnaire link stopped"),
    # Check-in circles
    "circle_scheduled": _l("Check-in circle scheduled"),
    "circle_started": _l("Check-in circle started by a member"),
    "circle_cancelled": _l("Check-in circle cancelled"),
    "circles_allowed": _l("Members' own check-in circles allowed or stopped"),
    # Measures, continued
    "member_page_read": _l("Member's questionnaires, mood and alerts read"),
    "group_measures_read": _l("Group's questionnaires read"),
    "group_outcomes_read": _l("Group's outcomes read"),
}

OUTCOME_LABELS = {
    "success": _l("Done"),
    "failure": _l("Failed"),
    "denied": _l("Refused"),
}


def action_label(code: str) -> str:
    """The action's label, or its code made readable ("some_new_thing" -> "Some new thing") when it has none."""
    label = ACTION_LABELS.get(code)
    return str(label) if label is not None else code.replace("_", " ").strip().capitalize()


def outcome_label(outcome: str) -> str:
    return str(OUTCOME_LABELS.get(outcome, outcome))
