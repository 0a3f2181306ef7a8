"""The JSON API's contract: bearer tokens, the signed-in account, JSON errors, ids past any column, the OpenAPI 3.1
document and its Swagger UI page; and the groups API used as a client would (sessions, attendance, enrolment,
invitations, agreements, co-facilitators, agendas)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from conftest import PASSWORD, csrf_token
from groups_fixtures import *  # noqa: F403
from groups_fixtures import NOW, occurrences_of, utc
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from test_translations import compiled_spanish  # noqa: F401  (the fixture: the Spanish catalog, compiled and loaded)

from app.accounts import services
from app.accounts.models import ApiToken, RoleName
from app.api_base import MAX_ID, DatabaseIdConverter, numbers_up_to
from app.extensions import db
from app.groups import queries as group_queries
from app.groups import services as group_services
from app.groups.models import Attendance, Membership, MembershipStatus
from app.models_base import utcnow

TOKENS = "/api/v1/auth/tokens"


@pytest.fixture
def fast_passwords(monkeypatch):
    """Argon2 costs ~50 ms a check; these tests are about the API, not hashing."""
    monkeypatch.setattr(services, "verify_password", lambda stored, password: password == PASSWORD)


def error_of(response) -> dict:
    """The error object, after checking the shape every API error has."""
    body = response.get_json()
    assert response.mimetype == "application/json"
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def bearer(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


# POST /api/v1/auth/tokens --------------------------------------------------------------------------------------------


def test_email_and_password_give_a_bearer_token_that_works_at_once(client, fast_passwords, patient):
    response = client.post(TOKENS, json={"email": patient.email, "password": PASSWORD, "name": "Phone"})

    assert response.status_code == 201
    body = response.get_json()
    assert body["token"].startswith(body["prefix"]) and body["name"] == "Phone" and body["revoked_at"] is None
    assert body["expires_at"] > body["created_at"]
    me = client.application.test_client().get("/api/v1/me", headers=bearer(body["token"]))
    assert me.status_code == 200 and me.get_json()["email"] == patient.email


def test_a_token_is_stored_only_as_a_hash(client, fast_passwords, patient):
    raw = client.post(TOKENS, json={"email": patient.email, "password": PASSWORD}).get_json()["token"]

    stored = db.session.scalar(select(ApiToken).where(ApiToken.user_id == patient.id))
    assert stored.name == "API token"
    assert stored.token_hash == services.hash_token(raw) and raw not in stored.token_hash


def test_email_is_matched_ignoring_case_and_spaces(client, fast_passwords, patient):
    response = client.post(TOKENS, json={"email": f"  {patient.email.upper()} ", "password": PASSWORD})

    assert response.status_code == 201


def test_a_wrong_password_is_401_with_the_json_error_shape_and_creates_no_token(client, fast_passwords, patient):
    response = client.post(TOKENS, json={"email": patient.email, "password": "not the password"})

    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert db.session.scalar(select(ApiToken)) is None


def test_missing_fields_are_422_with_a_message_per_field(client):
    response = client.post(TOKENS, json={})

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"email", "password"}
    assert all(isinstance(m, str) and m for messages in error["fields"].values() for m in messages)


def test_unknown_fields_and_wrong_types_are_422_per_field(client):
    response = client.post(TOKENS, json={"email": 42, "password": "x", "admin": True})

    assert response.status_code == 422
    assert set(error_of(response)["fields"]) == {"email", "admin"}


@pytest.mark.parametrize("field", ["email", "password", "name"])
@pytest.mark.parametrize("bad", ["a\x00b", "\ud800x"], ids=["nul", "unpaired-surrogate"])
def test_text_that_no_database_stores_is_422_for_that_field(client, field, bad):
    body = {"email": "someone@example.org", "password": "a password", field: bad}

    response = client.post(TOKENS, json=body)

    assert response.status_code == 422
    assert list(error_of(response)["fields"]) == [field]


# In the caller's language -------------------------------------------------------------------------------------------


SPANISH = {"Accept-Language": "es-ES,es;q=0.9"}


@pytest.mark.usefixtures("compiled_spanish")
def test_api_field_errors_come_back_in_the_callers_language(client):
    response = client.post(TOKENS, headers=SPANISH, json={"password": "a\x00b", "name": "n" * 101, "admin": True})

    assert response.status_code == 422
    error = error_of(response)
    assert error["message"] == "Algunos campos necesitan tu atención."
    assert error["fields"] == {"email": ["Falta este dato, que es obligatorio."],
                               "password": ["No debe contener caracteres NUL."],
                               "name": ["Supera la longitud máxima de 100."],
                               "admin": ["Campo desconocido."]}


@pytest.mark.usefixtures("compiled_spanish")
def test_api_field_errors_follow_the_accounts_language_over_the_browsers(client, api_token, patient):
    patient.locale = "es"
    db.session.commit()

    response = client.post("/api/v1/checkins", headers={**api_token(patient), "Accept-Language": "en"},
                           json={"client_id": "x", "mood": "six", "energy": "tired"})

    assert response.status_code == 422
    fields = error_of(response)["fields"]
    assert fields["mood"] == ["No es un número entero válido."]
    assert fields["energy"][0].startswith("Debe ser uno de estos: ")


def test_api_field_errors_stay_in_english_for_english_callers(client):
    response = client.post(TOKENS, headers={"Accept-Language": "en"}, json={"password": "x", "admin": True})

    assert error_of(response)["fields"] == {"email": ["Missing data for required field."],
                                            "admin": ["Unknown field."]}


def _api_schemas() -> list[type]:
    import inspect

    import marshmallow

    from app.accounts import schemas as accounts
    from app.groups import schemas as groups
    from app.rooms import schemas as rooms
    from app.supporters import schemas as supporters

    return [obj for module in (accounts, groups, rooms, supporters) for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, marshmallow.Schema) and obj.__module__ == module.__name__]


def test_every_api_schema_reports_in_the_callers_language():
    from app.api_base import Schema

    assert _api_schemas()
    assert [schema.__name__ for schema in _api_schemas() if not issubclass(schema, Schema)] == []


def _reported_messages(field, seen: set) -> list:
    """Every message a bound field can report: its own, its validators', its inner fields' and nested schemas'."""
    from marshmallow import fields as ma_fields

    found = list(field.error_messages.values())
    for validator in field.validators:
        templates = [getattr(validator, name, None) for name in ("error", "message_min", "message_max", "message_all",
                                                                 "message_equal")]
        found += [template for template in templates if isinstance(template, str)]
    for name in ("inner", "key_field", "value_field"):
        inner = getattr(field, name, None)
        if isinstance(inner, ma_fields.Field):
            found += _reported_messages(inner, seen)
    if isinstance(field, ma_fields.Nested) and type(field.schema) not in seen:
        seen.add(type(field.schema))
        found += list(field.schema.error_messages.values())
        for nested in field.schema.fields.values():
            found += _reported_messages(nested, seen)
    return found


