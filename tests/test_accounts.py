"""Accounts through their pages: signing in and out, passwords, the profile, API tokens, invitations, deactivation,
and the `create-admin` and `demo` commands."""

from __future__ import annotations

import functools
import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from argon2 import Type, extract_parameters
from conftest import PASSWORD, password_hash
from page_forms import is_signed_in, page_csrf_token, sign_in, submit
from sqlalchemy import func, select
from test_translations import compiled_spanish  # noqa: F401  (the fixture: the Spanish catalog, compiled and loaded)

from app import create_app
from app.accounts import services
from app.accounts.models import ApiToken, Invitation, LoginSession, Organisation, PasswordReset, Role, RoleName, User
from app.audit import AuditEvent
from app.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
from app.extensions import db, mail
from app.models_base import utcnow
from app.peers.risk import check_risk

NEW_PASSWORD = "a brand new and long passphrase"













def api_status(client, headers: dict) -> int:
    """GET /api/v1/me with a bearer token, from a client without a session cookie (as an app would call)."""
    return client.application.test_client().get("/api/v1/me", headers=headers).status_code


def link_path(body: str) -> str:
    """The path of the one http(s) link in an email body."""
    return urlsplit(re.search(r"https?://\S+", body).group(0)).path


def open_sessions(user: User) -> int:
    return db.session.scalar(select(func.count()).select_from(LoginSession)
                             .where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None)))


# Signing in and out --------------------------------------------------------------------------------------------------


def test_sign_in_with_the_right_password_opens_a_session_and_goes_home(client, patient):
    response = sign_in(client, patient.email)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert open_sessions(patient) == 1
    assert is_signed_in(client)


def test_sign_in_ignores_case_and_surrounding_spaces_in_the_email(client, patient):
    response = sign_in(client, f"  {patient.email.upper()} ")

    assert response.status_code == 302
    assert is_signed_in(client)


def test_sign_in_with_a_wrong_password_is_refused_and_opens_no_session(client, patient):
    response = sign_in(client, patient.email, "not the password at all")

    assert response.status_code == 200
    assert "do not match an active account" in response.text
    assert open_sessions(patient) == 0
    assert not is_signed_in(client)


def test_sign_in_without_the_form_token_is_refused(client, patient):
    client.get("/login")
    response = client.post("/login", data={"email": patient.email, "password": PASSWORD})

    assert response.status_code == 400
    assert open_sessions(patient) == 0


def test_sign_out_ends_the_login_session(client, login, patient):
    login(client, patient)

    response = submit(client, "/profile", {}, action="/logout")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    login = db.session.scalar(select(LoginSession).where(LoginSession.user_id == patient.id))
    assert login.ended_at is not None and login.end_reason == "logout"
    assert not is_signed_in(client)


def test_sign_out_is_not_possible_with_a_get(client, login, patient):
    login(client, patient)

    assert client.get("/logout").status_code == 405
    assert is_signed_in(client)


# Password reset by email ---------------------------------------------------------------------------------------------


def request_reset(client, email: str) -> list:
    with mail.record_messages() as outbox:
        response = submit(client, "/password/forgot", {"email": email})
    assert response.status_code == 200
    return outbox


