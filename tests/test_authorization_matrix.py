"""SECURITY.md 1 and 2: every route and Socket.IO event against every identity, and object swaps that must read or
write nothing. The rows live in tests/matrix.py; a failing row lists every cell that answered otherwise."""

from __future__ import annotations

from urllib.parse import urlsplit

import matrix
import pytest
from flask import url_for
from matrix import DENIED, DONE, LOGIN, OK, REFUSED
from sqlalchemy import select

from app.accounts.models import ApiToken, Invitation, LoginSession, User
from app.extensions import db, limiter, socketio
from app.measures import answer_routes as measure_answer_routes


def route_keys(app) -> dict[tuple[str, str], str]:
    """(endpoint, method) -> rule for every URL rule the app answers; HEAD and OPTIONS follow GET and the CORS layer."""
    keys = {}
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            keys[(rule.endpoint, method)] = rule.rule
    return keys


def socket_events(server) -> set[str]:
    """Every registered event, as "event" on the default namespace and "namespace event" elsewhere."""
    return {event if namespace == "/" else f"{namespace} {event}"
            for namespace, handlers in server.handlers.items() for event in handlers}


def auths(identity: str, api: bool) -> tuple[str, ...]:
    """How an identity presents itself: the API and sockets take a bearer token as well as the browser session."""
    if identity == "anonymous":
        return ("none",)
    return ("session", "bearer") if api else ("session",)


@pytest.fixture
def world(app, known_password):
    return matrix.fresh_world(app, known_password)


# Every route and event has a row --------------------------------------------------------------------------------------


def test_every_route_and_method_has_a_row(app):
    keys = route_keys(app)
    missing = sorted(set(keys) - set(matrix.ROUTES))
    assert not missing, f"{len(missing)} routes without a row in tests/matrix.py ROUTES:\n" + "\n".join(
        f"  {method} {keys[(endpoint, method)]}  ({endpoint!r}, {method!r})" for endpoint, method in missing)


def test_every_row_names_a_route_that_exists(app):
    stale = sorted(set(matrix.ROUTES) - set(route_keys(app)))
    assert not stale, f"rows in tests/matrix.py ROUTES for routes that do not exist: {stale}"


def test_every_socket_event_has_a_row(app):
    events = socket_events(socketio.server)
    assert "connect" in events
    missing = sorted(events - set(matrix.SOCKET_EVENTS))
    assert not missing, f"Socket.IO events without a row in tests/matrix.py SOCKET_EVENTS: {missing}"
    stale = sorted(set(matrix.SOCKET_EVENTS) - events)
    assert not stale, f"rows in tests/matrix.py SOCKET_EVENTS for events that do not exist: {stale}"


def test_the_world_has_an_account_for_every_identity(world):
    users = world.users
    assert set(users) == set(matrix.IDENTITIES) - set(matrix.SIGNED_OUT)
    assert len({user.id for user in users.values()}) == len(users)
    assert all(user.active for user in users.values())


# The matrix -----------------------------------------------------------------------------------------------------------