def test_every_message_an_api_schema_can_report_is_translated_later_and_in_the_spanish_catalog(app):
    from babel.messages.pofile import read_po
    from test_translations import SPANISH_PO

    from app.api_base import Message

    with SPANISH_PO.open("rb") as f:
        catalog = read_po(f, locale="es")
    messages, seen = [], set()
    for schema_class in _api_schemas():
        schema = schema_class()
        messages += list(schema.error_messages.values())
        for field in schema.fields.values():
            messages += _reported_messages(field, seen)

    assert messages
    assert sorted({str(m) for m in messages if not isinstance(m, Message)}) == []  # each one is translated when shown
    assert sorted({str(m) for m in messages if not (catalog.get(str(m)) and catalog.get(str(m)).string)}) == []


def test_a_body_past_the_size_limit_is_a_json_413(client, app):
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024

    response = client.post(TOKENS, json={"email": "someone@example.org", "password": "x" * (1024 * 1024)})

    assert response.status_code == 413
    assert error_of(response)["code"] == "too_large"


def test_the_size_limit_is_configurable(client, app):
    app.config["MAX_CONTENT_LENGTH"] = 2048

    assert client.post(TOKENS, json={"email": "a@example.org", "password": "x" * 4096}).status_code == 413
    assert client.post(TOKENS, json={"email": "a@example.org", "password": "x" * 100}).status_code == 401