def test_password_reset_emails_a_link_that_sets_a_new_password(client, patient):
    outbox = request_reset(client, patient.email)

    assert [message.recipients for message in outbox] == [[patient.email]]
    reset_url = link_path(outbox[0].body)
    assert client.get(reset_url).status_code == 200
    response = submit(client, reset_url, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    stored = db.session.get(User, patient.id).password_hash
    assert stored != password_hash()
    assert extract_parameters(stored).type is Type.ID
    assert sign_in(client.application.test_client(), patient.email, NEW_PASSWORD).status_code == 302


def test_password_reset_stores_only_a_hash_of_the_link(client, patient):
    outbox = request_reset(client, patient.email)

    raw = link_path(outbox[0].body).rsplit("/", 1)[1]
    reset = db.session.scalar(select(PasswordReset))
    assert reset.token_hash == services.hash_token(raw)
    assert raw not in reset.token_hash


def test_password_reset_for_an_unknown_address_sends_nothing(client, patient):
    assert request_reset(client, "nobody@example.org") == []


def test_password_reset_link_works_only_once(client, patient):
    reset_url = link_path(request_reset(client, patient.email)[0].body)
    submit(client, reset_url, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    changed_hash = db.session.get(User, patient.id).password_hash

    assert client.get(reset_url).status_code == 404
    another = "yet another long password"
    again = client.post(reset_url, data={"csrf_token": page_csrf_token(client.get("/login").text),
                                         "password": another, "confirm": another})
    assert again.status_code == 404
    assert db.session.get(User, patient.id).password_hash == changed_hash


def test_password_reset_link_expires(client, app, patient):
    reset_url = link_path(request_reset(client, patient.email)[0].body)
    minutes = app.config["PASSWORD_RESET_MINUTES"]

    with time_machine.travel(utcnow() + timedelta(minutes=minutes, seconds=1), tick=False):
        assert client.get(reset_url).status_code == 404
        token = page_csrf_token(client.get("/login").text)
        response = client.post(reset_url, data={"csrf_token": token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 404
    assert db.session.get(User, patient.id).password_hash == password_hash()


def test_a_password_reset_closes_every_other_reset_link_of_the_account(client, patient):
    older = link_path(request_reset(client, patient.email)[0].body)
    newer = link_path(request_reset(client, patient.email)[0].body)

    assert submit(client, newer, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302

    assert client.get(older).status_code == 404
    another = "yet another long password"
    refused = client.post(older, data={"csrf_token": page_csrf_token(client.get("/login").text),
                                       "password": another, "confirm": another})
    assert refused.status_code == 404
    assert sign_in(client.application.test_client(), patient.email, NEW_PASSWORD).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(PasswordReset)
                             .where(PasswordReset.used_at.is_(None))) == 0


def test_a_password_change_closes_every_open_reset_link(client, app, login, patient):
    link = link_path(request_reset(app.test_client(), patient.email)[0].body)
    login(client, patient)

    response = submit(client, "/profile/password", {"current_password": PASSWORD, "password": NEW_PASSWORD,
                                                    "confirm": NEW_PASSWORD})

    assert response.status_code == 302
    assert app.test_client().get(link).status_code == 404


def test_password_reset_ends_every_session_and_api_token_of_the_account(client, app, login, api_token, patient):
    elsewhere = app.test_client()
    login(elsewhere, patient)
    bearer = api_token(patient)
    reset_url = link_path(request_reset(client, patient.email)[0].body)

    submit(client, reset_url, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert not is_signed_in(elsewhere)
    assert api_status(client, bearer) == 401
    assert open_sessions(patient) == 0


def test_password_reset_refuses_a_short_password_and_keeps_the_link_usable(client, patient):
    reset_url = link_path(request_reset(client, patient.email)[0].body)

    response = submit(client, reset_url, {"password": "short", "confirm": "short"})

    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.text
    assert db.session.get(User, patient.id).password_hash == password_hash()
    assert client.get(reset_url).status_code == 200


# Password change -----------------------------------------------------------------------------------------------------


def test_password_change_with_a_wrong_current_password_is_refused_and_changes_nothing(client, app, login, api_token,
                                                                                     patient):
    login(client, patient)
    elsewhere = app.test_client()
    login(elsewhere, patient)
    bearer = api_token(patient)

    response = submit(client, "/profile/password", {"current_password": "not my password",
                                                     "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert response.status_code == 200
    assert "That is not your current password." in response.text
    assert db.session.get(User, patient.id).password_hash == password_hash()
    assert is_signed_in(elsewhere)
    assert api_status(client, bearer) == 200
    assert open_sessions(patient) == 2


def test_password_change_with_mismatched_confirmation_changes_nothing(client, login, patient):
    login(client, patient)

    response = submit(client, "/profile/password", {"current_password": PASSWORD,
                                                     "password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "!"})

    assert response.status_code == 200
    assert "The passwords differ." in response.text
    assert db.session.get(User, patient.id).password_hash == password_hash()


def test_password_change_keeps_this_session_and_ends_the_others_and_every_token(client, app, login, api_token,
                                                                                patient):
    sign_in(client, patient.email)
    elsewhere = app.test_client()
    login(elsewhere, patient)
    bearer = api_token(patient)

    response = submit(client, "/profile/password", {"current_password": PASSWORD,
                                                     "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert response.status_code == 302
    assert is_signed_in(client)
    assert not is_signed_in(elsewhere)
    assert api_status(client, bearer) == 401
    stored = db.session.get(User, patient.id).password_hash
    assert extract_parameters(stored).type is Type.ID
    assert services.verify_password(stored, NEW_PASSWORD)
    assert not services.verify_password(stored, PASSWORD)


# Profile -------------------------------------------------------------------------------------------------------------

PROFILE = {"display_name": "Pat", "pronouns": "they/them", "timezone": "America/Argentina/Buenos_Aires",
           "locale": "es", "low_energy": "y", "email_reminders": "y", "in_app": "y"}


def test_profile_update_saves_name_time_zone_language_low_energy_and_notifications(client, login, patient):
    login(client, patient)

    response = submit(client, "/profile", PROFILE)

    assert response.status_code == 302
    user = db.session.get(User, patient.id)
    assert (user.display_name, user.pronouns, user.timezone, user.locale, user.low_energy) == (
        "Pat", "they/them", "America/Argentina/Buenos_Aires", "es", True)
    assert user.notification_prefs == {"email_reminders": True, "email_messages": False, "in_app": True}


def test_profile_language_and_low_energy_mode_change_the_pages(client, login, patient):
    login(client, patient)
    submit(client, "/profile", PROFILE)

    page = client.get("/profile").text

    assert '<html lang="es"' in page
    assert re.search(r'<body class="[^"]*\blow-energy\b', page)


@pytest.mark.parametrize("timezone", ["Mars/Olympus_Mons", "UTC+5", "europe/berlin", "../../etc/passwd", ""])
def test_profile_refuses_a_time_zone_that_is_not_an_iana_name(client, login, patient, timezone):
    login(client, patient)

    response = submit(client, "/profile", {**PROFILE, "timezone": timezone})

    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.text or "Not a valid choice" in response.text
    assert db.session.get(User, patient.id).timezone == "Europe/Berlin"


@pytest.mark.parametrize("locale", ["fr", "de", "EN", ""])
def test_profile_refuses_a_language_other_than_english_or_spanish(client, login, patient, locale):
    login(client, patient)

    response = submit(client, "/profile", {**PROFILE, "locale": locale})

    assert response.status_code == 200
    assert db.session.get(User, patient.id).locale == "en"
    assert db.session.get(User, patient.id).display_name == "Pat Patient"


@pytest.mark.parametrize(("field", "value"), [("timezone", "Not/AZone"), ("locale", "fr")])
def test_update_profile_service_validates_time_zone_and_language(app, patient, field, value):
    values = {"display_name": "Pat", "pronouns": "", "timezone": "UTC", "locale": "en", "low_energy": False,
              "notification_prefs": {}}
    values[field] = value

    with app.test_request_context(), pytest.raises(services.AccountError) as error:
        services.update_profile(patient, **values)

    assert error.value.field == field
    db.session.rollback()
    assert db.session.get(User, patient.id).display_name == "Pat Patient"


# API tokens on the profile page --------------------------------------------------------------------------------------


def create_token_on_profile(client, name: str = "my phone") -> str:
    response = submit(client, "/profile", {"name": name}, action="/profile/tokens")
    assert response.status_code == 302
    page = client.get("/profile").text
    return re.search(r'<code class="token">([^<]+)</code>', page).group(1)


def test_created_token_is_shown_once_and_authenticates_the_api(client, login, patient):
    login(client, patient)

    raw = create_token_on_profile(client)

    assert raw.startswith("mtm_")
    assert raw not in client.get("/profile").text
    assert api_status(client.application.test_client(), {"Authorization": f"Bearer {raw}"}) == 200
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == patient.id))
    assert token.token_hash == services.hash_token(raw)
    assert token.prefix == raw[:10]


def test_profile_lists_tokens_by_name_and_prefix_without_their_values(client, login, patient):
    login(client, patient)
    raw = create_token_on_profile(client, "laptop")

    page = client.get("/profile").text

    assert "laptop" in page
    assert f"{raw[:10]}…" in page
    assert raw not in page


def test_revoking_a_token_on_the_profile_page_stops_it_at_once(client, login, patient):
    login(client, patient)
    raw = create_token_on_profile(client)
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == patient.id))

    response = submit(client, "/profile", {}, action=f"/profile/tokens/{token.id}/revoke")

    assert response.status_code == 302
    assert api_status(client.application.test_client(), {"Authorization": f"Bearer {raw}"}) == 401
    assert "Revoked" in client.get("/profile").text


def test_revoking_someone_elses_token_is_not_found_and_leaves_it_working(client, login, api_token, patient,
                                                                        other_patient):
    bearer = api_token(other_patient)
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == other_patient.id))
    login(client, patient)

    response = submit(client, "/profile", {}, action=f"/profile/tokens/{token.id}/revoke")

    assert response.status_code == 404
    assert api_status(client, bearer) == 200


# Invitations ---------------------------------------------------------------------------------------------------------


def invite(client, email: str, role: str = "facilitator") -> str:
    """Invite as the signed-in admin; returns the path of the link that was emailed."""
    with mail.record_messages() as outbox:
        response = submit(client, "/admin/people", {"email": email, "role": role}, action="/admin/invitations")
    assert response.status_code == 302, response.text
    assert [message.recipients for message in outbox] == [[email]]
    return link_path(outbox[0].body)


def accept(client, link: str, email: str, **fields):
    data = {"display_name": "Fiona New", "email": email, "password": NEW_PASSWORD, "timezone": "Europe/Madrid"}
    return submit(client, link, {**data, **fields})


def test_admin_invites_a_facilitator_who_accepts_by_creating_an_account(client, app, login, admin, organisation):
    login(client, admin)
    link = invite(client, "fiona@example.org")
    newcomer = app.test_client()

    assert newcomer.get(link).status_code == 200
    response = accept(newcomer, link, "fiona@example.org")

    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "fiona@example.org"))
    assert user.role_in(organisation.id) is RoleName.FACILITATOR
    assert user.timezone == "Europe/Madrid"
    assert extract_parameters(user.password_hash).type is Type.ID
    assert "Your groups" in newcomer.get("/").text
    invitation = db.session.scalar(select(Invitation))
    assert invitation.accepted_by_id == user.id
    assert invitation.code_hash == services.hash_token(link.rsplit("/", 1)[1])


@pytest.mark.parametrize(("inviter", "organisation_locale", "invitee", "subject"), [
    ("es", "en", None, "You are invited to Momentum"),  # no account yet: the organisation's language, not the inviter's
    ("en", "es", None, "Te han invitado a Momentum"),
    ("es", "es", "en", "You are invited to Momentum"),
    ("en", "en", "es", "Te han invitado a Momentum"),
])
@pytest.mark.usefixtures("compiled_spanish")
def test_an_invitation_email_is_in_the_invitees_language(client, login, admin, organisation, make_user,
                                                         make_organisation, inviter, organisation_locale, invitee,
                                                         subject):
    admin.locale = inviter
    organisation.locale = organisation_locale
    db.session.commit()
    email = "someone.invited@example.org"
    if invitee:
        make_user(RoleName.FACILITATOR, make_organisation(name="Hillside Clinic"), email=email, locale=invitee)
    login(client, admin)

    with mail.record_messages() as outbox:
        submit(client, "/admin/people", {"email": email, "role": "facilitator"}, action="/admin/invitations")

    assert [message.subject for message in outbox] == [subject]


def test_an_admin_names_the_organisation_and_chooses_the_language_of_invitations(client, login, admin,
                                                                                 organisation):
    login(client, admin)
    assert "Language of invitations to new people" in client.get("/admin/organisation").text

    response = submit(client, "/admin/organisation", {"name": "  Hillside Clinic ", "locale": "es"})

    assert response.status_code == 302
    assert (organisation.name, organisation.locale) == ("Hillside Clinic", "es")
    row = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "organisation_update"))
    assert (row.actor_id, json.loads(row.details)) == (admin.id, {"changed": ["locale", "name"]})


def test_an_admin_keeps_the_organisations_own_risk_phrases_or_the_default_list(client, login, admin, organisation):
    login(client, admin)
    page = client.get("/admin/organisation").text
    assert "Risk phrases" in page and "no puedo mas" in page and "want to die" in page  # the default list, folded

    response = submit(client, "/admin/organisation", {"name": "Riverside Clinic", "locale": "en",
                                                      "risk_phrases": "  Give   up \n\nrendirme\ngive up\n  "})

    assert response.status_code == 302
    assert organisation.risk_phrases == "Give up\nrendirme"
    row = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "organisation_update"))
    assert (row.actor_id, json.loads(row.details)) == (admin.id, {"changed": ["risk_phrases"]})
    assert check_risk(organisation, "Some days I just GIVE UP") and check_risk(organisation, "Quiero rendirme")
    assert not check_risk(organisation, "I want to die") and not check_risk(organisation, "No puedo más")

    submit(client, "/admin/organisation", {"name": "Riverside Clinic", "locale": "en", "risk_phrases": " \n "})

    assert organisation.risk_phrases is None
    assert check_risk(organisation, "I want to die") and check_risk(organisation, "No puedo más")
    assert not check_risk(organisation, "Some days I just give up")


