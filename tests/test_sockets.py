"""SECURITY.md 5, 6 and 7 on Socket.IO: who may connect, from where, and how an ended login ends its sockets."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import requests
import socketio as socketio_client
import time_machine
from sqlalchemy import event as sa_event
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.accounts import services
from app.accounts.models import ApiToken, RoleName
from app.extensions import db, mail, socketio
from app.models_base import utcnow
from app.notifications.email import queue_email
from app.realtime.push import queue_push
from app.realtime.sockets import user_room

UNAUTHORIZED = {"ok": False, "error": "unauthorized"}


@pytest.fixture
def connect(app, client):
    """Open a test socket that shares the HTTP client's cookies; every socket is closed at the end."""
    opened = []

    def do_connect(http_client=None, **kwargs):
        sio = socketio.test_client(app, flask_test_client=http_client or client, **kwargs)
        opened.append(sio)
        return sio

    yield do_connect
    for sio in opened:
        if sio.is_connected():
            sio.disconnect()


def whoami(sio):
    return sio.emit("whoami", callback=True)


def raw_token(api_token, user) -> str:
    return api_token(user)["Authorization"].removeprefix("Bearer ")


# Connecting -----------------------------------------------------------------------------------------------------------


def test_anonymous_connect_is_refused(connect):
    assert not connect().is_connected()


def test_connect_with_the_session_cookie_is_accepted(connect, client, login, patient):
    login(client, patient)
    sio = connect()
    assert sio.is_connected()
    answer = whoami(sio)
    assert answer["ok"] is True
    assert answer["user"] == {"id": patient.id, "display_name": patient.display_name, "role": "patient"}


def test_connect_with_an_api_token_is_accepted(connect, patient, api_token):
    sio = connect(auth={"token": raw_token(api_token, patient)})
    assert sio.is_connected()
    assert whoami(sio)["user"]["id"] == patient.id


@pytest.mark.parametrize("auth", [{"token": None}, {"token": ""}, {"token": "not-a-token"},
                                  {"token": "mtm_" + "x" * 43}, {"token": 12345}, {"token": ["mtm_x"]},
                                  {"token": "x" * 10_000}, "mtm_x", [1]])
def test_connect_with_a_bad_token_is_refused(connect, auth):
    assert not connect(auth=auth).is_connected()


def test_a_bad_token_is_refused_even_beside_a_valid_session_cookie(connect, client, login, patient):
    login(client, patient)
    assert not connect(auth={"token": "not-a-token"}).is_connected()


def test_a_revoked_or_expired_token_is_refused(connect, patient, api_token):
    revoked, expired = raw_token(api_token, patient), raw_token(api_token, patient)
    tokens = db.session.query(ApiToken).filter_by(user_id=patient.id).order_by(ApiToken.id).all()
    tokens[0].revoked_at = datetime.now(timezone.utc)
    tokens[1].expires_at = datetime.now(timezone.utc) - timedelta(seconds=1)
    db.session.commit()
    assert not connect(auth={"token": revoked}).is_connected()
    assert not connect(auth={"token": expired}).is_connected()


def test_a_deactivated_account_cannot_connect(connect, client, login, patient, api_token):
    raw = raw_token(api_token, patient)
    login(client, patient)
    patient.active = False
    db.session.commit()
    assert not connect().is_connected()
    assert not connect(auth={"token": raw}).is_connected()


# An ended login ends its sockets --------------------------------------------------------------------------------------


def test_logout_drops_the_open_socket_at_once(connect, client, login, post, patient):
    login(client, patient)
    sio = connect()
    assert whoami(sio)["ok"] is True

    assert post(client, "/logout").status_code == 302

    assert not sio.is_connected()


def test_a_login_ended_elsewhere_refuses_the_next_event_and_drops_the_socket(app, connect, client, login, patient):
    from app.accounts.models import LoginSession

    login(client, patient)
    sio = connect()
    assert whoami(sio)["ok"] is True
    # Ended without this process hearing of it (another app process, say): the next event finds out.
    db.session.execute(update(LoginSession).values(ended_at=utcnow(), end_reason="logout"))
    db.session.commit()

    assert whoami(sio) == UNAUTHORIZED
    assert not sio.is_connected()


def test_a_replayed_pre_logout_cookie_cannot_open_a_socket(app, connect, client, login, post, patient):
    login(client, patient)
    with client.session_transaction() as session:
        old_cookie = dict(session)
    post(client, "/logout")
    replay = app.test_client()
    with replay.session_transaction() as session:
        session.update(old_cookie)
    assert not connect(replay).is_connected()


