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

Adding an identity (say "supporter_active" once consents exist): add it to ``IDENTITIES`` and ``PEOPLE``, give it what
makes it that identity in ``build_world`` (its consent), and say in ``World.hidden_from`` what it must never see; every
row's default covers it until the row names it.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from app.accounts import services
from app.accounts.models import Organisation, PasswordReset, Role, RoleName, User
from app.extensions import db
from app.models_base import utcnow


class Outcome(enum.StrEnum):
    OK = "ok"  # 200: the page or the data is served
    DONE = "done"  # 201, 204, or a redirect elsewhere than the sign-in page: the action was carried out
    LOGIN = "login"  # a redirect to the sign-in page (with ?next=... when the row's DONE leads there too)
    UNAUTHORIZED = "401"
    FORBIDDEN = "403"
    NOT_FOUND = "404"  # also what an outsider gets for an object it may not see (an object swap)
    GONE = "410"
    INVALID = "400/422"  # a request without proper data
    REFUSED = "refused"  # a Socket.IO connection refused


OK, DONE, LOGIN, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, GONE, INVALID, REFUSED = Outcome
#: Outcomes that must change nothing in the database (and show no one else's data).
DENIED = frozenset({LOGIN, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, GONE, INVALID, REFUSED})

IDENTITIES: dict[str, str] = {
    "anonymous": "nobody signed in",
    "patient": "the patient the rows' objects belong to (a member of the group, once groups exist)",
    "other_patient": "another patient of the same organisation",
    "facilitator": "the facilitator of the patient's group",
    "other_facilitator": "a facilitator of the same organisation who runs another group",
    "admin": "an admin of the same organisation",
    "other_org_admin": "an admin of another organisation",
    # Consents do not exist yet: app/supporters will split this into supporter_active, _expired and _revoked.
    "supporter": "a supporter in the patient's organisation",
}


def expect(default: Outcome, **cells: Outcome) -> dict[str, Outcome]:
    """A row's outcomes: ``default`` for every identity the row does not name."""
    unknown = set(cells) - set(IDENTITIES)
    if unknown:
        raise ValueError(f"unknown identities: {sorted(unknown)}")
    return {name: cells.get(name, default) for name in IDENTITIES}


Build = Callable[["World"], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    expect: dict[str, Outcome]
    #: URL parameters, from the world.
    path: Build = lambda world: {}  # noqa: E731
    #: Form fields besides the CSRF token (which every form request carries), or a JSON body.
    form: dict[str, Any] | Build | None = None
    json: dict[str, Any] | Build | None = None
    #: The path a DONE redirect must lead to; by default anywhere but the sign-in page.
    done: str | None = None
    #: True when a 200 may write (a form that answers "we sent you an email" on the same page).
    ok_writes: bool = False


@dataclass(frozen=True)
class SocketEvent:
    expect: dict[str, Outcome]
    #: The event's arguments, from the world (connect and disconnect take none: the row says who may connect, and
    #: that a connected socket's disconnect handler runs).
    args: Callable[["World"], tuple] = lambda world: ()  # noqa: E731


def _resolve(value, world: World) -> dict[str, Any] | None:
    return value(world) if callable(value) else value


NEW_PASSWORD = "a brand new matrix passphrase"
PROFILE_FORM = {"display_name": "Renamed In Matrix", "pronouns": "", "timezone": "Europe/Madrid", "locale": "en",
                "email_reminders": "y"}


def _staff_invitation(world: World) -> dict[str, str]:
    return {"code": world.staff_invitation_code}


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
    ("accounts.home", "GET"): Route(expect(OK, anonymous=LOGIN)),
    ("accounts.profile", "GET"): Route(expect(OK, anonymous=LOGIN)),
    ("accounts.profile", "POST"): Route(expect(DONE, anonymous=LOGIN), form=PROFILE_FORM, done="/profile"),
    ("accounts.create_token", "POST"): Route(expect(DONE, anonymous=LOGIN), form={"name": "matrix"}, done="/profile"),
    ("accounts.revoke_token", "POST"): Route(expect(NOT_FOUND, anonymous=LOGIN, patient=DONE), done="/profile",
                                             path=lambda w: {"token_id": w.patient_token.id}),

    # Invitations: the code is the capability; this one is bound to an address none of the identities has ----------
    ("accounts.accept_invitation", "GET"): Route(expect(OK), path=_staff_invitation),
    # Signed-in accounts get the page back with "sent to another email address" (and the database unchanged).
    ("accounts.accept_invitation", "POST"): Route(
        expect(OK, anonymous=DONE), path=_staff_invitation, done="/",
        form=lambda w: {"email": w.staff_invitation.email, "password": NEW_PASSWORD, "display_name": "New Colleague",
                        "timezone": "UTC"}),
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
    ("accounts.crisis_resources", "GET"): Route(expect(FORBIDDEN, anonymous=LOGIN, admin=OK, other_org_admin=OK)),
    ("accounts.crisis_resources", "POST"): Route(expect(FORBIDDEN, anonymous=LOGIN, admin=DONE, other_org_admin=DONE),
                                                 form={"crisis_name": "Matrix Line", "crisis_phone": "555 0100"},
                                                 done="/admin/crisis-resources"),

    # JSON API (each signed-in identity is tried with its browser session and with a bearer token) -------------------
    ("accounts_api.create_token", "POST"): Route(
        expect(DONE), json=lambda w: {"email": w.patient.email, "password": w.password, "name": "matrix"}),
    ("accounts_api.list_tokens", "GET"): Route(expect(OK, anonymous=UNAUTHORIZED)),
    ("accounts_api.revoke_token", "DELETE"): Route(expect(NOT_FOUND, anonymous=UNAUTHORIZED, patient=DONE),
                                                   path=lambda w: {"token_id": w.patient_token.id}),
    ("accounts_api.me", "GET"): Route(expect(OK, anonymous=UNAUTHORIZED)),
}

