"""The authorization matrix (SECURITY.md 1): what every identity gets from every route and every Socket.IO event.

One row per (endpoint, method) in ``ROUTES`` and per event in ``SOCKET_EVENTS``. A row names, for each identity, the
class of answer it must get (the ``Outcome`` vocabulary), builds its path parameters and its form or JSON body from the
``World`` (the people and objects every cell starts from), and says where a DONE redirect leads when that matters.
tests/test_authorization_matrix.py runs every cell, fails on a route or event without a row, on an answer of another
class, on a denied cell that wrote to the database, and on an answer that shows what ``World.hidden_from`` hides.

Adding a route: add a row next to its domain's others, e.g.

    ("groups.show", "GET"): Route(expect(NOT_FOUND, anonymous=LOGIN, patient=OK, facilitator=OK),
                                  path=lambda w: {"group_id": w.group.id}),

and create what it points at in ``build_world`` (``world.add("group", group)`` makes it ``w.group``).

Adding an identity: add it to ``IDENTITIES`` and ``PEOPLE``, give it what makes it that identity in ``build_world``
(the supporters are told apart by the state of the consent the patient gave them), and say in ``PRIVATE`` and
``NAMES_SEEN_BY`` what it may see (``World.hidden_from`` hides the rest); every row's default covers it until the row
names it.

Capabilities: a row whose URL carries a secret (a reset code, a calendar feed token) lists in ``reveals`` what that
secret shows to whoever holds it.

Speed: ``fresh_world`` builds the world once (each identity's browser login and bearer token with it) and keeps an
image of the in-memory SQLite database, put back whenever a cell wrote. Keep ``build_world`` lean all the same: on
PostgreSQL (TEST_DATABASE_URL) it runs again after every cell that writes.
"""

from __future__ import annotations

import enum
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Integer, select, text

from app import audit
from app.accounts import services
from app.accounts.models import Organisation, Passkey, PasswordReset, Role, RoleName, User
from app.audit import AuditEvent
from app.extensions import db
from app.groups import calendar as group_calendar
from app.groups import schedules as group_schedules
from app.groups import services as group_services
from app.groups.models import (
    Attendance,
    AttendanceStatus,
    Membership,
    MembershipStatus,
    OccurrenceStatus,
    SessionOccurrence,
    SpeakingComfort,
)
from app.measures import answer_routes as measure_answer_routes
from app.measures import queries as measure_queries
from app.measures import services as measure_services
from app.measures.instruments import Instrument
from app.measures.models import Measure, MeasureStatus
from app.models_base import utcnow
from app.peers.models import (
    ConcernKind,
    MemberResponse,
    PairStatus,
    PeerCheckIn,
    PeerConcern,
    PeerMessage,
    PeerPair,
    PeerPairMember,
    PeerSharedGoal,
)
from app.progress import services as progress_services
from app.progress.models import GoalCommenter
from app.rooms.models import AlertKind, CheckIn, Energy, LiveRoom, SafetyAlert
from app.supporters import services as supporter_services
from app.supporters.models import Consent, ConsentEvent, ConsentState, DataClass, SupporterLink


class Outcome(enum.StrEnum):
    OK = "ok"  # 200: the page or the data is served
    DONE = "done"  # 201, 204, or a redirect elsewhere than the sign-in page: the action was carried out
    LOGIN = "login"  # a redirect to the sign-in page (with ?next=... when the row's DONE leads there too)
    UNAUTHORIZED = "401"
    FORBIDDEN = "403"
    NOT_FOUND = "404"  # also what an outsider gets for an object it may not see (an object swap)
    CONFLICT = "409"  # the request is allowed, but the state of the object refuses it (a role already held, say)
    GONE = "410"
    INVALID = "400/422"  # a request without proper data
    REFUSED = "refused"  # a Socket.IO connection refused


OK, DONE, LOGIN, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, CONFLICT, GONE, INVALID, REFUSED = Outcome
#: Outcomes that must change nothing in the database (and show no one else's data).
DENIED = frozenset({LOGIN, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, CONFLICT, GONE, INVALID, REFUSED})
#: Refusals of access, each of which writes a denial to the audit trail (SECURITY.md 14); a conflict, a gone link or
#: invalid input is an answer about the object or the request, not a refusal of the person.
AUDITED_DENIALS = frozenset({LOGIN, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, REFUSED})

IDENTITIES: dict[str, str] = {
    "anonymous": "nobody signed in",
    # The sign-in-free link of a measure (app/measures/answer_routes.py) opens that one questionnaire: its cookie is
    # sent to every route here (not only to /m/ as a browser would) and its token as a bearer token to the API and
    # sockets, and every route but the link's own must answer as it answers anonymous.
    "link_holder": "nobody signed in, holding the cookie the patient's measure link set when it was opened (and "
                   "that link's token as a bearer token)",
    "patient": "the patient the rows' objects belong to: an active member of the group, invited to another",
    "other_patient": "another patient of the same organisation, a member of another group",
    "facilitator": "the facilitator of the patient's group (and of the group the patient is invited to)",
    "other_facilitator": "a facilitator of the same organisation who runs another group",
    "admin": "an admin of the same organisation",
    "other_org_admin": "an admin of another organisation",
    "supporter_active": "a supporter in the patient's circle whose consent (all data classes) is active",
    "supporter_expired": "a supporter in the patient's circle whose consent has run out",
    "supporter_revoked": "a supporter in the patient's circle whose consent the patient revoked",
    "supporter_on_hold": "a supporter in the patient's circle whose consent is suspended by a facilitator's clinical "
                         "hold",
}

SUPPORTERS = ("supporter_active", "supporter_expired", "supporter_revoked", "supporter_on_hold")
#: The identities without an account: the link holder is nobody signed in, with a measure link's cookie and token.
SIGNED_OUT = ("anonymous", "link_holder")


def expect(default: Outcome, **cells: Outcome) -> dict[str, Outcome]:
    """A row's outcomes: ``default`` for every identity the row does not name, but the link holder's: that is the
    anonymous cell's unless the row names it (a measure link's cookie and token open no other route)."""
    unknown = set(cells) - set(IDENTITIES)
    if unknown:
        raise ValueError(f"unknown identities: {sorted(unknown)}")
    row = {name: cells.get(name, default) for name in IDENTITIES}
    row["link_holder"] = cells.get("link_holder", row["anonymous"])
    return row


Build = Callable[["World"], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    expect: dict[str, Outcome]
    #: URL parameters, from the world.
    path: Build = lambda world: {}  # noqa: E731
    #: Form fields besides the CSRF token (which every form request carries), or a JSON body.
    form: dict[str, Any] | Build | None = None
    json: dict[str, Any] | Build | None = None
    #: The path a DONE redirect must lead to (or how to make it from the world); by default anywhere but the sign-in
    #: page.
    done: str | Callable[["World"], str] | None = None
    #: True when a 200 may write (a form that answers "we sent you an email" on the same page, an API PATCH, a read
    #: that goes to the patient's access log).
    ok_writes: bool = False
    #: What a secret in the URL shows to whoever holds it, whatever ``World.hidden_from`` says.
    reveals: Callable[["World"], set[str]] = lambda world: set()  # noqa: E731
    #: False for the one row whose LOGIN is not a refusal: the home page sends visitors to sign in.
    records_denials: bool = True

    def done_path(self, world: World) -> str | None:
        return self.done(world) if callable(self.done) else self.done


@dataclass(frozen=True)
class SocketEvent:
    expect: dict[str, Outcome]
    #: The event's arguments, from the world (connect and disconnect take none: the row says who may connect, and
    #: that a connected socket's disconnect handler runs).
    args: Callable[["World"], tuple] = lambda world: ()  # noqa: E731


def _resolve(value, world: World) -> dict[str, Any] | None:
    return value(world) if callable(value) else value


#: Strings only some identities may see (``PRIVATE`` says who): unique, so that an answer showing one is caught.
GROUP_NAME = "Riverside Thursday Circle"
WAITING_GROUP_NAME = "Riverside Waiting Circle"
OTHER_GROUP_NAME = "Hilltop Monday Circle"
AGENDA_TITLE = "Matrix agenda: noticing small wins"
CHECKIN_NOTE = "matrix check-in note between sessions"
LIVE_CHECKIN_NOTE = "matrix check-in note in the live room"
INTAKE_HOPES = "matrix intake: to sleep through the night"
STATUS_REASON = "matrix status reason for facilitators"
ATTENDANCE_COMMENT = "matrix attendance comment"
FACILITATOR_NOTE = "matrix facilitator note about Pat"
HOLD_REASON = "matrix clinical hold reason"
GOAL_TITLE = "matrix goal: get outside most days"
WIN_TEXT = "matrix small win: walked to the corner"
GOAL_COMMENT = "matrix thoughts from the active supporter"
VIDEO_LINK = "https://video.matrix.example/room"
PEER_CHECKIN_TEXT = "matrix peer check-in: tried a short walk"
REPORTED_TEXT = "matrix reported peer check-in words"
PAIR_MESSAGE_TEXT = "matrix pair chat: the walk felt good"
#: An answer to a PHQ-9 question, as the questionnaire's member and their facilitator read it; never a supporter, a
#: peer or anyone else (CLINICAL.md safety rule 3).
MEASURE_ANSWER = "More than half the days"

NEW_PASSWORD = "a brand new matrix passphrase"
#: The address the world's joining link was sent to (an address without an account).
JOINING_EMAIL = "new.member@matrix.example"
PROFILE_FORM = {"display_name": "Renamed In Matrix", "pronouns": "", "timezone": "Europe/Madrid", "locale": "en",
                "email_reminders": "y"}


def _staff_invitation(world: World) -> dict[str, str]:
    return {"code": world.staff_invitation_code}


def _joining(world: World) -> dict[str, str]:
    return {"code": world.group_invitation_code, "token": world.join_token}


def _group(world: World) -> dict[str, int]:
    return {"group_id": world.group.id}


def _waiting_group(world: World) -> dict[str, int]:
    return {"group_id": world.waiting_group.id}


def _upcoming(world: World) -> dict[str, int]:
    return {"occurrence_id": world.upcoming.id}


def _past(world: World) -> dict[str, int]:
    return {"occurrence_id": world.past_session.id}


def _api_upcoming(world: World) -> dict[str, int]:
    return {"session_id": world.upcoming.id}


def _api_past(world: World) -> dict[str, int]:
    return {"session_id": world.past_session.id}


def _patient(world: World) -> dict[str, int]:
    return {"patient_id": world.patient.id}


def _goal(world: World) -> dict[str, int]:
    return {"goal_id": world.goal.id}


def _active_consent(world: World) -> dict[str, int]:
    return {"consent_id": world.active_consent.id}


def _tomorrow() -> str:
    return (utcnow() + timedelta(days=1)).date().isoformat()


def _group_form(name: str = GROUP_NAME) -> dict[str, str]:
    return {"name": name, "description": "Small steps, together.", "focus": "behavioural activation",
            "format": "online", "location": "", "video_link": VIDEO_LINK, "capacity": "8", "enrolment": "rolling",
            "status": "active", "timezone": "UTC", "checkin_visibility": "all", "distress_threshold": "2",
            "lobby_minutes": "15"}


#: Who gets what from a group's (or a session's) pages and API.
MEMBERS_SEE = expect(NOT_FOUND, anonymous=LOGIN, patient=OK, facilitator=OK)
FACILITATOR_SEES = expect(NOT_FOUND, anonymous=LOGIN, facilitator=OK)
FACILITATOR_DOES = expect(NOT_FOUND, anonymous=LOGIN, facilitator=DONE)
API_MEMBERS_SEE = expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=OK, facilitator=OK)
API_FACILITATOR_SEES = API_FACILITATOR_CHANGES = expect(NOT_FOUND, anonymous=UNAUTHORIZED, facilitator=OK)
API_FACILITATOR_DOES = expect(NOT_FOUND, anonymous=UNAUTHORIZED, facilitator=DONE)
#: Each account's own groups area (calendar feeds): patients and facilitators, not admins or supporters.
GROUPS_AREA_OK = expect(FORBIDDEN, anonymous=LOGIN, patient=OK, other_patient=OK, facilitator=OK, other_facilitator=OK)
GROUPS_AREA_DONE = expect(FORBIDDEN, anonymous=LOGIN, patient=DONE, other_patient=DONE, facilitator=DONE,
                          other_facilitator=DONE)