@pytest.mark.parametrize(("phrases", "message"), [
    ("x" * 101, "Keep each risk phrase to 100 characters or fewer."),
    ("\n".join(f"phrase {n}" for n in range(301)), "Keep at most 300 risk phrases."),
])
def test_risk_phrases_beyond_the_limits_are_refused(client, login, admin, organisation, phrases, message):
    login(client, admin)

    response = submit(client, "/admin/organisation", {"name": "Riverside Clinic", "locale": "en",
                                                      "risk_phrases": phrases})

    assert response.status_code == 200 and message in response.text
    assert organisation.risk_phrases is None


@pytest.mark.parametrize(("field", "value", "message"), [
    ("name", "   ", "Give the organisation a name."),
    ("locale", "fr", "Not a valid choice."),
])
def test_the_organisation_keeps_its_name_and_language_when_the_form_is_wrong(client, login, admin, organisation,
                                                                            field, value, message):
    login(client, admin)

    response = submit(client, "/admin/organisation", {"name": "Hillside Clinic", "locale": "es", field: value})

    assert response.status_code == 200
    assert message in response.text
    assert (organisation.name, organisation.locale) == ("Riverside Clinic", "en")


@pytest.mark.usefixtures("compiled_spanish")
def test_a_newcomer_gets_the_language_the_invitation_page_was_shown_in(client, app, login, admin):
    login(client, admin)
    link = invite(client, "fiona@example.org")
    newcomer = app.test_client()

    spanish = {"Accept-Language": "es-ES,es;q=0.9"}
    response = submit(newcomer, link, {"display_name": "Fiona New", "email": "fiona@example.org",
                                       "password": NEW_PASSWORD, "timezone": "Europe/Madrid"}, headers=spanish)

    assert response.status_code == 302

    assert db.session.scalar(select(User).where(User.email == "fiona@example.org")).locale == "es"


