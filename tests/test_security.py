"""The security bar of SECURITY.md 6-13: sessions that end server-side, automatic logoff, CSRF, headers, cookies,
password hashing, no account enumeration, rate limits and safe redirects."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urljoin, urlsplit

import pytest
import time_machine
from argon2 import PasswordHasher, Type, extract_parameters
from conftest import PASSWORD, FreshUserClient, password_hash
from page_forms import is_signed_in, page_csrf_token, sign_in, submit
from sqlalchemy import func, select

from app import create_app
from app.accounts import services
from app.accounts.models import ApiToken, Invitation, LoginSession, Organisation, Role, RoleName, User
from app.audit import AuditEvent
from app.extensions import db, mail
from app.models_base import utcnow

NEW_PASSWORD = "a brand new and long passphrase"
PRODUCTION_SECRET = "production-secret-from-the-environment"
PRODUCTION_AUDIT_KEY = "production-audit-key-kept-apart"













def sent_to_sign_in(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def fast_passwords(monkeypatch):
    """For tests about limits and redirects, not hashing: argon2 costs ~50 ms per check, so compare in plain."""
    monkeypatch.setattr(services, "verify_password", lambda stored, password: password == PASSWORD)


# 6. Sessions end server-side -----------------------------------------------------------------------------------------


def replay(app, cookie: str):
    """A second browser that presents a copied session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief


def test_replayed_cookie_after_sign_out_is_sent_to_sign_in(client, app, login, patient):
    login(client, patient)
    copied = client.get_cookie("session").value

    submit(client, "/profile", {}, action="/logout")

    thief = replay(app, copied)
    assert sent_to_sign_in(thief.get("/profile"))
    assert thief.get("/api/v1/me").status_code == 401


def test_replayed_cookie_after_password_change_is_sent_to_sign_in(client, app, login, patient):
    login(client, patient)
    copied = client.get_cookie("session").value
    other_device = app.test_client()
    login(other_device, patient)

    response = submit(client, "/profile/password", {"current_password": PASSWORD, "password": NEW_PASSWORD,
                                                     "confirm": NEW_PASSWORD})

    assert response.status_code == 302
    assert sent_to_sign_in(replay(app, copied).get("/profile"))
    assert sent_to_sign_in(other_device.get("/profile"))
    assert is_signed_in(client)  # the person who changed it goes on, on a new login session


def test_replayed_cookie_after_deactivation_is_sent_to_sign_in(client, app, login, admin, facilitator):
    device = app.test_client()
    login(device, facilitator)
    copied = device.get_cookie("session").value
    login(client, admin)

    submit(client, "/admin/people", {}, action=f"/admin/people/{facilitator.id}/deactivate")

    assert sent_to_sign_in(replay(app, copied).get("/profile"))
    assert replay(app, copied).get("/api/v1/me").status_code == 401


def test_a_forged_session_cookie_with_an_unknown_token_is_sent_to_sign_in(client, app, patient):
    with client.session_transaction() as session:
        session["_user_id"] = "not-a-login-session-token"

    assert sent_to_sign_in(client.get("/profile"))


# 7. Automatic logoff -------------------------------------------------------------------------------------------------


def test_a_session_idle_longer_than_the_idle_timeout_is_ended(client, app, login, patient):
    with time_machine.travel(utcnow(), tick=False) as clock:
        login(client, patient)
        clock.shift(timedelta(minutes=app.config["SESSION_IDLE_MINUTES"], seconds=1))

        assert sent_to_sign_in(client.get("/profile"))
    assert db.session.scalar(select(LoginSession.end_reason)) == "idle"


def test_activity_keeps_a_session_alive_within_the_idle_timeout(client, app, login, patient):
    step = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] - 1)
    with time_machine.travel(utcnow(), tick=False) as clock:
        login(client, patient)
        for _ in range(5):
            clock.shift(step)
            assert is_signed_in(client)


def test_a_session_ends_at_its_absolute_lifetime_even_when_active(client, app, login, patient):
    lifetime = timedelta(hours=app.config["SESSION_MAX_HOURS"])
    step = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] - 1)
    with time_machine.travel(utcnow(), tick=False) as clock:
        login(client, patient)
        elapsed = timedelta(0)
        while elapsed + step <= lifetime:
            clock.shift(step)
            elapsed += step
            assert is_signed_in(client), elapsed
        clock.shift(lifetime - elapsed + timedelta(seconds=1))

        assert sent_to_sign_in(client.get("/profile"))
    assert db.session.scalar(select(LoginSession.end_reason)) == "expired"