#: A change to one of the patient's goals: the patient's alone; another patient finds no such goal.
GOAL_CHANGES = expect(FORBIDDEN, anonymous=LOGIN, patient=DONE, other_patient=NOT_FOUND)
API_GOAL_READ = expect(FORBIDDEN, anonymous=UNAUTHORIZED, patient=OK, other_patient=NOT_FOUND)
CONSENT_SEEN = expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=OK, facilitator=OK, supporter_active=OK)
#: A peer pair's space: the patient's pair (with a member who is no identity here) is the patient's alone.
PAIR_MEMBER_SEES = expect(NOT_FOUND, anonymous=LOGIN, patient=OK)
PAIR_MEMBER_DOES = expect(NOT_FOUND, anonymous=LOGIN, patient=DONE)
API_PAIR_MEMBER_SEES = expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=OK)


def _pair(world: World) -> dict[str, int]:
    return {"pair_id": world.pair.id}


def _pair_page(world: World) -> str:
    return f"/peers/{world.pair.id}"

#: The pair chat's API: the patient's pair (with a member who is no identity here) is the patient's alone.
API_PAIR_CHAT = expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=OK)

#: Measures: each member's own (any member has their own list); one questionnaire, its export and a member's results
#: for that member and the facilitator of their group.
MEASURES_OWN = expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=OK, other_patient=OK)
MEASURE_READ = expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=OK, facilitator=OK)


def _measure_done(world: World) -> dict[str, int]:
    return {"measure_id": world.measure_done.id}



def _measure(world: World) -> dict[str, int]:
    return {"measure_id": world.measure.id}


def _measure_link(world: World) -> dict[str, str]:
    return {"token": world.measure_link}


def _pair_chat_page(world: World) -> str:
    return f"/pairs/{world.pair.id}/chat"