def test_an_invitation_works_only_once(client, app, login, admin):
    login(client, admin)
    link = invite(client, "fiona@example.org")
    accept(app.test_client(), link, "fiona@example.org")

    second = app.test_client()
    assert second.get(link).status_code == 410
    response = second.post(link, data={"csrf_token": page_csrf_token(second.get("/login").text),
                                       "display_name": "Again", "email": "fiona@example.org",
                                       "password": NEW_PASSWORD, "timezone": "UTC"})

    assert response.status_code == 410
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email == "fiona@example.org")) == 1


def test_an_expired_invitation_is_refused(client, app, login, admin):
    login(client, admin)
    link = invite(client, "fiona@example.org")

    with time_machine.travel(utcnow() + timedelta(days=app.config["INVITATION_DAYS"], seconds=1), tick=False):
        newcomer = app.test_client()
        assert newcomer.get(link).status_code == 410
        token = page_csrf_token(newcomer.get("/login").text)
        response = newcomer.post(link, data={"csrf_token": token, "display_name": "Late", "email": "fiona@example.org",
                                             "password": NEW_PASSWORD, "timezone": "UTC"})

    assert response.status_code == 410
    assert db.session.scalar(select(User).where(User.email == "fiona@example.org")) is None


def test_a_revoked_invitation_is_refused(client, app, login, admin):
    login(client, admin)
    link = invite(client, "fiona@example.org")
    invitation = db.session.scalar(select(Invitation))

    response = submit(client, "/admin/people", {}, action=f"/invitations/{invitation.id}/revoke?next=/admin/people")

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/people"
    newcomer = app.test_client()
    assert newcomer.get(link).status_code == 410
    refused = newcomer.post(link, data={"csrf_token": page_csrf_token(newcomer.get("/login").text),
                                        "display_name": "Fiona", "email": "fiona@example.org",
                                        "password": NEW_PASSWORD, "timezone": "UTC"})
    assert refused.status_code == 410
    assert db.session.scalar(select(User).where(User.email == "fiona@example.org")) is None