class Cells:
    """Runs a row's cells one after another, each from a fresh start: a new client, the rate limits reset, and the
    world put back as built (``matrix.fresh_world``) whenever the previous cell changed the database."""

    def __init__(self, app, known_password):
        self.app, self.password = app, known_password
        self.world: matrix.World | None = None
        self.problems: list[str] = []

    def start(self, identity: str, auth: str):
        """A client signed in as the identity (with the login or the bearer token the world made for it)."""
        db.session.remove()
        limiter.reset()
        if self.world is None:
            self.world = matrix.fresh_world(self.app, self.password)
        client = self.app.test_client()
        credentials = {}
        presented = self.world.credentials(identity, auth)
        if presented is not None and presented[0] == "bearer":
            credentials = {"Authorization": f"Bearer {presented[1]}"}
        elif presented is not None and presented[0] == "link":
            # Sent to every route, not only to /m/ as a browser would: no route but the link's may take it.
            client.set_cookie(measure_answer_routes.LINK_COOKIE, presented[1], path="/")
        elif presented is not None:
            with client.session_transaction() as session:
                session.clear()
                session["_user_id"] = presented[1]
                session["_fresh"] = True
        self.denials_before = matrix.denials_recorded()
        return client, credentials, matrix.snapshot()

    def finish(self, cell: str, outcome, expected, before, text: str, *, may_write: bool, identity: str,
               detail: str = "", revealed: set[str] = frozenset(), records_denials: bool = True) -> None:
        after = matrix.snapshot()
        if records_denials and outcome in matrix.AUDITED_DENIALS and matrix.denials_recorded() == self.denials_before:
            self.problems.append(f"{cell}: denied ({outcome}) without a denial in the audit trail")
        if outcome != expected:
            self.problems.append(f"{cell}: expected {expected}, got {outcome}" + (f" ({detail})" if detail else ""))
        hidden = self.world.hidden_from(identity)
        if outcome in DENIED:
            hidden |= self.world.hidden_when_denied(identity)
        hidden -= revealed
        leaked = sorted(trace for trace in hidden if trace and trace in text)
        if leaked:
            self.problems.append(f"{cell}: the answer shows {leaked}")
        changed = matrix.changes(before, after)
        if changed:
            if not may_write:
                self.problems.append(f"{cell}: wrote to the database: {sorted(changed)}")
            self.world = None

    def report(self, title: str) -> None:
        if self.problems:
            pytest.fail(f"{title}: {len(self.problems)} cells differ from the row\n"
                        + "\n".join(f"  {problem}" for problem in self.problems), pytrace=False)


@pytest.fixture
def cells(app, known_password):
    return Cells(app, known_password)


@pytest.mark.parametrize("endpoint, method", list(matrix.ROUTES), ids=[f"{m} {e}" for e, m in matrix.ROUTES])
def test_route_answers_each_identity_as_its_row_says(endpoint, method, app, cells, post, csrf):
    route = matrix.ROUTES[(endpoint, method)]
    rule = route_keys(app).get((endpoint, method))
    assert rule is not None, f"no route for the row ({endpoint!r}, {method!r})"
    for identity in matrix.IDENTITIES:
        for auth in auths(identity, api=rule.startswith("/api/")):
            client, headers, before = cells.start(identity, auth)
            world = cells.world
            with app.test_request_context():
                url = url_for(endpoint, **route.path(world))
            if auth == "session" and method != "GET":
                headers["X-CSRFToken"] = csrf(client)
            body = matrix.json_body(route, world)
            if method == "GET":
                response = client.get(url, headers=headers)
            elif body is not None or method != "POST":
                response = client.open(url, method=method, json=body, headers=headers)
            else:
                response = post(client, url, matrix.form_data(route, world), headers=headers)
            done = route.done_path(world)
            try:
                outcome = matrix.classify(response, done)
                location = response.headers.get("Location", "")
                cell = f"{method} {url} as {identity} ({auth})"
                if outcome == DONE and done and location and urlsplit(location).path != done:
                    cells.problems.append(f"{cell}: redirected to {location}, not {done}")
                cells.finish(cell, outcome, route.expect[identity], before, response.get_data(as_text=True),
                             identity=identity, revealed=route.reveals(world), records_denials=route.records_denials,
                             may_write=outcome == DONE or (outcome == OK and route.ok_writes),
                             detail=f"{response.status_code} {location}".strip()
                             if not isinstance(outcome, matrix.Outcome) or outcome in (OK, DONE, LOGIN) else "")
            finally:
                response.close()
    cells.report(f"{method} {endpoint}")


@pytest.mark.parametrize("event", list(matrix.SOCKET_EVENTS))
def test_socket_event_answers_each_identity_as_its_row_says(event, app, cells):
    row = matrix.SOCKET_EVENTS[event]
    for identity in matrix.IDENTITIES:
        for auth in auths(identity, api=True):
            client, credentials, before = cells.start(identity, auth)
            token = credentials.get("Authorization", "").removeprefix("Bearer ") or None
            sio = socketio.test_client(app, flask_test_client=client, auth={"token": token} if token else None)
            answer, received = None, []
            try:
                if not sio.is_connected():
                    outcome = REFUSED
                elif event == "connect":
                    outcome = OK
                elif event == "disconnect":
                    sio.disconnect()
                    outcome = OK
                else:
                    answer = sio.emit(event, *row.args(cells.world), callback=True)
                    outcome = matrix.classify_ack(answer)
                if sio.is_connected():
                    received = sio.get_received()
            finally:
                if sio.is_connected():
                    sio.disconnect()
            cells.finish(f"{event} as {identity} ({auth})", outcome, row.expect[identity], before,
                         repr((answer, received)), identity=identity, may_write=outcome == OK,
                         detail=repr(answer) if answer is not None else "")
    cells.report(f"socket event {event}")