ROUTES: dict[tuple[str, str], Route] = {
    # Public: probes, assets, the crisis page, the API description ---------------------------------------------------
    ("static", "GET"): Route(expect(OK), path=lambda w: {"filename": "css/momentum.css"}),
    ("health.healthz", "GET"): Route(expect(OK)),
    ("health.readyz", "GET"): Route(expect(OK)),
    ("accounts.crisis", "GET"): Route(expect(OK)),
    ("api-docs.openapi_json", "GET"): Route(expect(OK)),
    ("api_docs.swagger_ui", "GET"): Route(expect(OK)),
    ("accounts.set_language", "POST"): Route(expect(DONE), form={"locale": "es", "next": "/crisis"}, done="/crisis"),

    # Signing in and out, passwords ------------------------------------------------------------------------------------
    ("accounts.login", "GET"): Route(expect(DONE, anonymous=OK), done="/"),
    # The credentials are the patient's: signing in is public, and a signed-in account is sent home.
    ("accounts.login", "POST"): Route(expect(DONE), form=lambda w: {"email": w.patient.email, "password": w.password},
                                      done="/"),
    ("accounts.logout", "POST"): Route(expect(DONE, anonymous=LOGIN), done="/login"),
    ("accounts.forgot_password", "GET"): Route(expect(OK)),
    ("accounts.forgot_password", "POST"): Route(expect(OK), form=lambda w: {"email": w.patient.email}, ok_writes=True),
    # The link's token is the capability, whoever holds it.
    ("accounts.reset_password", "GET"): Route(expect(OK), path=lambda w: {"token": w.reset_code}),
    ("accounts.reset_password", "POST"): Route(expect(DONE), path=lambda w: {"token": w.reset_code},
                                               form={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, done="/login"),
    ("accounts.change_password", "GET"): Route(expect(OK, anonymous=LOGIN)),
    ("accounts.change_password", "POST"): Route(
        expect(DONE, anonymous=LOGIN), done="/profile",
        form=lambda w: {"current_password": w.password, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}),

    # Home and profile: each account its own -------------------------------------------------------------------------
    ("accounts.home", "GET"): Route(expect(OK, anonymous=LOGIN), records_denials=False),
    ("accounts.profile", "GET"): Route(expect(OK, anonymous=LOGIN)),
    ("accounts.profile", "POST"): Route(expect(DONE, anonymous=LOGIN), form=PROFILE_FORM, done="/profile"),
    ("accounts.create_token", "POST"): Route(expect(DONE, anonymous=LOGIN), form={"name": "matrix"}, done="/profile"),
    ("accounts.revoke_token", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, patient=DONE), done="/profile",
                                             path=lambda w: {"token_id": w.patient_token.id}),

    # Second factors: the second step of signing in needs a password given first (in this browser, a few minutes ago);
    # without one, visitors start again at the sign-in page and anyone signed in is sent home. Each account manages
    # its own factors; the other patient has a passkey (and signed in with it) ----------------------------------------
    ("accounts.second_step", "GET"): Route(expect(DONE, anonymous=LOGIN), done="/", records_denials=False),
    ("accounts.second_step", "POST"): Route(expect(DONE, anonymous=LOGIN), form={"code": "123456"}, done="/",
                                            records_denials=False),
    ("accounts.second_step_passkey", "POST"): Route(expect(DONE, anonymous=LOGIN), form={"credential": "{}"},
                                                    done="/", records_denials=False),
    ("accounts.second_step_recovery", "GET"): Route(expect(DONE, anonymous=LOGIN), done="/", records_denials=False),
    ("accounts.second_step_recovery", "POST"): Route(expect(DONE, anonymous=LOGIN), done="/", records_denials=False,
                                                     form={"recovery_code": "abcd-efgh-ijkl-mnop"}),
    ("accounts.security", "GET"): Route(expect(OK, anonymous=LOGIN)),
    ("accounts.start_totp", "POST"): Route(expect(DONE, anonymous=LOGIN), done="/profile/security/totp"),
    # Nothing being set up: back to the security page.
    ("accounts.enrol_totp", "GET"): Route(expect(DONE, anonymous=LOGIN), done="/profile/security"),
    ("accounts.enrol_totp", "POST"): Route(expect(DONE, anonymous=LOGIN), form={"code": "123456"},
                                           done="/profile/security"),
    ("accounts.remove_totp", "POST"): Route(expect(DONE, anonymous=LOGIN), done="/profile/security"),
    ("accounts.add_passkey", "GET"): Route(expect(OK, anonymous=LOGIN)),
    # Without the browser's answer the page comes back, with nothing stored.
    ("accounts.add_passkey", "POST"): Route(expect(OK, anonymous=LOGIN), form={"name": "matrix key"}),
    ("accounts.remove_passkey", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, other_patient=DONE),
                                               path=lambda w: {"passkey_id": w.passkey.id}, done="/profile/security"),
    # No codes just made to show: back to the security page; making new ones takes a second factor to have.
    ("accounts.recovery_codes", "GET"): Route(expect(DONE, anonymous=LOGIN), done="/profile/security"),
    ("accounts.recovery_codes", "POST"): Route(expect(DONE, anonymous=LOGIN), done="/profile/security/recovery-codes"),

    # Invitations: the code is the capability; this one is bound to an address none of the identities has ----------
    ("accounts.accept_invitation", "GET"): Route(expect(OK), path=_staff_invitation),
    # Signed-in accounts get the page back with "sent to another email address" (and the database unchanged).
    ("accounts.accept_invitation", "POST"): Route(
        expect(OK, anonymous=DONE), path=_staff_invitation, done="/",
        form=lambda w: {"email": w.staff_invitation.email, "password": NEW_PASSWORD, "display_name": "New Colleague",
                        "timezone": "UTC"}),
    # The link a code to share sends to an address without an account (the code and the link are the capability):
    # visitors create the account; anyone signed in is sent to accept the invitation as themselves.
    ("accounts.finish_joining", "GET"): Route(expect(DONE, anonymous=OK), path=_joining,
                                              reveals=lambda w: {w.group_invitation_code}),
    ("accounts.finish_joining", "POST"): Route(
        expect(DONE), path=_joining, reveals=lambda w: {w.group_invitation_code},
        form={"display_name": "New Member", "password": NEW_PASSWORD, "timezone": "UTC"}),
    ("accounts.revoke_invitation", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, admin=DONE),
                                                  path=lambda w: {"invitation_id": w.staff_invitation.id}),

    # Organisation admin: each admin manages their own organisation only ---------------------------------------------
    ("accounts.people", "GET"): Route(expect(FORBIDDEN, anonymous=LOGIN, admin=OK, other_org_admin=OK)),
    ("accounts.invite_staff", "POST"): Route(expect(FORBIDDEN, anonymous=LOGIN, admin=DONE, other_org_admin=DONE),
                                             form={"email": "new.colleague@matrix.example", "role": "facilitator"},
                                             done="/admin/people"),
    ("accounts.deactivate", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, admin=DONE), done="/admin/people",
                                           path=lambda w: {"user_id": w.facilitator.id}),
    ("accounts.reactivate", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, admin=DONE), done="/admin/people",
                                           path=lambda w: {"user_id": w.former_facilitator.id}),
    ("accounts.reset_second_factor", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, admin=DONE),
                                                    done="/admin/people", path=lambda w: {"user_id": w.facilitator.id}),
    ("accounts.organisation_settings", "GET"): Route(expect(FORBIDDEN, anonymous=LOGIN, admin=OK,
                                                           other_org_admin=OK)),
    ("accounts.organisation_settings", "POST"): Route(expect(FORBIDDEN, anonymous=LOGIN, admin=DONE,
                                                            other_org_admin=DONE),
                                                     form={"name": "Matrix Clinic", "locale": "es"},
                                                     done="/admin/organisation"),
    ("accounts.crisis_resources", "GET"): Route(expect(FORBIDDEN, anonymous=LOGIN, admin=OK, other_org_admin=OK)),
    ("accounts.crisis_resources", "POST"): Route(expect(FORBIDDEN, anonymous=LOGIN, admin=DONE, other_org_admin=DONE),
                                                 form={"crisis_name": "Matrix Line", "crisis_phone": "555 0100"},
                                                 done="/admin/crisis-resources"),
    # The audit page and its export: each admin reads their own organisation's rows; reading them is recorded.
    ("accounts.audit_trail", "GET"): Route(expect(FORBIDDEN, anonymous=LOGIN, admin=OK, other_org_admin=OK),
                                           ok_writes=True),
    ("accounts.export_audit_trail", "GET"): Route(expect(FORBIDDEN, anonymous=LOGIN, admin=OK, other_org_admin=OK),
                                                  ok_writes=True),

    # JSON API (each signed-in identity is tried with its browser session and with a bearer token) -------------------
    ("accounts_api.create_token", "POST"): Route(
        expect(DONE), json=lambda w: {"email": w.patient.email, "password": w.password, "name": "matrix"}),
    ("accounts_api.list_tokens", "GET"): Route(expect(OK, anonymous=UNAUTHORIZED)),
    ("accounts_api.revoke_token", "DELETE"): Route(expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=DONE),
                                                   path=lambda w: {"token_id": w.patient_token.id}),
    ("accounts_api.me", "GET"): Route(expect(OK, anonymous=UNAUTHORIZED)),

    # Groups: a group's facilitator manages it, its members see its sessions, anyone else finds nothing (404); the
    # whole area is closed to admins and supporters (403) --------------------------------------------------------------
    ("groups.index", "GET"): Route(expect(FORBIDDEN, anonymous=LOGIN, patient=OK, other_patient=OK, facilitator=OK,
                                          other_facilitator=OK)),
    ("groups.create", "GET"): Route(expect(FORBIDDEN, anonymous=LOGIN, facilitator=OK, other_facilitator=OK)),
    ("groups.create", "POST"): Route(expect(FORBIDDEN, anonymous=LOGIN, facilitator=DONE, other_facilitator=DONE),
                                     form=lambda w: _group_form(name="Matrix New Group")),
    ("groups.show", "GET"): Route(MEMBERS_SEE, path=_group),
    ("groups.edit", "GET"): Route(FACILITATOR_SEES, path=_group),
    ("groups.edit", "POST"): Route(FACILITATOR_DOES, path=_group, form=lambda w: _group_form(),
                                   done=lambda w: f"/groups/{w.group.id}"),
    ("groups.agreement", "POST"): Route(FACILITATOR_DOES, path=_group, form={"text": "We listen; passing is fine."},
                                        done=lambda w: f"/groups/{w.group.id}/edit"),
    ("groups.schedule", "GET"): Route(FACILITATOR_SEES, path=_group),
    ("groups.schedule", "POST"): Route(
        FACILITATOR_DOES, path=_group, done=lambda w: f"/groups/{w.group.id}",
        form=lambda w: {"start_date": _tomorrow(), "start_time": "18:00", "interval_weeks": "1", "end_mode": "count",
                        "count": "4", "duration_minutes": "90"}),
    ("groups.add_session", "POST"): Route(
        FACILITATOR_DOES, path=_group,
        form=lambda w: {"date": _tomorrow(), "time": "10:00", "duration_minutes": "60", "video_link": "",
                        "location": ""}),
    ("groups.invite", "POST"): Route(FACILITATOR_DOES, path=_group, form={"email": ""},
                                     done=lambda w: f"/groups/{w.group.id}"),
    ("groups.member_status", "POST"): Route(
        FACILITATOR_DOES, path=lambda w: {"group_id": w.group.id, "membership_id": w.membership.id},
        form={"status": "paused", "reason": ""}, done=lambda w: f"/groups/{w.group.id}"),
    # Joining is for the person invited (the patient, to the waiting group); nobody else has anything to join there.
    ("groups.join", "GET"): Route(expect(NOT_FOUND, anonymous=LOGIN, patient=OK), path=_waiting_group),
    ("groups.join", "POST"): Route(
        expect(NOT_FOUND, anonymous=LOGIN, patient=DONE), path=_waiting_group,
        done=lambda w: f"/groups/{w.waiting_group.id}",
        form=lambda w: {"agreement_id": w.waiting_group.current_agreement.id, "accept": "y", "preferred_name": "Pat",
                        "hopes": "", "doable": "", "speaking_comfort": "comfortable", "accommodations_note": ""}),
    # The facilitator has no agreement to accept and is sent back to the group page, with nothing written.
    ("groups.accept_agreement", "POST"): Route(
        expect(NOT_FOUND, anonymous=LOGIN, patient=DONE, facilitator=DONE), path=_group,
        form=lambda w: {"agreement_id": w.group.current_agreement.id, "accept": "y"},
        done=lambda w: f"/groups/{w.group.id}"),
    ("groups.leave", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, patient=DONE), path=_group, form={"reason": ""},
                                    done="/"),
    ("groups.group_calendar", "GET"): Route(MEMBERS_SEE, path=_group),

    # Sessions of the group --------------------------------------------------------------------------------------------
    ("groups.session_page", "GET"): Route(MEMBERS_SEE, path=_upcoming),
    ("groups.edit_session", "POST"): Route(
        FACILITATOR_DOES, path=_upcoming, done=lambda w: f"/sessions/{w.upcoming.id}",
        form=lambda w: {"date": _tomorrow(), "time": "19:00", "duration_minutes": "60", "video_link": "",
                        "location": ""}),
    ("groups.cancel_session", "POST"): Route(FACILITATOR_DOES, path=_upcoming, form={"reason": "The room is closed."},
                                             done=lambda w: f"/sessions/{w.upcoming.id}"),
    ("groups.restore_session", "POST"): Route(FACILITATOR_DOES, path=lambda w: {"occurrence_id": w.cancelled.id},
                                              done=lambda w: f"/sessions/{w.cancelled.id}"),
    ("groups.attendance", "GET"): Route(FACILITATOR_SEES, path=_past),
    ("groups.attendance", "POST"): Route(
        FACILITATOR_DOES, path=_past, done=lambda w: f"/sessions/{w.past_session.id}/attendance",
        form=lambda w: {"rows-0-user_id": w.patient.id, "rows-0-status": "absent", "rows-0-comment": "",
                        "rows-0-previous_status": "present_online", "rows-0-previous_comment": ATTENDANCE_COMMENT}),
    ("groups.add_agenda_item", "POST"): Route(FACILITATOR_DOES, path=_upcoming,
                                              form={"title": "Grounding", "body": "", "rationale": ""},
                                              done=lambda w: f"/sessions/{w.upcoming.id}"),
    ("groups.delete_agenda_item", "POST"): Route(
        FACILITATOR_DOES, path=lambda w: {"occurrence_id": w.upcoming.id, "item_id": w.agenda_item.id},
        done=lambda w: f"/sessions/{w.upcoming.id}"),
    ("groups.move_agenda_item", "POST"): Route(
        FACILITATOR_DOES, done=lambda w: f"/sessions/{w.upcoming.id}",
        path=lambda w: {"occurrence_id": w.upcoming.id, "item_id": w.agenda_item.id, "direction": "down"}),
    ("groups.edit_agenda_item", "POST"): Route(
        FACILITATOR_DOES, done=lambda w: f"/sessions/{w.upcoming.id}",
        path=lambda w: {"occurrence_id": w.upcoming.id, "item_id": w.agenda_item.id},
        form=lambda w: {f"item-{w.agenda_item.id}-title": "Noticing small wins",
                        f"item-{w.agenda_item.id}-rationale": "They add up.", f"item-{w.agenda_item.id}-body": ""}),
    # Facilitator notes never reach patients, peers or supporters (CLINICAL.md safety rule 3).
    ("groups.notes", "GET"): Route(FACILITATOR_SEES, path=_upcoming),
    ("groups.notes", "POST"): Route(FACILITATOR_DOES, path=_upcoming, form={"member_id": "0", "body": "Went well."},
                                    done=lambda w: f"/sessions/{w.upcoming.id}/notes"),
    ("groups.member_notes", "GET"): Route(FACILITATOR_SEES,
                                          path=lambda w: {"group_id": w.group.id, "membership_id": w.membership.id}),
    # A member's page (questionnaires, mood, attendance, alerts): the group's facilitators only.
    ("measures.member", "GET"): Route(FACILITATOR_SEES,
                                      path=lambda w: {"group_id": w.group.id, "membership_id": w.membership.id}),

    # A group's questionnaires and outcomes: its facilitators only; anyone else finds nothing ------------------------
    ("measures.group_measures", "GET"): Route(FACILITATOR_SEES, path=_group),
    ("measures.add_schedule", "POST"): Route(
        FACILITATOR_DOES, path=_group, done=lambda w: f"/groups/{w.group.id}/measures",
        form=lambda w: {"instrument": "gad7", "patient_id": str(w.patient.id), "frequency": "once",
                        "start_date": _tomorrow(), "start_time": "09:00"}),
    ("measures.stop_schedule", "POST"): Route(
        FACILITATOR_DOES, path=lambda w: {"group_id": w.group.id, "schedule_id": w.measure_schedule.id},
        done=lambda w: f"/groups/{w.group.id}/measures"),
    ("measures.group_outcomes", "GET"): Route(FACILITATOR_SEES, path=_group),

    # Calendar feeds: each account its own; the feed's token is the capability -------------------------------------
    ("groups.calendar_settings", "GET"): Route(GROUPS_AREA_OK),
    ("groups.create_calendar_feed", "POST"): Route(GROUPS_AREA_DONE, done="/calendar"),
    ("groups.revoke_calendar_feed", "POST"): Route(GROUPS_AREA_DONE, done="/calendar"),
    ("groups.calendar_feed", "GET"): Route(expect(OK), path=lambda w: {"token": w.calendar_token},
                                           reveals=lambda w: {GROUP_NAME}),

    # Live room, check-ins and safety alerts -------------------------------------------------------------------------
    # Active members and the group's facilitators only: never a supporter, whatever their consent.
    ("rooms.live_room", "GET"): Route(MEMBERS_SEE, path=_upcoming),
    ("rooms.my_checkins", "GET"): Route(expect(FORBIDDEN, anonymous=LOGIN, patient=OK, other_patient=OK)),
    ("rooms.create_checkin", "POST"): Route(
        expect(FORBIDDEN, anonymous=LOGIN, patient=DONE, other_patient=DONE), done="/",
        form={"client_id": "matrix-form-checkin", "mood": "6", "energy": "medium", "note": "", "passed": "0"}),
    ("rooms.acknowledge_alert", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, facilitator=DONE), done="/",
                                                path=lambda w: {"alert_id": w.alert.id},
                                                form={"note": "Called them; safe with family tonight."}),
    # Past alerts of the groups one runs (each facilitator their own), and a note afterwards of what was done: the
    # group's facilitator only (the world's alert is open, so the note is refused and nothing is written).
    ("rooms.alerts_history", "GET"): Route(expect(FORBIDDEN, anonymous=LOGIN, facilitator=OK, other_facilitator=OK)),
    ("rooms.note_alert", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, facilitator=DONE), done="/alerts",
                                        path=lambda w: {"alert_id": w.alert.id}, form={"note": "Called them."}),

    # Groups API -------------------------------------------------------------------------------------------------------
    ("groups_api.list_groups", "GET"): Route(expect(FORBIDDEN, anonymous=UNAUTHORIZED, patient=OK, other_patient=OK,
                                                    facilitator=OK, other_facilitator=OK)),
    ("groups_api.create_group", "POST"): Route(
        expect(FORBIDDEN, anonymous=UNAUTHORIZED, facilitator=DONE, other_facilitator=DONE),
        json={"name": "Matrix New Group", "format": "online", "video_link": VIDEO_LINK, "timezone": "UTC"}),
    ("groups_api.get_group", "GET"): Route(API_MEMBERS_SEE, path=_group),
    ("groups_api.update_group", "PATCH"): Route(API_FACILITATOR_CHANGES, path=_group,
                                                json={"description": "Changed in the matrix."}, ok_writes=True),
    ("groups_api.list_facilitators", "GET"): Route(API_FACILITATOR_SEES, path=_group),
    ("groups_api.put_facilitators", "PUT"): Route(API_FACILITATOR_CHANGES, path=_group, ok_writes=True,
                                                  json={"co_facilitators": []}),
    ("groups_api.put_schedule", "PUT"): Route(
        API_FACILITATOR_CHANGES, path=_group, ok_writes=True,
        json=lambda w: {"dtstart_local": f"{_tomorrow()}T18:00:00", "rrule": "FREQ=WEEKLY;COUNT=3",
                        "duration_minutes": 90}),
    ("groups_api.list_invitations", "GET"): Route(API_FACILITATOR_SEES, path=_group),
    ("groups_api.create_invitation", "POST"): Route(API_FACILITATOR_DOES, path=_group, json={}),
    # A code to share (bound to no address) is the capability: whoever holds it joins, or (not signed in) has the link
    # to finish joining sent to the email given; an account that already has another role, or another organisation,
    # is refused by the state of its account (409).
    ("groups_api.accept_invitation", "POST"): Route(
        expect(CONFLICT, anonymous=OK, patient=OK, other_patient=OK), ok_writes=True,
        path=lambda w: {"code": w.group_invitation_code},
        json={"email": JOINING_EMAIL, "password": NEW_PASSWORD, "display_name": "New Member"}),
    ("groups_api.join_group", "POST"): Route(
        expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=OK), path=_waiting_group, ok_writes=True,
        json={"agreement_version": 1, "preferred_name": "Pat", "speaking_comfort": "comfortable"}),
    ("groups_api.list_memberships", "GET"): Route(API_FACILITATOR_SEES, path=_group),
    ("groups_api.update_membership", "PATCH"): Route(API_FACILITATOR_CHANGES, ok_writes=True,
                                                     path=lambda w: {"membership_id": w.membership.id},
                                                     json={"status": "paused", "reason": ""}),
    ("groups_api.list_sessions", "GET"): Route(API_MEMBERS_SEE, path=_group),
    ("groups_api.add_session", "POST"): Route(API_FACILITATOR_DOES, path=_group,
                                              json=lambda w: {"start_local": f"{_tomorrow()}T10:00:00",
                                                              "duration_minutes": 60}),
    ("groups_api.get_session", "GET"): Route(API_MEMBERS_SEE, path=_api_upcoming),
    ("groups_api.update_session", "PATCH"): Route(API_FACILITATOR_CHANGES, path=_api_upcoming, ok_writes=True,
                                                  json={"location": "Room 2"}),
    ("groups_api.get_attendance", "GET"): Route(API_FACILITATOR_SEES, path=_api_past),
    ("groups_api.put_attendance", "PUT"): Route(
        API_FACILITATOR_CHANGES, path=_api_past, ok_writes=True,
        json=lambda w: {"entries": [{"user_id": w.patient.id, "status": "absent", "previous_status": "present_online",
                                     "previous_comment": ATTENDANCE_COMMENT}]}),
    ("groups_api.get_agenda", "GET"): Route(API_MEMBERS_SEE, path=_api_upcoming),
    ("groups_api.add_agenda_item", "POST"): Route(API_FACILITATOR_DOES, path=_api_upcoming,
                                                  json={"title": "Grounding"}),
    ("groups_api.update_agenda_item", "PATCH"): Route(
        API_FACILITATOR_CHANGES, path=lambda w: {"session_id": w.upcoming.id, "item_id": w.agenda_item.id},
        ok_writes=True, json={"rationale": "Small wins add up, one by one."}),
    ("groups_api.delete_agenda_item", "DELETE"): Route(
        API_FACILITATOR_DOES, path=lambda w: {"session_id": w.upcoming.id, "item_id": w.agenda_item.id}),
    ("rooms_api.list_session_checkins", "GET"): Route(API_MEMBERS_SEE, path=_api_upcoming),
    # Facilitators do not check in.
    ("rooms_api.create_session_checkin", "POST"): Route(
        expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=DONE, facilitator=FORBIDDEN), path=_api_upcoming,
        json={"client_id": "matrix-api-session-checkin", "mood": 6, "energy": "medium"}),
    ("rooms_api.list_my_checkins", "GET"): Route(expect(FORBIDDEN, anonymous=UNAUTHORIZED, patient=OK,
                                                         other_patient=OK)),
    ("rooms_api.create_checkin", "POST"): Route(
        expect(FORBIDDEN, anonymous=UNAUTHORIZED, patient=DONE, other_patient=DONE),
        json={"client_id": "matrix-api-checkin", "mood": 6}),
    ("rooms_api.list_alerts", "GET"): Route(expect(FORBIDDEN, anonymous=UNAUTHORIZED, facilitator=OK,
                                                    other_facilitator=OK)),
    ("rooms_api.acknowledge_alert", "POST"): Route(API_FACILITATOR_CHANGES, ok_writes=True,
                                                    path=lambda w: {"alert_id": w.alert.id}),

    # Sharing: each patient manages their own circle; a supporter reads only under an active consent, and an ended
    # consent looks like no consent at all (404) -------------------------------------------------------------------
    ("supporters.sharing", "GET"): Route(expect(FORBIDDEN, anonymous=LOGIN, patient=OK, other_patient=OK)),
    ("supporters.invite", "POST"): Route(
        expect(FORBIDDEN, anonymous=LOGIN, patient=DONE, other_patient=DONE), done="/sharing",
        form={"email": "new.supporter@matrix.example", "relationship": "friend", "data_classes": "mood_summary",
              "days": "30"}),
    ("supporters.grant", "POST"): Route(
        expect(FORBIDDEN, anonymous=LOGIN, patient=DONE, other_patient=NOT_FOUND), done="/sharing",
        path=lambda w: {"link_id": w.expired_link.id}, form={"data_classes": "mood_summary", "days": "30"}),
    # The preview shows the patient their own data as the supporter would see it, and grants nothing.
    ("supporters.preview", "POST"): Route(
        expect(FORBIDDEN, anonymous=LOGIN, patient=OK, other_patient=NOT_FOUND),
        path=lambda w: {"link_id": w.expired_link.id}, form={"data_classes": "mood_summary", "days": "30"}),
    ("supporters.encouragement_read", "POST"): Route(
        expect(FORBIDDEN, anonymous=LOGIN, patient=DONE, other_patient=DONE), done="/"),
    ("supporters.stop", "POST"): Route(expect(FORBIDDEN, anonymous=LOGIN, patient=DONE, other_patient=NOT_FOUND),
                                       path=lambda w: {"link_id": w.active_link.id}, done="/sharing"),
    ("supporters.revoke", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, patient=DONE), done="/sharing",
                                         path=_active_consent),
    ("supporters.renew", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, patient=DONE), done="/sharing",
                                        path=_active_consent, form={"days": "30"}),
    # Every read goes to the access log the patient sees.
    ("supporters.shared", "GET"): Route(
        expect(FORBIDDEN, anonymous=LOGIN, supporter_active=OK, supporter_expired=NOT_FOUND,
               supporter_revoked=NOT_FOUND, supporter_on_hold=NOT_FOUND), path=_patient, ok_writes=True),
    ("supporters.encourage", "POST"): Route(
        expect(NOT_FOUND, anonymous=LOGIN, supporter_active=DONE, supporter_expired=NOT_FOUND,
               supporter_revoked=NOT_FOUND, supporter_on_hold=NOT_FOUND), path=_patient,
        form={"body": "Thinking of you."}, done=lambda w: f"/shared/{w.patient.id}"),
    # The facilitator's look is a read of patient data: it goes to the audit trail.
    ("supporters.patient_supporters", "GET"): Route(expect(NOT_FOUND, anonymous=LOGIN, facilitator=OK), path=_patient),
    # A hold is on a supporter's involvement (their link to the patient), not on one consent.
    ("supporters.hold", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, facilitator=DONE),
                                       path=lambda w: {"link_id": w.active_link.id},
                                       form={"reason": "We are reviewing this together."},
                                       done=lambda w: f"/patients/{w.patient.id}/supporters"),
    ("supporters.lift", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, facilitator=DONE),
                                       path=lambda w: {"link_id": w.held_link.id},
                                       done=lambda w: f"/patients/{w.patient.id}/supporters"),

    # Goals and small wins: each patient's own (another patient's are not found); a supporter adds their thoughts on a
    # goal they were asked about, only while their consent lets them see it ---------------------------------------
    ("progress.goals", "GET"): Route(expect(FORBIDDEN, anonymous=LOGIN, patient=OK, other_patient=OK)),
    # "My measures": each patient their own; nobody else keeps measures.
    ("measures.mine", "GET"): Route(expect(NOT_FOUND, anonymous=LOGIN, patient=OK, other_patient=OK)),
    ("progress.create_goal", "POST"): Route(expect(FORBIDDEN, anonymous=LOGIN, patient=DONE, other_patient=DONE),
                                            form={"title": "Read a page a day"}),
    ("progress.add_win", "POST"): Route(expect(FORBIDDEN, anonymous=LOGIN, patient=DONE, other_patient=DONE),
                                        form={"text": "Made tea", "goal_id": "0"}, done="/goals"),
    ("progress.comments_read", "POST"): Route(expect(FORBIDDEN, anonymous=LOGIN, patient=DONE, other_patient=DONE),
                                              done="/"),
    ("progress.delete_win", "POST"): Route(GOAL_CHANGES, path=lambda w: {"win_id": w.win.id},
                                           done=lambda w: f"/goals/{w.goal.id}"),
    ("progress.goal", "GET"): Route(expect(FORBIDDEN, anonymous=LOGIN, patient=OK, other_patient=NOT_FOUND),
                                    path=_goal),
    ("progress.update_goal", "POST"): Route(GOAL_CHANGES, path=_goal, form={"title": "Outside every day"},
                                            done=lambda w: f"/goals/{w.goal.id}"),
    ("progress.set_status", "POST"): Route(GOAL_CHANGES, path=lambda w: {"goal_id": w.goal.id, "status": "done"},
                                           done=lambda w: f"/goals/{w.goal.id}"),
    ("progress.ask", "POST"): Route(GOAL_CHANGES, path=_goal, form=lambda w: {"supporter_id": w.supporter_active.id},
                                    done=lambda w: f"/goals/{w.goal.id}"),
    ("progress.stop_asking", "POST"): Route(GOAL_CHANGES,
                                            path=lambda w: {"goal_id": w.goal.id,
                                                            "supporter_id": w.supporter_active.id},
                                            done=lambda w: f"/goals/{w.goal.id}"),
    ("progress.delete_comment", "POST"): Route(GOAL_CHANGES,
                                               path=lambda w: {"goal_id": w.goal.id,
                                                               "comment_id": w.goal_comment.id},
                                               done=lambda w: f"/goals/{w.goal.id}"),
    ("progress.comment", "POST"): Route(
        expect(NOT_FOUND, anonymous=LOGIN, supporter_active=DONE),
        path=lambda w: {"patient_id": w.patient.id, "goal_id": w.goal.id},
        form=lambda w: {f"goal-{w.goal.id}-body": "You are doing well."}, done=lambda w: f"/shared/{w.patient.id}"),
    ("progress_api.list_goals", "GET"): Route(expect(FORBIDDEN, anonymous=UNAUTHORIZED, patient=OK,
                                                     other_patient=OK)),
    ("progress_api.create_goal", "POST"): Route(expect(FORBIDDEN, anonymous=UNAUTHORIZED, patient=DONE,
                                                       other_patient=DONE), json={"title": "Read a page a day"}),
    ("progress_api.get_goal", "GET"): Route(API_GOAL_READ, path=_goal),
    ("progress_api.update_goal", "PATCH"): Route(API_GOAL_READ, path=_goal, json={"status": "done"}, ok_writes=True),
    ("progress_api.list_wins", "GET"): Route(expect(FORBIDDEN, anonymous=UNAUTHORIZED, patient=OK,
                                                    other_patient=OK)),
    ("progress_api.create_win", "POST"): Route(
        expect(FORBIDDEN, anonymous=UNAUTHORIZED, patient=DONE, other_patient=NOT_FOUND),
        json=lambda w: {"text": "Made tea", "goal_id": w.goal.id}),

    # Peer pairs: the space is its two members' alone (a member of another pair, of another group, a supporter or a
    # facilitator finds nothing); the group's facilitators see engagement and propose and end pairs, and read only
    # what a member reported -------------------------------------------------------------------------------------
    ("peers.index", "GET"): Route(expect(FORBIDDEN, anonymous=LOGIN, patient=OK, other_patient=OK)),
    ("peers.pair", "GET"): Route(PAIR_MEMBER_SEES, path=_pair),
    # The pair is active already: the answer is refused (said on the next page), and nothing changes.
    ("peers.answer", "POST"): Route(PAIR_MEMBER_DOES, path=_pair, form={"accept": "yes"}, done=_pair_page),
    ("peers.pause", "POST"): Route(PAIR_MEMBER_DOES, path=_pair, done=_pair_page),
    ("peers.resume", "POST"): Route(PAIR_MEMBER_DOES, path=_pair, done=_pair_page),
    ("peers.leave", "POST"): Route(PAIR_MEMBER_DOES, path=_pair, done="/peers"),
    ("peers.block", "POST"): Route(PAIR_MEMBER_DOES, path=_pair, done="/peers"),
    ("peers.rhythm", "POST"): Route(PAIR_MEMBER_DOES, path=_pair, form={"weekday": "2", "time": "19:00"},
                                    done=_pair_page),
    ("peers.checkin", "POST"): Route(PAIR_MEMBER_DOES, path=_pair, form={"tried": "A cup of tea outside"},
                                     done=_pair_page),
    ("peers.react", "POST"): Route(PAIR_MEMBER_DOES, done=_pair_page, path=lambda w: {
        "pair_id": w.pair.id, "checkin_id": w.peer_checkin.id, "kind": "celebrate"}),
    ("peers.share_goal", "POST"): Route(PAIR_MEMBER_DOES, path=_pair, form=lambda w: {"goal_id": w.goal.id},
                                        done=_pair_page),
    ("peers.stop_sharing", "POST"): Route(PAIR_MEMBER_DOES, path=lambda w: {"pair_id": w.pair.id,
                                                                            "share_id": w.shared_goal.id},
                                          done=_pair_page),
    ("peers.report", "POST"): Route(PAIR_MEMBER_DOES, path=_pair, form={"kind": "worried"}, done=_pair_page),
    ("peers.group_pairs", "GET"): Route(FACILITATOR_SEES, path=_group),
    ("peers.propose", "POST"): Route(FACILITATOR_DOES, path=_group, done=lambda w: f"/groups/{w.group.id}/peers",
                                     form=lambda w: {"first_id": w.peer.id, "second_id": w.quiet_member.id}),
    ("peers.end", "POST"): Route(FACILITATOR_DOES, path=_pair, done=lambda w: f"/groups/{w.group.id}/peers"),
    # Check-in circles: the group's active members and its facilitators (who look in, and alone schedule them).
    ("peers.group_circles", "GET"): Route(MEMBERS_SEE, path=_group),
    ("peers.schedule_circle", "POST"): Route(FACILITATOR_DOES, path=_group,
                                             done=lambda w: f"/groups/{w.group.id}/circles",
                                             form=lambda w: {"date": _tomorrow(), "time": "18:00",
                                                             "duration_minutes": "20"}),
    ("peers.cancel_circle", "POST"): Route(FACILITATOR_DOES, path=lambda w: {"circle_id": w.circle.id},
                                           done=lambda w: f"/groups/{w.group.id}/circles"),
    ("peers.circle", "GET"): Route(MEMBERS_SEE, path=lambda w: {"circle_id": w.circle.id}),
    ("peers.members_start", "POST"): Route(FACILITATOR_DOES, path=_group, form={"allowed": "y"},
                                           done=lambda w: f"/groups/{w.group.id}/circles"),
    # Only where the facilitators allow it (not in the matrix's group): refused to everyone there.
    ("peers.start_circle", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN), path=_group),
    ("circles_api.list_circles", "GET"): Route(API_MEMBERS_SEE, path=_group),
    ("circles_api.schedule_circle", "POST"): Route(API_FACILITATOR_DOES, path=_group, json=lambda w: {
        "start_local": f"{_tomorrow()}T18:00:00", "duration_minutes": 20}),
    ("circles_api.cancel_circle", "POST"): Route(API_FACILITATOR_SEES, path=lambda w: {"circle_id": w.circle.id},
                                                 ok_writes=True),
    # Reading what was reported goes to the audit trail.
    ("peers.concern", "GET"): Route(FACILITATOR_SEES, path=lambda w: {"concern_id": w.concern.id}),
    ("peers_api.list_pairs", "GET"): Route(expect(FORBIDDEN, anonymous=UNAUTHORIZED, patient=OK, other_patient=OK)),
    ("peers_api.create_pair", "POST"): Route(API_FACILITATOR_DOES, json=lambda w: {
        "group_id": w.group.id, "first_id": w.peer.id, "second_id": w.quiet_member.id}),
    # The group's facilitators see how the pair goes (never a word of it); its members see it as they are told it.
    ("peers_api.get_pair", "GET"): Route(expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=OK, facilitator=OK),
                                         path=_pair),
    # The pair is active already: answering is a conflict.
    ("peers_api.answer_pair", "POST"): Route(expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=CONFLICT),
                                             path=_pair, json={"accept": True}),
    ("peers_api.pause_pair", "POST"): Route(API_PAIR_MEMBER_SEES, path=_pair, ok_writes=True),
    ("peers_api.resume_pair", "POST"): Route(API_PAIR_MEMBER_SEES, path=_pair, ok_writes=True),
    ("peers_api.leave_pair", "POST"): Route(API_PAIR_MEMBER_SEES, path=_pair, ok_writes=True),
    ("peers_api.block_peer", "POST"): Route(API_PAIR_MEMBER_SEES, path=_pair, ok_writes=True),
    ("peers_api.end_pair", "POST"): Route(API_FACILITATOR_SEES, path=_pair, ok_writes=True),
    ("peers_api.list_checkins", "GET"): Route(API_PAIR_MEMBER_SEES, path=_pair),
    ("peers_api.create_checkin", "POST"): Route(expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=DONE), path=_pair,
                                                json={"tried": "A cup of tea outside"}),
    ("peers_api.react", "POST"): Route(API_PAIR_MEMBER_SEES, ok_writes=True, json={"kind": "celebrate"},
                                       path=lambda w: {"pair_id": w.pair.id, "checkin_id": w.peer_checkin.id}),
    ("peers_api.report_concern", "POST"): Route(expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=DONE),
                                                path=_pair, json={"kind": "worried"}),
    ("peers_api.get_concern", "GET"): Route(API_FACILITATOR_SEES, path=lambda w: {"concern_id": w.concern.id}),

    # Consents API -----------------------------------------------------------------------------------------------------
    # A supporter lists the consents given to them, ended ones too (as "ended", without why and without history).
    ("supporters_api.list_consents", "GET"): Route(
        expect(FORBIDDEN, anonymous=UNAUTHORIZED, patient=OK, other_patient=OK, supporter_active=OK,
               supporter_expired=OK, supporter_revoked=OK, supporter_on_hold=OK)),
    ("supporters_api.create_consent", "POST"): Route(
        expect(FORBIDDEN, anonymous=UNAUTHORIZED, patient=DONE, other_patient=NOT_FOUND),
        json=lambda w: {"supporter_id": w.supporter_expired.id, "data_classes": ["mood_summary"], "days": 30}),
    # The patient who gave it, the supporter it was given to, and the facilitators who may hold it.
    ("supporters_api.get_consent", "GET"): Route(CONSENT_SEEN, path=_active_consent),
    ("supporters_api.consent_fhir", "GET"): Route(CONSENT_SEEN, path=_active_consent),
    ("supporters_api.revoke_consent", "POST"): Route(expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=OK),
                                                     path=_active_consent, ok_writes=True),
    # The pair chat: its two members' alone (members of other pairs and other groups, facilitators, supporters and
    # other organisations find nothing); opening the page reads the messages it shows ------------------------------
    ("peers.chat_page", "GET"): Route(expect(NOT_FOUND, anonymous=LOGIN, patient=OK), path=_pair, ok_writes=True),
    ("peers.chat_send", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, patient=DONE), path=_pair,
                                       form={"body": "Sent from the matrix", "client_id": "matrix-chat-form-1"},
                                       done=_pair_chat_page),
    ("peers.chat_delete", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, patient=DONE), done=_pair_chat_page,
                                         path=lambda w: {"pair_id": w.pair.id, "message_id": w.pair_message.id}),
    ("peers_chat_api.list_messages", "GET"): Route(API_PAIR_CHAT, path=_pair),
    ("peers_chat_api.send_message", "POST"): Route(
        expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=DONE), path=_pair,
        json={"body": "Sent from the matrix", "client_id": "matrix-chat-api-1"}),
    ("peers_chat_api.delete_message", "DELETE"): Route(
        expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=DONE),
        path=lambda w: {"pair_id": w.pair.id, "message_id": w.pair_message.id}),

    # Measures: each member answers, and pauses, their own; anyone else's is not found. The sign-in-free link opens
    # its one questionnaire for whoever holds the cookie its first opening set, and is used up for everyone else.
    ("measures.answer", "GET"): Route(expect(NOT_FOUND, anonymous=LOGIN, patient=OK), path=_measure),
    ("measures.answer", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, patient=DONE), path=_measure,
                                       form={"item_1": "1", "save": "1"}, done="/"),
    # No answer to item 9 to support: back to the questionnaire.
    ("measures.support", "GET"): Route(expect(NOT_FOUND, anonymous=LOGIN, patient=DONE), path=_measure,
                                       done=lambda w: f"/measures/{w.measure.id}"),
    ("measures.pause", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, patient=DONE, other_patient=DONE), done="/"),
    # Not paused: the refusal is said on the home page, and nothing changes.
    ("measures.resume", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, patient=DONE, other_patient=DONE),
                                       done="/"),
    ("measures.link", "GET"): Route(expect(GONE, link_holder=OK), path=_measure_link),
    ("measures.link", "POST"): Route(expect(GONE, link_holder=DONE), path=_measure_link,
                                     form={"item_1": "1", "save": "1"}, done=lambda w: f"/m/{w.measure_link}"),

    ("supporters_api.shared", "GET"): Route(
        expect(NOT_FOUND, anonymous=UNAUTHORIZED, supporter_active=OK, supporter_expired=NOT_FOUND,
               supporter_revoked=NOT_FOUND, supporter_on_hold=NOT_FOUND), path=_patient, ok_writes=True),

    # Measures API: a member's own questionnaires (a member of another group, staff and supporters find none, the
    # active supporter's consent covering questionnaire results included: they see bands on the shared view only);
    # the group's facilitator schedules and reads; a facilitator of another group and another organisation find
    # nothing. Item answers never reach anyone else (MEASURE_ANSWER in PRIVATE) ----------------------------------
    ("measures_api.list_due", "GET"): Route(MEASURES_OWN),
    ("measures_api.own_scores", "GET"): Route(MEASURES_OWN),
    ("measures_api.get_pause", "GET"): Route(MEASURES_OWN),
    ("measures_api.pause", "POST"): Route(MEASURES_OWN, ok_writes=True),
    # Nobody in the world has paused: lifting a pause is a conflict for every member.
    ("measures_api.resume", "POST"): Route(expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=CONFLICT,
                                                  other_patient=CONFLICT)),
    ("measures_api.get_measure", "GET"): Route(MEASURE_READ, path=_measure_done),
    ("measures_api.measure_fhir", "GET"): Route(MEASURE_READ, path=_measure_done),
    ("measures_api.save_answers", "PUT"): Route(expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=OK),
                                                path=lambda w: {"measure_id": w.measure_due.id},
                                                json={"answers": [1, 1]}, ok_writes=True),
    ("measures_api.member_scores", "GET"): Route(MEASURE_READ, path=_patient),
    ("measures_api.list_schedules", "GET"): Route(API_FACILITATOR_SEES, path=_group),
    ("measures_api.create_schedule", "POST"): Route(API_FACILITATOR_DOES, path=_group,
                                                    json={"instrument": "gad7", "frequency": "weekly"}),
    ("measures_api.stop_schedule", "DELETE"): Route(
        API_FACILITATOR_CHANGES, ok_writes=True,
        path=lambda w: {"group_id": w.group.id, "schedule_id": w.measure_schedule.id}),
    ("measures_api.group_measures", "GET"): Route(API_FACILITATOR_SEES, path=_group),
    ("measures_api.group_outcomes", "GET"): Route(API_FACILITATOR_SEES, path=_group),
}

