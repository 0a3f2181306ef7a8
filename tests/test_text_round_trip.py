"""Catch the class: text drawn from all of Unicode (line breaks, control characters, NUL and lone surrogates included)
sent to text fields of the API and of the pages is either refused with the usual error, or stored and shown back
intact on every page, feed, API answer and email that carries it; never a server error."""

from __future__ import annotations

import itertools

from groups_fixtures import *  # noqa: F403
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar
from markupsafe import escape
from page_forms import page_csrf_token

from app.extensions import db, limiter, mail

#: Any code point; and, more often than chance would, the ones that break headers, feeds and databases.
AWKWARD = "\n\r\t\x00\x0b\x0c\x1b\x7f\x85\u2028\u2029\ufeff<>&\"' é"
API_TEXT = st.one_of(st.text(st.characters(exclude_categories=()), max_size=30), st.text(AWKWARD, max_size=12))
#: A page's form cannot carry a lone surrogate (browsers send UTF-8): everything else.
FORM_TEXT = st.one_of(st.text(st.characters(), max_size=30), st.text(AWKWARD.replace("\x00", ""), max_size=12))

INVITEES = itertools.count()

PROPERTY = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def refused_or_done(response, done: int) -> bool:
    """True when the input was taken; a refusal must be the usual one, never a server error."""
    assert response.status_code < 500, response.text[:300]
    assert response.status_code in (done, 422), (response.status_code, response.text[:300])
    return response.status_code == done


def shown_intact(html: str, value: str) -> bool:
    return str(escape(value)) in html


@PROPERTY
@given(value=API_TEXT, field=st.sampled_from(["title", "why", "next_step"]))
def test_goal_text_is_refused_or_shown_back_intact_on_its_page_and_in_the_api(client, login, api_token, patient,
                                                                              value, field):
    login(client, patient)
    response = client.post("/api/v1/goals", json={"title": "A goal", field: value}, headers=api_token(patient))

    if refused_or_done(response, 201):
        stored = response.json[field]
        assert stored == value.strip()
        assert client.get(f"/api/v1/goals/{response.json['id']}", headers=api_token(patient)).json[field] == stored
        page = client.get(f"/goals/{response.json['id']}")
        assert page.status_code == 200
        assert shown_intact(page.text, stored)


@PROPERTY
@given(value=API_TEXT)
def test_a_small_win_is_refused_or_shown_back_intact(client, login, api_token, patient, value):
    login(client, patient)
    response = client.post("/api/v1/wins", json={"text": value}, headers=api_token(patient))

    if refused_or_done(response, 201):
        stored = response.json["text"]
        assert stored == value.strip()
        assert shown_intact(client.get("/goals").text, stored)


@PROPERTY
@given(value=API_TEXT, field=st.sampled_from(["name", "location", "video_link", "focus"]))
def test_group_text_is_refused_or_shown_back_intact_on_its_page_its_feed_and_the_api(
        client, login, api_token, group_with_members, facilitator, value, field):
    login(client, facilitator)
    data = {field: value if field != "video_link" else "https://video.example/" + value}
    response = client.patch(f"/api/v1/groups/{group_with_members.id}", json=data, headers=api_token(facilitator))

    if refused_or_done(response, 200):
        stored = response.json[field]
        assert stored == data[field].strip()
        page = client.get(f"/groups/{group_with_members.id}")
        assert page.status_code == 200
        if field == "name":  # the page of an online group shows neither its focus nor a place
            assert shown_intact(page.text, stored)
        feed = client.get(f"/groups/{group_with_members.id}/calendar.ics")
        assert feed.status_code == 200
        events = list(Calendar.from_ical(feed.data).walk("VEVENT"))
        assert events
        if field == "name":
            assert {str(event["summary"]) for event in events} == {stored}
        if field == "location" and stored:
            assert {str(event.get("location")) for event in events} == {stored}


@settings(PROPERTY, max_examples=15)
@given(name=FORM_TEXT, relationship=FORM_TEXT)
def test_a_name_and_a_relationship_from_the_pages_are_refused_or_carried_intact_into_pages_and_emails(
        client, login, patient, name, relationship):
    limiter.reset()  # every example invites someone: the invitation limit is not what this is about
    login(client, patient)
    token = page_csrf_token(client.get("/profile").text)
    profile = client.post("/profile", data={"csrf_token": token, "display_name": name, "pronouns": "",
                                            "timezone": "Europe/Berlin", "locale": "en"})
    assert profile.status_code < 500
    db.session.expire_all()
    shown_name = patient.display_name
    if profile.status_code == 302:
        assert shown_name == name.strip()
    assert shown_intact(client.get("/profile").text, shown_name)

    token = page_csrf_token(client.get("/sharing").text)
    with mail.record_messages() as outbox:
        invited = client.post("/sharing/invite", data={
            "csrf_token": token, "email": f"sam{next(INVITEES)}@example.org", "relationship": relationship,
            "days": "30", "data_classes": "checkins"})
    assert invited.status_code < 500
    if invited.status_code == 302:
        assert shown_intact(client.get("/sharing").text, relationship.strip())
        assert len(outbox) == 1
        assert "\n" not in outbox[0].subject and "\r" not in outbox[0].subject
        assert shown_name in outbox[0].body
    else:
        assert invited.status_code == 422  # the form again, saying what to change
        assert outbox == []

