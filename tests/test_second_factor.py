"""Second factors: authenticator-app codes (TOTP) at the window's edges and never twice, recovery codes once and hashed,
passkeys verified against a software authenticator, the login session only after both factors, the shared login
limits, the audit trail, staff who must enrol, an admin's reset, and API tokens that need the second factor too."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import datetime, timezone

import cbor2
import pyotp
import pytest
import time_machine
from conftest import PASSWORD
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from app.accounts import second_factor
from app.accounts.models import LoginSession, Passkey, RecoveryCode, RoleName, TotpAuthenticator
from app.audit import AuditEvent
from app.extensions import db, mail, socketio

#: The middle of a 30-second step, so that "one step earlier" is unambiguous.
NOW = datetime(2026, 12, 3, 9, 0, 15, tzinfo=timezone.utc)
ORIGIN = "http://localhost"


def code_at(secret: str, when: datetime, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(int(when.timestamp()) + steps * second_factor.TOTP_STEP_SECONDS)


def current_code(secret: str, steps: int = 0) -> str:
    """The app's code now (the pages run on the real clock: a login session must not outlive a time jump)."""
    return code_at(secret, datetime.now(timezone.utc), steps)


def wrong_code(secret: str) -> str:
    """A code outside the window, whatever the time."""
    window = {current_code(secret, steps) for steps in range(-2, 3)}
    return next(code for code in ("000000", "111111", "222222", "333333", "444444", "555555") if code not in window)


@pytest.fixture
def with_totp(app):
    """Give an account a confirmed authenticator app; returns its secret."""

    def give(user) -> str:
        with app.test_request_context():
            totp = second_factor.start_totp(user)
            totp.confirmed_at = NOW
            db.session.commit()
            return totp.secret

    return give


@pytest.fixture
def with_codes(app):
    def give(user) -> list[str]:
        with app.test_request_context():
            codes = second_factor.new_recovery_codes(user)
            db.session.commit()
            return codes

    return give


def sign_in_with_password(client, user, password: str = PASSWORD, next_: str | None = None):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/login" + (f"?next={next_}" if next_ else ""),
                       data={"csrf_token": token, "email": user.email, "password": password})


def login_sessions(user) -> int:
    return db.session.scalar(select(func.count(LoginSession.id)).where(LoginSession.user_id == user.id))


def audit_rows(action: str, user=None) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
    if user is not None:
        query = query.where(AuditEvent.subject_id == user.id)
    return list(db.session.scalars(query))


# TOTP ----------------------------------------------------------------------------------------------------------------


def test_totp_accepts_the_previous_and_next_step_and_refuses_two_steps_away(app, patient, with_totp):
    secret = with_totp(patient)
    with app.test_request_context(), time_machine.travel(NOW, tick=False):
        assert not second_factor.verify_totp(patient, code_at(secret, NOW, -2))
        assert not second_factor.verify_totp(patient, code_at(secret, NOW, +2))
        assert second_factor.verify_totp(patient, code_at(secret, NOW, -1))
        # A later code still works after an earlier one: each step once, in order.
        assert second_factor.verify_totp(patient, code_at(secret, NOW, 0))
        assert second_factor.verify_totp(patient, code_at(secret, NOW, +1))


def test_totp_at_the_edge_of_a_step_takes_the_code_of_the_step_just_ended(app, patient, with_totp):
    secret = with_totp(patient)
    edge = datetime(2026, 12, 3, 9, 0, 30, tzinfo=timezone.utc)  # the first second of a step
    with app.test_request_context(), time_machine.travel(edge, tick=False):
        assert second_factor.verify_totp(patient, code_at(secret, edge, -1))
    with app.test_request_context(), time_machine.travel(edge.replace(second=59), tick=False):
        assert not second_factor.verify_totp(patient, code_at(secret, edge, -2))


def test_a_totp_code_is_refused_the_second_time_in_its_window(app, patient, with_totp):
    secret = with_totp(patient)
    code = code_at(secret, NOW)
    with app.test_request_context(), time_machine.travel(NOW, tick=False):
        assert second_factor.verify_totp(patient, code)
        db.session.commit()
        assert not second_factor.verify_totp(patient, code)
        # An older code of the window is refused too once a newer one was accepted.
        assert not second_factor.verify_totp(patient, code_at(secret, NOW, -1))
    totp = db.session.scalar(select(TotpAuthenticator).where(TotpAuthenticator.user_id == patient.id))
    assert totp.last_step == int(NOW.timestamp()) // 30