SOCKET_EVENTS: dict[str, SocketEvent] = {
    "connect": SocketEvent(expect(OK, anonymous=REFUSED)),
    "whoami": SocketEvent(expect(OK, anonymous=REFUSED)),
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
    ("supporter", RoleName.SUPPORTER, "organisation", "Sol Supporter", True),
    ("former_facilitator", RoleName.FACILITATOR, "organisation", "Fiona Former", False),
]


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
        return {name: getattr(self, name) for name in IDENTITIES if name != "anonymous"}

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
        me = self.users.get(identity)
        others = [user for user in self.people() if me is None or user.id != me.id]
        token = self.patient_token
        hidden = {token.name, token.prefix} if identity != "patient" else set()
        if identity == "anonymous":
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
        me = self.users.get(identity)
        return {trace for user in self.people() if me is None or user.id != me.id for trace in self.traces_of(user)}


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
        db.session.commit()
    missing = set(IDENTITIES) - {"anonymous"} - set(world.objects)
    if missing:
        raise ValueError(f"build_world makes no account for {sorted(missing)}")
    return world


def reset_database() -> None:
    """Empty every table (cheaper than dropping them, and the same on SQLite and PostgreSQL)."""
    db.session.remove()
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
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
    return {401: UNAUTHORIZED, 403: FORBIDDEN, 404: NOT_FOUND, 410: GONE, 400: INVALID, 422: INVALID}.get(
        status, f"status {status}")


def classify_ack(ack) -> Outcome | str:
    if not isinstance(ack, dict):
        return f"no acknowledgement ({ack!r})"
    if ack.get("ok") is True:
        return OK
    return {"unauthorized": UNAUTHORIZED, "forbidden": FORBIDDEN, "not_found": NOT_FOUND}.get(ack.get("error"), INVALID)


# Nothing denied may write ---------------------------------------------------------------------------------------------

#: Bookkeeping a read may touch: the audit trail (denials are recorded) and "last seen" times.
UNWATCHED_TABLES = frozenset({"audit_event", "audit_head"})
UNWATCHED_COLUMNS = frozenset({"last_seen_at", "last_used_at"})


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every watched table, as plain values."""
    rows = {}
    for table in db.metadata.sorted_tables:
        if table.name in UNWATCHED_TABLES:
            continue
        columns = [column for column in table.columns if column.name not in UNWATCHED_COLUMNS]
        rows[table.name] = sorted((tuple(repr(value) for value in row) for row in db.session.execute(select(*columns))))
    db.session.commit()
    return rows


def changes(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> dict[str, dict[str, list[tuple]]]:
    diff = {}
    for name in before.keys() | after.keys():
        old, new = set(before.get(name, [])), set(after.get(name, []))
        if old != new:
            diff[name] = {"removed": sorted(old - new), "added": sorted(new - old)}
    return diff


def form_data(route: Route, world: World) -> dict[str, Any]:
    return dict(_resolve(route.form, world) or {})


def json_body(route: Route, world: World) -> dict[str, Any] | None:
    return _resolve(route.json, world)
