"""Catch the class, not the instance: every text a form or an API body of the authorization matrix sends (tests/
matrix.py) is replaced, one field at a time, by text drawn from all of Unicode, line breaks, control characters, NUL
and lone surrogates included. Whoever may use the route sends it: the answer is the page, the data or the usual
refusal, never a server error. (What an accepted text looks like afterwards is tests/test_text_round_trip.py.)"""

from __future__ import annotations

import matrix
import pytest
from flask import url_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matrix import DONE, OK

from app.extensions import db, limiter
from app.measures import answer_routes as measure_answer_routes

AWKWARD = "\n\r\t\x00\x0b\x0c\x1b\x7f\x85\u2028\u2029\ufeff<>&\"' é"
JSON_TEXT = st.one_of(st.text(st.characters(exclude_categories=()), max_size=40), st.text(AWKWARD, max_size=12))
#: A page's form cannot carry a lone surrogate: browsers send UTF-8.
FORM_TEXT = st.one_of(st.text(st.characters(), max_size=40), st.text(AWKWARD, max_size=12))


def rows_with_text() -> list[tuple[str, str]]:
    return [key for key, route in matrix.ROUTES.items()
            if (route.form is not None or route.json is not None)
            and any(route.expect[identity] in (DONE, OK) for identity in matrix.IDENTITIES)]


def allowed(route: matrix.Route) -> str:
    """The first identity the row lets through, signed in by a browser session for pages and a token for the API."""
    return next(identity for identity in matrix.IDENTITIES if route.expect[identity] in (DONE, OK))


def text_paths(value, path: tuple = ()):
    """Where the strings are in a body: ("name",), ("rows", 0, "comment"), ..."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from text_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from text_paths(item, (*path, index))


def replaced(value, path: tuple, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, list):
        return [replaced(item, rest, new) if index == head else item for index, item in enumerate(value)]
    return {**value, head: replaced(value.get(head), rest, new)}


def test_the_rows_tried_here_are_most_of_the_writes():
    assert len(rows_with_text()) >= 40


@pytest.mark.parametrize("endpoint, method", rows_with_text(), ids=[f"{m} {e}" for e, m in rows_with_text()])
def test_every_text_field_takes_any_text_or_refuses_it_without_a_server_error(endpoint, method, app, known_password,
                                                                              post, csrf):
    route = matrix.ROUTES[(endpoint, method)]
    world = matrix.fresh_world(app, known_password)
    identity = allowed(route)
    with app.test_request_context():
        url = url_for(endpoint, **route.path(world))
    api = url.startswith("/api/")
    template = matrix.json_body(route, world) if route.json is not None else matrix.form_data(route, world)
    # Every text in the body, nested ones too; a body without any gets one field too many, which must be refused
    # or ignored as calmly.
    paths = sorted(text_paths(template), key=repr) or [("unexpected_text",)]

    @settings(max_examples=min(24, 8 * len(paths)), deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(path=st.sampled_from(paths), value=JSON_TEXT if api else FORM_TEXT)
    def send(path, value):
        db.session.remove()
        limiter.reset()
        client = app.test_client()
        presented = world.credentials(identity, "bearer" if api else "session")  # None for anyone at all
        headers = {}
        if presented is not None and presented[0] == "bearer":
            headers["Authorization"] = f"Bearer {presented[1]}"
        elif presented is not None and presented[0] == "link":
            client.set_cookie(measure_answer_routes.LINK_COOKIE, presented[1], path="/m/")
        elif presented is not None:
            with client.session_transaction() as session:
                session["_user_id"] = presented[1]
                session["_fresh"] = True
        body = replaced(template, path, value)
        if api:
            response = client.open(url, method=method, json=body, headers=headers)
        else:
            response = post(client, url, body, headers=headers)
        assert response.status_code < 500, (path, value, response.get_data(as_text=True)[:300])
        response.close()

    send()

