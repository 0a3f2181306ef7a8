"""Live rooms across real processes: two app processes sharing rooms through Redis, a Redis outage, and a server
killed with SIGKILL in the middle of a burst of check-ins (SECURITY.md 6, 15 and 18; issue 4).

The tests of two processes sharing Redis run when TEST_REDIS_URL is set (CI sets redis://127.0.0.1:6379/15), each on
a Socket.IO channel of its own (pub/sub channels are shared by every Redis database number); the others always run.
Each app process is tests/serve_app.py: the development configuration, werkzeug with a thread per connection, a
SQLite file shared by every process.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
import socketio
from app_processes import AppProcess, dead_redis_url, free_port

needs_redis = pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"),
                                 reason="needs Redis: set TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15)")

SECRET_KEY = "scale-test-secret-key"
AUDIT_KEY = "scale-test-audit-key"


@pytest.fixture
def shared_database(tmp_path):
    """A SQLite file with a live room (see serve_app.setup) and the environment every app process is started with."""
    from serve_app import setup

    from app import create_app

    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    info = setup(create_app("development", SQLALCHEMY_DATABASE_URI=uri, REDIS_URL="", SECRET_KEY=SECRET_KEY,
                            AUDIT_KEY=AUDIT_KEY, RATELIMIT_STORAGE_URI="memory://"))
    env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL", "FLASK_DEBUG", "DEBUG")}
    env.update(MOMENTUM_ENV="development", DATABASE_URL=uri, SECRET_KEY=SECRET_KEY, AUDIT_KEY=AUDIT_KEY,
               MAIL_SUPPRESS_SEND="1", PYTHONUNBUFFERED="1", SOCKETIO_CHANNEL=f"momentum-test-{uuid.uuid4().hex}")
    info.update(env=env, path=tmp_path / "shared.db", uri=uri, tmp=tmp_path)
    return info


@pytest.fixture
def start_apps(shared_database):
    """start_apps(n, redis_url) -> n app processes serving the shared database, started side by side."""
    started: list[AppProcess] = []

    def start(n: int, redis_url: str) -> list[AppProcess]:
        env = {**shared_database["env"], "REDIS_URL": redis_url}
        batch = [AppProcess(env, shared_database["tmp"] / f"app{len(started) + i}.log") for i in range(n)]
        started.extend(batch)
        for app_process in batch:
            app_process.wait_listening()
        return batch

    yield start
    for app_process in started:
        app_process.close()


class Listener:
    """A python-socketio client that records every push it receives."""

    def __init__(self, url: str, token: str | None = None, cookie: str | None = None):
        self.events: list[tuple[str, dict]] = []
        self._changed = threading.Condition()
        self.client = socketio.Client(reconnection=False)
        for name in ("presence", "checkin", "room_state", "alert"):
            self.client.on(name, self._recorder(name))
        self.client.connect(url, auth={"token": token} if token else None,
                            headers={"Cookie": cookie} if cookie else {}, transports=["websocket"], wait_timeout=15)

    def _recorder(self, name: str):
        def record(data):
            with self._changed:
                self.events.append((name, data))
                self._changed.notify_all()

        return record

    def call(self, event_name: str, payload: dict) -> dict:
        return self.client.call(event_name, payload, timeout=15)

    def of(self, name: str) -> list[dict]:
        with self._changed:
            return [data for event_name, data in self.events if event_name == name]

    def wait_disconnected(self, timeout: float = 10) -> bool:
        """Whether the server dropped this socket within `timeout` seconds (polled; a bound, not a measure)."""
        deadline = time.monotonic() + timeout
        while self.client.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self.client.connected

    def wait_for(self, name: str, predicate, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event_name, data in self.events:
                    if event_name == name and predicate(data):
                        return data
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {name} push matching in {timeout} s; got {self.events}")
                self._changed.wait(remaining)

    def close(self) -> None:
        if self.client.connected:
            self.client.disconnect()
        self.client.shutdown()


@pytest.fixture
def listeners():
    """listen(url, token) -> a Listener. Ask for this fixture before start_apps: its teardown then runs after the
    app processes are gone, so closing a client does not sit out websocket-client's three-second close handshake."""
    opened: list[Listener] = []

    def listen(url: str, token: str | None = None, cookie: str | None = None) -> Listener:
        listener = Listener(url, token, cookie)
        opened.append(listener)
        return listener

    yield listen
    for listener in opened:
        listener.close()


def db_rows(path: Path, sql: str, *args) -> list[tuple]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, args).fetchall()
    finally:
        connection.close()


def checkin_payload(session_id: int, **fields) -> dict:
    return {"session_id": session_id, "client_id": f"ck-{uuid.uuid4().hex}", **fields}


# Two processes, one room ----------------------------------------------------------------------------------------------