def test_another_organisations_admin_cannot_revoke_an_invitation(client, app, login, admin, make_organisation,
                                                                 make_user):
    login(client, admin)
    link = invite(client, "fiona@example.org")
    invitation = db.session.scalar(select(Invitation))
    outsider = make_user(RoleName.ADMIN, make_organisation(name="Hillside Clinic"))
    intruder = app.test_client()
    login(intruder, outsider)

    response = submit(intruder, "/admin/people", {}, action=f"/invitations/{invitation.id}/revoke")

    assert response.status_code == 404
    db.session.refresh(invitation)
    assert invitation.revoked_at is None
    assert app.test_client().get(link).status_code == 200


def test_an_invitation_sent_to_one_address_cannot_be_accepted_with_another_and_stays_usable(client, app, login, admin):
    login(client, admin)
    link = invite(client, "fiona@example.org")
    stranger = app.test_client()

    response = accept(stranger, link, "someone.else@example.org")

    assert response.status_code == 200
    assert "Use the email address the invitation was sent to." in response.text
    assert db.session.scalar(select(User).where(User.email == "someone.else@example.org")) is None
    assert db.session.scalar(select(Invitation)).accepted_at is None
    assert accept(app.test_client(), link, "fiona@example.org").status_code == 302


@pytest.fixture
def code_to_share(app, facilitator, organisation) -> str:
    """A patient invitation bound to no address, as a facilitator hands it out."""
    with app.test_request_context():
        _invitation, raw = services.create_invitation(facilitator, organisation, RoleName.PATIENT)
        db.session.commit()
    return raw