def test_idle_timeout_and_lifetime_follow_the_configuration(client, app, login, patient, other_patient):
    app.config.update(SESSION_IDLE_MINUTES=5, SESSION_MAX_HOURS=1)
    idle_client = app.test_client()
    with time_machine.travel(utcnow(), tick=False) as clock:
        login(idle_client, patient)
        login(client, other_patient)
        clock.shift(timedelta(minutes=4))
        assert is_signed_in(idle_client)
        for _ in range(15):  # `client` is active every 4 minutes, yet out after an hour; `idle_client` is not
            assert is_signed_in(client)
            clock.shift(timedelta(minutes=4))
        assert not is_signed_in(idle_client)
        clock.shift(timedelta(seconds=1))
        assert sent_to_sign_in(client.get("/profile"))


def test_an_idle_session_cookie_is_refused_by_the_api_too(client, app, login, patient):
    with time_machine.travel(utcnow(), tick=False) as clock:
        login(client, patient)
        clock.shift(timedelta(minutes=app.config["SESSION_IDLE_MINUTES"], seconds=1))

        assert client.get("/api/v1/me").status_code == 401


# 9. CSRF -------------------------------------------------------------------------------------------------------------

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def example_path(rule) -> str:
    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", lambda m: "1" if m.group(1) == "int" else "x", rule.rule)


def write_routes(app, api: bool) -> list[tuple[str, str]]:
    return sorted({(method, example_path(rule)) for rule in app.url_map.iter_rules()
                   for method in (rule.methods or set()) & WRITE_METHODS
                   if rule.rule.startswith("/api/") == api})


def test_every_state_changing_form_is_refused_without_a_csrf_token(client, app, login, admin):
    routes = write_routes(app, api=False)
    assert ("POST", "/login") in routes and ("POST", "/logout") in routes
    login(client, admin)
    before = count(AuditEvent)

    refused = {(method, path): client.open(path, method=method, data={"email": "x@example.org"})
               for method, path in routes}

    assert {route: r.status_code for route, r in refused.items() if r.status_code != 400} == {}
    assert [route for route, r in refused.items() if "This form has expired" not in r.text] == []
    assert count(AuditEvent) == before  # nothing was done, so nothing was recorded
    assert is_signed_in(client)


def test_every_state_changing_form_is_refused_for_anonymous_visitors_without_a_csrf_token(client, app):
    statuses = {route: client.open(route[1], method=route[0]).status_code for route in write_routes(app, api=False)}

    assert {route: status for route, status in statuses.items() if status != 400} == {}


def test_a_csrf_token_from_another_session_is_refused(client, app, login, post, patient, other_patient):
    other = app.test_client()
    login(other, other_patient)
    foreign_token = page_csrf_token(other.get("/profile").text)
    login(client, patient)

    response = client.post("/profile/tokens", data={"csrf_token": foreign_token, "name": "stolen"})

    assert response.status_code == 400
    assert count(ApiToken) == 0


def test_every_api_write_with_a_browser_session_is_refused_without_x_csrftoken(client, app, login, patient):
    routes = write_routes(app, api=True)
    assert ("DELETE", "/api/v1/auth/tokens/1") in routes
    login(client, patient)

    answers = {route: client.open(route[1], method=route[0], json={}) for route in routes}

    assert {route: (r.status_code, r.get_json()) for route, r in answers.items()
            if r.status_code != 400 or r.get_json()["error"]["code"] != "csrf_failed"} == {}


def own_token(user: User) -> ApiToken:
    return db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))


def test_api_write_with_a_browser_session_and_x_csrftoken_is_accepted(client, login, api_token, patient):
    api_token(patient)
    token = own_token(patient)
    login(client, patient)
    csrf = page_csrf_token(client.get("/profile").text)

    response = client.delete(f"/api/v1/auth/tokens/{token.id}", headers={"X-CSRFToken": csrf})

    assert response.status_code == 204
    db.session.refresh(token)
    assert token.revoked_at is not None


def test_api_write_with_a_bearer_token_needs_no_csrf_token(client, api_token, patient):
    bearer = api_token(patient)
    token = own_token(patient)

    response = client.delete(f"/api/v1/auth/tokens/{token.id}", headers=bearer)

    assert response.status_code == 204


def test_a_bogus_bearer_header_does_not_let_a_session_cookie_skip_csrf(client, login, api_token, patient):
    api_token(patient)
    token = own_token(patient)
    login(client, patient)

    response = client.delete(f"/api/v1/auth/tokens/{token.id}", headers={"Authorization": "Bearer bogus"})

    assert response.status_code == 401
    db.session.refresh(token)
    assert token.revoked_at is None


