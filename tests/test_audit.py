"""The audit trail: sign-ins and denials are recorded (who, whose, what, when in UTC, outcome), the HMAC chain shows
an edited or deleted row to `flask audit verify`, and CR/LF in a field cannot forge a line."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from conftest import PASSWORD
from page_forms import sign_in
from sqlalchemy import select, text

from app import audit
from app.audit import AuditEvent, AuditHead
from app.extensions import db
from app.models_base import utcnow


@pytest.fixture(autouse=True)
def _fast_passwords(monkeypatch):
    """These tests are about what is recorded, not hashing: compare in plain rather than pay argon2 per sign-in."""
    from app.accounts import services

    monkeypatch.setattr(services, "verify_password", lambda stored, password: password == PASSWORD)




def events(action: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.seq)
    if action:
        query = query.where(AuditEvent.action == action)
    return list(db.session.scalars(query))


def assert_recent_utc(event: AuditEvent, since) -> None:
    assert event.occurred_at.utcoffset() == timedelta(0)
    assert since <= event.occurred_at <= utcnow()


# What is recorded ----------------------------------------------------------------------------------------------------


def test_a_successful_sign_in_is_recorded_with_actor_outcome_address_and_utc_time(client, patient):
    since = utcnow()

    sign_in(client, patient.email, environ_base={"REMOTE_ADDR": "203.0.113.9"})

    [event] = events("login")
    assert (event.actor_id, event.subject_id, event.outcome) == (patient.id, patient.id, "success")
    assert event.ip == "203.0.113.9"
    assert event.target.startswith("login_session:")
    assert_recent_utc(event, since)


def test_a_failed_sign_in_is_recorded_against_the_account_that_was_tried(client, patient):
    since = utcnow()

    sign_in(client, patient.email, "a wrong password", environ_base={"REMOTE_ADDR": "203.0.113.9"})

    [event] = events("login")
    assert (event.actor_id, event.subject_id, event.outcome) == (None, patient.id, "failure")
    assert event.ip == "203.0.113.9"
    assert_recent_utc(event, since)
    assert "a wrong password" not in event.details


def test_a_failed_sign_in_for_an_unknown_address_is_recorded_without_storing_what_was_typed(client):
    sign_in(client, "nobody@example.org", "typed by mistake")

    [event] = events("login")
    assert (event.actor_id, event.subject_id, event.outcome) == (None, None, "failure")
    assert "nobody@example.org" not in event.details and "typed by mistake" not in event.details


def test_a_sign_out_is_recorded(client, login, post, patient):
    login(client, patient)

    post(client, "/logout")

    [event] = events("logout")
    assert (event.actor_id, event.subject_id, event.outcome) == (patient.id, patient.id, "success")
    assert json.loads(event.details) == {"reason": "logout"}


def test_a_forbidden_page_is_recorded_as_a_denied_request(client, login, patient):
    login(client, patient)
    since = utcnow()

    assert client.get("/admin/people").status_code == 403

    [event] = events("request_denied")
    assert (event.actor_id, event.outcome, event.target) == (patient.id, "denied", "GET /admin/people")
    assert json.loads(event.details) == {"status": 403}
    assert_recent_utc(event, since)


def test_an_api_call_without_credentials_is_recorded_as_a_denied_request(client):
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"}).status_code == 401

    [event] = events("request_denied")
    assert (event.actor_id, event.outcome, event.target) == (None, "denied", "GET /api/v1/me")
    assert json.loads(event.details) == {"status": 401}


def test_a_protected_page_refused_to_an_ended_session_is_recorded_as_a_denied_request(client, login, post, patient):
    login(client, patient)
    copied = client.get_cookie("session").value
    post(client, "/logout")
    client.set_cookie("session", copied)

    assert client.get("/profile").status_code == 302

    [event] = events("request_denied")
    assert (event.actor_id, event.outcome, event.target) == (None, "denied", "GET /profile")


def test_a_denial_is_kept_even_though_the_request_failed(client, login, patient):
    """The error handler rolls back the request's work, but the record of the denial is committed."""
    login(client, patient)
    client.get("/admin/people")

    db.session.rollback()
    assert len(events("request_denied")) == 1


# Denials answered as "not found" -------------------------------------------------------------------------------------