def ask_to_join(client, code: str, email: str):
    with mail.record_messages() as outbox:
        response = submit(client, f"/invitations/{code}", {"email": email})
    return response, outbox


def test_a_code_to_share_emails_a_new_address_the_link_to_finish_joining(app, code_to_share, organisation):
    response, outbox = ask_to_join(app.test_client(), code_to_share, "Newcomer@Example.org")

    assert response.status_code == 200
    assert "Check your email" in response.text
    assert db.session.scalar(select(User).where(User.email == "newcomer@example.org")) is None
    assert [m.recipients for m in outbox] == [["newcomer@example.org"]]
    link = link_path(outbox[0].body)
    assert link.startswith(f"/invitations/{code_to_share}/join/")
    newcomer = app.test_client()  # the link may be opened anywhere: the address is in it
    page = newcomer.get(link)
    assert page.status_code == 200 and "newcomer@example.org" in page.text
    joined = submit(newcomer, link, {"display_name": "Nia", "password": NEW_PASSWORD, "timezone": "Europe/Madrid"})
    assert joined.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "newcomer@example.org"))
    assert (user.role_in(organisation.id), user.timezone) == (RoleName.PATIENT, "Europe/Madrid")
    assert is_signed_in(newcomer)
    assert newcomer.get(link).status_code == 410  # single use, like the code


def test_a_code_to_share_emails_an_existing_account_a_link_to_sign_in_and_accept(app, code_to_share, patient):
    response, outbox = ask_to_join(app.test_client(), code_to_share, patient.email)

    assert response.status_code == 200
    assert [m.recipients for m in outbox] == [[patient.email]]
    assert "already has an account" in outbox[0].body
    assert link_path(outbox[0].body) == f"/invitations/{code_to_share}"
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email == patient.email)) == 1


def test_a_code_to_share_creates_no_account_without_the_emailed_link(app, code_to_share):
    client = app.test_client()
    page = client.get(f"/invitations/{code_to_share}")
    response = client.post(f"/invitations/{code_to_share}", data={
        "csrf_token": page_csrf_token(page.text), "email": "newcomer@example.org", "password": NEW_PASSWORD,
        "display_name": "Nia", "timezone": "UTC"})

    assert response.status_code == 200
    assert db.session.scalar(select(User).where(User.email == "newcomer@example.org")) is None
    with pytest.raises(services.AccountError):
        services.accept_invitation(services.find_invitation(code_to_share), email="newcomer@example.org",
                                   password=NEW_PASSWORD, display_name="Nia")


def test_a_joining_link_is_refused_when_forged_or_for_another_invitation(app, code_to_share, facilitator,
                                                                          organisation):
    _response, outbox = ask_to_join(app.test_client(), code_to_share, "newcomer@example.org")
    token = link_path(outbox[0].body).rsplit("/", 1)[1]
    with app.test_request_context():
        _other, other_code = services.create_invitation(facilitator, organisation, RoleName.PATIENT)
        db.session.commit()
    forged = services.join_token(services.find_invitation(code_to_share), "intruder@example.org")[:-2] + "xx"

    client = app.test_client()
    assert client.get(f"/invitations/{other_code}/join/{token}").status_code == 404
    assert client.get(f"/invitations/{code_to_share}/join/{forged}").status_code == 404
    assert client.get(f"/invitations/{code_to_share}/join/{token}").status_code == 200