def test_a_revoked_bearer_token_is_refused_even_with_a_session_cookie(client, login, api_token, patient):
    bearer = api_token(patient)
    login(client, patient)
    with client.application.test_request_context():
        services.revoke_api_token(patient, own_token(patient))
        db.session.commit()

    assert client.get("/api/v1/me", headers=bearer).status_code == 401


# 8. Headers and cookies ----------------------------------------------------------------------------------------------


def csp(response) -> dict[str, list[str]]:
    directives = [part.strip().split() for part in response.headers["Content-Security-Policy"].split(";")]
    return {d[0]: d[1:] for d in directives if d}


def test_pages_send_a_csp_with_self_default_no_framing_and_a_script_nonce(client):
    policy = csp(client.get("/login"))

    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert any(source.startswith("'nonce-") for source in policy["script-src"])
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*"} & set(policy["script-src"])


def test_every_script_on_a_page_carries_that_responses_nonce(client, login, admin):
    login(client, admin)
    seen_scripts, nonces = 0, set()
    for url in ("/", "/profile", "/admin/people", "/api/v1/docs", "/crisis"):
        response = client.get(url)
        assert response.status_code == 200, url
        nonce = next(s for s in csp(response)["script-src"] if s.startswith("'nonce-"))[len("'nonce-"):-1]
        nonces.add(nonce)
        for tag in re.findall(r"<script\b[^>]*>", response.text):
            seen_scripts += 1
            assert f'nonce="{nonce}"' in tag, (url, tag)
    assert seen_scripts >= 2
    assert len(nonces) == 5  # a fresh nonce per response


@pytest.mark.parametrize("url", ["/login", "/profile", "/crisis", "/api/v1/me", "/api/v1/auth/tokens", "/missing",
                                 "/api/v1/missing"])
def test_pages_and_api_answers_send_nosniff_referrer_policy_and_no_store(client, login, patient, url):
    login(client, patient)

    response = client.get(url)

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in {"no-referrer", "same-origin", "strict-origin",
                                                   "strict-origin-when-cross-origin"}
    assert "no-store" in response.headers["Cache-Control"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_api_answers_for_anonymous_callers_are_not_stored_either(client):
    response = client.get("/api/v1/me")

    assert response.status_code == 401
    assert "no-store" in response.headers["Cache-Control"]


def set_cookie_headers(response, name: str = "session") -> list[str]:
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]