def _session_arg(world: World) -> tuple[dict]:
    return ({"session_id": world.upcoming.id},)


def _session_and_patient(world: World) -> tuple[dict]:
    return ({"session_id": world.upcoming.id, "user_id": world.patient.id},)


#: The live room (an open room, a round under way, the patient's session): members and the group's facilitators
#: enter; only the facilitators run it; everyone else finds nothing.
ROOM_MEMBERS = expect(NOT_FOUND, anonymous=REFUSED, patient=OK, facilitator=OK)
ROOM_FACILITATORS = expect(NOT_FOUND, anonymous=REFUSED, patient=FORBIDDEN, facilitator=OK)
#: What only a member does in the room: facilitators do not check in or call for support.
ROOM_MEMBER_ONLY = expect(NOT_FOUND, anonymous=REFUSED, patient=OK, facilitator=FORBIDDEN)

#: The pair chat's events.
PAIR_CHAT = expect(NOT_FOUND, anonymous=REFUSED, patient=OK)


def _pair_arg(world: World) -> tuple[dict]:
    return ({"pair_id": world.pair.id},)


def _pair_message_arg(world: World) -> tuple[dict]:
    return ({"pair_id": world.pair.id, "message_id": world.pair_message.id},)


SOCKET_EVENTS: dict[str, SocketEvent] = {
    "connect": SocketEvent(expect(OK, anonymous=REFUSED)),
    "disconnect": SocketEvent(expect(OK, anonymous=REFUSED)),
    "whoami": SocketEvent(expect(OK, anonymous=REFUSED)),

    # Live room -----------------------------------------------------------------------------------------------------
    "join_session": SocketEvent(ROOM_MEMBERS, args=_session_arg),
    "sync": SocketEvent(ROOM_MEMBERS, args=_session_arg),
    # Leaving and the heartbeat touch only the caller's own socket (its presence rows, its rooms) and answer nothing
    # else: refusing them would close nothing, and leaving must always work.
    "leave_session": SocketEvent(expect(OK, anonymous=REFUSED), args=_session_arg),
    "heartbeat": SocketEvent(expect(OK, anonymous=REFUSED), args=lambda w: ({},)),
    "checkin": SocketEvent(ROOM_MEMBER_ONLY, args=lambda w: (
        {"session_id": w.upcoming.id, "client_id": "matrix-socket-checkin", "mood": 6, "energy": "medium"},)),
    "need_support": SocketEvent(ROOM_MEMBER_ONLY, args=_session_arg),
    # A facilitator's hand goes up too (harmless); members raise only their own.
    "raise_hand": SocketEvent(ROOM_MEMBERS, args=lambda w: ({"session_id": w.upcoming.id, "raised": True},)),
    "open_room": SocketEvent(ROOM_FACILITATORS, args=_session_arg),
    "close_room": SocketEvent(ROOM_FACILITATORS, args=_session_arg),
    "start_round": SocketEvent(ROOM_FACILITATORS, args=_session_arg),
    "next_speaker": SocketEvent(ROOM_FACILITATORS, args=_session_arg),
    "skip_speaker": SocketEvent(ROOM_FACILITATORS, args=_session_arg),
    "lower_hand": SocketEvent(ROOM_FACILITATORS, args=_session_and_patient),
    "mark_left_early": SocketEvent(ROOM_FACILITATORS, args=_session_and_patient),
    "acknowledge_alert": SocketEvent(expect(NOT_FOUND, anonymous=REFUSED, facilitator=OK),
                                     args=lambda w: ({"alert_id": w.alert.id},)),
    # The facilitator's home page catching up: each facilitator gets their own groups' alerts and check-ins.
    "sync_dashboard": SocketEvent(expect(FORBIDDEN, anonymous=REFUSED, facilitator=OK, other_facilitator=OK),
                                  args=lambda w: ({},)),

    # The supporter's live page: only under an active consent ("access_ended" otherwise, as the page's 404) ---------
    "join_shared": SocketEvent(expect(NOT_FOUND, anonymous=REFUSED, supporter_active=OK, supporter_expired=NOT_FOUND,
                                      supporter_revoked=NOT_FOUND, supporter_on_hold=NOT_FOUND),
                               args=lambda w: ({"patient_id": w.patient.id},)),
    "leave_shared": SocketEvent(expect(OK, anonymous=REFUSED), args=lambda w: ({"patient_id": w.patient.id},)),

    # The pair chat: only the patient, one of the pair's two members, gets in; a member of another pair (the other
    # patient), the group's facilitator (who never reads it), supporters and other organisations find nothing -------
    "join_pair_chat": SocketEvent(PAIR_CHAT, args=_pair_arg),
    "send_pair_message": SocketEvent(PAIR_CHAT, args=lambda w: (
        {"pair_id": w.pair.id, "body": "Sent from the matrix", "client_id": "matrix-chat-socket-1"},)),
    "delete_pair_message": SocketEvent(PAIR_CHAT, args=_pair_message_arg),
    "mark_pair_read": SocketEvent(PAIR_CHAT, args=_pair_message_arg),
    "pair_typing": SocketEvent(PAIR_CHAT, args=lambda w: ({"pair_id": w.pair.id, "typing": True},)),
}