def test_an_unknown_invitation_code_is_not_found(client):
    assert client.get("/invitations/not-a-real-code").status_code == 404


def test_a_facilitator_cannot_invite_staff(client, login, facilitator):
    login(client, facilitator)

    with mail.record_messages() as outbox:
        response = submit(client, "/profile", {"email": "x@example.org", "role": "admin"},
                          action="/admin/invitations")

    assert response.status_code == 403
    assert outbox == []
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0


# Deactivation --------------------------------------------------------------------------------------------------------


def test_deactivating_a_facilitator_ends_all_their_sessions_and_tokens_at_once(client, app, login, api_token, admin,
                                                                               facilitator):
    devices = [app.test_client(), app.test_client()]
    for device in devices:
        login(device, facilitator)
    bearers = [api_token(facilitator), api_token(facilitator)]
    login(client, admin)

    response = submit(client, "/admin/people", {}, action=f"/admin/people/{facilitator.id}/deactivate")

    assert response.status_code == 302
    assert [is_signed_in(device) for device in devices] == [False, False]
    assert [api_status(client, bearer) for bearer in bearers] == [401, 401]
    sessions = db.session.scalars(select(LoginSession).where(LoginSession.user_id == facilitator.id)).all()
    assert {s.end_reason for s in sessions} == {"deactivated"}
    tokens = db.session.scalars(select(ApiToken).where(ApiToken.user_id == facilitator.id)).all()
    assert all(token.revoked_at is not None for token in tokens)


def test_deactivating_a_facilitator_withdraws_the_invitations_they_handed_out(client, app, login, admin, facilitator,
                                                                            make_user, organisation):
    colleague = make_user(RoleName.FACILITATOR)
    with app.test_request_context():
        _shared, shared_code = services.create_invitation(facilitator, organisation, RoleName.PATIENT)
        _sent, sent_code = services.create_invitation(facilitator, organisation, RoleName.PATIENT, "pat@example.org")
        used, used_code = services.create_invitation(facilitator, organisation, RoleName.PATIENT)
        used.accepted_at = utcnow()
        _theirs, colleague_code = services.create_invitation(colleague, organisation, RoleName.PATIENT)
        db.session.commit()
    login(client, admin)

    submit(client, "/admin/people", {}, action=f"/admin/people/{facilitator.id}/deactivate")

    visitor = app.test_client()
    assert [visitor.get(f"/invitations/{code}").status_code for code in (shared_code, sent_code)] == [410, 410]
    assert "withdrawn" in visitor.get(f"/invitations/{shared_code}").text
    assert visitor.get(f"/invitations/{colleague_code}").status_code == 200
    assert db.session.get(Invitation, used.id).revoked_at is None
    revoked = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "invitation_revoke")).all()
    assert [(e.actor_id, e.details) for e in revoked] == [(admin.id, '{"reason": "creator_deactivated"}')] * 2


def test_a_deactivated_account_cannot_sign_in(client, app, login, admin, facilitator):
    login(client, admin)
    submit(client, "/admin/people", {}, action=f"/admin/people/{facilitator.id}/deactivate")

    response = sign_in(app.test_client(), facilitator.email)

    assert response.status_code == 200
    assert "do not match an active account" in response.text
    assert open_sessions(facilitator) == 0


def test_a_reactivated_account_can_sign_in_again(client, app, login, admin, facilitator):
    login(client, admin)
    submit(client, "/admin/people", {}, action=f"/admin/people/{facilitator.id}/deactivate")
    submit(client, "/admin/people", {}, action=f"/admin/people/{facilitator.id}/reactivate")

    assert sign_in(app.test_client(), facilitator.email).status_code == 302


def test_an_admin_cannot_deactivate_themselves_or_another_organisations_staff(
        client, login, admin, make_organisation, make_user):
    outsider = make_user(RoleName.FACILITATOR, make_organisation(name="Hillside Clinic"))
    login(client, admin)

    for account in (admin, outsider):
        response = submit(client, "/admin/people", {}, action=f"/admin/people/{account.id}/deactivate")
        assert response.status_code == 404, account
        assert db.session.get(User, account.id).active


# Commands ------------------------------------------------------------------------------------------------------------


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def create_admin(app, *args: str):
    return app.test_cli_runner().invoke(args=["create-admin", *args])


