"""Links in emails, calendar feeds and codes to share come from BASE_URL, never from a request's Host header; a
request naming a host outside TRUSTED_HOSTS is refused before anything runs for it."""

from __future__ import annotations

import re

import pytest
from conftest import app_of_its_own, password_hash
from page_forms import sign_in, submit

from app import create_app
from app.accounts.models import Organisation, Role, RoleName, User
from app.extensions import db, mail, socketio

EVIL = {"Host": "evil.example"}


def only_link(body: str) -> str:
    links = re.findall(r"https?://\S+", body)
    assert len(links) == 1, body
    return links[0]


def add_patient(email: str = "pat@example.org") -> User:
    organisation = Organisation(name="Harbour Clinic", slug="harbour")
    user = User(email=email, password_hash=password_hash(), display_name="Pat")
    user.roles.append(Role(organisation=organisation, name=RoleName.PATIENT))
    db.session.add(user)
    db.session.commit()
    return user


@pytest.fixture
def production(monkeypatch):
    """Production as an operator would run it: BASE_URL set, nothing else about hosts."""
    monkeypatch.setenv("SECRET_KEY", "production-secret-from-the-environment")
    monkeypatch.setenv("AUDIT_KEY", "production-audit-key-kept-apart")
    monkeypatch.setenv("BASE_URL", "https://momentum.example")
    monkeypatch.delenv("TRUSTED_HOSTS", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    app = create_app("production", SQLALCHEMY_DATABASE_URI="sqlite://", MAIL_SUPPRESS_SEND=True,
                     MAIL_SEND_IN_BACKGROUND=False, CONSENT_SWEEP_SECONDS=0)  # no sweep outliving the database
    with app.app_context():
        db.create_all()
        add_patient()
        yield app
        db.session.remove()
        db.engine.dispose()


HTTPS_HOME = {"base_url": "https://momentum.example", "headers": {"Referer": "https://momentum.example/login"}}


def test_production_refuses_a_password_reset_asked_through_another_host_and_sends_nothing(production):
    client = production.test_client()
    with mail.record_messages() as outbox:
        response = client.post("/password/forgot", data={"email": "pat@example.org"},
                               base_url="https://evil.example", headers=EVIL)

    assert response.status_code == 400
    assert outbox == []


def test_production_answers_its_own_host(production):
    assert production.test_client().get("/login", **HTTPS_HOME).status_code == 200


def test_production_emails_reset_links_under_base_url_whatever_host_the_request_named(production):
    production.config["TRUSTED_HOSTS"] = ["momentum.example", "alias.example"]
    client = production.test_client()
    alias = {"base_url": "https://alias.example", "headers": {"Referer": "https://alias.example/login"}}
    with mail.record_messages() as outbox:
        response = submit(client, "/password/forgot", {"email": "pat@example.org"}, **alias)

    assert response.status_code == 200
    assert only_link(outbox[0].body).startswith("https://momentum.example/password/reset/")


@pytest.mark.parametrize("base_url, message", [
    ("", "BASE_URL must be set in production"),
    ("http://momentum.example", "must start with https://"),
    ("momentum.example", "absolute http or https address"),
    ("https://momentum.example/?next=x", "absolute http or https address"),
])
def test_production_refuses_to_start_without_a_proper_base_url(monkeypatch, base_url, message):
    monkeypatch.setenv("SECRET_KEY", "production-secret-from-the-environment")
    monkeypatch.setenv("AUDIT_KEY", "production-audit-key-kept-apart")
    monkeypatch.setenv("BASE_URL", base_url)
    monkeypatch.delenv("SERVER_NAME", raising=False)

    with pytest.raises(RuntimeError, match=re.escape(message)):
        create_app("production", SQLALCHEMY_DATABASE_URI="sqlite://", SERVER_NAME=None)


def test_server_name_with_its_scheme_stands_in_for_base_url(monkeypatch):
    monkeypatch.delenv("BASE_URL", raising=False)
    app = create_app("development", SQLALCHEMY_DATABASE_URI="sqlite://", SERVER_NAME="care.example",
                     PREFERRED_URL_SCHEME="https")
    try:
        assert app.config["BASE_URL"] == "https://care.example"
        assert app.config["TRUSTED_HOSTS"] == ["care.example", "localhost", "127.0.0.1"]
    finally:
        with app.app_context():
            db.engine.dispose()


def test_development_links_point_at_the_address_make_run_serves(monkeypatch):
    monkeypatch.delenv("BASE_URL", raising=False)
    app = create_app("development", SQLALCHEMY_DATABASE_URI="sqlite://", SERVER_NAME=None)
    try:
        assert app.config["BASE_URL"] == "http://127.0.0.1:5000"
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def under_a_prefix():
    """Momentum served at https://care.example/momentum, its pages tried through localhost."""
    with app_of_its_own(BASE_URL="https://care.example/momentum/") as app, app.app_context():
        yield app


def test_every_emailed_link_starts_with_base_url_and_its_path(under_a_prefix):
    add_patient()
    client = under_a_prefix.test_client()
    with mail.record_messages() as outbox:
        submit(client, "/password/forgot", {"email": "pat@example.org"})

    link = only_link(outbox[0].body)
    assert link.startswith("https://care.example/momentum/password/reset/")
    assert client.get(link.removeprefix("https://care.example/momentum")).status_code == 200


def test_invitation_emails_and_codes_to_share_start_with_base_url(under_a_prefix):
    admin = add_patient("admin@example.org")
    admin.roles[0].name = RoleName.ADMIN
    db.session.commit()
    client = under_a_prefix.test_client()
    sign_in(client, "admin@example.org")
    with mail.record_messages() as outbox:
        submit(client, "/admin/people", {"email": "new.facilitator@example.org", "role": "facilitator"},
               action="/admin/invitations")

    assert [message.recipients for message in outbox] == [["new.facilitator@example.org"]]
    assert only_link(outbox[0].body).startswith("https://care.example/momentum/invitations/")
    page = client.get("/admin/people").text  # the link is shown once, to pass on by hand
    assert "https://care.example/momentum/invitations/" in page
    assert "http://localhost/invitations/" not in page


def test_a_page_asked_for_through_an_untrusted_host_is_refused(client):
    response = client.get("/login", headers=EVIL)

    assert response.status_code == 400
    assert "csrf_token" not in response.text


def test_the_api_refuses_a_token_request_through_an_untrusted_host(client, patient):
    response = client.post("/api/v1/auth/tokens", json={"email": patient.email, "password": "x"}, headers=EVIL)

    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert "token" not in response.text


def test_a_socket_through_an_untrusted_host_is_refused(app, client, login, patient):
    login(client, patient)

    refused = socketio.test_client(app, flask_test_client=client, headers=EVIL)
    accepted = socketio.test_client(app, flask_test_client=client)
    try:
        assert not refused.is_connected()
        assert accepted.is_connected()
    finally:
        for sio in (refused, accepted):
            if sio.is_connected():
                sio.disconnect()
