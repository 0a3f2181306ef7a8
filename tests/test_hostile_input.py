"""Input the app accepts must never break a page, a feed or an email afterwards, and input it cannot take is refused
with the usual error: deeply nested JSON, line breaks in one-line fields, time zones that do not load, dates out of
range, and socket events sent arguments they do not take."""

from __future__ import annotations

import re

import pytest

from app.api_base import MAX_JSON_DEPTH

NESTED = "[" * 3000 + "]" * 3000  # 6 KB

ANONYMOUS_WRITES = {"/api/v1/auth/tokens", "/api/v1/invitations/{code}/accept"}


def api_writes(client) -> list[tuple[str, str]]:
    """(method, path template) of every endpoint that reads a JSON body, as the OpenAPI document describes them."""
    paths = client.get("/api/v1/openapi.json").json["paths"]
    return sorted((method.upper(), path) for path, operations in paths.items()
                  for method, operation in operations.items() if "requestBody" in operation)


def concrete(path: str) -> str:
    return re.sub(r"\{\w+_id\}", "1", re.sub(r"\{code\}", "some-code", path))


def assert_api_bad_request(response) -> None:
    assert response.status_code == 400, (response.status_code, response.text[:200])
    assert response.json["error"]["code"] == "bad_request"
    assert set(response.json["error"]) == {"code", "message", "fields"}


def test_the_api_has_the_write_endpoints_this_file_tries(client):
    writes = api_writes(client)
    assert len(writes) >= 20
    assert ANONYMOUS_WRITES <= {rule for _method, rule in writes}


def test_deeply_nested_json_is_refused_with_the_api_error_shape_on_every_write_endpoint(app, client, api_token,
                                                                                        facilitator):
    headers = {**api_token(facilitator), "Content-Type": "application/json"}
    for method, rule in api_writes(client):
        response = client.open(concrete(rule), method=method, data=NESTED, headers=headers)
        assert_api_bad_request(response)


@pytest.mark.parametrize("rule", sorted(ANONYMOUS_WRITES))
def test_deeply_nested_json_from_anyone_is_refused_on_the_open_endpoints(client, rule):
    response = client.post(concrete(rule), data=NESTED, headers={"Content-Type": "application/json"})

    assert_api_bad_request(response)


def test_json_a_little_deeper_than_any_body_needs_is_refused_and_shallower_is_read(client):
    def nested(depth: int) -> str:
        return '{"email": ' + "[" * (depth - 1) + "]" * (depth - 1) + ', "password": "x"}'

    too_deep = client.post("/api/v1/auth/tokens", data=nested(MAX_JSON_DEPTH + 1),
                           headers={"Content-Type": "application/json"})
    deep_enough = client.post("/api/v1/auth/tokens", data=nested(MAX_JSON_DEPTH),
                              headers={"Content-Type": "application/json"})

    assert_api_bad_request(too_deep)
    assert deep_enough.status_code == 422  # read, then refused by the schema: an email is not a list
    assert "email" in deep_enough.json["error"]["fields"]