def test_session_cookie_is_httponly_and_samesite_lax(client, patient):
    response = sign_in(client, patient.email)

    cookies = set_cookie_headers(response)
    assert cookies
    for cookie in cookies:
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
    assert not [h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token=")]


@pytest.fixture
def production(monkeypatch):
    """The production configuration over an in-memory database, with one account in it."""
    monkeypatch.setenv("SECRET_KEY", PRODUCTION_SECRET)
    monkeypatch.setenv("AUDIT_KEY", PRODUCTION_AUDIT_KEY)
    monkeypatch.setenv("BASE_URL", "https://localhost")
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    # No consent sweep: its thread would outlive the in-memory database it shares a connection with.
    app = create_app("production", SQLALCHEMY_DATABASE_URI="sqlite://", CONSENT_SWEEP_SECONDS=0)
    app.test_client_class = FreshUserClient
    with app.app_context():
        db.create_all()
        organisation = Organisation(name="Harbour Clinic", slug="harbour")
        user = User(email="pat@example.org", password_hash=password_hash(), display_name="Pat")
        user.roles.append(Role(organisation=organisation, name=RoleName.PATIENT))
        db.session.add(user)
        db.session.commit()
        yield app
        db.session.remove()
        db.engine.dispose()


HTTPS = {"base_url": "https://localhost", "headers": {"Referer": "https://localhost/login"}}


def test_production_sends_hsts_for_at_least_a_year_with_subdomains(production):
    response = production.test_client().get("/login", **HTTPS)

    hsts = response.headers["Strict-Transport-Security"]
    assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 365 * 24 * 3600
    assert "includeSubDomains" in hsts


def test_production_sends_plain_http_to_https(production):
    response = production.test_client().get("/login")

    assert response.status_code in (301, 302, 307, 308)
    assert response.headers["Location"].startswith("https://")


def test_production_session_cookie_is_secure_httponly_and_samesite_lax(production):
    client = production.test_client()

    response = sign_in(client, "pat@example.org", **HTTPS)

    assert response.status_code == 302
    cookies = set_cookie_headers(response)
    assert cookies
    for cookie in cookies:
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production", SQLALCHEMY_DATABASE_URI="sqlite://")


def test_production_refuses_to_start_without_an_audit_key_of_its_own(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", PRODUCTION_SECRET)
    monkeypatch.delenv("AUDIT_KEY", raising=False)

    with pytest.raises(RuntimeError, match="AUDIT_KEY must be set"):
        create_app("production", SQLALCHEMY_DATABASE_URI="sqlite://")
    monkeypatch.setenv("AUDIT_KEY", PRODUCTION_SECRET)
    with pytest.raises(RuntimeError, match="AUDIT_KEY must differ from SECRET_KEY"):
        create_app("production", SQLALCHEMY_DATABASE_URI="sqlite://")


def test_production_signs_the_audit_trail_with_the_audit_key_from_the_environment(production):
    assert production.config["AUDIT_KEY"] == PRODUCTION_AUDIT_KEY


@pytest.mark.parametrize("name", ["prod", "Production", "staging"])
def test_an_unknown_environment_name_is_refused_with_the_names_that_exist(monkeypatch, name):
    monkeypatch.setenv("MOMENTUM_ENV", name)

    with pytest.raises(RuntimeError, match="MOMENTUM_ENV must be one of development, test, production"):
        create_app(SQLALCHEMY_DATABASE_URI="sqlite://")


@pytest.mark.parametrize("how", ["config", "DEBUG", "FLASK_DEBUG"])
def test_production_refuses_to_start_with_debug_on(monkeypatch, how):
    monkeypatch.setenv("SECRET_KEY", PRODUCTION_SECRET)
    monkeypatch.setenv("AUDIT_KEY", PRODUCTION_AUDIT_KEY)
    overrides = {"SQLALCHEMY_DATABASE_URI": "sqlite://"}
    if how == "config":
        overrides["DEBUG"] = True
    else:
        monkeypatch.setenv(how, "1")

    with pytest.raises(RuntimeError, match="DEBUG"):
        create_app("production", **overrides)


def test_production_signs_with_the_secret_key_from_the_environment(production):
    assert production.config["SECRET_KEY"] == PRODUCTION_SECRET


# 10. Password hashing ------------------------------------------------------------------------------------------------


def test_passwords_are_hashed_with_argon2id_at_the_library_defaults():
    parameters = extract_parameters(services.hash_password("a long enough password"))

    assert parameters.type is Type.ID
    defaults = extract_parameters(PasswordHasher().hash("x"))
    assert (parameters.time_cost, parameters.memory_cost, parameters.parallelism) == (
        defaults.time_cost, defaults.memory_cost, defaults.parallelism)
    assert parameters.memory_cost >= 19 * 1024  # the OWASP / ASVS floor for argon2id


def test_a_weaker_hash_is_upgraded_at_the_next_sign_in(client, make_user):
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    user = make_user(RoleName.PATIENT)
    user.password_hash = weak
    db.session.commit()

    assert sign_in(client, user.email).status_code == 302

    upgraded = db.session.get(User, user.id).password_hash
    assert upgraded != weak
    assert not services.password_hasher.check_needs_rehash(upgraded)


# 11. No account enumeration ------------------------------------------------------------------------------------------


def normalised(response, email: str) -> str:
    """The page without what differs by design: CSRF tokens and script nonces, and the address as typed."""
    html = re.sub(r'(name="csrf_token"[^>]*value=")[^"]*|value="[^"]*(?="[^>]*name="csrf_token")', r"\1", response.text)
    html = re.sub(r'nonce="[^"]*"', "", html)
    return html.replace(email, "EMAIL")


def test_login_answers_alike_for_unknown_known_and_deactivated_accounts(app, make_user):
    known = make_user(RoleName.PATIENT)
    deactivated = make_user(RoleName.PATIENT, active=False)
    answers = {}
    for email in (known.email, deactivated.email, "nobody@example.org"):
        response = sign_in(app.test_client(), email, "a wrong password here")
        answers[email] = (response.status_code, normalised(response, email))

    assert len(set(answers.values())) == 1
    assert next(iter(answers.values()))[0] == 200


def spy_on_verify(monkeypatch) -> list[tuple[str, str]]:
    calls = []
    real = services.verify_password

    def spy(stored_hash, password):
        calls.append((stored_hash, password))
        return real(stored_hash, password)

    monkeypatch.setattr(services, "verify_password", spy)
    return calls


def test_login_for_an_unknown_account_verifies_the_dummy_hash(client, monkeypatch):
    calls = spy_on_verify(monkeypatch)

    sign_in(client, "nobody@example.org", "a guessed password")

    assert calls == [(services.DUMMY_HASH, "a guessed password")]


def test_login_for_a_known_account_verifies_its_own_hash_once(client, monkeypatch, patient):
    calls = spy_on_verify(monkeypatch)

    sign_in(client, patient.email, "a guessed password")

    assert calls == [(patient.password_hash, "a guessed password")]


def test_the_dummy_hash_costs_as_much_as_a_real_one():
    dummy, real = extract_parameters(services.DUMMY_HASH), extract_parameters(services.hash_password("x" * 12))

    assert dummy == real


def test_password_reset_answers_alike_for_known_and_unknown_accounts(app, patient):
    answers = {}
    for email in (patient.email, "nobody@example.org"):
        response = submit(app.test_client(), "/password/forgot", {"email": email})
        answers[email] = (response.status_code, normalised(response, email))

    assert answers[patient.email] == answers["nobody@example.org"]


def test_a_password_reset_is_answered_before_its_email_has_left(app, patient, monkeypatch):
    """SECURITY.md 11: the answer never waits on the mail relay, whose delay would tell a known address from an
    unknown one. Here the relay hangs until the answer has come back."""
    import threading

    from app.notifications import email

    app.config["MAIL_SEND_IN_BACKGROUND"] = True
    relay_may_answer, sent = threading.Event(), []

    def slow_relay(to, subject, body):
        assert relay_may_answer.wait(timeout=30), "the relay was never let go"
        sent.append(to)

    monkeypatch.setattr(email, "send_now", slow_relay)
    response = submit(app.test_client(), "/password/forgot", {"email": patient.email})

    assert response.status_code == 200 and sent == []  # answered while the relay still holds the email
    relay_may_answer.set()
    for thread in [t for t in threading.enumerate() if t.name == "outbox"]:
        thread.join(timeout=30)
    assert sent == [patient.email]


@pytest.fixture
def code_to_share(app, make_user, organisation) -> str:
    facilitator = make_user(RoleName.FACILITATOR)
    with app.test_request_context():
        _invitation, raw = services.create_invitation(facilitator, organisation, RoleName.PATIENT)
        db.session.commit()
    return raw


def test_taking_up_a_code_to_share_answers_alike_for_known_and_unknown_addresses(app, code_to_share, patient):
    answers = {}
    for email in (patient.email, "nobody@example.org"):
        response = submit(app.test_client(), f"/invitations/{code_to_share}", {
            "email": email, "password": NEW_PASSWORD, "display_name": "Someone", "timezone": "UTC"})
        answers[email] = (response.status_code, normalised(response, email))

    assert answers[patient.email] == answers["nobody@example.org"]
    assert answers[patient.email][0] == 200


def test_taking_up_a_code_to_share_through_the_api_answers_alike_for_known_and_unknown_addresses(
        client, code_to_share, patient):
    answers = [client.post(f"/api/v1/invitations/{code_to_share}/accept",
                           json={"email": email, "password": NEW_PASSWORD, "display_name": "Someone"})
               for email in (patient.email, "nobody@example.org")]

    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].get_json() == answers[1].get_json()
    assert answers[0].get_json()["email_sent"] is True


def test_api_token_request_answers_alike_for_known_and_unknown_accounts(client, monkeypatch, patient):
    calls = spy_on_verify(monkeypatch)
    answers = [client.post("/api/v1/auth/tokens", json={"email": email, "password": "a wrong password", "name": "x"})
               for email in (patient.email, "nobody@example.org")]

    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].get_json() == answers[1].get_json()
    assert calls[1] == (services.DUMMY_HASH, "a wrong password")