def test_a_page_form_past_the_size_limit_gets_a_page_that_says_so(client):
    response = client.post("/login", data={"email": "someone@example.org", "password": "x" * (1024 * 1024)})

    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "more than can be sent at once" in response.text


def test_a_body_that_is_not_json_is_400(client):
    response = client.post(TOKENS, data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_request"


def test_token_requests_past_the_limit_get_429_with_retry_after(client, fast_passwords, patient):
    for _ in range(10):
        client.post(TOKENS, json={"email": patient.email, "password": "wrong"})

    response = client.post(TOKENS, json={"email": patient.email, "password": PASSWORD})

    assert response.status_code == 429
    assert error_of(response)["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0


# GET /api/v1/me ------------------------------------------------------------------------------------------------------


def test_me_with_a_bearer_token(client, api_token, facilitator, organisation):
    response = client.get("/api/v1/me", headers=api_token(facilitator))

    assert response.status_code == 200
    assert response.get_json() == {
        "id": facilitator.id, "email": facilitator.email, "display_name": "Dr. Fran Facilitator", "pronouns": "",
        "timezone": "Europe/Berlin", "locale": "en", "low_energy": False, "availability": [], "role": "facilitator",
        "organisation": {"id": organisation.id, "name": "Riverside Clinic"},
    }


def test_me_with_a_browser_session(client, login, patient):
    login(client, patient)

    response = client.get("/api/v1/me")

    assert response.status_code == 200
    assert response.get_json()["email"] == patient.email and response.get_json()["role"] == "patient"


def test_me_without_credentials_is_401_json_not_a_redirect(client):
    response = client.get("/api/v1/me")

    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer mtm_not-a-token", "Basic dXNlcjpwYXNz", "bearer \x7f"])
def test_a_malformed_or_unknown_authorization_header_is_401(client, header):
    response = client.get("/api/v1/me", headers={"Authorization": header})

    assert response.status_code == 401
    error_of(response)


# GET and DELETE /api/v1/auth/tokens ----------------------------------------------------------------------------------


def test_listing_tokens_shows_yours_without_their_values(client, api_token, patient, other_patient):
    headers = api_token(patient)
    api_token(other_patient)

    response = client.get(TOKENS, headers=headers)

    assert response.status_code == 200
    tokens = response.get_json()
    assert len(tokens) == 1
    assert set(tokens[0]) == {"id", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"}
    assert tokens[0]["last_used_at"] is not None


def test_listing_tokens_with_a_browser_session(client, login, api_token, patient):
    api_token(patient)
    login(client, patient)

    response = client.get(TOKENS)

    assert response.status_code == 200 and len(response.get_json()) == 1


def test_deleting_a_token_revokes_it_at_once(client, api_token, patient):
    headers = api_token(patient)
    other = api_token(patient)
    token_id = db.session.scalar(select(ApiToken.id).order_by(ApiToken.id.desc()))

    response = client.delete(f"{TOKENS}/{token_id}", headers=headers)

    assert response.status_code == 204 and response.data == b""
    assert client.get("/api/v1/me", headers=other).status_code == 401
    assert client.get("/api/v1/me", headers=headers).status_code == 200


def test_deleting_your_own_token_with_itself_ends_it(client, api_token, patient):
    headers = api_token(patient)
    token_id = db.session.scalar(select(ApiToken.id))

    assert client.delete(f"{TOKENS}/{token_id}", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_deleting_someone_elses_or_a_missing_token_is_404(client, api_token, patient, other_patient):
    headers = api_token(patient)
    theirs = api_token(other_patient)
    their_id = db.session.scalar(select(ApiToken.id).order_by(ApiToken.id.desc()))

    for token_id in (their_id, 999999, MAX_ID):
        response = client.delete(f"{TOKENS}/{token_id}", headers=headers)
        assert response.status_code == 404, token_id
        assert error_of(response)["code"] == "not_found"
    assert client.get("/api/v1/me", headers=theirs).status_code == 200


def test_deleting_a_token_with_a_browser_session_needs_the_csrf_header(client, app, login, api_token, patient):
    api_token(patient)
    token_id = db.session.scalar(select(ApiToken.id))
    login(client, patient)

    refused = client.delete(f"{TOKENS}/{token_id}")
    accepted = client.delete(f"{TOKENS}/{token_id}", headers={"X-CSRFToken": csrf_token(client, app)})

    assert refused.status_code == 400 and error_of(refused)["code"] == "csrf_failed"
    assert accepted.status_code == 204


def test_an_expired_token_is_401(client, api_token, patient):
    headers = api_token(patient)

    with time_machine.travel(utcnow() + timedelta(days=client.application.config["API_TOKEN_DAYS"], seconds=1)):
        response = client.get("/api/v1/me", headers=headers)

    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"


def test_a_token_still_works_just_before_it_expires(client, api_token, patient):
    headers = api_token(patient)

    with time_machine.travel(utcnow() + timedelta(days=client.application.config["API_TOKEN_DAYS"], seconds=-60)):
        assert client.get("/api/v1/me", headers=headers).status_code == 200


def test_a_revoked_token_is_401(client, api_token, patient):
    headers = api_token(patient)
    db.session.scalar(select(ApiToken)).revoked_at = utcnow()
    db.session.commit()

    response = client.get(TOKENS, headers=headers)

    assert response.status_code == 401
    error_of(response)


# Errors under /api are JSON ------------------------------------------------------------------------------------------


def test_an_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/v1/nothing-here")

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_a_method_an_api_path_does_not_answer_is_a_json_405_with_allow(client, api_token, patient):
    response = client.put("/api/v1/me", headers=api_token(patient))

    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}


def test_pages_outside_the_api_still_get_html_errors(client):
    response = client.get("/nothing-here")

    assert response.status_code == 404 and response.mimetype == "text/html"


# Ids past any database column ----------------------------------------------------------------------------------------


def test_every_int_in_a_route_is_a_bounded_database_id(app):
    int_rules = [rule for rule in app.url_map.iter_rules() if "int" in str(rule.rule)]

    assert int_rules
    for rule in int_rules:
        for name, converter in rule._converters.items():
            if f"<int:{name}>" in rule.rule:
                assert isinstance(converter, DatabaseIdConverter) and converter.max == MAX_ID, rule.rule


@pytest.mark.parametrize("number", [str(MAX_ID + 1), "9999999999", str(2**63), str(2**64), "9" * 40, "9" * 5000],
                         ids=["max+1", "10-digits", "2**63", "2**64", "40-digits", "5000-digits"])
def test_ids_past_any_column_are_404_on_every_route(app, api_token, patient, number):
    """PostgreSQL refuses a number past its 32-bit INTEGER and SQLite's driver one past 64 bits; no such number may
    reach a query, on any route and with any method (a refusal after routing would be a 405 where another method
    has a rule)."""
    client = app.test_client()
    headers = api_token(patient)
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule:
            continue
        url = re.sub(r"<int:\w+>", number, rule.rule)
        url = re.sub(r"<(?:\w+:)?\w+>", "x", url)
        for method in rule.methods - {"OPTIONS"}:
            response = client.open(url, method=method, headers=headers if url.startswith("/api/") else {})
            assert response.status_code == 404, (method, url)


@given(limit=st.integers(min_value=0, max_value=10**12),
       offset=st.integers(min_value=-1000, max_value=1000) | st.integers(min_value=-10**12, max_value=10**12))
def test_the_id_pattern_matches_exactly_the_numbers_up_to_its_limit(limit, offset):
    number = max(limit + offset, 0)
    assert bool(re.fullmatch(numbers_up_to(limit), str(number))) == (number <= limit)


def test_the_largest_id_reaches_the_query_and_is_simply_not_found(client, api_token, patient):
    response = client.delete(f"{TOKENS}/{MAX_ID}", headers=api_token(patient))

    assert response.status_code == 404


# The OpenAPI document and Swagger UI ---------------------------------------------------------------------------------


@pytest.fixture
def document(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield f"{method.upper()} {path}", item, operation


def test_the_document_is_openapi_3_1(document):
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    assert document["info"]["title"] == "Momentum API"
    assert document["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert {"/api/v1/me", "/api/v1/auth/tokens", "/api/v1/auth/tokens/{token_id}"} <= set(document["paths"])


def test_the_token_endpoint_needs_no_token_and_everything_else_does(document):
    assert document["security"] == [{"bearerAuth": []}]
    assert document["paths"]["/api/v1/auth/tokens"]["post"]["security"] == []


def test_every_operation_documents_the_errors_it_can_answer(document):
    """What schemathesis holds the API to; checked here so that a new endpoint is told at once what it lacks."""
    for label, item, operation in operations(document):
        responses = set(operation["responses"])
        required = {"default", "429"}
        security = operation.get("security", document["security"])
        if security and {} not in security:
            required.add("401")
        if "requestBody" in operation:
            required |= {"400", "422"}
        if not label.startswith("GET "):
            required.add("400")  # a browser-session write without its CSRF token
            required.add("413")  # a body past MAX_CONTENT_LENGTH
        parameters = item.get("parameters", []) + operation.get("parameters", [])
        if any(p["in"] == "path" for p in parameters):
            required.add("404")
        if any(p["in"] == "query" for p in parameters):
            required.add("422")
        assert required <= responses, f"{label} does not document {sorted(required - responses)}"


def test_a_413_is_an_answer_the_endpoint_documents(client, document, api_token, patient):
    response = client.post("/api/v1/goals", json={"title": "x" * (1024 * 1024)}, headers=api_token(patient))

    assert response.status_code == 413
    assert error_of(response)["code"] == "too_large"
    assert "413" in document["paths"]["/api/v1/goals"]["post"]["responses"]


def test_errors_are_documented_with_the_shape_they_have(document):
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    body = document["components"]["schemas"]["ErrorBody"]
    assert set(body["properties"]) == {"code", "message", "fields"} == set(body["required"])


def test_id_parameters_document_their_bounds(document):
    parameter = document["paths"]["/api/v1/auth/tokens/{token_id}"]["parameters"][0]
    assert parameter["schema"] == {"type": "integer", "minimum": 0, "maximum": MAX_ID}


def test_text_fields_document_that_nul_is_refused_and_one_line_fields_that_line_breaks_are(document):
    token_request = document["components"]["schemas"]["TokenRequest"]["properties"]
    assert token_request["password"]["pattern"] == "^[^\\x00]*$"
    for name in ("email", "name"):
        assert token_request[name]["pattern"] == "^[^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]*$"
    description = document["components"]["schemas"]["Group"]["properties"]["description"]
    assert description["pattern"] == "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"


def test_swagger_ui_loads_the_vendored_bundle_and_nothing_from_a_cdn(client):
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    page = response.text
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', page)
    # A data: address (the page's icon) is carried in the page and loads nothing from anywhere.
    styles = [href for href in re.findall(r'<link[^>]*href="([^"]+)"', page) if not href.startswith("data:")]
    assert "/static/vendor/swagger-ui-dist/swagger-ui-bundle.js" in scripts
    assert "/static/vendor/swagger-ui-dist/swagger-ui.css" in styles
    assert not re.search(r"(?:https?:)?//(?!localhost)[\w.-]+\.\w+/", " ".join(scripts + styles))
    assert not re.search(r"unpkg|jsdelivr|cdnjs|googleapis|cloudflare", page)
    assert 'data-spec-url="/api/v1/openapi.json"' in page
    for url in scripts + styles:
        with client.get(url) as asset:
            assert asset.status_code == 200, url


# The groups API, used as a client would -------------------------------------------------------------------------------
# (the fixtures come from groups_fixtures: a Berlin group with three members and eight Thursday sessions around NOW)


def _past(group):
    return [o for o in occurrences_of(group) if o.starts_at < NOW]


def test_sessions_in_a_date_range_are_those_starting_inside_it(client, api_token, group_with_members, patient):
    response = client.get(f"/api/v1/groups/{group_with_members.id}/sessions",
                          query_string={"start": "2026-03-26T00:00:00+01:00", "end": "2026-04-09T00:00:00+02:00"},
                          headers=api_token(patient))

    assert response.status_code == 200
    assert [(s["starts_at"], s["local_start"]) for s in response.get_json()] == [
        ("2026-03-26T17:00:00+00:00", "2026-03-26T18:00:00+01:00"),
        ("2026-04-02T16:00:00+00:00", "2026-04-02T18:00:00+02:00")]
    backwards = client.get(f"/api/v1/groups/{group_with_members.id}/sessions", headers=api_token(patient),
                           query_string={"start": "2026-04-09T00:00:00+02:00", "end": "2026-03-26T00:00:00+01:00"})
    assert backwards.status_code == 422 and "end" in error_of(backwards)["fields"]


def test_attendance_put_saves_what_it_can_and_lists_conflicts_and_skipped_rows(client, api_token, group_with_members,
                                                                               facilitator, make_user, patient):
    group = group_with_members
    occurrence = _past(group)[-1]
    ids = {m.shown_name: m.user_id for m in group_queries.active_members(group)}
    colleague = make_user(RoleName.FACILITATOR)
    group_services.set_co_facilitators(facilitator, group, [colleague])
    db.session.commit()
    url = f"/api/v1/sessions/{occurrence.id}/attendance"
    first = client.put(url, headers=api_token(colleague), json={"entries": [
        {"user_id": ids["Pat"], "status": "present_in_person", "previous_status": None}]})
    assert first.status_code == 200 and first.get_json()["conflicts"] == []

    # Loaded before the colleague saved: Pat's row conflicts; Zoe's is saved; someone outside the group is skipped.
    second = client.put(url, headers=api_token(facilitator), json={"entries": [
        {"user_id": ids["Pat"], "status": "absent", "previous_status": None},
        {"user_id": ids["Zoe Zimmer"], "status": "excused", "comment": "Told us", "previous_status": None},
        {"user_id": make_user(RoleName.PATIENT).id, "status": "present_online", "previous_status": None}]})

    body = second.get_json()
    assert second.status_code == 200
    assert body["conflicts"] == [ids["Pat"]] and len(body["skipped"]) == 1
    records = {r["user_id"]: (r["status"], r["comment"]) for r in body["records"]}
    assert records[ids["Pat"]] == ("present_in_person", "")
    assert records[ids["Zoe Zimmer"]] == ("excused", "Told us")
    assert db.session.scalar(select(func.count()).select_from(Attendance)) == 2


def test_attendance_for_a_session_not_started_is_409(client, api_token, group_with_members, facilitator, patient):
    upcoming = [o for o in occurrences_of(group_with_members) if o.starts_at > NOW][0]

    response = client.put(f"/api/v1/sessions/{upcoming.id}/attendance", headers=api_token(facilitator),
                          json={"entries": [{"user_id": patient.id, "status": "present_online"}]})

    assert response.status_code == 409
    assert "not started" in error_of(response)["message"]


def _invited(group, user) -> Membership:
    row = Membership(group_id=group.id, user_id=user.id, status=MembershipStatus.INVITED)
    db.session.add(row)
    db.session.commit()
    return row


def test_joining_through_the_api_takes_a_place_or_the_waitlist(client, api_token, make_group, make_member,
                                                              facilitator, make_user):
    group = make_group(facilitator, capacity=1)
    people = [make_user(RoleName.PATIENT) for _ in range(2)]
    for person in people:
        _invited(group, person)
    answer = {"agreement_version": 1, "preferred_name": "Sam", "speaking_comfort": "some_nerves",
              "accommodations": ["camera_off"], "hopes": "Company"}

    first = client.post(f"/api/v1/groups/{group.id}/join", headers=api_token(people[0]), json=answer)
    second = client.post(f"/api/v1/groups/{group.id}/join", headers=api_token(people[1]), json=answer)
    again = client.post(f"/api/v1/groups/{group.id}/join", headers=api_token(people[0]), json=answer)

    assert (first.status_code, first.get_json()["status"], first.get_json()["agreement_version"]) == (200, "active", 1)
    assert (second.status_code, second.get_json()["status"]) == (200, "waitlisted")
    assert again.status_code == 404  # no longer invited: nothing to join
    outdated = make_user(RoleName.PATIENT)
    _invited(group, outdated)
    stale = client.post(f"/api/v1/groups/{group.id}/join", headers=api_token(outdated),
                        json={**answer, "agreement_version": 7})
    assert stale.status_code == 422 and "agreement" in error_of(stale)["fields"]


def test_a_membership_patch_pauses_a_member_and_refuses_a_change_it_cannot_make(client, api_token,
                                                                               group_with_members, facilitator,
                                                                               patient, other_patient):
    row = group_queries.membership_of(patient, group_with_members)

    paused = client.patch(f"/api/v1/memberships/{row.id}", headers=api_token(facilitator),
                          json={"status": "paused", "reason": "Surgery"})
    invited = client.patch(f"/api/v1/memberships/{row.id}", headers=api_token(facilitator),
                           json={"status": "invited"})
    by_a_patient = client.patch(f"/api/v1/memberships/{row.id}", headers=api_token(other_patient),
                                json={"status": "left"})

    assert (paused.status_code, paused.get_json()["status"], paused.get_json()["status_reason"]) == (
        200, "paused", "Surgery")
    assert invited.status_code == 409
    assert by_a_patient.status_code == 404
    db.session.refresh(row)
    assert row.status == MembershipStatus.PAUSED


def _code(app, facilitator, group) -> str:
    with app.test_request_context():
        _invitation, raw = group_services.invite_member(facilitator, group)
        db.session.commit()
    return raw


def test_an_invitation_accepted_twice_is_410_the_second_time(app, client, api_token, group_with_members, facilitator,
                                                             make_user):
    raw = _code(app, facilitator, group_with_members)
    first, second = make_user(RoleName.PATIENT), make_user(RoleName.PATIENT)

    accepted = client.post(f"/api/v1/invitations/{raw}/accept", headers=api_token(first), json={})
    again = client.post(f"/api/v1/invitations/{raw}/accept", headers=api_token(second), json={})

    assert (accepted.status_code, accepted.get_json()["group_id"]) == (200, group_with_members.id)
    assert again.status_code == 410 and "already been used" in error_of(again)["message"]
    assert group_queries.membership_of(second, group_with_members) is None


def test_an_expired_invitation_is_410(app, client, api_token, group_with_members, facilitator, make_user, clock):
    raw = _code(app, facilitator, group_with_members)
    clock.shift(timedelta(days=app.config["INVITATION_DAYS"], seconds=1))
    person = make_user(RoleName.PATIENT)

    response = client.post(f"/api/v1/invitations/{raw}/accept", headers=api_token(person), json={})

    assert response.status_code == 410 and "expired" in error_of(response)["message"]
    assert group_queries.membership_of(person, group_with_members) is None


def test_an_invitation_for_another_organisation_is_409_and_stays_usable(app, client, api_token, group_with_members,
                                                                        facilitator, make_user, make_organisation):
    raw = _code(app, facilitator, group_with_members)
    outsider = make_user(RoleName.PATIENT, organisation_=make_organisation())

    response = client.post(f"/api/v1/invitations/{raw}/accept", headers=api_token(outsider), json={})

    assert response.status_code == 409 and "another organisation" in error_of(response)["message"]
    assert services.find_invitation(raw).accepted_at is None


def test_a_new_agreement_through_the_api_is_the_next_version(client, api_token, group_with_members, facilitator,
                                                             patient):
    group = group_with_members

    response = client.patch(f"/api/v1/groups/{group.id}", headers=api_token(facilitator),
                            json={"agreement": "Version two: cameras are optional.", "name": "Thursday group"})
    empty = client.patch(f"/api/v1/groups/{group.id}", headers=api_token(facilitator), json={"agreement": "   "})

    assert response.status_code == 200
    assert (response.get_json()["agreement_version"], response.get_json()["agreement_text"],
            response.get_json()["name"]) == (2, "Version two: cameras are optional.", "Thursday group")
    assert empty.status_code == 422 and "agreement" in error_of(empty)["fields"]
    assert group_queries.membership_of(patient, group).agreement.version == 1  # they accept the new one themselves


def test_co_facilitators_are_read_and_set_through_the_api(client, api_token, group_with_members, facilitator,
                                                          make_user, patient, make_organisation):
    group = group_with_members
    colleague = make_user(RoleName.FACILITATOR, display_name="Cole League")
    elsewhere = make_user(RoleName.FACILITATOR, organisation_=make_organisation())
    url = f"/api/v1/groups/{group.id}/facilitators"

    added = client.put(url, headers=api_token(facilitator), json={"co_facilitators": [colleague.id]})
    refused = [client.put(url, headers=api_token(facilitator), json={"co_facilitators": [bad]})
               for bad in (patient.id, elsewhere.id, 2_000_000_000)]
    listed = client.get(url, headers=api_token(colleague))

    assert added.status_code == 200
    assert [(f["user_id"], f["lead"]) for f in listed.get_json()] == [(facilitator.id, True), (colleague.id, False)]
    assert [r.status_code for r in refused] == [422, 422, 422]
    assert client.get(url, headers=api_token(patient)).status_code == 404
    emptied = client.put(url, headers=api_token(colleague), json={"co_facilitators": []})
    assert [f["user_id"] for f in emptied.get_json()] == [facilitator.id]  # the lead stays


def test_an_agenda_item_is_edited_through_the_api(client, api_token, group_with_members, facilitator, patient):
    occurrence = [o for o in occurrences_of(group_with_members) if o.starts_at > NOW][0]
    item = group_services.add_agenda_item(facilitator, occurrence, title="Breathing", body="In and out.")
    db.session.commit()
    url = f"/api/v1/sessions/{occurrence.id}/agenda/{item.id}"

    response = client.patch(url, headers=api_token(facilitator), json={"rationale": "It calms the body."})
    blank = client.patch(url, headers=api_token(facilitator), json={"title": "   "})

    assert response.status_code == 200
    assert (response.get_json()["title"], response.get_json()["body"], response.get_json()["rationale"]) == (
        "Breathing", "In and out.", "It calms the body.")
    assert blank.status_code == 422
    assert client.patch(url, headers=api_token(patient), json={"title": "Mine"}).status_code == 404


def test_a_new_time_zone_through_the_api_keeps_the_sessions_local_time(client, api_token, group_with_members,
                                                                       facilitator):
    response = client.patch(f"/api/v1/groups/{group_with_members.id}", headers=api_token(facilitator),
                            json={"timezone": "Europe/London"})
    sessions = client.get(f"/api/v1/groups/{group_with_members.id}/sessions", headers=api_token(facilitator),
                          query_string={"start": "2026-03-26T00:00:00+00:00"})

    assert response.status_code == 200
    assert {s["local_start"][11:16] for s in sessions.get_json()} == {"18:00"}
    assert sessions.get_json()[0]["starts_at"] == utc(2026, 3, 26, 18).isoformat()