# The world every case starts from -------------------------------------------------------------------------------------

#: The accounts of the world: identities first (anonymous has none), then people the rows point at.
PEOPLE: list[tuple[str, RoleName, str, str, bool]] = [
    # name, role, organisation, display name, active
    ("patient", RoleName.PATIENT, "organisation", "Pat Patient", True),
    ("other_patient", RoleName.PATIENT, "organisation", "Olly Otherpatient", True),
    ("facilitator", RoleName.FACILITATOR, "organisation", "Fran Facilitator", True),
    ("other_facilitator", RoleName.FACILITATOR, "organisation", "Finn Otherfacilitator", True),
    ("admin", RoleName.ADMIN, "organisation", "Avery Admin", True),
    ("other_org_admin", RoleName.ADMIN, "other_organisation", "Hana Hillside", True),
    ("supporter_active", RoleName.SUPPORTER, "organisation", "Sam Sharing", True),
    ("supporter_expired", RoleName.SUPPORTER, "organisation", "Ezra Lapsed", True),
    ("supporter_revoked", RoleName.SUPPORTER, "organisation", "Rory Withdrawn", True),
    ("supporter_on_hold", RoleName.SUPPORTER, "organisation", "Hal Heldback", True),
    ("former_facilitator", RoleName.FACILITATOR, "organisation", "Fiona Former", False),
]