# Object swaps (SECURITY.md 2): another account's object reads and writes nothing --------------------------------------


def _row(model, id_: int) -> dict:
    """The stored row, read fresh from the database."""
    db.session.expire_all()
    table = model.__table__
    values = db.session.execute(select(table).where(table.c.id == id_)).mappings().one()
    return {key: value for key, value in values.items() if key not in matrix.UNWATCHED_COLUMNS}


def _assert_shows_nothing_of(response, world, owner) -> None:
    text = response.get_data(as_text=True)
    leaked = sorted(trace for trace in world.traces_of(owner) if trace in text)
    assert not leaked, f"the answer shows {leaked}"


def test_revoking_another_accounts_token_on_the_profile_page_reads_and_writes_nothing(client, world, login, post,
                                                                                       api_token):
    patient_headers = api_token(world.patient)
    token_id = world.patient_token.id
    before = _row(ApiToken, token_id)
    login(client, world.other_patient)

    response = post(client, f"/profile/tokens/{token_id}/revoke")

    assert response.status_code == 404
    _assert_shows_nothing_of(response, world, world.patient)
    assert _row(ApiToken, token_id) == before
    assert client.get("/api/v1/me", headers=patient_headers).status_code == 200


@pytest.mark.parametrize("auth", ["bearer", "session"])
def test_revoking_another_accounts_token_through_the_api_reads_and_writes_nothing(auth, client, world, login, csrf,
                                                                                  api_token):
    token_id = world.patient_token.id
    before = _row(ApiToken, token_id)
    if auth == "bearer":
        headers = api_token(world.other_patient)
    else:
        login(client, world.other_patient)
        headers = {"X-CSRFToken": csrf(client)}

    response = client.delete(f"/api/v1/auth/tokens/{token_id}", headers=headers)

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
    _assert_shows_nothing_of(response, world, world.patient)
    assert _row(ApiToken, token_id) == before


def test_a_missing_token_and_another_accounts_token_answer_alike(client, world, api_token):
    headers = api_token(world.other_patient)
    missing = client.delete("/api/v1/auth/tokens/999999", headers=headers)
    foreign = client.delete(f"/api/v1/auth/tokens/{world.patient_token.id}", headers=headers)
    assert (missing.status_code, missing.json) == (foreign.status_code, foreign.json)


def test_revoking_another_organisations_invitation_reads_and_writes_nothing(client, world, login, post):
    invitation_id, email = world.staff_invitation.id, world.staff_invitation.email
    before = _row(Invitation, invitation_id)
    login(client, world.other_org_admin)

    response = post(client, f"/invitations/{invitation_id}/revoke")

    assert response.status_code == 404
    assert email not in response.get_data(as_text=True)
    assert _row(Invitation, invitation_id) == before
    assert client.get(f"/invitations/{world.staff_invitation_code}").status_code == 200


@pytest.mark.parametrize("action", ["deactivate", "reactivate"])
def test_managing_another_organisations_staff_reads_and_writes_nothing(action, app, client, world, login, post):
    target = world.facilitator if action == "deactivate" else world.former_facilitator
    target_id, target_active = target.id, target.active
    target_client = app.test_client()
    if target_active:
        login(target_client, target)
    before = _row(User, target_id)
    sessions = select(LoginSession.id, LoginSession.ended_at).where(LoginSession.user_id == target_id)
    sessions_before = db.session.execute(sessions).all()
    login(client, world.other_org_admin)

    response = post(client, f"/admin/people/{target_id}/{action}")

    assert response.status_code == 404
    _assert_shows_nothing_of(response, world, db.session.get(User, target_id))
    assert _row(User, target_id) == before
    assert db.session.execute(sessions).all() == sessions_before
    if target_active:
        assert target_client.get("/profile").status_code == 200