@needs_redis
def test_a_checkin_sent_to_one_process_reaches_members_on_the_other(listeners, shared_database, start_apps):
    first, second = start_apps(2, os.environ["TEST_REDIS_URL"])
    session_id, members = shared_database["session_id"], shared_database["members"]
    pat = listeners(first.url, members[0]["token"])
    same_process = listeners(first.url, members[2]["token"])
    olly = listeners(second.url, members[1]["token"])
    facilitator = listeners(second.url, shared_database["facilitator"]["token"])
    for listener in (pat, same_process, olly, facilitator):
        assert listener.call("join_session", {"session_id": session_id})["ok"] is True
    # Presence crosses too: Pat, on the first process, sees the facilitator who joined on the second.
    pat.wait_for("presence", lambda p: len(p["present"]) == 4)

    answer = pat.call("checkin", checkin_payload(session_id, mood=6, energy="medium", note="Across processes"))
    assert answer["ok"] is True

    for listener in (olly, facilitator, same_process):
        pushed = listener.wait_for("checkin", lambda c: c["id"] == answer["checkin"]["id"])
        assert pushed["note"] == "Across processes" and pushed["name"] == "M0"

    reply = olly.call("checkin", checkin_payload(session_id, passed=True))
    assert pat.wait_for("checkin", lambda c: c["id"] == reply["checkin"]["id"])["passed"] is True

    assert pat.call("need_support", {"session_id": session_id})["ok"] is True
    alert = facilitator.wait_for("alert", lambda a: a["kind"] == "need_support")
    assert alert["name"] == "M0"
    acknowledged = facilitator.call("acknowledge_alert", {"alert_id": alert["id"]})
    assert acknowledged["ok"] is True

    # A member removed through the first process is dropped from the second at once (the disconnect goes through
    # the message queue), and hears nothing more.
    response = requests.patch(f"{first.url}/api/v1/memberships/{members[1]['membership_id']}",
                              json={"status": "left"}, timeout=15,
                              headers={"Authorization": f"Bearer {shared_database['facilitator']['token']}"})
    assert response.status_code == 200, response.text
    assert olly.wait_disconnected()
    heard = len(olly.events)
    later = pat.call("checkin", checkin_payload(session_id, mood=7, note="After Olly left"))
    facilitator.wait_for("checkin", lambda c: c["id"] == later["checkin"]["id"])
    assert len(olly.events) == heard
    assert [a for a in olly.of("alert")] == [] and [a for a in pat.of("alert")] == []


def _cookie(browser: requests.Session) -> str:
    return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


def _csrf_token(browser: requests.Session, url: str) -> str:
    page = browser.get(url, timeout=15).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@needs_redis
def test_signing_out_on_one_process_drops_the_accounts_sockets_on_the_other(listeners, shared_database, start_apps):
    """SECURITY.md 6: the socket is dropped at once, whichever process holds it, and its account's other devices
    with it (they reconnect, and are let back in while their own login lasts)."""
    first, second = start_apps(2, os.environ["TEST_REDIS_URL"])
    session_id, pat = shared_database["session_id"], shared_database["members"][0]
    browser = _sign_in(first.url, pat["email"])
    on_second = listeners(second.url, cookie=_cookie(browser))
    other_device = listeners(second.url, pat["token"])
    bystander = listeners(second.url, shared_database["members"][1]["token"])
    for listener in (on_second, other_device, bystander):
        assert listener.call("join_session", {"session_id": session_id})["ok"] is True

    token = _csrf_token(browser, f"{first.url}/profile")
    response = browser.post(f"{first.url}/logout", data={"csrf_token": token}, allow_redirects=False, timeout=15)
    assert response.status_code == 302
    browser.close()

    assert on_second.wait_disconnected() and other_device.wait_disconnected()
    assert bystander.client.connected
    back = listeners(second.url, pat["token"])  # the other device reconnects: its token is still good
    assert back.call("join_session", {"session_id": session_id})["ok"] is True
    with pytest.raises(socketio.exceptions.ConnectionError):  # the signed-out cookie is not
        listeners(second.url, cookie=_cookie(browser))