# 12. Rate limits -----------------------------------------------------------------------------------------------------


def failed_login(app, email: str, ip: str = "203.0.113.1"):
    return sign_in(app.test_client(), email, "wrong password", environ_base={"REMOTE_ADDR": ip})


def test_the_eleventh_failed_login_from_one_address_gets_429(app, fast_passwords, patient):
    statuses = [failed_login(app, f"guess{n}@example.org").status_code for n in range(10)]

    assert statuses == [200] * 10
    assert failed_login(app, "guess11@example.org").status_code == 429
    assert sign_in(app.test_client(), patient.email, environ_base={"REMOTE_ADDR": "203.0.113.1"}).status_code == 429
    assert failed_login(app, "guess12@example.org", ip="198.51.100.7").status_code == 200


def test_the_eleventh_failed_login_for_one_account_gets_429_across_addresses(app, fast_passwords, patient):
    statuses = [failed_login(app, patient.email, ip=f"203.0.113.{n}").status_code for n in range(1, 11)]

    assert statuses == [200] * 10
    assert failed_login(app, patient.email, ip="198.51.100.99").status_code == 429
    assert failed_login(app, patient.email.upper(), ip="198.51.100.98").status_code == 429
    assert failed_login(app, "someone.else@example.org", ip="198.51.100.97").status_code == 200