#: Private strings of the world -> the identities that may see them. Nobody else, in any answer.
PRIVATE: dict[str, frozenset[str]] = {
    GROUP_NAME: frozenset({"patient", "facilitator"}),
    WAITING_GROUP_NAME: frozenset({"patient", "facilitator"}),
    OTHER_GROUP_NAME: frozenset({"other_patient", "other_facilitator"}),
    AGENDA_TITLE: frozenset({"patient", "facilitator"}),
    # What the patient tells the group and its facilitators: never a supporter (a supporter sees weekly averages).
    CHECKIN_NOTE: frozenset({"patient", "facilitator"}),
    LIVE_CHECKIN_NOTE: frozenset({"patient", "facilitator"}),
    INTAKE_HOPES: frozenset({"patient", "facilitator"}),
    STATUS_REASON: frozenset({"facilitator"}),
    ATTENDANCE_COMMENT: frozenset({"facilitator"}),
    FACILITATOR_NOTE: frozenset({"facilitator"}),
    # The patient sees why a facilitator put sharing on hold; the supporter learns only that access has ended.
    HOLD_REASON: frozenset({"patient", "facilitator"}),
    # Goals and small wins: the patient's own, and a supporter's whose consent covers them; a supporter's thoughts on
    # a goal are for the patient and that supporter.
    GOAL_TITLE: frozenset({"patient", "supporter_active"}),
    WIN_TEXT: frozenset({"patient", "supporter_active"}),
    GOAL_COMMENT: frozenset({"patient", "supporter_active"}),
    # A peer check-in is for the pair; the facilitators read only the one reported to them.
    PEER_CHECKIN_TEXT: frozenset({"patient"}),
    REPORTED_TEXT: frozenset({"patient", "facilitator"}),
    # The pair chat is its two members' alone: facilitators never read it unless a member reports a message.
    PAIR_MESSAGE_TEXT: frozenset({"patient"}),
    # The link holder is the member on the questionnaire's own page, whose choices include these words: on every
    # other route they read as anonymous.
    MEASURE_ANSWER: frozenset({"patient", "facilitator", "link_holder"}),
}

#: Clients' names (patients and supporters; staff names are no secret inside the organisation) -> who may see them.
NAMES_SEEN_BY: dict[str, frozenset[str]] = {
    "patient": frozenset({"patient", "facilitator", "admin", "supporter_active"}),
    "other_patient": frozenset({"other_patient", "other_facilitator", "admin"}),
    **{supporter: frozenset({supporter, "patient", "facilitator", "admin"}) for supporter in SUPPORTERS},
}