def test_a_password_change_elsewhere_ends_this_devices_socket(app, connect, client, login, post, patient,
                                                              known_password):
    login(client, patient)
    sio = connect()
    other_device = app.test_client()
    login(other_device, patient)

    response = post(other_device, "/profile/password", {"current_password": known_password,
                                                        "password": "a new and long passphrase",
                                                        "confirm": "a new and long passphrase"})
    assert response.status_code == 302

    if sio.is_connected():
        assert whoami(sio) == UNAUTHORIZED
    assert not sio.is_connected()


@pytest.mark.parametrize("auth", ["session", "token"])
def test_deactivation_drops_the_accounts_sockets_at_once(auth, app, connect, client, login, post, admin, facilitator,
                                                         api_token):
    if auth == "session":
        login(client, facilitator)
        sio = connect()
    else:
        sio = connect(auth={"token": raw_token(api_token, facilitator)})
    bystander = app.test_client()
    login(bystander, admin)
    bystander_socket = connect(bystander)
    assert sio.is_connected() and bystander_socket.is_connected()

    admin_client = app.test_client()
    login(admin_client, admin)
    assert post(admin_client, f"/admin/people/{facilitator.id}/deactivate").status_code == 302

    assert not sio.is_connected()  # without sending anything
    assert bystander_socket.is_connected()
    assert whoami(bystander_socket)["ok"] is True


def test_sockets_drop_when_the_deactivation_commits_and_not_before(app, connect, client, login, admin, facilitator):
    login(client, facilitator)
    sio = connect()
    with app.test_request_context():
        services.set_account_active(admin, facilitator, False)
        assert sio.is_connected()  # until the commit, a rollback could still keep the account
        db.session.commit()
    assert not sio.is_connected()


def test_a_rolled_back_deactivation_leaves_the_sockets_alone(app, connect, client, login, admin, facilitator):
    login(client, facilitator)
    sio = connect()
    with app.test_request_context():
        services.set_account_active(admin, facilitator, False)
        db.session.rollback()
        db.session.commit()
    assert sio.is_connected()
    assert whoami(sio)["ok"] is True


def test_dropping_sockets_keeps_one_commit_per_request(app, connect, client, login, post, admin, facilitator):
    """Disconnect handlers run inside disconnect_user; their commits must not commit the request's work early."""
    handlers = socketio.server.handlers["/"]
    original = handlers.get("disconnect")

    def on_disconnect(*args):
        db.session.commit()  # what a handler that keeps presence does
        return original(*args) if original else None

    socketio.on_event("disconnect", on_disconnect)
    login(client, facilitator)
    sio = connect()
    admin_client = app.test_client()
    login(admin_client, admin)
    request_session = db.session()
    commits = []

    def count(session):
        if session is request_session:
            commits.append(session)

    sa_event.listen(Session, "after_commit", count)
    try:
        assert post(admin_client, f"/admin/people/{facilitator.id}/deactivate").status_code == 302
    finally:
        sa_event.remove(Session, "after_commit", count)
        if original is None:
            handlers.pop("disconnect", None)
        else:
            handlers["disconnect"] = original
    assert not sio.is_connected()
    assert len(commits) == 1


def test_a_revoked_token_ends_its_socket_at_the_next_event(connect, client, login, post, patient, api_token):
    sio = connect(auth={"token": raw_token(api_token, patient)})
    assert whoami(sio)["ok"] is True
    token = db.session.query(ApiToken).filter_by(user_id=patient.id).one()
    login(client, patient)

    assert post(client, f"/profile/tokens/{token.id}/revoke").status_code == 302

    assert whoami(sio) == UNAUTHORIZED
    assert not sio.is_connected()


# Automatic logoff -----------------------------------------------------------------------------------------------------


def test_an_idle_socket_is_logged_off(app, connect, client, login, patient):
    idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc), tick=False) as traveller:
        login(client, patient)
        sio = connect()
        traveller.shift(idle - timedelta(minutes=1))
        assert whoami(sio)["ok"] is True  # activity on the socket keeps the login alive
        traveller.shift(idle - timedelta(minutes=1))
        assert whoami(sio)["ok"] is True
        traveller.shift(idle + timedelta(minutes=1))
        assert whoami(sio) == UNAUTHORIZED
        assert not sio.is_connected()
        assert client.get("/profile").status_code == 302