def test_setting_up_totp_needs_a_code_from_the_app(client, login, post, patient):
    login(client, patient)
    assert post(client, "/profile/security/totp/start").headers["Location"].endswith("/profile/security/totp")
    page = client.get("/profile/security/totp").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    main = page.split("<main", 1)[1]
    assert "<svg" in main and "<img" not in main

    wrong = post(client, "/profile/security/totp", {"code": wrong_code(secret)})
    assert wrong.status_code == 200 and not second_factor.has_second_factor(patient)
    right = post(client, "/profile/security/totp", {"code": current_code(secret)})
    # The first factor brings the recovery codes, shown once.
    assert right.headers["Location"].endswith("/profile/security/recovery-codes")
    codes_page = client.get("/profile/security/recovery-codes").get_data(as_text=True)
    assert len(re.findall(r"<li><code>[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}</code></li>", codes_page)) == 10
    assert client.get("/profile/security/recovery-codes").status_code == 302  # never again
    assert second_factor.has_second_factor(patient)


# Recovery codes ------------------------------------------------------------------------------------------------------


def test_recovery_codes_are_hashed_at_rest_and_work_once(app, patient, with_codes):
    codes = with_codes(patient)
    stored = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == patient.id)).all()
    assert len(codes) == len(set(codes)) == len(stored) == 10
    assert not {code.replace("-", "") for code in codes} & set(stored)
    assert not any(code in stored_hash for code in codes for stored_hash in stored)

    with app.test_request_context():
        assert second_factor.use_recovery_code(patient, codes[3].upper().replace("-", " "))
        assert not second_factor.use_recovery_code(patient, codes[3])
        assert second_factor.recovery_codes_left(patient) == 9


def test_new_recovery_codes_void_the_old_ones(app, patient, with_codes):
    old = with_codes(patient)
    new = with_codes(patient)
    with app.test_request_context():
        assert not second_factor.use_recovery_code(patient, old[0])
        assert second_factor.use_recovery_code(patient, new[0])


# Signing in: the login session only after both factors ---------------------------------------------------------------


def test_a_half_signed_in_client_has_no_login_session_and_reaches_nothing(client, patient, with_totp, post):
    secret = with_totp(patient)
    response = sign_in_with_password(client, patient, next_="/profile")

    assert response.status_code == 302 and "/login/second-step" in response.headers["Location"]
    assert login_sessions(patient) == 0
    with client.session_transaction() as session:
        assert set(session) == {"second_step"}
        assert set(session["second_step"]) == {"user", "until"}
    for path in ("/", "/profile", "/profile/security", "/groups", "/goals"):
        answer = client.get(path)
        assert answer.status_code == 302 and "/login" in answer.headers["Location"], path
    for path in ("/api/v1/me", "/api/v1/auth/tokens", "/api/v1/goals"):
        assert client.get(path).status_code == 401, path
    assert post(client, "/profile/tokens", {"name": "sneaky"}).status_code == 302
    assert login_sessions(patient) == 0

    done = post(client, "/login/second-step?next=/profile", {"code": current_code(secret)})
    assert done.status_code == 302 and done.headers["Location"].endswith("/profile")
    login = db.session.scalar(select(LoginSession).where(LoginSession.user_id == patient.id))
    assert login.second_factor == "totp"
    assert client.get("/profile").status_code == 200


def test_the_second_step_runs_out_after_a_few_minutes(client, app, patient, with_totp, post):
    secret = with_totp(patient)
    with time_machine.travel(NOW, tick=False) as traveller:
        sign_in_with_password(client, patient)
        traveller.shift(app.config["SECOND_FACTOR_STEP_MINUTES"] * 60 + 1)
        later = datetime.now(timezone.utc)
        answer = post(client, "/login/second-step", {"code": code_at(secret, later)})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/login")
    assert login_sessions(patient) == 0


def test_a_wrong_password_never_reaches_the_second_step(client, patient, with_totp):
    with_totp(patient)
    response = sign_in_with_password(client, patient, password="not the password at all")
    assert response.status_code == 200
    with client.session_transaction() as session:
        assert "second_step" not in session