@dataclass
class World:
    """The people and objects a case starts with. Objects are kept by id and read from the current database session
    on each access, so that no request's leftovers (a loaded login, say) carry over to the next case."""

    #: The password of every account.
    password: str
    #: name -> (model, id), read back as ``world.<name>``.
    objects: dict[str, tuple[type, int]] = field(default_factory=dict)
    #: name -> plain value (raw codes that only exist at creation), read back as ``world.<name>``.
    values: dict[str, Any] = field(default_factory=dict)
    #: What ``hidden_from`` and ``hidden_when_denied`` worked out, per identity (the world does not change under them:
    #: a cell that writes gets a new world).
    cache: dict[tuple[str, str], set[str]] = field(default_factory=dict, repr=False)

    def add(self, name: str, obj):
        self.objects[name] = (type(obj), obj.id)
        return obj

    def __getattr__(self, name: str):
        objects, values = self.__dict__.get("objects", {}), self.__dict__.get("values", {})
        if name in objects:
            model, id_ = objects[name]
            return db.session.get(model, id_)
        if name in values:
            return values[name]
        raise AttributeError(name)

    @property
    def users(self) -> dict[str, User]:
        """The signed-in identities by name."""
        return {name: getattr(self, name) for name in IDENTITIES if name not in SIGNED_OUT}

    def people(self) -> list[User]:
        return [getattr(self, name) for name, (model, _id) in self.objects.items() if model is User]

    def traces_of(self, user: User) -> set[str]:
        """Strings in an answer that show this person's data."""
        traces = {user.email, user.display_name}
        if user.id == self.objects["patient"][1]:
            token = self.patient_token
            traces |= {token.name, token.prefix}
        return traces

    def hidden_from(self, identity: str) -> set[str]:
        """What this identity must never see, in any answer. Later domains narrow or widen it as they add data."""
        if ("hidden", identity) not in self.cache:
            self.cache[("hidden", identity)] = self._hidden_from(identity)
        return set(self.cache[("hidden", identity)])

    def _hidden_from(self, identity: str) -> set[str]:
        me = self.users.get(identity)
        others = [user for user in self.people() if me is None or user.id != me.id]
        token = self.patient_token
        hidden = {token.name, token.prefix} if identity != "patient" else set()
        # Secrets shown once at creation, never again.
        hidden |= {self.calendar_token, self.group_invitation_code}
        hidden |= {secret for secret, allowed in PRIVATE.items() if identity not in allowed}
        hidden |= {getattr(self, person).display_name for person, allowed in NAMES_SEEN_BY.items()
                   if identity not in allowed}
        if identity in SIGNED_OUT:
            return hidden | {trace for user in others for trace in self.traces_of(user)}
        if identity == "other_org_admin":
            home = self.organisation.id
            return hidden | {trace for user in others if user.role_in(home) for trace in self.traces_of(user)}
        if identity == "admin":
            # The admin sees the organisation's staff, names and addresses; nobody else's address.
            staff = {RoleName.ADMIN, RoleName.FACILITATOR}
            return hidden | {user.email for user in others if user.role_in(self.organisation.id) not in staff}
        return hidden | {user.email for user in others}

    def hidden_when_denied(self, identity: str) -> set[str]:
        """A denial shows nothing of anyone else."""
        if ("denied", identity) not in self.cache:
            me = self.users.get(identity)
            self.cache[("denied", identity)] = {trace for user in self.people() if me is None or user.id != me.id
                                                for trace in self.traces_of(user)} | set(PRIVATE)
        return set(self.cache[("denied", identity)])

    def credentials(self, identity: str, auth: str) -> tuple[str, str] | None:
        """How a cell presents itself: ("session", login token) or ("bearer", API token), made with the world."""
        if identity == "anonymous" or auth == "none":
            return None
        if identity == "link_holder":
            return ("link", self.link_cookie) if auth == "session" else ("bearer", self.measure_link)
        return auth, self.values["logins" if auth == "session" else "bearers"][identity]


@functools.cache
def _password_hash(password: str) -> str:
    return services.hash_password(password)


def build_world(app, password: str) -> World:
    """Every identity's account and the objects the rows point at, committed. Start from an empty database."""
    world = World(password=password)
    organisations = {"organisation": ("Riverside Clinic", "riverside"),
                     "other_organisation": ("Hillside Clinic", "hillside")}
    for name, (title, slug) in organisations.items():
        organisation = Organisation(name=title, slug=slug)
        db.session.add(organisation)
        db.session.flush()
        world.add(name, organisation)
    for name, role, organisation, display_name, active in PEOPLE:
        user = User(email=display_name.lower().replace(" ", ".") + "@matrix.example", display_name=display_name,
                    password_hash=_password_hash(password), active=active)
        user.roles.append(Role(organisation_id=world.objects[organisation][1], name=role))
        db.session.add(user)
        db.session.flush()
        world.add(name, user)
    with app.test_request_context():
        token, _raw = services.create_api_token(world.patient, "matrix-laptop-token")
        world.add("patient_token", token)
        invitation, code = services.create_invitation(world.admin, world.organisation, RoleName.FACILITATOR,
                                                      email="invited.colleague@matrix.example")
        world.add("staff_invitation", invitation)
        world.values["staff_invitation_code"] = code
        reset_code = world.values["reset_code"] = services.new_token()
        db.session.add(PasswordReset(user_id=world.patient.id, token_hash=services.hash_token(reset_code),
                                     expires_at=utcnow() + timedelta(hours=1)))
        _build_groups(world)
        _build_sharing(world)
        _build_goals(world)
        _build_peers(world)
        _build_pair_chat(world)
        _build_measures(world)
        # Every identity's browser login and bearer token, made once with the world rather than once per cell.
        world.add("passkey", _add(Passkey(user_id=world.other_patient.id, name="matrix passkey",
                                          credential_id=b"matrix-credential", public_key=b"matrix-public-key")))
        world.values["logins"] = {name: services.start_login_session(
            user, "matrix", second_factor="passkey" if name == "other_patient" else None)
            for name, user in world.users.items()}
        world.values["bearers"] = {name: services.create_api_token(user, "matrix-bearer")[1]
                                   for name, user in world.users.items()}
        db.session.commit()
    missing = set(IDENTITIES) - set(SIGNED_OUT) - set(world.objects)
    if missing:
        raise ValueError(f"build_world makes no account for {sorted(missing)}")
    return world


def _build_groups(world: World) -> None:
    """The patient's group (run by the facilitator) with its sessions, live room, agenda, alert and notes; the other
    patient's group (run by the other facilitator); a group the patient is invited to; a calendar feed and a code to
    share. Time is real: sessions are placed around now."""
    now = utcnow()
    facilitator, patient = world.facilitator, world.patient
    settings = {"format": "online", "video_link": VIDEO_LINK, "status": "active", "timezone": "UTC", "capacity": 8}
    group = world.add("group", group_services.create_group(facilitator, {"name": GROUP_NAME, **settings}))
    other_group = world.add("other_group", group_services.create_group(world.other_facilitator,
                                                                       {"name": OTHER_GROUP_NAME, **settings}))
    waiting_group = world.add("waiting_group", group_services.create_group(facilitator,
                                                                           {"name": WAITING_GROUP_NAME, **settings}))
    agreement = group.current_agreement
    world.add("membership", _add(Membership(
        group_id=group.id, user_id=patient.id, status=MembershipStatus.ACTIVE, joined_at=now - timedelta(days=30),
        agreement_id=agreement.id, agreement_accepted_at=now - timedelta(days=30), intake_hopes=INTAKE_HOPES,
        speaking_comfort=SpeakingComfort.SOME_NERVES, status_reason=STATUS_REASON)))
    _add(Membership(group_id=other_group.id, user_id=world.other_patient.id, status=MembershipStatus.ACTIVE,
                    joined_at=now - timedelta(days=30)))
    _add(Membership(group_id=waiting_group.id, user_id=patient.id, status=MembershipStatus.INVITED))

    # A weekly series whose first session starts in ten minutes (its room open, inside the lobby window), one session
    # last week, and one cancelled.
    start = (now + timedelta(minutes=10)).replace(tzinfo=None, second=0, microsecond=0)
    group_schedules.save_schedule(facilitator, group, dtstart_local=start, rule="FREQ=WEEKLY;COUNT=3",
                                 duration_minutes=90)
    upcoming, _next, later = sorted(_occurrences(group), key=lambda o: o.starts_at)
    world.add("upcoming", upcoming)
    later.status, later.cancel_reason, later.is_exception = OccurrenceStatus.CANCELLED, "Holiday.", True
    world.add("cancelled", later)
    past = world.add("past_session", _add(SessionOccurrence(group_id=group.id, starts_at=now - timedelta(days=7),
                                                            duration_minutes=90, is_exception=True)))
    # A check-in circle of the group, on now.
    world.add("circle", _add(SessionOccurrence(group_id=group.id, starts_at=now - timedelta(minutes=5),
                                               duration_minutes=30, is_circle=True)))
    _add(Attendance(occurrence_id=past.id, user_id=patient.id, status=AttendanceStatus.PRESENT_ONLINE,
                    comment=ATTENDANCE_COMMENT, recorded_by_id=facilitator.id))
    _add(LiveRoom(occurrence_id=upcoming.id, opened_at=now, opened_by_id=facilitator.id, round_number=1,
                  speaker_order=[patient.id], speaker_index=0, version=1))
    world.add("agenda_item", group_services.add_agenda_item(facilitator, upcoming, title=AGENDA_TITLE,
                                                            rationale="Small wins add up."))
    group_services.add_agenda_item(facilitator, upcoming, title="Closing round")  # so that moving one moves it
    group_services.add_note(facilitator, group, FACILITATOR_NOTE, occurrence=upcoming, member=patient)
    _add(CheckIn(user_id=patient.id, occurrence_id=None, mood=5, energy=Energy.MEDIUM, note=CHECKIN_NOTE,
                 client_id="matrix-world-checkin-1", created_at=now - timedelta(days=2)))
    live = _add(CheckIn(user_id=patient.id, occurrence_id=upcoming.id, mood=4, energy=Energy.LOW,
                        note=LIVE_CHECKIN_NOTE, client_id="matrix-world-checkin-2"))
    world.add("alert", _add(SafetyAlert(organisation_id=group.organisation_id, group_id=group.id,
                                        patient_id=patient.id, kind=AlertKind.NEED_SUPPORT,
                                        occurrence_id=upcoming.id, checkin_id=live.id)))

    _feed, world.values["calendar_token"] = group_calendar.create_calendar_feed(patient)
    invitation, world.values["group_invitation_code"] = group_services.invite_member(facilitator, group)
    world.values["join_token"] = services.join_token(invitation, JOINING_EMAIL)


def _build_sharing(world: World) -> None:
    """The patient's circle: one supporter per consent state (active with every data class, expired, revoked, and
    on a facilitator's hold)."""
    now = utcnow()
    patient = world.patient
    every_class = [data_class.value for data_class in DataClass]
    links = {}
    for name in SUPPORTERS:
        links[name] = _add(SupporterLink(organisation_id=patient.organisation_id, patient_id=patient.id,
                                         supporter_id=getattr(world, name).id, relationship_label="friend"))
    world.add("active_link", links["supporter_active"])
    world.add("expired_link", links["supporter_expired"])
    world.add("held_link", links["supporter_on_hold"])
    terms = {"data_classes": every_class, "ends_at": now + timedelta(days=30), "data_from": now - timedelta(days=60),
             "purpose": "Help me keep going."}
    world.add("active_consent", supporter_services.grant_consent(patient, links["supporter_active"], **terms))
    revoked = supporter_services.grant_consent(patient, links["supporter_revoked"], **terms)
    supporter_services.revoke_consent(revoked, patient)
    supporter_services.grant_consent(patient, links["supporter_on_hold"], **terms)
    supporter_services.hold_supporter(links["supporter_on_hold"], world.facilitator, HOLD_REASON)
    # An expiry is a time that has passed: made directly (the service takes only future ends), then written down as
    # the periodic sweep does.
    started = now - timedelta(days=40)
    expired = _add(Consent(organisation_id=patient.organisation_id, patient_id=patient.id,
                           supporter_id=world.supporter_expired.id, data_classes=every_class, starts_at=started,
                           ends_at=now - timedelta(days=10), data_from=started, purpose="Help me keep going.",
                           created_at=started))
    expired.events.append(ConsentEvent(state=ConsentState.ACTIVE, by_id=patient.id, at=started))
    db.session.flush()
    assert supporter_services.record_expiries() == [expired]
    world.add("expired_consent", expired)