def test_a_socket_ends_with_the_absolute_session_lifetime(app, connect, client, login, patient):
    lifetime = timedelta(hours=app.config["SESSION_MAX_HOURS"])
    step = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] // 2)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    with time_machine.travel(start, tick=False) as traveller:
        login(client, patient)
        sio = connect()
        while datetime.now(timezone.utc) + step < start + lifetime:
            traveller.shift(step)
            assert whoami(sio)["ok"] is True, datetime.now(timezone.utc) - start
        traveller.shift(step + timedelta(minutes=1))
        assert datetime.now(timezone.utc) - start > lifetime
        assert whoami(sio) == UNAUTHORIZED
        assert not sio.is_connected()


# The handshake's Origin, against a real server (the test client skips engine.io's handshake) ------------------------


def _sign_in_over_http(url: str, email: str, password: str) -> str:
    """Sign in through the login form and return the Cookie header the browser would send."""
    http = requests.Session()
    page = http.get(f"{url}/login", timeout=10)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    response = http.post(f"{url}/login", data={"csrf_token": token, "email": email, "password": password},
                         allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
    http.close()
    return cookie


def _socket_client(transport: str, origin: str, cookie: str):
    """A Socket.IO client that presents exactly one Origin header, over one transport."""
    if transport == "websocket":
        sio = socketio_client.Client(reconnection=False, websocket_extra_options={"origin": origin})
        headers = {"Cookie": cookie}
    else:
        sio = socketio_client.Client(reconnection=False)
        headers = {"Cookie": cookie, "Origin": origin}
    return sio, headers


@pytest.fixture
def live_patient(live_server, known_password):
    user = live_server.make_user(RoleName.PATIENT, display_name="Lee Live")
    return user, _sign_in_over_http(live_server.url, user.email, known_password)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_same_origin_handshake_is_accepted(transport, live_server, live_patient):
    user, cookie = live_patient
    sio, headers = _socket_client(transport, live_server.url, cookie)
    sio.connect(live_server.url, headers=headers, transports=[transport], wait_timeout=10)
    try:
        answer = sio.call("whoami", timeout=10)
        assert answer["ok"] is True and answer["user"]["id"] == user.id
    finally:
        sio.disconnect()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1.evil.example"])
def test_a_foreign_origin_handshake_is_refused(origin, transport, live_server, live_patient):
    _user, cookie = live_patient
    sio, headers = _socket_client(transport, origin, cookie)
    with pytest.raises(socketio_client.exceptions.ConnectionError):
        sio.connect(live_server.url, headers=headers, transports=[transport], wait_timeout=10)
    assert not sio.connected


def test_a_live_connect_without_credentials_is_refused(live_server):
    sio, _headers = _socket_client("websocket", live_server.url, "")
    with pytest.raises(socketio_client.exceptions.ConnectionError):
        sio.connect(live_server.url, headers={}, transports=["websocket"], wait_timeout=10)


# After the commit, and only the whole transaction's ------------------------------------------------------------------


def _pushed(sio) -> list:
    return [packet["args"][0] for packet in sio.get_received() if packet["name"] == "note"]


def test_a_push_waits_for_the_whole_transaction_not_for_a_savepoint_within_it(connect, client, login, patient):
    login(client, patient)
    sio = connect()
    sio.get_received()
    queue_push("note", {"n": 1}, user_room(patient.id))
    with db.session.begin_nested():  # released: nothing is committed yet
        db.session.execute(update(ApiToken).where(ApiToken.id == -1).values(name="x"))
    assert _pushed(sio) == []
    try:
        with db.session.begin_nested():  # rolled back: only what was inside it is undone
            queue_push("note", {"n": 2}, user_room(patient.id))
            raise ValueError
    except ValueError:
        pass
    assert _pushed(sio) == []
    db.session.commit()
    assert _pushed(sio) == [{"n": 1}, {"n": 2}]


def test_a_rolled_back_transaction_sends_nothing(connect, client, login, patient):
    login(client, patient)
    sio = connect()
    sio.get_received()
    queue_push("note", {"n": 1}, user_room(patient.id))
    db.session.rollback()
    db.session.commit()
    assert _pushed(sio) == []


def test_an_email_waits_for_the_whole_transaction_not_for_a_savepoint_within_it(app):
    with mail.record_messages() as outbox:
        queue_email("someone@example.org", "Hello", "Body")
        with db.session.begin_nested():
            pass
        assert outbox == []
        db.session.commit()
        assert [message.recipients for message in outbox] == [["someone@example.org"]]