@needs_redis
def test_deactivating_an_account_on_one_process_drops_its_sockets_on_the_other(listeners, shared_database,
                                                                              start_apps):
    first, second = start_apps(2, os.environ["TEST_REDIS_URL"])
    session_id, facilitator = shared_database["session_id"], shared_database["facilitator"]
    in_room = listeners(second.url, facilitator["token"])
    assert in_room.call("join_session", {"session_id": session_id})["ok"] is True
    elsewhere = listeners(second.url, facilitator["token"])
    member = listeners(first.url, shared_database["members"][0]["token"])
    assert member.call("join_session", {"session_id": session_id})["ok"] is True
    admin = _sign_in(first.url, shared_database["admin"]["email"])

    token = _csrf_token(admin, f"{first.url}/admin/people")
    response = admin.post(f"{first.url}/admin/people/{facilitator['id']}/deactivate", data={"csrf_token": token},
                          allow_redirects=False, timeout=15)
    assert response.status_code == 302, response.text[:300]
    admin.close()

    assert in_room.wait_disconnected() and elsewhere.wait_disconnected()
    heard = len(in_room.events)
    later = member.call("need_support", {"session_id": session_id})
    assert later["ok"] is True
    assert len(in_room.events) == heard
    with pytest.raises(socketio.exceptions.ConnectionError):
        listeners(second.url, facilitator["token"])


# Redis down -----------------------------------------------------------------------------------------------------------


def test_with_redis_down_checkins_persist_and_clients_catch_up_from_the_database(listeners, shared_database,
                                                                                 start_apps):
    [app_process] = start_apps(1, dead_redis_url())
    session_id, members = shared_database["session_id"], shared_database["members"]

    ready = requests.get(f"{app_process.url}/readyz", timeout=15)
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": "ok", "redis": "unreachable"}
    assert requests.get(f"{app_process.url}/healthz", timeout=15).status_code == 200

    pat = listeners(app_process.url, members[0]["token"])
    olly = listeners(app_process.url, members[1]["token"])
    assert pat.call("join_session", {"session_id": session_id})["ok"] is True
    assert olly.call("join_session", {"session_id": session_id})["ok"] is True

    by_socket = pat.call("checkin", checkin_payload(session_id, mood=5, note="Redis is down"))
    assert by_socket["ok"] is True and by_socket["duplicate"] is False
    low = pat.call("checkin", checkin_payload(session_id, mood=1, note="Low"))
    assert low["ok"] is True and low["support"]["name"] == "Scale Crisis Line"  # the member still sees where help is
    by_api = requests.post(f"{app_process.url}/api/v1/sessions/{session_id}/checkins", timeout=15,
                           json={"client_id": f"ck-{uuid.uuid4().hex}", "mood": 6, "note": "Over HTTP"},
                           headers={"Authorization": f"Bearer {members[2]['token']}"})
    assert by_api.status_code == 201, by_api.text

    between = requests.post(f"{app_process.url}/api/v1/checkins", timeout=15,  # rate-limited: memory stands in
                            json={"client_id": f"ck-{uuid.uuid4().hex}", "mood": 7, "note": "Between sessions"},
                            headers={"Authorization": f"Bearer {members[3]['token']}"})
    assert between.status_code == 201, between.text
    browser = _sign_in(app_process.url, members[4]["email"])
    home = browser.get(f"{app_process.url}/", timeout=15).text
    form = dict(re.findall(r'name="(csrf_token|client_id)"[^>]* value="([^"]+)"', home))
    posted = browser.post(f"{app_process.url}/checkins", data={**form, "mood": "4", "note": "From the home page"},
                          allow_redirects=False, timeout=15)
    assert posted.status_code == 302
    browser.close()

    stored = db_rows(shared_database["path"], "SELECT note FROM checkin ORDER BY id")
    assert stored == [("Redis is down",), ("Low",), ("Over HTTP",), ("Between sessions",), ("From the home page",)]
    assert db_rows(shared_database["path"], "SELECT kind FROM safety_alert") == [("low_mood",)]

    # What could not be pushed is in the database: a sync, or a reconnect and join, brings it.
    synced = olly.call("sync", {"session_id": session_id})["state"]
    assert sorted(c["note"] for c in synced["checkins"]) == ["Low", "Over HTTP"]  # each member's latest
    olly.close()
    back = listeners(app_process.url, members[1]["token"])
    joined = back.call("join_session", {"session_id": session_id})["state"]
    assert sorted(c["note"] for c in joined["checkins"]) == ["Low", "Over HTTP"]
    facilitator = listeners(app_process.url, shared_database["facilitator"]["token"])
    state = facilitator.call("join_session", {"session_id": session_id})["state"]
    assert [a["kind"] for a in state["alerts"]] == ["low_mood"]

    log = app_process.log.read_text()
    assert "Cannot publish to redis" in log or "not delivered" in log  # the lost pushes are logged


def _sign_in(url: str, email: str) -> requests.Session:
    from serve_app import PASSWORD

    browser = requests.Session()
    page = browser.get(f"{url}/login", timeout=15).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = browser.post(f"{url}/login", data={"csrf_token": token, "email": email, "password": PASSWORD},
                            allow_redirects=False, timeout=15)
    assert response.status_code == 302, response.text[:500]  # sign-in works with its rate-limit store down
    return browser


# SIGKILL in the middle of a burst -------------------------------------------------------------------------------------

BURST = 600
KILLS = 6