def test_signing_in_with_a_recovery_code(client, patient, with_totp, with_codes, post):
    with_totp(patient)
    codes = with_codes(patient)
    sign_in_with_password(client, patient)
    assert post(client, "/login/recovery", {"recovery_code": "aaaa-bbbb-cccc-dddd"}).status_code == 200
    assert login_sessions(patient) == 0
    assert post(client, "/login/recovery", {"recovery_code": codes[0]}).status_code == 302
    login = db.session.scalar(select(LoginSession).where(LoginSession.user_id == patient.id))
    assert login.second_factor == "recovery_code"


def test_failed_second_steps_use_up_the_login_limit_of_the_account(app, client, patient, with_totp, post):
    with_totp(patient)
    sign_in_with_password(client, patient)
    statuses = [post(client, "/login/second-step", {"code": "000001"}).status_code for _n in range(10)]
    assert statuses == [200] * 10
    assert post(client, "/login/second-step", {"code": "000001"}).status_code == 429
    assert post(client, "/login/recovery", {"recovery_code": "abcd"}).status_code == 429
    # The account's limit is shared with the password step: from another address too.
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.20"
    assert sign_in_with_password(elsewhere, patient).status_code == 429
    assert login_sessions(patient) == 0


# Passkeys, with a software authenticator -----------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def from_b64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "===")


class SoftwareAuthenticator:
    """A platform authenticator in a few lines: a P-256 key, "none" attestation, real signatures."""

    def __init__(self, rp_id: str = "localhost", origin: str = ORIGIN):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = b"software-authenticator-" + hashlib.sha256(repr(id(self)).encode()).digest()[:8]
        self.rp_id, self.origin = rp_id, origin
        self.count = 0

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}).encode()

    def create(self, options: dict) -> str:
        numbers = self.key.public_key().public_numbers()
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})
        auth_data = (hashlib.sha256(self.rp_id.encode()).digest() + bytes([0x45]) + (0).to_bytes(4, "big")
                     + bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id + cose)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps({"id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
                           "clientExtensionResults": {}, "response": {
                               "clientDataJSON": b64url(self._client_data("webauthn.create", options["challenge"])),
                               "attestationObject": b64url(attestation), "transports": ["internal"]}})

    def get(self, options: dict, tamper: bool = False) -> str:
        self.count += 1
        auth_data = hashlib.sha256(self.rp_id.encode()).digest() + bytes([0x05]) + self.count.to_bytes(4, "big")
        client_data = self._client_data("webauthn.get", options["challenge"])
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        if tamper:
            signature = self.key.sign(b"something else", ec.ECDSA(hashes.SHA256()))
        return json.dumps({"id": b64url(self.credential_id), "rawId": b64url(self.credential_id), "type": "public-key",
                           "clientExtensionResults": {}, "response": {
                               "clientDataJSON": b64url(client_data), "authenticatorData": b64url(auth_data),
                               "signature": b64url(signature)}})


def page_options(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="passkey-options">(.*?)</script>', html,
                                re.S).group(1))


def add_passkey(client, post, authenticator: SoftwareAuthenticator, name: str = "Laptop"):
    options = page_options(client.get("/profile/security/passkeys/new").get_data(as_text=True))
    return post(client, "/profile/security/passkeys/new", {"name": name, "credential": authenticator.create(options)})


def test_a_passkey_is_registered_and_signs_in_verified_on_the_server(client, app, login, post, patient):
    authenticator = SoftwareAuthenticator()
    login(client, patient)
    assert add_passkey(client, post, authenticator).status_code == 302
    passkey = db.session.scalar(select(Passkey).where(Passkey.user_id == patient.id))
    assert (passkey.name, passkey.credential_id, passkey.transports) == ("Laptop", authenticator.credential_id,
                                                                         ["internal"])
    # The same authenticator cannot be added twice.
    assert add_passkey(client, post, authenticator).status_code == 200
    post(client, "/logout")

    browser = app.test_client()
    sign_in_with_password(browser, patient)
    options = page_options(browser.get("/login/second-step").get_data(as_text=True))
    assert [item["id"] for item in options["allowCredentials"]] == [b64url(authenticator.credential_id)]
    tampered = post(browser, "/login/second-step/passkey", {"credential": authenticator.get(options, tamper=True)})
    assert tampered.status_code == 200 and login_sessions(patient) == 1

    options = page_options(tampered.get_data(as_text=True))
    answer = authenticator.get(options)
    assert post(browser, "/login/second-step/passkey", {"credential": answer}).status_code == 302
    login_row = db.session.scalars(select(LoginSession).where(LoginSession.user_id == patient.id)
                                   .order_by(LoginSession.id.desc())).first()
    assert login_row.second_factor == "passkey"
    db.session.refresh(passkey)
    assert passkey.sign_count == authenticator.count and passkey.last_used_at is not None