def test_the_login_limit_is_a_window_not_a_permanent_lockout(app, fast_passwords, patient):
    with time_machine.travel(utcnow(), tick=False) as clock:
        for _ in range(10):
            failed_login(app, patient.email)
        assert failed_login(app, patient.email).status_code == 429
        clock.shift(timedelta(minutes=16))

        assert sign_in(app.test_client(), patient.email, environ_base={"REMOTE_ADDR": "203.0.113.1"}).status_code == 302


def test_successful_sign_ins_do_not_count_towards_the_limit(app, fast_passwords, patient):
    statuses = [sign_in(app.test_client(), patient.email).status_code for _ in range(12)]

    assert statuses == [302] * 12


def test_password_reset_requests_are_rate_limited(app, patient):
    with mail.record_messages() as outbox:
        statuses = [submit(app.test_client(), "/password/forgot", {"email": patient.email}).status_code
                    for _ in range(6)]

    assert statuses[-1] == 429
    assert 200 in statuses
    assert len(outbox) == statuses.count(200)


def test_token_creation_on_the_profile_page_is_rate_limited(client, login, post, patient):
    login(client, patient)

    statuses = [post(client, "/profile/tokens", {"name": f"device {n}"}).status_code for n in range(11)]

    assert statuses == [302] * 10 + [429]
    assert count(ApiToken) == 10


def test_token_creation_on_the_api_is_rate_limited(client, fast_passwords, patient):
    statuses = [client.post("/api/v1/auth/tokens", json={"email": patient.email, "password": "wrong", "name": "x"})
                .status_code for _ in range(11)]

    assert statuses == [401] * 10 + [429]


def test_invitations_are_rate_limited(client, login, post, admin):
    login(client, admin)

    statuses = [post(client, "/admin/invitations", {"email": f"staff{n}@example.org", "role": "facilitator"})
                .status_code for n in range(31)]

    assert statuses == [302] * 30 + [429]
    assert count(Invitation) == 30


# Behind a proxy: the client's address and scheme come from X-Forwarded-* only when PROXY_COUNT says so --------------

PROXY_ADDRESS = "10.0.0.2"


@pytest.fixture
def behind_proxy():
    """The app as deployed behind one proxy (PROXY_COUNT=1), with one partner origin for sockets, over a database of
    its own; do not combine with the `app` fixture."""
    from conftest import app_of_its_own

    with app_of_its_own(PROXY_COUNT=1, SOCKETIO_ALLOWED_ORIGINS=["https://partner.example"]) as app, \
            app.app_context():
        yield app


def via_proxy(client_ip: str, **headers) -> dict:
    """What a request that came through the proxy carries: the proxy's address, and the client's in the header."""
    return {"environ_base": {"REMOTE_ADDR": PROXY_ADDRESS}, "headers": {"X-Forwarded-For": client_ip, **headers}}


def test_behind_a_configured_proxy_the_audit_trail_records_the_client_address(behind_proxy):
    sign_in(behind_proxy.test_client(), "nobody@example.org", "wrong password", **via_proxy("203.0.113.50"))

    assert db.session.scalar(select(AuditEvent.ip).where(AuditEvent.action == "login")) == "203.0.113.50"


def test_without_a_configured_proxy_a_forwarded_address_is_ignored(app, client):
    sign_in(client, "nobody@example.org", "wrong password", **via_proxy("203.0.113.50"))

    assert db.session.scalar(select(AuditEvent.ip).where(AuditEvent.action == "login")) == PROXY_ADDRESS


def test_behind_a_configured_proxy_the_login_limit_counts_each_client_not_the_proxy(behind_proxy, fast_passwords):
    def failed_login(n: int, client_ip: str) -> int:
        return sign_in(behind_proxy.test_client(), f"guess{n}@example.org", "wrong password",
                       **via_proxy(client_ip)).status_code

    assert [failed_login(n, "203.0.113.1") for n in range(10)] == [200] * 10
    assert failed_login(10, "203.0.113.1") == 429
    assert failed_login(11, "198.51.100.7") == 200  # someone else behind the same proxy is not locked out


def test_without_a_configured_proxy_a_forged_forwarded_address_does_not_escape_the_login_limit(app, fast_passwords):
    statuses = [sign_in(app.test_client(), f"guess{n}@example.org", "wrong password",
                        **via_proxy(f"203.0.113.{n}")).status_code for n in range(1, 12)]

    assert statuses == [200] * 10 + [429]


def socket_handshake(app, **forwarded) -> int:
    """Engine.IO's polling handshake from a page at https://momentum.example, through the whole WSGI stack."""
    response = app.test_client().get("/socket.io/", query_string={"EIO": "4", "transport": "polling"},
                                     headers={"Host": "momentum.example", "Origin": "https://momentum.example",
                                              **forwarded})
    response.close()
    return response.status_code