@pytest.fixture
def world(app):
    import matrix

    return matrix.fresh_world(app, PASSWORD)


def present(world, identity: str) -> dict:
    """The bearer token the world made for one of its identities (tests/matrix.py)."""
    return {"Authorization": f"Bearer {world.credentials(identity, 'bearer')[1]}"}


def denials() -> list[AuditEvent]:
    return [e for e in events("request_denied") if json.loads(e.details)["status"] == 404]


def test_reaching_for_another_accounts_token_is_recorded_as_a_denial_of_whose_it_is(app, client, world):
    response = client.delete(f"/api/v1/auth/tokens/{world.patient_token.id}", headers=present(world, "other_patient"))

    assert response.status_code == 404
    [event] = denials()
    assert (event.actor_id, event.subject_id, event.outcome) == (world.other_patient.id, world.patient.id, "denied")
    assert event.target == f"DELETE /api/v1/auth/tokens/{world.patient_token.id}"


def test_a_denial_under_a_consent_names_it(app, client, world):
    consent_id = world.active_consent.id

    response = client.post(f"/api/v1/consents/{consent_id}/revoke", headers=present(world, "other_patient"))

    assert response.status_code == 404
    [event] = denials()
    assert (event.subject_id, event.consent_id) == (world.patient.id, consent_id)


def test_another_organisations_group_is_recorded_as_a_denial(app, client, world):
    response = client.get(f"/api/v1/groups/{world.group.id}", headers=present(world, "other_org_admin"))

    assert response.status_code == 404
    [event] = denials()
    assert event.actor_id == world.other_org_admin.id


def test_a_supporter_whose_consent_was_revoked_is_recorded_when_refused(app, client, world):
    response = client.get(f"/api/v1/patients/{world.patient.id}/shared",
                          headers=present(world, "supporter_revoked"))

    assert response.status_code == 404
    assert response.json["error"]["message"] == "Access has ended."
    [event] = denials()
    assert (event.actor_id, event.subject_id) == (world.supporter_revoked.id, world.patient.id)


def test_an_id_that_names_nothing_is_not_found_without_a_denial(app, client, world):
    headers = present(world, "other_patient")

    assert client.delete("/api/v1/auth/tokens/999999", headers=headers).status_code == 404
    assert client.get("/api/v1/groups/999999", headers=headers).status_code == 404
    assert client.get("/api/v1/patients/999999/shared", headers=present(world, "supporter_revoked")) \
        .status_code == 404  # a denial (no consent), but of no one: the id names no account
    assert [e.subject_id for e in denials()] == [None]


def test_a_refused_socket_connection_is_recorded(app):
    from app.extensions import socketio

    sio = socketio.test_client(app, auth={"token": "not-a-token"})

    assert not sio.is_connected()
    [event] = events("socket_denied")
    assert (event.actor_id, event.target, event.outcome) == (None, "connect", "denied")


def test_a_facilitator_reading_a_sessions_check_ins_through_the_api_is_recorded_per_member(app, client, world):
    response = client.get(f"/api/v1/sessions/{world.upcoming.id}/checkins",
                          headers=present(world, "facilitator"))

    assert response.status_code == 200
    assert {c["user_id"] for c in response.json} == {world.patient.id}
    [event] = events("checkin_read")
    assert (event.actor_id, event.subject_id, event.target) == (world.facilitator.id, world.patient.id,
                                                                f"session:{world.upcoming.id}")


def test_a_member_reading_the_rooms_check_ins_is_not_a_facilitator_read(app, client, world):
    assert client.get(f"/api/v1/sessions/{world.upcoming.id}/checkins",
                      headers=present(world, "patient")).status_code == 200
    assert events("checkin_read") == []


# The chain -----------------------------------------------------------------------------------------------------------


def verify(app):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


@pytest.fixture
def trail(app, client, login, patient, other_patient, admin):
    """Five events from real activity."""
    for user in (patient, other_patient, admin):
        login(client, user)
    client.get("/admin/organisation")  # admin: allowed, no event
    login(client, patient)
    client.get("/admin/people")  # patient: denied
    assert [e.seq for e in events()] == [1, 2, 3, 4, 5]
    return events()


def tamper(sql: str, **params) -> None:
    db.session.execute(text(sql), params)
    db.session.commit()