def test_create_admin_creates_the_organisation_and_its_first_admin(client, app):
    result = create_admin(app, "--organisation", "Lakeside Clinic", "--email", "Boss@Example.org",
                          "--name", "Bo Boss", "--password", NEW_PASSWORD)

    assert result.exit_code == 0, result.output
    organisation = db.session.scalar(select(Organisation).where(Organisation.slug == "lakeside-clinic"))
    user = db.session.scalar(select(User).where(User.email == "boss@example.org"))
    assert user.role_in(organisation.id) is RoleName.ADMIN
    assert extract_parameters(user.password_hash).type is Type.ID
    assert sign_in(client, "boss@example.org", NEW_PASSWORD).status_code == 302


def test_create_admin_adds_a_second_admin_to_an_existing_organisation(app):
    create_admin(app, "--organisation", "Lakeside Clinic", "--email", "one@example.org", "--password", NEW_PASSWORD)

    result = create_admin(app, "--organisation", "Lakeside Clinic", "--email", "two@example.org",
                          "--password", NEW_PASSWORD)

    assert result.exit_code == 0, result.output
    assert count(Organisation) == 1
    lakeside = db.session.scalar(select(Organisation).where(Organisation.slug == "lakeside-clinic"))
    assert db.session.scalar(select(func.count()).select_from(Role).where(Role.organisation_id == lakeside.id)) == 2


def test_create_admin_refuses_an_existing_email_or_a_short_password_and_changes_nothing(app, patient):
    before = (count(User), count(Organisation))

    taken = create_admin(app, "--organisation", "New Clinic", "--email", patient.email, "--password", NEW_PASSWORD)
    short = create_admin(app, "--organisation", "New Clinic", "--email", "new@example.org", "--password", "short")

    assert taken.exit_code != 0 and "exists" in taken.output
    assert short.exit_code != 0 and "at least 12" in short.output
    assert (count(User), count(Organisation)) == before


def test_demo_loads_every_demo_account_and_running_it_twice_changes_nothing(client, app, monkeypatch):
    # Every demo account has the same password: hash it once rather than once per account.
    monkeypatch.setattr(services, "hash_password", functools.cache(services.hash_password))
    first = app.test_cli_runner().invoke(args=["demo"])
    after_first = (count(User), count(Organisation), count(Role))
    second = app.test_cli_runner().invoke(args=["demo"])

    assert (first.exit_code, second.exit_code) == (0, 0)
    assert (count(User), count(Organisation), count(Role)) == after_first
    emails = set(db.session.scalars(select(User.email)))
    assert {email for email, *_rest in DEMO_ACCOUNTS} <= emails
    assert sign_in(client, DEMO_ACCOUNTS[0][0], DEMO_PASSWORD).status_code == 302


def test_demo_if_empty_loads_the_demo_into_a_database_without_organisations(app, monkeypatch):
    monkeypatch.setattr(services, "hash_password", functools.cache(services.hash_password))

    result = app.test_cli_runner().invoke(args=["demo", "--if-empty"])

    assert result.exit_code == 0, result.output
    assert {email for email, *_rest in DEMO_ACCOUNTS} <= set(db.session.scalars(select(User.email)))


def test_demo_if_empty_leaves_a_database_with_an_organisation_as_it_is(app, admin):
    before = (count(User), count(Organisation), count(Role))

    result = app.test_cli_runner().invoke(args=["demo", "--if-empty"])

    assert result.exit_code == 0, result.output
    assert "not loaded" in result.output
    assert (count(User), count(Organisation), count(Role)) == before


@pytest.mark.parametrize("args", [["demo"], ["demo", "--if-empty"]], ids=["demo", "if-empty"])
@pytest.mark.parametrize("how", ["argument", "MOMENTUM_ENV"])
def test_demo_is_refused_in_production(monkeypatch, how, args):
    monkeypatch.setenv("SECRET_KEY", "a-real-production-secret-of-some-length")
    monkeypatch.setenv("AUDIT_KEY", "a-separate-production-audit-key")
    monkeypatch.setenv("BASE_URL", "https://momentum.example")
    if how == "MOMENTUM_ENV":
        monkeypatch.setenv("MOMENTUM_ENV", "production")
        production = create_app(SQLALCHEMY_DATABASE_URI="sqlite://")
    else:
        production = create_app("production", SQLALCHEMY_DATABASE_URI="sqlite://")
    with production.app_context():
        db.create_all()
        result = production.test_cli_runner().invoke(args=args)
        users = count(User)
        db.session.remove()
        db.engine.dispose()

    assert production.config["PRODUCTION"]
    assert result.exit_code != 0
    assert "not loaded in production" in result.output
    assert users == 0