def test_a_passkey_answer_is_refused_for_another_challenge_or_origin(client, app, login, post, patient):
    authenticator = SoftwareAuthenticator()
    login(client, patient)
    add_passkey(client, post, authenticator)
    browser = app.test_client()
    sign_in_with_password(browser, patient)
    options = page_options(browser.get("/login/second-step").get_data(as_text=True))
    stale = dict(options, challenge=b64url(b"an old challenge of another page"))
    assert post(browser, "/login/second-step/passkey", {"credential": authenticator.get(stale)}).status_code == 200
    phishing = SoftwareAuthenticator(origin="http://evil.example")
    phishing.key, phishing.credential_id = authenticator.key, authenticator.credential_id
    options = page_options(browser.get("/login/second-step").get_data(as_text=True))
    assert post(browser, "/login/second-step/passkey", {"credential": phishing.get(options)}).status_code == 200
    # The challenge is spent with the try: replaying a good answer after a failure is refused too.
    assert post(browser, "/login/second-step/passkey", {"credential": "{not json"}).status_code == 200
    assert login_sessions(patient) == 1  # only the fixture's own


# The audit trail -----------------------------------------------------------------------------------------------------


def test_each_second_factor_event_is_in_the_audit_trail(client, app, login, post, patient, with_codes):
    login(client, patient)
    post(client, "/profile/security/totp/start")
    secret = db.session.scalar(select(TotpAuthenticator.secret).where(TotpAuthenticator.user_id == patient.id))
    post(client, "/profile/security/totp", {"code": current_code(secret)})
    authenticator = SoftwareAuthenticator()
    add_passkey(client, post, authenticator)
    codes = with_codes(patient)
    post(client, "/logout")

    browser = app.test_client()
    sign_in_with_password(browser, patient)
    post(browser, "/login/second-step", {"code": wrong_code(secret)})
    post(browser, "/login/second-step", {"code": current_code(secret, +1)})  # the setup used the current step
    post(browser, "/logout")
    sign_in_with_password(browser, patient)
    post(browser, "/login/recovery", {"recovery_code": codes[0]})
    # This login used a factor, so it may change them.
    passkey = db.session.scalar(select(Passkey).where(Passkey.user_id == patient.id))
    post(browser, f"/profile/security/passkeys/{passkey.id}/remove")
    post(browser, "/profile/security/totp/remove")

    enrolled = [json.loads(row.details)["method"] for row in audit_rows("second_factor_enrol", patient)
                if row.outcome == "success"]
    assert enrolled == ["totp", "passkey"]
    uses = [(json.loads(row.details)["method"], row.outcome) for row in audit_rows("second_factor_use", patient)]
    assert uses == [("totp", "failure"), ("totp", "success")]
    assert [row.outcome for row in audit_rows("recovery_code_use", patient)] == ["success"]
    removed = [json.loads(row.details)["method"] for row in audit_rows("second_factor_remove", patient)]
    assert removed == ["passkey", "totp"]
    assert len(audit_rows("recovery_codes_create", patient)) == 2  # with the first factor, and by hand
    logins = [json.loads(row.details).get("second_factor") for row in audit_rows("login", patient)]
    assert logins[-2:] == ["totp", "recovery_code"]


# Changing factors, and tokens, take a login made with both ----------------------------------------------------------


def test_a_password_only_login_cannot_change_factors_or_create_tokens(client, login, post, patient, with_totp):
    with_totp(patient)
    login(client, patient)  # a login that gave no second factor (as made before the app was set up)

    assert post(client, "/profile/tokens", {"name": "laptop"}).status_code == 403
    post(client, "/profile/security/totp/remove")
    assert second_factor.confirmed_totp(patient) is not None
    assert "Sign out and in again" in client.get("/profile/security").get_data(as_text=True)


def test_a_login_with_both_factors_creates_tokens(app, client, post, patient, with_totp):
    secret = with_totp(patient)
    sign_in_with_password(client, patient)
    post(client, "/login/second-step", {"code": current_code(secret)})
    assert post(client, "/profile/tokens", {"name": "laptop"}).status_code == 302