def test_audit_verify_passes_on_an_intact_chain(app, trail):
    result = verify(app)

    assert result.exit_code == 0, result.output
    assert "5 events" in result.output


def test_audit_verify_passes_on_an_empty_trail(app):
    assert verify(app).exit_code == 0


def test_audit_verify_fails_after_a_field_is_edited(app, trail):
    tamper("UPDATE audit_event SET outcome = 'success' WHERE seq = :seq", seq=5)

    result = verify(app)

    assert result.exit_code == 1
    assert "seq 5" in result.output


@pytest.mark.parametrize(("column", "value"), [("actor_id", None), ("occurred_at", "2020-01-01 00:00:00"),
                                               ("target", "login_session:999"), ("details", "{\"edited\": true}"),
                                               ("ip", "192.0.2.1")])
def test_audit_verify_fails_after_any_recorded_field_is_edited(app, trail, column, value):
    tamper(f"UPDATE audit_event SET {column} = :value WHERE seq = 2", value=value)

    assert verify(app).exit_code == 1


def test_audit_verify_fails_after_a_row_is_edited_and_its_hash_recomputed_without_the_key(app, trail):
    import hashlib

    forged = hashlib.sha256(b"forged").hexdigest()
    tamper("UPDATE audit_event SET outcome = 'success', hash = :hash WHERE seq = 5", hash=forged)

    assert verify(app).exit_code == 1


def test_audit_verify_fails_after_a_middle_row_is_deleted(app, trail):
    tamper("DELETE FROM audit_event WHERE seq = 3")

    result = verify(app)

    assert result.exit_code == 1
    assert "missing before seq 4" in result.output


def test_audit_verify_fails_after_a_middle_row_is_deleted_and_the_rest_renumbered(app, trail):
    tamper("DELETE FROM audit_event WHERE seq = 3")
    tamper("UPDATE audit_event SET seq = seq - 1 WHERE seq > 3")

    assert verify(app).exit_code == 1


def test_audit_verify_fails_after_the_last_row_is_deleted(app, trail):
    tamper("DELETE FROM audit_event WHERE seq = 5")

    result = verify(app)

    assert result.exit_code == 1
    assert "rows deleted at the end" in result.output


def test_audit_verify_fails_with_another_key(app, trail):
    app.config["AUDIT_KEY"] = "not-the-key-the-rows-were-signed-with"

    assert verify(app).exit_code == 1


def test_the_chain_goes_on_correctly_after_verification(app, trail, client, login, patient):
    login(client, patient)

    assert verify(app).exit_code == 0
    assert [e.seq for e in events()] == [1, 2, 3, 4, 5, 6]


# The head: where the chain ends, signed, from the moment the database exists -----------------------------------------


def head() -> AuditHead | None:
    db.session.expire_all()
    return db.session.get(AuditHead, 1)


def test_a_new_database_starts_with_the_signed_head_of_an_empty_trail(app):
    start = head()

    assert (start.last_seq, start.last_hash) == (0, audit.GENESIS)
    assert start.mac == audit.head_mac(0, audit.GENESIS)


def test_the_head_carries_an_hmac_of_where_the_chain_ends(app, trail):
    end = head()

    assert (end.last_seq, end.last_hash) == (5, trail[-1].hash)
    assert end.mac == audit.head_mac(5, trail[-1].hash)
    assert end.mac not in (audit.head_mac(4, trail[-1].hash), audit.head_mac(5, trail[-2].hash))


def test_audit_verify_fails_after_the_tail_is_cut_and_the_head_rewound_to_match(app, trail):
    tamper("DELETE FROM audit_event WHERE seq > 1")
    tamper("UPDATE audit_head SET last_seq = 1, last_hash = :hash", hash=trail[0].hash)

    result = verify(app)

    assert result.exit_code == 1
    assert "the head does not carry its HMAC" in result.output


@pytest.mark.parametrize("head_too", ["deleted", "reset to an empty trail"])
def test_audit_verify_fails_after_every_row_is_deleted_with_the_head(app, trail, head_too):
    tamper("DELETE FROM audit_event")
    if head_too == "deleted":
        tamper("DELETE FROM audit_head")
    else:
        tamper("UPDATE audit_head SET last_seq = 0, last_hash = :genesis", genesis=audit.GENESIS)

    result = verify(app)

    assert result.exit_code == 1
    assert ("the head is missing" if head_too == "deleted" else "the head does not carry its HMAC") in result.output