def test_behind_a_configured_tls_proxy_the_socket_origin_check_sees_https(behind_proxy):
    assert socket_handshake(behind_proxy, **{"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5"}) == 200


def test_without_a_configured_proxy_a_forwarded_scheme_does_not_pass_the_socket_origin_check():
    app = create_app("test", SQLALCHEMY_DATABASE_URI="sqlite://", SOCKETIO_ALLOWED_ORIGINS=["https://partner.example"])

    try:
        assert socket_handshake(app, **{"X-Forwarded-Proto": "https"}) == 400
    finally:
        with app.app_context():
            db.engine.dispose()


# 13. Safe redirects --------------------------------------------------------------------------------------------------

OFF_SITE_NEXT = [
    "//evil.example", "//evil.example/path", "///evil.example", "////evil.example", "/\\evil.example",
    "\\\\evil.example", "\\/evil.example", "/\\/evil.example", "\\\\\\evil", "\\\\evil",
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)",
    "http://evil.example", "https://evil.example", "HTTPS://EVIL.EXAMPLE", "http:/evil.example", "https:evil.example",
    "http:\\\\evil.example", "ftp://evil.example", "https://localhost@evil.example", "https://evil.example#@localhost",
    "//localhost@evil.example", "//evil.example\\@localhost", "//evil.example:443",
    "/%2F%2Fevil.example", "%2F%2Fevil.example", "/%2f%2fevil.example", "%2f/evil.example", "/%2F/evil.example",
    "/%5Cevil.example", "%5C%5Cevil.example", "/%5c%5cevil.example", "/%252F%252Fevil.example",
    "/%25252F%25252Fevil.example", "%68ttps://evil.example", "//%65vil.example",
    "/%0d%0aLocation:%20http://evil", "/\r\nLocation: http://evil", "/%0aSet-Cookie:%20x=y", "/%0d/evil.example",
    "/\r/evil.example", "/\n/evil.example",
    "/ /evil", " //evil.example", "\t//evil.example", "/\t/evil.example", "//\tevil.example", "/%09/evil.example",
    "%09//evil.example", "/\x0b/evil.example", "/\x0c/evil.example",
    "/\x00//evil.example", "//evil.example%00", "/%00//evil.example",
    "//evil。example", "/\u2215\u2215evil.example", "／／evil.example", "\u3000//evil.example",
    "evil.example", "@evil.example", "?next=//evil.example", "#//evil.example", ".//evil.example",
    "/" + "a" * 3000,
]


def lands_off_site(location: str) -> bool:
    """Where a browser would go: it drops tabs and newlines, strips C0 controls and spaces around the value, reads
    backslashes as slashes, and resolves the rest against the page."""
    cleaned = re.sub(r"[\t\r\n]", "", location).strip("".join(map(chr, range(0x21)))).replace("\\", "/")
    target = urlsplit(urljoin("http://localhost/login", cleaned))
    return target.scheme not in ("http", "https") or target.hostname != "localhost"


def test_lands_off_site_recognises_off_site_locations():
    assert all(lands_off_site(loc) for loc in ("//evil", "/\\evil", " //evil", "\t//evil", "https:evil",
                                               "javascript:alert(1)", "http://evil.example/"))
    assert not any(lands_off_site(loc) for loc in ("/", "/profile?x=1", "http://localhost/profile"))


def test_next_never_leads_off_site_after_a_successful_sign_in(app, fast_passwords, patient):
    problems = []
    for target in OFF_SITE_NEXT:
        client = app.test_client()
        page = client.get("/login", query_string={"next": target})
        answer = client.post("/login", query_string={"next": target},
                             data={"csrf_token": page_csrf_token(page.text) if page.status_code == 200 else "",
                                   "email": patient.email, "password": PASSWORD, "next": target})
        if page.status_code >= 500 or answer.status_code != 302 or lands_off_site(answer.headers["Location"]):
            problems.append((target, page.status_code, answer.status_code, answer.headers.get("Location")))

    assert problems == []


def test_next_never_leads_off_site_when_already_signed_in(client, login, patient):
    login(client, patient)

    answers = {target: client.get("/login", query_string={"next": target}) for target in OFF_SITE_NEXT}

    assert [(t, r.status_code, r.headers.get("Location")) for t, r in answers.items()
            if r.status_code != 302 or lands_off_site(r.headers["Location"])] == []


