"""SECURITY.md 20: schemathesis over the OpenAPI document, in-process, as a facilitator, a patient and nobody.

With a facilitator's and a patient's token, every operation gets schemathesis' coverage phase (boundaries, wrong
types, NUL bytes, numbers past any id, unexpected methods and content types) and a derandomized fuzzing phase; with
no valid token, the fuzzing phase. What must hold: no server error, no status code the document does not list for
that operation, bodies and content types as documented, invalid input refused.
"""

from __future__ import annotations

import collections
import copy
from collections.abc import Iterator

import pytest
import schemathesis
from argon2 import PasswordHasher
from conftest import app_of_its_own
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance
from sqlalchemy import select

from app import create_app
from app.accounts import services
from app.accounts.models import User
from app.demo import load_demo
from app.extensions import db

MIN_CASES = 1000
FACILITATOR = "facilitator@example.org"
PATIENT = "alex@example.org"


def _strict_document() -> dict:
    """The published document without its `default` responses: schemathesis accepts any status an operation's
    `default` covers, and every status an operation answers with must be listed on its own."""
    app = create_app("test", RATELIMIT_ENABLED=False)
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    for path_item in document["paths"].values():
        for operation in path_item.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("default", None)
    with app.app_context():
        db.engine.dispose()
    return document


DOCUMENT = _strict_document()
#: Valid and invalid data alike ("negative" cases break the document's types, patterns and bounds on purpose).
GENERATION = {"generation": {"mode": "all"}}
schema = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT), config=SchemathesisConfig.from_dict(GENERATION))
#: Without a valid token nearly every case stops at 401, so the coverage phase would add time and find nothing.
fuzzing_schema = schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT), config=SchemathesisConfig.from_dict(
    {**GENERATION, "phases": {"coverage": {"enabled": False}}}))
OPERATIONS = {result.ok().label for result in schema.get_all_operations()}

#: (run, operation label) -> cases sent; and what the generated input held that matters here.
cases_sent: collections.Counter = collections.Counter()
extremes_seen: collections.Counter = collections.Counter()

FUZZING = settings(max_examples=10, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def api_app() -> Iterator:
    """One app for the whole run, with the demo data, rate limits off (the fuzzer would only meet 429s), and no
    app context held between requests (Flask-Login caches the user on `g`, which would then outlive a request)."""
    with pytest.MonkeyPatch.context() as patch:
        # Unknown emails verify a dummy hash at full argon2 cost; that cost is not what this test is about.
        patch.setattr(services, "DUMMY_HASH", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("x"))
        with app_of_its_own(RATELIMIT_ENABLED=False) as app:
            with app.app_context(), app.test_request_context():
                load_demo()
                db.session.commit()
            yield app


def _bearer(app, email: str) -> dict:
    """A fresh token per operation: an earlier operation may have revoked the last one (DELETE /auth/tokens/{id})."""
    with app.test_request_context():
        user = db.session.scalar(select(User).where(User.email == email))
        _token, raw = services.create_api_token(user, "schemathesis")
        db.session.commit()
        db.session.remove()
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def facilitator_bearer(api_app) -> dict:
    return _bearer(api_app, FACILITATOR)


@pytest.fixture
def patient_bearer(api_app) -> dict:
    return _bearer(api_app, PATIENT)


def _note_extremes(value) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            extremes_seen["nul"] += 1
        digits = value.lstrip("-").lstrip("0")
        if digits.isascii() and digits.isdigit() and (len(digits) > 19 or int(digits) > 2**63 - 1):
            extremes_seen["beyond_64_bits"] += 1
    elif isinstance(value, bool):
        return
    elif isinstance(value, int) and abs(value) > 2**63 - 1:
        extremes_seen["beyond_64_bits"] += 1
    elif isinstance(value, dict):
        for key, item in value.items():
            _note_extremes(key)
            _note_extremes(item)
    elif isinstance(value, list):
        for item in value:
            _note_extremes(item)


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _send(run: str, case, app, headers: dict | None) -> None:
    cases_sent[(run, case.operation.label)] += 1
    if case.meta is not None:
        extremes_seen[f"mode_{case.meta.generation.mode.value}"] += 1
    if _depth(case.body) >= 3:  # objects in lists in objects, or deeper: more than any body of the API needs
        extremes_seen["nested"] += 1
    for part in (case.path_parameters, case.query, case.body if isinstance(case.body, (dict, list, str)) else None):
        _note_extremes(part)
    # Our own valid token replaces whatever Authorization schemathesis generated, so its "invalid credentials were
    # accepted" check would misfire; and a schema-valid request may still break a domain rule (409/422).
    excluded = [ignored_auth, positive_data_acceptance] if headers else [positive_data_acceptance]
    case.call_and_validate(app=app, headers=headers, excluded_checks=excluded)


@schema.parametrize()
@FUZZING
def test_api_as_a_facilitator(case, api_app, facilitator_bearer):
    _send("facilitator", case, api_app, facilitator_bearer)


@schema.parametrize()
@FUZZING
def test_api_as_a_patient(case, api_app, patient_bearer):
    _send("patient", case, api_app, patient_bearer)


@fuzzing_schema.parametrize()
@FUZZING
def test_api_without_valid_credentials(case, api_app):
    """No token of ours: schemathesis sends made-up bearer values, or none."""
    _send("anonymous", case, api_app, None)


def test_the_runs_covered_every_operation_with_enough_cases():
    runs = {run for run, _operation in cases_sent}
    if runs != {"facilitator", "patient", "anonymous"}:
        pytest.skip("only part of the schemathesis runs was selected")
    for run in runs:
        assert {operation for r, operation in cases_sent if r == run} == OPERATIONS, run
    assert sum(cases_sent.values()) >= MIN_CASES
    assert extremes_seen["nul"] > 0
    assert extremes_seen["beyond_64_bits"] > 0
    assert extremes_seen["mode_negative"] > 0 and extremes_seen["mode_positive"] > 0
    assert extremes_seen["nested"] > 0