def _build_goals(world: World) -> None:
    """A goal of the patient with a small win, every supporter asked for their thoughts on it (so that only the state
    of their consent tells them apart), and the active supporter's comment."""
    patient = world.patient
    goal = world.add("goal", progress_services.create_goal(patient, title=GOAL_TITLE, next_step="To the corner"))
    world.add("win", progress_services.add_win(patient, WIN_TEXT, goal))
    for name in SUPPORTERS:
        _add(GoalCommenter(goal_id=goal.id, supporter_id=getattr(world, name).id))
    db.session.expire(goal, ["commenters"])
    world.add("goal_comment", progress_services.add_comment(world.supporter_active, goal, GOAL_COMMENT))


def _build_peers(world: World) -> None:
    """The patient's active pair with a member of their group (no identity here), a check-in of each kind, the
    patient's goal shared, and a concern the patient reported about one check-in; the other patient's pair in their
    group; a third member of the patient's group, free to pair."""
    now = utcnow()
    members = {}
    for name, group, display_name in (("peer", world.group, "Piper Peerson"),
                                      ("quiet_member", world.group, "Quinn Quietly"),
                                      ("other_peer", world.other_group, "Otto Otherpeer")):
        user = User(email=name + "@matrix.example", display_name=display_name,
                    password_hash=_password_hash(world.password))
        user.roles.append(Role(organisation_id=group.organisation_id, name=RoleName.PATIENT))
        db.session.add(user)
        db.session.flush()
        _add(Membership(group_id=group.id, user_id=user.id, status=MembershipStatus.ACTIVE,
                        joined_at=now - timedelta(days=20)))
        members[name] = world.add(name, user)
    pairs = {}
    for name, group, first, second in (("pair", world.group, world.patient, members["peer"]),
                                       ("other_pair", world.other_group, world.other_patient, members["other_peer"])):
        pair = PeerPair(organisation_id=group.organisation_id, group_id=group.id, proposed_by_id=None,
                        status=PairStatus.ACTIVE, activated_at=now - timedelta(days=10), rhythm_weekday=1,
                        rhythm_time="18:30", rhythm_zone="UTC",
                        members=[PeerPairMember(user_id=first.id, response=MemberResponse.ACCEPTED),
                                 PeerPairMember(user_id=second.id, response=MemberResponse.ACCEPTED)])
        pairs[name] = world.add(name, _add(pair))
    peer = members["peer"]
    world.add("peer_checkin", _add(PeerCheckIn(pair_id=pairs["pair"].id, author_id=peer.id,
                                               tried=PEER_CHECKIN_TEXT)))
    reported = _add(PeerCheckIn(pair_id=pairs["pair"].id, author_id=peer.id, how_it_went=REPORTED_TEXT))
    world.add("shared_goal", _add(PeerSharedGoal(pair_id=pairs["pair"].id, goal_id=world.goal.id,
                                                 shared_by_id=world.patient.id)))
    world.add("concern", _add(PeerConcern(pair_id=pairs["pair"].id, reporter_id=world.patient.id,
                                          subject_id=peer.id, kind=ConcernKind.CONCERN,
                                          checkin_ids=[reported.id], message_ids=[])))


def _build_pair_chat(world: World) -> None:
    """A message of the patient in their pair's chat (the other patient's pair is a pair of another group)."""
    world.add("pair_message", _add(PeerMessage(pair_id=world.pair.id, author_id=world.patient.id,
                                               body=PAIR_MESSAGE_TEXT, client_id="matrix-pair-message-1")))


def _build_measures(world: World) -> None:
    """A weekly PHQ-9 for the patient, its window open now (nothing answered) with a sign-in-free link the link holder
    opened (so it is used, and only the cookie it set lets anyone save and finish through it), and last week's, done,
    with item 9 answered "Several days" (made directly: the alert the service would raise is not what these rows are
    about)."""
    now = utcnow()
    schedule = measure_services.create_schedule(world.facilitator, world.group, instrument="phq9",
                                                frequency="weekly", starts_at=now - timedelta(days=1),
                                                patient_id=world.patient.id)
    world.add("measure_schedule", schedule)
    measure = world.add("measure_due", measure_queries.due_for(world.patient.id)[0])
    world.add("measure", measure)
    world.values["measure_link"] = measure_services.issue_link(measure)
    measure_services.use_link(measure)
    world.values["link_cookie"] = measure_answer_routes.link_cookie_value(measure)
    answers = [2, 1, 1, 1, 0, 0, 1, 0, 1]
    world.add("measure_done", _add(Measure(
        organisation_id=world.group.organisation_id, group_id=world.group.id, patient_id=world.patient.id,
        schedule_id=schedule.id, instrument=Instrument.PHQ9, opens_at=now - timedelta(days=8),
        closes_at=now - timedelta(days=1), status=MeasureStatus.DONE, answers=answers, difficulty=1,
        total=sum(answers), started_at=now - timedelta(days=7), completed_at=now - timedelta(days=7))))


def _add(obj):
    db.session.add(obj)
    db.session.flush()
    return obj


def _occurrences(group) -> list[SessionOccurrence]:
    return list(db.session.scalars(select(SessionOccurrence).where(SessionOccurrence.group_id == group.id)))


#: The world built last, as an image of the database (SQLite's own image of an in-memory database, or the rows of
#: every table): putting it back is far cheaper than building it again. Sessions are placed around the time it was
#: built, so it is built afresh after a while.
_IMAGE: dict[tuple[str, str], tuple[float, object, World]] = {}
IMAGE_MAX_AGE = 600.0


def fresh_world(app, password: str) -> World:
    """The world as ``build_world`` makes it, in a database holding nothing else: put back from the image of the last
    build on this database, built (and imaged) otherwise."""
    db.session.remove()
    key = (password, db.engine.url.render_as_string())
    cached = _IMAGE.get(key)
    if cached is not None and time.monotonic() - cached[0] < IMAGE_MAX_AGE:
        _restore_image(cached[1])
        return cached[2]
    reset_database()
    world = build_world(app, password)
    db.session.remove()
    _IMAGE[key] = (time.monotonic(), _take_image(), world)
    return world


def _in_memory() -> bool:
    return db.engine.dialect.name == "sqlite" and db.engine.url.database in (None, "", ":memory:")


def _take_image():
    if _in_memory():
        return _with_driver_connection(lambda connection: connection.serialize())
    return [(table, [dict(row) for row in db.session.execute(table.select()).mappings()])
            for table in db.metadata.sorted_tables]


def _with_driver_connection(action):
    connection = db.engine.raw_connection()
    try:
        return action(connection.driver_connection)
    finally:
        connection.close()


def _restore_image(image) -> None:
    if _in_memory():
        _with_driver_connection(lambda connection: connection.deserialize(image))
        return
    for table, _rows in reversed(image):
        db.session.execute(table.delete())
    for table, rows in image:
        if rows:
            db.session.execute(table.insert(), rows)
    _advance_sequences(image)
    db.session.commit()
    db.session.remove()


def _advance_sequences(image) -> None:
    """Rows put back keep their ids; each id sequence must then stand past them, or the next insert takes an id the
    image holds (a sequence starts again at 1 when another test recreated the tables since the image was taken).
    SQLite takes the next id from the rows themselves."""
    if db.engine.dialect.name != "postgresql":
        return
    for table, _rows in image:
        for column in table.primary_key.columns:
            if isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                db.session.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                    f'COALESCE((SELECT MAX("{column.name}") FROM "{table.name}"), 0) + 1, false) '
                    f"WHERE pg_get_serial_sequence('{table.name}', '{column.name}') IS NOT NULL"))


def reset_database() -> None:
    """Empty every table (cheaper than dropping them, and the same on SQLite and PostgreSQL)."""
    db.session.remove()
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    audit.start_trail()
    db.session.commit()
    db.session.remove()


# Reading an answer ----------------------------------------------------------------------------------------------------


def classify(response, done: str | None = None, login_path: str = "/login") -> Outcome | str:
    """The outcome class of an HTTP answer; ``done`` is the row's DONE path (signing out also ends on the sign-in page,
    but without a ``next`` to come back to)."""
    status = response.status_code
    if status == 200:
        return OK
    if status in (201, 204):
        return DONE
    if 300 <= status < 400:
        location = urlsplit(response.headers.get("Location", ""))
        if location.path == login_path and ("next" in parse_qs(location.query) or done != login_path):
            return LOGIN
        return DONE
    return {401: UNAUTHORIZED, 403: FORBIDDEN, 404: NOT_FOUND, 409: CONFLICT, 410: GONE, 400: INVALID,
            422: INVALID}.get(status, f"status {status}")


def classify_ack(ack) -> Outcome | str:
    if not isinstance(ack, dict):
        return f"no acknowledgement ({ack!r})"
    if ack.get("ok") is True:
        return OK
    # "access_ended" is the supporter's 404 ("Access has ended", without saying why); a closed room or a cancelled
    # session is the API's 409.
    return {"unauthorized": UNAUTHORIZED, "forbidden": FORBIDDEN, "not_found": NOT_FOUND, "access_ended": NOT_FOUND,
            "room_closed": CONFLICT, "cancelled": CONFLICT, "no_round": CONFLICT}.get(ack.get("error"), INVALID)


# Nothing denied may write ---------------------------------------------------------------------------------------------

#: Bookkeeping a read may touch: the audit trail (denials are recorded) and "last seen" times.
UNWATCHED_TABLES = frozenset({"audit_event", "audit_head"})
UNWATCHED_COLUMNS = frozenset({"last_seen_at", "last_used_at"})


@functools.cache
def _watched_queries(_tables: int = 0) -> list[tuple[str, str]]:
    queries = []
    for table in db.metadata.sorted_tables:
        if table.name in UNWATCHED_TABLES:
            continue
        columns = ", ".join(f'"{column.name}"' for column in table.columns if column.name not in UNWATCHED_COLUMNS)
        queries.append((table.name, f'SELECT {columns} FROM "{table.name}"'))
    return queries


def denials_recorded() -> int:
    """How many denials the audit trail holds (read in a transaction of its own)."""
    from sqlalchemy import func

    count = db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.outcome == "denied"))
    db.session.commit()
    return count


def snapshot() -> dict[str, frozenset[tuple]]:
    """Every row of every watched table, as the database driver gives it (run on every cell, twice: kept cheap)."""
    rows = {}
    cursor = db.session.connection().connection.cursor()
    try:
        for name, query in _watched_queries(len(db.metadata.tables)):
            cursor.execute(query)
            fetched = cursor.fetchall()
            try:
                rows[name] = frozenset(map(tuple, fetched))
            except TypeError:  # a JSON column read back as a dict or list
                rows[name] = frozenset(tuple(map(repr, row)) for row in fetched)
    finally:
        cursor.close()
    db.session.commit()
    return rows


def changes(before: dict[str, frozenset[tuple]], after: dict[str, frozenset[tuple]]) -> dict[str, dict[str, list]]:
    diff = {}
    for name in before.keys() | after.keys():
        old, new = before.get(name, frozenset()), after.get(name, frozenset())
        if old != new:
            diff[name] = {"removed": sorted(map(repr, old - new)), "added": sorted(map(repr, new - old))}
    return diff


def form_data(route: Route, world: World) -> dict[str, Any]:
    return dict(_resolve(route.form, world) or {})


def json_body(route: Route, world: World) -> dict[str, Any] | None:
    return _resolve(route.json, world)