def test_a_server_killed_during_a_burst_of_checkins_loses_none_and_stores_none_twice(shared_database):
    """Eight members send 600 check-ins over HTTP, each retried with its key until acknowledged; the server is killed
    with SIGKILL six times along the way and restarted on the same port and file."""
    session_id, members = shared_database["session_id"], shared_database["members"]
    env = {**shared_database["env"], "REDIS_URL": ""}
    port = free_port()
    logs = shared_database["tmp"]
    server = AppProcess(env, logs / "kill-0.log", port=port)
    standby = AppProcess(env, logs / "kill-1.log", port=port, standby=True)
    server.wait_listening()
    url = f"http://127.0.0.1:{port}/api/v1/sessions/{session_id}/checkins"

    acknowledged: dict[str, int] = {}
    failures: list[str] = []
    retries = [0]
    answered_as_retry = [0]  # committed before a kill cut the answer off: the retry found the key stored
    lock = threading.Lock()
    per_member = BURST // len(members)

    def member(token: str, index: int) -> None:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {token}"
        try:
            for n in range(per_member):
                client_id = f"kill-{index}-{n:03d}-{uuid.uuid4().hex[:8]}"
                body = {"client_id": client_id, "mood": 3 + n % 8, "note": f"{index}/{n}"}
                while True:
                    try:
                        response = http.post(url, json=body, timeout=10)
                    except requests.RequestException:
                        response = None
                    if response is not None and response.status_code == 201:
                        with lock:
                            acknowledged[client_id] = response.json()["id"]
                            answered_as_retry[0] += response.json()["duplicate"]
                        break
                    if response is not None and response.status_code < 500:
                        with lock:
                            failures.append(f"{response.status_code} {response.text[:200]}")
                        return
                    with lock:
                        retries[0] += 1
                    time.sleep(0.02)
        finally:
            http.close()

    threads = [threading.Thread(target=member, args=(m["token"], i)) for i, m in enumerate(members)]
    kills = 0
    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        for kills in range(1, KILLS + 1):
            # Kill with check-ins in flight: after each further sixth of the burst has been acknowledged.
            threshold = BURST * kills // (KILLS + 1)
            while len(acknowledged) < threshold and any(t.is_alive() for t in threads):
                time.sleep(0.005)
            server.kill()
            standby.wait_ready()
            standby.go()  # the same port and file, on an app already built
            server.close()
            server, standby = standby, (AppProcess(env, logs / f"kill-{kills + 1}.log", port=port, standby=True)
                                        if kills < KILLS else None)
        for thread in threads:
            thread.join(timeout=120)
    finally:
        server.close()
        if standby is not None:
            standby.close()
    elapsed = time.monotonic() - started

    assert failures == []
    assert not any(thread.is_alive() for thread in threads)
    assert kills == KILLS
    assert len(acknowledged) == BURST
    assert retries[0] > 0, "no request was cut off by a kill; the test proved nothing"
    stored = db_rows(shared_database["path"], "SELECT client_id, id FROM checkin")
    per_key: dict[str, list[int]] = {}
    for client_id, row_id in stored:
        per_key.setdefault(client_id, []).append(row_id)
    duplicates = {k: ids for k, ids in per_key.items() if len(ids) > 1}
    lost = {k for k in acknowledged if k not in per_key}
    assert lost == set()  # 0 acknowledged check-ins lost
    assert duplicates == {}  # 0 duplicates
    assert all(per_key[k] == [row_id] for k, row_id in acknowledged.items())  # the row the client was told about
    assert len(stored) == BURST
    assert db_rows(shared_database["path"], "PRAGMA integrity_check") == [("ok",)]
    _assert_audit_chain_intact(shared_database["uri"], expected_checkins=BURST)
    print(f"{BURST} check-ins, {KILLS} kills, {retries[0]} retries ({answered_as_retry[0]} found already stored) "
          f"in {elapsed:.1f} s")


def _assert_audit_chain_intact(uri: str, expected_checkins: int) -> None:
    """Killed mid-transaction or not, the hash-chained audit trail has one record per check-in and no gap."""
    from sqlalchemy import func, select

    from app import audit, create_app
    from app.extensions import db

    app = create_app("development", SQLALCHEMY_DATABASE_URI=uri, REDIS_URL="", SECRET_KEY=SECRET_KEY,
                     AUDIT_KEY=AUDIT_KEY, RATELIMIT_STORAGE_URI="memory://")
    with app.app_context():
        try:
            result = audit.verify()
            assert result.ok, result.problems[:5]
            assert db.session.scalar(select(func.count()).select_from(audit.AuditEvent)
                                     .where(audit.AuditEvent.action == "checkin")) == expected_checkins
        finally:
            db.session.remove()
            db.engine.dispose()