def test_a_deleted_head_does_not_stop_sign_ins_and_verify_reports_it(app, trail, patient):
    tamper("DELETE FROM audit_head")
    assert verify(app).exit_code == 1

    assert sign_in(app.test_client(), patient.email).status_code == 302
    assert sign_in(app.test_client(), patient.email).status_code == 302

    assert [(e.seq, e.action) for e in events()][5:] == [(6, audit.HEAD_REPAIRED), (7, "login"), (8, "login")]
    assert json.loads(events(audit.HEAD_REPAIRED)[0].details) == {"head": "missing", "last_stored_seq": 5}
    result = verify(app)
    assert result.exit_code == 1
    assert "seq 6: the head was put back" in result.output
    assert result.output.count("\n") == 1  # the chain itself is whole again: the repair is the only finding


def test_a_head_rewound_without_the_key_is_put_back_at_the_last_row_and_verify_reports_it(app, trail, patient):
    tamper("UPDATE audit_head SET last_seq = 2, last_hash = :hash", hash=trail[1].hash)

    assert sign_in(app.test_client(), patient.email).status_code == 302

    assert [(e.seq, e.action) for e in events()][5:] == [(6, audit.HEAD_REPAIRED), (7, "login")]
    assert json.loads(events(audit.HEAD_REPAIRED)[0].details) == {"head": "not signed", "head_seq": 2,
                                                                  "last_stored_seq": 5}
    result = verify(app)
    assert result.exit_code == 1
    assert "seq 6: the head was put back" in result.output


# Concurrent writers (SECURITY.md 16): the head is one row that every record reads, advances and writes back ----------

WRITERS, RECORDS_EACH = 8, 50


@pytest.fixture
def writers_app(tmp_path):
    """An app over a database that several connections share: a file for SQLite (the test configuration's in-memory
    database is a single connection), or TEST_DATABASE_URL; do not combine with the `app` fixture."""
    from conftest import app_of_its_own

    with app_of_its_own(tmp_path / "writers.db") as app:
        yield app


def test_eight_writers_recording_at_once_lose_no_update_and_never_find_the_database_locked(writers_app):
    import threading

    start = threading.Barrier(WRITERS)
    failures: list[str] = []

    def writer(n: int) -> None:
        with writers_app.app_context():
            start.wait()
            try:
                for i in range(RECORDS_EACH):  # one transaction each, as one request or event commits its own
                    audit.record("concurrent_write", target=f"writer:{n}", details={"i": i})
                    db.session.commit()
            except Exception as error:  # "database is locked", a lost update's duplicate seq, a deadlock
                failures.append(repr(error))
                db.session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    with writers_app.app_context():
        rows = db.session.execute(select(AuditEvent.seq, AuditEvent.target)).all()
        assert sorted(seq for seq, _target in rows) == list(range(1, WRITERS * RECORDS_EACH + 1))  # no gap, no twin
        assert {target: sum(1 for _seq, t in rows if t == target) for _seq, target in rows} == {
            f"writer:{n}": RECORDS_EACH for n in range(WRITERS)}
        assert db.session.get(AuditHead, 1).last_seq == WRITERS * RECORDS_EACH
        result = audit.verify()
        assert result.ok, result.problems[:5]
        db.session.remove()


# Log injection -------------------------------------------------------------------------------------------------------


def test_cr_and_lf_in_logged_fields_are_escaped(app, patient):
    with app.test_request_context(environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        audit.record("note\r\nforged", actor=patient, target="profile\r\n2024-01-01 login success admin",
                     details={"reason": "a\nb\rc"})
        db.session.commit()

    [event] = events()
    for value in (event.action, event.target, event.details):
        assert "\r" not in value and "\n" not in value
    assert event.target == "profile\\r\\n2024-01-01 login success admin"
    assert event.action == "note\\r\\nforged"
    assert verify(app).exit_code == 0


def test_escaping_cannot_be_undone_by_a_backslash_in_the_input(app):
    with app.test_request_context():
        audit.record("note", target="a\\nb")  # a literal backslash-n, not a newline
        audit.record("note", target="a\nb")
        db.session.commit()

    targets = [e.target for e in events()]
    assert targets[0] != targets[1]