def test_next_never_leads_off_site_after_switching_language(client, post):
    answers = {target: post(client, "/language", {"locale": "es", "next": target}) for target in OFF_SITE_NEXT}

    assert [(t, r.status_code, r.headers.get("Location")) for t, r in answers.items()
            if r.status_code != 302 or lands_off_site(r.headers["Location"])] == []


def test_next_never_leads_off_site_after_withdrawing_an_invitation(client, app, login, post, admin, organisation):
    login(client, admin)
    with app.test_request_context():
        invitation, _raw = services.create_invitation(admin, organisation, RoleName.FACILITATOR, "f@example.org")
        db.session.commit()

    answers = {target: post(client, f"/invitations/{invitation.id}/revoke", query_string={"next": target})
               for target in OFF_SITE_NEXT}

    assert [(t, r.status_code, r.headers.get("Location")) for t, r in answers.items()
            if r.status_code != 302 or lands_off_site(r.headers["Location"])] == []


@pytest.mark.parametrize("target", ["/profile", "/profile?tab=tokens", "/crisis#help", "/admin/people"])
def test_a_same_site_next_is_followed_after_sign_in(client, fast_passwords, patient, target):
    response = sign_in(client, patient.email, next_=target)

    assert response.status_code == 302
    assert response.headers["Location"] == target


def test_signing_in_from_a_protected_page_returns_to_it(client, fast_passwords, patient):
    bounced = client.get("/profile", query_string={"tab": "tokens"})
    assert sent_to_sign_in(bounced)

    login_page = client.get(bounced.headers["Location"])
    hidden_next = re.search(r'name="next" type="hidden" value="([^"]*)"', login_page.text).group(1)
    response = client.post("/login", data={"csrf_token": page_csrf_token(login_page.text), "email": patient.email,
                                           "password": PASSWORD, "next": hidden_next.replace("&amp;", "&")})

    assert response.headers["Location"] == "/profile?tab=tokens"


# 12. The login limit holds across two app processes sharing Redis ---------------------------------------------------

SEED_DATABASE = """
from app import create_app
from app.accounts import services
from app.extensions import db
from app.models_base import utcnow

app = create_app("development")
with app.app_context():
    db.create_all()
    organisation = services.create_organisation("Two Process Clinic", "two-process")
    services.create_account("pat@example.org", "correct horse battery staple", "Pat", organisation,
                            services.RoleName.PATIENT)
    db.session.commit()
"""

SERVE = """
from werkzeug.serving import make_server
from app import create_app

server = make_server("127.0.0.1", 0, create_app("development"), threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


@pytest.fixture
def two_app_processes(tmp_path):
    """Two real servers, each its own process, over one database and one Redis: the ports they listen on."""
    import os
    import subprocess
    import sys

    import redis

    redis.Redis.from_url(os.environ["TEST_REDIS_URL"]).flushdb()
    env = {**os.environ, "MOMENTUM_ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path / 'momentum.db'}",
           "REDIS_URL": os.environ["TEST_REDIS_URL"], "SECRET_KEY": "two-process-test-secret",
           "RATELIMIT_ENABLED": "1", "MAIL_SUPPRESS_SEND": "1"}
    env.pop("FLASK_DEBUG", None)
    subprocess.run([sys.executable, "-c", SEED_DATABASE], env=env, check=True, timeout=120)
    servers, logs = [], []
    try:
        for n in range(2):
            log = open(tmp_path / f"server{n}.log", "w")
            logs.append(log)
            servers.append(subprocess.Popen([sys.executable, "-c", SERVE], env=env, stdout=subprocess.PIPE,
                                            stderr=log, text=True))
        ports = [int(server.stdout.readline()) for server in servers]
        yield ports
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
            server.stdout.close()
        for log in logs:
            log.close()
        redis.Redis.from_url(os.environ["TEST_REDIS_URL"]).flushdb()


@pytest.mark.skipif(not __import__("os").environ.get("TEST_REDIS_URL"), reason="needs TEST_REDIS_URL (CI sets it)")
def test_the_eleventh_failed_login_gets_429_across_two_processes_sharing_redis(two_app_processes):
    import requests

    def failed_login(browser, port: int) -> int:
        page = browser.get(f"http://127.0.0.1:{port}/login", timeout=30)
        return browser.post(f"http://127.0.0.1:{port}/login", timeout=30, allow_redirects=False, data={
            "csrf_token": page_csrf_token(page.text), "email": "pat@example.org", "password": "wrong password",
        }).status_code

    with requests.Session() as browser:  # one browser: its session cookie is good on both servers
        statuses = [failed_login(browser, two_app_processes[n % 2]) for n in range(11)]
        after = [failed_login(browser, port) for port in two_app_processes]

    assert statuses == [200] * 10 + [429]
    assert after == [429, 429]