def test_the_api_token_endpoint_asks_for_the_second_factor(client, patient, with_totp, with_codes):
    secret = with_totp(patient)
    codes = with_codes(patient)
    body = {"email": patient.email, "password": PASSWORD, "name": "phone"}

    missing = client.post("/api/v1/auth/tokens", json=body)
    assert missing.status_code == 401
    assert missing.get_json()["error"]["code"] == "second_factor_required"
    assert client.post("/api/v1/auth/tokens", json={**body, "totp": wrong_code(secret)}).status_code == 401
    assert client.post("/api/v1/auth/tokens", json={**body, "recovery_code": "nope-nope"}).status_code == 401
    code = current_code(secret, +1)
    assert client.post("/api/v1/auth/tokens", json={**body, "totp": code}).status_code == 201
    assert client.post("/api/v1/auth/tokens", json={**body, "totp": code}).status_code == 401
    assert client.post("/api/v1/auth/tokens", json={**body, "recovery_code": codes[1]}).status_code == 201
    assert [row.outcome for row in audit_rows("second_factor_use", patient)] == ["failure", "success", "failure"]


def test_the_openapi_document_describes_the_second_factor_fields(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/auth/tokens"]["post"]
    schema_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    properties = spec["components"]["schemas"][schema_ref]["properties"]
    assert {"totp", "recovery_code"} <= set(properties)
    assert "403" in operation["responses"] and "401" in operation["responses"]


# Staff whose organisation asks for a second factor -------------------------------------------------------------------


@pytest.fixture
def strict_organisation(organisation):
    organisation.staff_second_factor = True
    db.session.commit()
    return organisation


def test_staff_without_a_second_factor_are_led_to_set_one_up(client, post, strict_organisation, facilitator,
                                                             patient):
    assert sign_in_with_password(client, facilitator).status_code == 302
    assert login_sessions(facilitator) == 1  # nothing to ask for yet: they sign in, and are sent to set one up
    for path in ("/", "/groups", "/profile", "/calendar"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].endswith("/profile/security"), path
    assert client.get("/api/v1/me").status_code == 403
    assert client.get("/api/v1/me").get_json()["error"]["code"] == "second_factor_required"
    assert client.get("/crisis").status_code == 200
    assert client.get("/profile/security").status_code == 200

    post(client, "/profile/security/totp/start")
    secret = db.session.scalar(select(TotpAuthenticator.secret).where(TotpAuthenticator.user_id == facilitator.id))
    post(client, "/profile/security/totp", {"code": current_code(secret)})
    assert client.get("/").status_code == 200
    # The last factor stays while the organisation asks for one.
    post(client, "/profile/security/totp/remove")
    assert second_factor.confirmed_totp(facilitator) is not None

    # Members are not asked.
    member = client.application.test_client()
    sign_in_with_password(member, patient)
    assert member.get("/").status_code == 200


def test_setting_up_a_first_factor_ends_sign_ins_and_tokens_made_elsewhere_with_the_password_alone(
        app, client, post, api_token, patient):
    elsewhere = app.test_client()
    sign_in_with_password(client, patient)
    sign_in_with_password(elsewhere, patient)
    token = api_token(patient)
    assert elsewhere.get("/profile").status_code == 200

    post(client, "/profile/security/totp/start")
    secret = db.session.scalar(select(TotpAuthenticator.secret).where(TotpAuthenticator.user_id == patient.id))
    post(client, "/profile/security/totp", {"code": current_code(secret)})

    assert client.get("/profile").status_code == 200
    assert elsewhere.get("/profile").status_code == 302
    assert client.get("/api/v1/me", headers=token).status_code == 401


def test_staff_cannot_open_a_live_socket_before_setting_up_a_second_factor(app, client, strict_organisation,
                                                                           facilitator):
    sign_in_with_password(client, facilitator)
    refused = socketio.test_client(app, flask_test_client=client)
    assert not refused.is_connected()

    with app.test_request_context():
        secret = second_factor.start_totp(facilitator).secret
        second_factor.confirm_totp(facilitator, current_code(secret))
        db.session.commit()
    accepted = socketio.test_client(app, flask_test_client=client)
    try:
        assert accepted.is_connected()
    finally:
        accepted.disconnect()


def test_staff_cannot_get_an_api_token_before_setting_up_a_second_factor(client, strict_organisation, facilitator):
    answer = client.post("/api/v1/auth/tokens", json={"email": facilitator.email, "password": PASSWORD})
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "second_factor_required"


def test_the_admin_turns_the_requirement_on_from_the_organisation_page(client, login, post, admin, organisation):
    login(client, admin)
    page = client.get("/admin/organisation").get_data(as_text=True)
    assert 'name="staff_second_factor"' in page and "checked" not in page.split('name="staff_second_factor"')[0][-80:]
    post(client, "/admin/organisation", {"name": organisation.name, "locale": "en", "staff_second_factor": "y"})
    db.session.refresh(organisation)
    assert organisation.staff_second_factor is True
    assert client.get("/").headers["Location"].endswith("/profile/security")


def test_production_asks_staff_for_a_second_factor_by_default(app, organisation):
    assert not second_factor.staff_must_use_second_factor(organisation)
    app.config["SECOND_FACTOR_FOR_STAFF"] = True
    assert second_factor.staff_must_use_second_factor(organisation)
    organisation.staff_second_factor = False
    assert not second_factor.staff_must_use_second_factor(organisation)
    from app.config import DevelopmentConfig, ProductionConfig, TestConfig

    assert ProductionConfig.SECOND_FACTOR_FOR_STAFF and not DevelopmentConfig.SECOND_FACTOR_FOR_STAFF
    assert not TestConfig.SECOND_FACTOR_FOR_STAFF


# An admin's reset -----------------------------------------------------------------------------------------------------


def test_an_admin_resets_a_staff_members_factors_audited_and_told_by_email(app, client, login, post, admin,
                                                                           facilitator, with_totp, with_codes):
    with_totp(facilitator)
    with_codes(facilitator)
    login(app.test_client(), facilitator)
    login(client, admin)
    assert "Reset the second factors of" in client.get("/admin/people").get_data(as_text=True)

    with mail.record_messages() as outbox:
        answer = post(client, f"/admin/people/{facilitator.id}/reset-second-factor")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/admin/people")
    assert not second_factor.has_second_factor(facilitator)
    assert second_factor.recovery_codes_left(facilitator) == 0
    assert db.session.scalar(select(func.count(LoginSession.id)).where(
        LoginSession.user_id == facilitator.id, LoginSession.ended_at.is_(None))) == 0
    [message] = outbox
    assert message.recipients == [facilitator.email] and "second factors" in message.body
    [row] = audit_rows("second_factor_reset", facilitator)
    assert row.actor_id == admin.id and json.loads(row.details) == {"totp": 1, "passkeys": 0, "recovery_codes": 10}


def test_only_the_organisations_admin_resets_and_never_their_own(client, login, post, admin, facilitator, patient,
                                                                  make_organisation, make_user, with_totp):
    with_totp(admin)
    with_totp(facilitator)
    login(client, facilitator)
    assert post(client, f"/admin/people/{admin.id}/reset-second-factor").status_code == 404
    login(client, admin)
    assert post(client, f"/admin/people/{admin.id}/reset-second-factor").status_code == 404
    elsewhere = make_user(RoleName.ADMIN, organisation_=make_organisation())
    login(client, elsewhere)
    assert post(client, f"/admin/people/{facilitator.id}/reset-second-factor").status_code == 404
    assert second_factor.has_second_factor(admin) and second_factor.has_second_factor(facilitator)


def test_the_relying_party_comes_from_configuration_and_never_from_a_header(app):
    app.config["TRUSTED_HOSTS"] = None
    with app.test_request_context(base_url="http://attacker.example"):
        assert second_factor.relying_party() == ("localhost", "http://localhost")  # the test config's BASE_URL
        app.config.update(BASE_URL="https://clinic.example/momentum")
        assert second_factor.relying_party() == ("clinic.example", "https://clinic.example")
        app.config.update(WEBAUTHN_RP_ID="momentum.example", WEBAUTHN_ORIGIN="https://momentum.example")
        assert second_factor.relying_party() == ("momentum.example", "https://momentum.example")
        app.config.update(WEBAUTHN_RP_ID=None, WEBAUTHN_ORIGIN=None, BASE_URL="http://127.0.0.1:5000")
        assert second_factor.relying_party() is None  # browsers take no address as a relying party


def test_services_do_not_commit(app, patient):
    with app.test_request_context():
        second_factor.start_totp(patient)
        db.session.rollback()
    assert db.session.scalar(select(func.count(TotpAuthenticator.id))) == 0
