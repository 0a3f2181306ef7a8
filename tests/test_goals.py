"""Goals and small wins (app/progress): the patient's pages, what a supporter sees of them under a consent for goals
and small wins (only what was set or noted inside its data period), and the thoughts a patient asks a supporter for:
only a supporter who sees the goal and was asked may add them, each supporter sees only their own, the patient sees
and may remove all of them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from page_forms import page_csrf_token, submit
from sqlalchemy import func, select
from supporter_fixtures import *  # noqa: F403
from supporter_fixtures import NOW, grant, hold, sweep

from app.accounts.models import RoleName
from app.audit import AuditEvent
from app.extensions import db
from app.progress import services as progress
from app.progress.models import Goal, GoalComment, GoalCommenter, GoalStatus, SmallWin
from app.supporters import services as sharing
from app.supporters.models import AccessLog, DataClass, SupporterLink

GOALS, MOOD, SESSIONS = DataClass.GOALS, DataClass.MOOD, DataClass.SESSIONS


@pytest.fixture(autouse=True)
def at_now(clock):
    """Every test starts at NOW with the clock stopped."""
    return clock


def set_goal(patient, title: str, *, at=None, clock=None, why: str = "", next_step: str = "") -> Goal:
    """A goal set through the service, committed; at `at` when given (the clock is put back to NOW after)."""
    if at is not None:
        clock.move_to(at)
    goal = progress.create_goal(patient, title=title, why=why, next_step=next_step)
    db.session.commit()
    if at is not None:
        clock.move_to(NOW)
    return goal


def note_win(patient, text: str, goal: Goal | None = None, *, at=None, clock=None) -> SmallWin:
    if at is not None:
        clock.move_to(at)
    win = progress.add_win(patient, text, goal)
    db.session.commit()
    if at is not None:
        clock.move_to(NOW)
    return win


def ask(patient, goal: Goal, supporter) -> GoalCommenter:
    commenter = progress.ask_for_thoughts(patient, goal, supporter)
    db.session.commit()
    return commenter


def counts() -> tuple[int, int, int, int]:
    db.session.expire_all()
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (Goal, SmallWin, GoalCommenter, GoalComment))


def denials_about(user) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "request_denied", AuditEvent.subject_id == user.id))


def error_of(html: str, field_id: str) -> str | None:
    """The error shown next to a field (the `field` macro), or None."""
    found = re.search(rf'<p class="error" id="{re.escape(field_id)}-error">([^<]*)</p>', html)
    return found.group(1) if found else None


def marked_invalid(html: str, field_id: str) -> bool:
    """The field itself says it is invalid and points at its error."""
    tag = re.search(rf'<(?:input|textarea|select)[^>]* id="{re.escape(field_id)}"[^>]*>', html).group(0)
    return 'aria-invalid="true"' in tag and f"{field_id}-error" in re.search(r'aria-describedby="([^"]*)"', tag)[1]


def asked_options(html: str) -> list[tuple[str, str]]:
    """Whom the goal page offers to ask for their thoughts."""
    select_ = re.search(r'<select[^>]* id="supporter_id"[^>]*>(.*?)</select>', html, re.S)
    return re.findall(r'<option value="(\d+)">([^<]*)</option>', select_.group(1)) if select_ else []


def goal_cards(html: str) -> list[int]:
    """The goals on a supporter's page, in order."""
    return [int(n) for n in re.findall(r'<li class="card" id="goal-(\d+)">', html)]


def comment_forms(html: str, patient) -> list[int]:
    return [int(n) for n in re.findall(rf'action="/shared/{patient.id}/goals/(\d+)/comments"', html)]


def goals_section(html: str) -> str:
    start = html.index('id="class-goals_wins"')
    return html[start:html.index("</section>", start)]


def shared_wins(html: str) -> list[tuple[str, str | None]]:
    """The small wins on a supporter's page: (text, the goal's title when shown)."""
    section = goals_section(html)
    if "<h3>Small wins</h3>" not in section:
        return []
    listed = section[section.index("<h3>Small wins</h3>"):]
    return [(text, title or None) for text, title in
            re.findall(r'<li>[^:<]+: ([^<]+?)(?: <span class="muted">\(([^<]*)\)</span>)?</li>', listed)]


def shared_api(client, patient, headers) -> dict:
    response = client.get(f"/api/v1/patients/{patient.id}/shared", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"][GOALS.value]


def post_comment(client, patient, goal_id: int, body: str, token: str):
    return client.post(f"/shared/{patient.id}/goals/{goal_id}/comments",
                       data={"csrf_token": token, f"goal-{goal_id}-body": body})


def shared_token(client, patient) -> str:
    """The CSRF token the supporter's page carries (the comment forms send it)."""
    response = client.get(f"/shared/{patient.id}")
    assert response.status_code == 200
    return page_csrf_token(response.text)


def shared_updates(sio) -> list:
    return [m for m in sio.get_received() if m["name"] == "shared_update"]


# The patient's goals --------------------------------------------------------------------------------------------------


def test_a_patient_sets_a_goal_and_finds_it_on_the_goals_page_its_own_page_and_home(patient, patient_client):
    response = submit(patient_client, "/goals", {"title": "Get outside most days", "why": "I feel better after",
                                                 "next_step": "A walk to the corner"})
    assert response.status_code == 302
    goal = db.session.scalar(select(Goal))
    assert response.headers["Location"] == f"/goals/{goal.id}"
    assert (goal.patient_id, goal.organisation_id, goal.title, goal.why, goal.next_step, goal.status,
            goal.created_at, goal.done_at) == (patient.id, patient.organisation_id, "Get outside most days",
                                               "I feel better after", "A walk to the corner", GoalStatus.ACTIVE,
                                               NOW, None)
    listing = patient_client.get("/goals").text
    assert f'<a href="/goals/{goal.id}">Get outside most days</a>' in listing
    assert "Next small step: A walk to the corner" in listing
    page = patient_client.get(f"/goals/{goal.id}").text
    assert "<h1>Get outside most days</h1>" in page
    assert "Why it matters: I feel better after" in page and "Next small step: A walk to the corner" in page
    assert f'<a href="/goals/{goal.id}">Get outside most days</a>' in patient_client.get("/").text
    assert [(a.actor_id, a.subject_id, a.target) for a in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "goal_create"))] == [(patient.id, patient.id, f"goal:{goal.id}")]


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"title": ""}, "title", "Write a few words."),
    ({"title": "   "}, "title", "Write a few words."),
    ({"title": "x" * 121}, "title", "Field cannot be longer than 120 characters."),
    ({"title": "Walk", "why": "x" * 501}, "why", "Field cannot be longer than 500 characters."),
    ({"title": "Walk", "next_step": "x" * 201}, "next_step", "Field cannot be longer than 200 characters."),
    ({"title": "Walk\x00"}, "title", "Keep this on one line, without special characters."),
])
def test_a_goal_with_a_missing_or_too_long_field_is_refused_next_to_that_field_and_nothing_is_stored(
        patient_client, data, field, message):
    response = submit(patient_client, "/goals", data)
    assert response.status_code == 422
    assert error_of(response.text, field) == message
    assert marked_invalid(response.text, field)
    assert counts() == (0, 0, 0, 0)
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "goal_create")).all() == []


def test_the_patient_changes_a_goal_and_a_bad_change_leaves_it_as_it_was(patient, patient_client, clock):
    goal = set_goal(patient, "Get outside", why="Air", next_step="Corner")
    clock.shift(timedelta(minutes=5))
    response = submit(patient_client, f"/goals/{goal.id}", {"title": "Get outside daily", "why": "",
                                                           "next_step": "Round the block"})
    assert response.status_code == 302 and response.headers["Location"] == f"/goals/{goal.id}"
    db.session.expire_all()
    assert (goal.title, goal.why, goal.next_step, goal.created_at, goal.updated_at) == (
        "Get outside daily", "", "Round the block", NOW, NOW + timedelta(minutes=5))

    response = submit(patient_client, f"/goals/{goal.id}", {"title": "", "why": "Changed", "next_step": "Changed"})
    assert response.status_code == 422
    assert error_of(response.text, "title") == "Write a few words."
    response = submit(patient_client, f"/goals/{goal.id}", {"title": "Fine", "next_step": "y" * 201})
    assert response.status_code == 422
    assert error_of(response.text, "next_step") == "Field cannot be longer than 200 characters."
    db.session.expire_all()
    assert (goal.title, goal.why, goal.next_step) == ("Get outside daily", "", "Round the block")


def test_a_goal_is_marked_done_set_aside_and_taken_up_again(patient, patient_client, clock, post):
    goal = set_goal(patient, "Call my sister")

    def to(status):
        return submit(patient_client, f"/goals/{goal.id}", {}, action=f"/goals/{goal.id}/status/{status}")

    clock.shift(timedelta(minutes=10))
    assert to("done").status_code == 302
    db.session.expire_all()
    assert (goal.status, goal.done_at) == (GoalStatus.DONE, NOW + timedelta(minutes=10))
    assert "Done" in patient_client.get(f"/goals/{goal.id}").text
    assert to("active").status_code == 302
    db.session.expire_all()
    assert (goal.status, goal.done_at) == (GoalStatus.ACTIVE, None)
    assert to("done").status_code == 302
    assert to("set_aside").status_code == 302
    db.session.expire_all()
    assert (goal.status, goal.done_at) == (GoalStatus.SET_ASIDE, None)
    assert "Set aside for now" in patient_client.get(f"/goals/{goal.id}").text

    for unknown in ("finished", "DONE", "deleted"):
        assert to(unknown).status_code == 404
    # A state change is a form post like any other: without the page's token it is refused.
    assert patient_client.post(f"/goals/{goal.id}/status/active").status_code == 400
    db.session.expire_all()
    assert goal.status == GoalStatus.SET_ASIDE
    assert [a.details for a in db.session.scalars(select(AuditEvent).where(AuditEvent.action == "goal_update")
                                                  .order_by(AuditEvent.seq))] == [
        '{"status": "done"}', '{"status": "active"}', '{"status": "done"}', '{"status": "set_aside"}']


def test_small_wins_are_noted_on_a_goal_or_on_their_own_and_removed(patient, patient_client):
    goal = set_goal(patient, "Sleep better")
    response = submit(patient_client, "/goals", {"text": "In bed by eleven", "goal_id": str(goal.id)},
                      action="/goals/wins")
    assert response.status_code == 302 and response.headers["Location"] == f"/goals/{goal.id}"
    response = submit(patient_client, "/goals", {"text": "Made a phone call", "goal_id": "0"}, action="/goals/wins")
    assert response.status_code == 302 and response.headers["Location"] == "/goals"
    response = submit(patient_client, "/goals", {"text": "Washed up"}, action="/goals/wins")
    assert response.status_code == 302 and response.headers["Location"] == "/goals"
    wins = {w.text: w for w in db.session.scalars(select(SmallWin))}
    assert {text: (w.patient_id, w.goal_id) for text, w in wins.items()} == {
        "In bed by eleven": (patient.id, goal.id), "Made a phone call": (patient.id, None),
        "Washed up": (patient.id, None)}
    assert "In bed by eleven" in patient_client.get(f"/goals/{goal.id}").text
    listing = patient_client.get("/goals").text
    assert 'In bed by eleven <span class="muted">(Sleep better)</span>' in listing and "Washed up" in listing
    assert "1 small win" in listing

    # An empty or too long win, or one for a goal that is not among the patient's active ones, is refused.
    for data, message in [({"text": " "}, "Write a few words."),
                          ({"text": "x" * 201}, "Field cannot be longer than 200 characters.")]:
        response = submit(patient_client, "/goals", data, action="/goals/wins")
        assert response.status_code == 422 and error_of(response.text, "text") == message
    progress.update_goal(patient, goal, status=GoalStatus.DONE)
    db.session.commit()
    response = submit(patient_client, "/goals", {"text": "Late win", "goal_id": str(goal.id)}, action="/goals/wins")
    assert response.status_code == 422 and error_of(response.text, "goal_id") == "Not a valid choice."
    assert counts()[1] == 3

    win = wins["In bed by eleven"]
    assert patient_client.post(f"/goals/wins/{win.id}/delete").status_code == 400  # no token
    response = submit(patient_client, "/goals", {}, action=f"/goals/wins/{win.id}/delete")
    assert response.status_code == 302 and response.headers["Location"] == f"/goals/{goal.id}"
    assert db.session.get(SmallWin, win.id) is None
    assert "In bed by eleven" not in patient_client.get(f"/goals/{goal.id}").text
    assert submit(patient_client, "/goals", {}, action=f"/goals/wins/{win.id}/delete").status_code == 404
    assert [a.action for a in db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("small_win_%"))
                                                 .order_by(AuditEvent.seq))] == ["small_win_create"] * 3 + [
        "small_win_delete"]


def test_another_patients_goals_wins_and_comments_are_not_found_on_any_route_and_nothing_changes(
        patient, other_patient, patient_client, supporter, make_user):
    theirs = set_goal(other_patient, "Their goal", why="Their reasons")
    their_win = note_win(other_patient, "Their win", theirs)
    grant(other_patient, supporter, [GOALS], data_from=NOW - timedelta(days=1))
    ask(other_patient, theirs, supporter)
    their_comment = progress.add_comment(supporter, theirs, "Their supporter's thoughts")
    db.session.commit()
    mine = set_goal(patient, "My goal")
    token = page_csrf_token(patient_client.get("/goals").text)
    before = counts()
    denials = denials_about(other_patient)

    assert patient_client.get(f"/goals/{theirs.id}").status_code == 404
    for url, data in [(f"/goals/{theirs.id}", {"title": "Mine now"}),
                      (f"/goals/{theirs.id}/status/done", {}),
                      (f"/goals/{theirs.id}/ask", {"supporter_id": str(supporter.id)}),
                      (f"/goals/{theirs.id}/ask/{supporter.id}/stop", {}),
                      (f"/goals/{theirs.id}/comments/{their_comment.id}/delete", {}),
                      (f"/goals/{mine.id}/comments/{their_comment.id}/delete", {}),
                      (f"/goals/wins/{their_win.id}/delete", {})]:
        response = patient_client.post(url, data={"csrf_token": token, **data})
        assert response.status_code == 404, url
        assert "Their goal" not in response.text and "Their win" not in response.text
    # A win for someone else's goal: not one of the patient's goals to choose from.
    response = patient_client.post("/goals/wins", data={"csrf_token": token, "text": "Sneaky",
                                                        "goal_id": str(theirs.id)})
    assert response.status_code == 422 and "Their goal" not in response.text

    assert counts() == before
    db.session.expire_all()
    assert (theirs.title, theirs.status, theirs.done_at) == ("Their goal", GoalStatus.ACTIVE, None)
    assert db.session.get(SmallWin, their_win.id) is not None
    assert db.session.get(GoalComment, their_comment.id) is not None
    assert [(c.supporter_id, c.ended_at) for c in theirs.commenters] == [(supporter.id, None)]
    # Reaching for another patient's goal or win is a refusal in the audit trail, with whose it was.
    assert denials_about(other_patient) - denials == 8


def test_goals_are_the_patients_own_supporters_facilitators_and_admins_get_403(
        app, login, patient, supporter, facilitator, admin, client):
    goal = set_goal(patient, "Patient's own")
    win = note_win(patient, "Patient's win", goal)
    for user in (supporter, facilitator, admin):
        http = app.test_client()
        login(http, user)
        assert http.get("/goals").status_code == 403
        assert http.get(f"/goals/{goal.id}").status_code == 403
        token = page_csrf_token(http.get("/profile").text)
        for url, data in [("/goals", {"title": "Theirs"}), ("/goals/wins", {"text": "Theirs"}),
                          (f"/goals/{goal.id}", {"title": "Theirs"}), (f"/goals/{goal.id}/status/done", {}),
                          (f"/goals/wins/{win.id}/delete", {})]:
            assert http.post(url, data={"csrf_token": token, **data}).status_code == 403, (user.role, url)
        assert 'href="/goals"' not in http.get("/").text
    assert client.get("/goals").status_code in (302, 401)
    assert client.get("/goals").headers.get("Location", "").startswith("/login")
    assert counts()[:2] == (1, 1)
    db.session.expire_all()
    assert (goal.title, goal.status) == ("Patient's own", GoalStatus.ACTIVE)


# Asking a supporter for their thoughts --------------------------------------------------------------------------------


def test_a_patient_asks_a_supporter_who_sees_the_goal_and_can_stop_it(patient, supporter, patient_client,
                                                                       make_user, clock):
    goal = set_goal(patient, "Join a choir", at=NOW - timedelta(days=3), clock=clock)
    grant(patient, supporter, [GOALS], data_from=NOW - timedelta(days=7))
    mood_only = make_user(RoleName.SUPPORTER, display_name="Mo Mood")
    grant(patient, mood_only, [MOOD], data_from=NOW - timedelta(days=7))
    page = patient_client.get(f"/goals/{goal.id}").text
    # Only someone who can see the goal now is offered.
    assert asked_options(page) == [(str(supporter.id), "Sol Supporter")]

    response = submit(patient_client, f"/goals/{goal.id}", {"supporter_id": str(supporter.id)},
                      action=f"/goals/{goal.id}/ask")
    assert response.status_code == 302 and response.headers["Location"] == f"/goals/{goal.id}"
    commenter = db.session.scalar(select(GoalCommenter))
    assert (commenter.goal_id, commenter.supporter_id, commenter.invited_at, commenter.ended_at) == (
        goal.id, supporter.id, NOW, None)
    page = patient_client.get(f"/goals/{goal.id}").text
    assert "Asked for their thoughts" in page
    assert f'action="/goals/{goal.id}/ask/{supporter.id}/stop"' in page
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "goal_thoughts_asked")).details == \
        f'{{"supporter_id": {supporter.id}}}'

    clock.shift(timedelta(minutes=1))
    response = submit(patient_client, f"/goals/{goal.id}", {}, action=f"/goals/{goal.id}/ask/{supporter.id}/stop")
    assert response.status_code == 302
    db.session.expire_all()
    assert commenter.ended_at == NOW + timedelta(minutes=1)
    assert f'action="/goals/{goal.id}/ask/{supporter.id}/stop"' not in patient_client.get(f"/goals/{goal.id}").text
    # Asking again opens the same row again.
    submit(patient_client, f"/goals/{goal.id}", {"supporter_id": str(supporter.id)}, action=f"/goals/{goal.id}/ask")
    db.session.expire_all()
    assert [(c.id, c.ended_at) for c in db.session.scalars(select(GoalCommenter))] == [(commenter.id, None)]
    assert [a.action for a in db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("goal_thoughts_%"))
                                                 .order_by(AuditEvent.seq))] == [
        "goal_thoughts_asked", "goal_thoughts_stopped", "goal_thoughts_asked"]


def _no_goals_class(patient, supporter, facilitator):
    grant(patient, supporter, [MOOD, SESSIONS], data_from=NOW - timedelta(days=30))


def _data_from_after_the_goal(patient, supporter, facilitator):
    grant(patient, supporter, [GOALS], data_from=NOW - timedelta(days=1))


def _on_hold(patient, supporter, facilitator):
    grant(patient, supporter, [GOALS], data_from=NOW - timedelta(days=30))
    hold(facilitator, patient, supporter)


def _revoked(patient, supporter, facilitator):
    consent = grant(patient, supporter, [GOALS], data_from=NOW - timedelta(days=30))
    sharing.revoke_consent(consent, patient)
    db.session.commit()


def _not_linked(patient, supporter, facilitator):
    pass


@pytest.mark.parametrize("situation", [_no_goals_class, _data_from_after_the_goal, _on_hold, _revoked, _not_linked],
                         ids=lambda f: f.__name__.strip("_"))
def test_only_a_supporter_who_sees_the_goal_now_can_be_asked(situation, patient, supporter, facilitator,
                                                             patient_client, sharing_group, clock):
    goal = set_goal(patient, "Cook once a week", at=NOW - timedelta(days=3), clock=clock)
    situation(patient, supporter, facilitator)
    assert asked_options(patient_client.get(f"/goals/{goal.id}").text) == []
    response = submit(patient_client, f"/goals/{goal.id}", {"supporter_id": str(supporter.id)},
                      action=f"/goals/{goal.id}/ask")
    assert response.status_code == 422
    assert error_of(response.text, "supporter_id") == (
        "Only someone who can see this goal can be asked: share your goals and small wins with them first, from a "
        "date before this goal.")
    assert db.session.scalars(select(GoalCommenter)).all() == []
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "goal_thoughts_asked")).all() == []


def test_asking_needs_a_supporter_and_the_page_token(patient, supporter, patient_client, post):
    goal = set_goal(patient, "Read a chapter")
    grant(patient, supporter, [GOALS], data_from=NOW - timedelta(days=1))
    assert patient_client.post(f"/goals/{goal.id}/ask", data={"supporter_id": str(supporter.id)}).status_code == 400
    for bad in ("", "0", "abc", str(patient.id), str(2**70)):
        response = submit(patient_client, f"/goals/{goal.id}", {"supporter_id": bad}, action=f"/goals/{goal.id}/ask")
        assert response.status_code == 422, bad
        assert error_of(response.text, "supporter_id"), bad
    assert db.session.scalars(select(GoalCommenter)).all() == []


# What a supporter sees ------------------------------------------------------------------------------------------------


@pytest.fixture
def history(patient, other_patient, clock):
    """Goals and wins on both sides of a data period starting five days before NOW, and another patient's inside it."""
    theirs = set_goal(other_patient, "OTHER-PATIENT-GOAL", at=NOW - timedelta(days=1), clock=clock)
    note_win(other_patient, "OTHER-PATIENT-WIN", theirs, at=NOW - timedelta(days=1), clock=clock)
    old = set_goal(patient, "Old goal", at=NOW - timedelta(days=10), clock=clock, why="OLD-WHY")
    asked = set_goal(patient, "Asked goal", at=NOW - timedelta(days=4), clock=clock, why="Company",
                     next_step="Text a friend")
    quiet = set_goal(patient, "Quiet goal", at=NOW - timedelta(days=2), clock=clock)
    note_win(patient, "OLD-WIN", old, at=NOW - timedelta(days=8), clock=clock)
    note_win(patient, "OLD-LOOSE-WIN", at=NOW - timedelta(days=6), clock=clock)
    note_win(patient, "Win on the old goal", old, at=NOW - timedelta(days=3), clock=clock)
    note_win(patient, "Win on the asked goal", asked, at=NOW - timedelta(days=2), clock=clock)
    note_win(patient, "A loose win", at=NOW - timedelta(days=1), clock=clock)
    return {"old": old, "asked": asked, "quiet": quiet, "data_from": NOW - timedelta(days=5)}


def test_a_supporter_sees_exactly_the_goals_and_wins_inside_the_data_period_on_the_page_and_the_api(
        patient, supporter, supporter_client, api_token, history):
    consent = grant(patient, supporter, [GOALS], data_from=history["data_from"])
    ask(patient, history["asked"], supporter)
    asked, quiet = history["asked"], history["quiet"]

    html = supporter_client.get(f"/shared/{patient.id}").text
    assert goal_cards(html) == [quiet.id, asked.id]
    assert comment_forms(html, patient) == [asked.id]
    assert f'name="goal-{asked.id}-body"' in html and f'name="goal-{quiet.id}-body"' not in html
    assert "Why it matters: Company" in html and "Next small step: Text a friend" in html
    assert "Pat Patient asked for your thoughts on this goal." in html
    # A win noted inside the period on a goal set before it shows without the goal's title.
    assert shared_wins(html) == [("A loose win", None), ("Win on the asked goal", "Asked goal"),
                                 ("Win on the old goal", None)]
    for secret in ("Old goal", "OLD-WHY", "OLD-WIN", "OLD-LOOSE-WIN", "OTHER-PATIENT"):
        assert secret not in html, secret

    body = shared_api(supporter_client, patient, api_token(supporter))
    assert body == {
        "goals": [{"id": quiet.id, "title": "Quiet goal", "why": "", "next_step": "", "status": "active",
                   "created_at": (NOW - timedelta(days=2)).isoformat(), "asked": False, "comments": []},
                  {"id": asked.id, "title": "Asked goal", "why": "Company", "next_step": "Text a friend",
                   "status": "active", "created_at": (NOW - timedelta(days=4)).isoformat(), "asked": True,
                   "comments": []}],
        "wins": [{"text": "A loose win", "created_at": (NOW - timedelta(days=1)).isoformat(), "goal": None},
                 {"text": "Win on the asked goal", "created_at": (NOW - timedelta(days=2)).isoformat(),
                  "goal": "Asked goal"},
                 {"text": "Win on the old goal", "created_at": (NOW - timedelta(days=3)).isoformat(), "goal": None}]}
    # Each read is a look at goals and small wins in the access log, under the consent that allowed it.
    assert [(a.consent_id, a.data_classes) for a in db.session.scalars(select(AccessLog))] == [
        (consent.id, [GOALS.value])] * 2


def test_a_supporter_without_the_goals_class_sees_no_goal_and_no_win(patient, supporter, supporter_client,
                                                                      api_token, history):
    grant(patient, supporter, [MOOD, SESSIONS], data_from=NOW - timedelta(days=30))
    html = supporter_client.get(f"/shared/{patient.id}").text
    assert 'id="class-goals_wins"' not in html and goal_cards(html) == []
    for secret in ("Old goal", "Asked goal", "Quiet goal", "A loose win", "Win on"):
        assert secret not in html, secret
    body = supporter_client.get(f"/api/v1/patients/{patient.id}/shared", headers=api_token(supporter)).get_json()
    assert GOALS.value not in body["data"] and "Asked goal" not in str(body)


def test_a_done_or_set_aside_goal_still_shows_with_its_state_after_the_active_ones(
        patient, supporter, supporter_client, history):
    grant(patient, supporter, [GOALS], data_from=history["data_from"])
    progress.update_goal(patient, history["quiet"], status=GoalStatus.SET_ASIDE)
    db.session.commit()
    html = supporter_client.get(f"/shared/{patient.id}").text
    assert goal_cards(html) == [history["asked"].id, history["quiet"].id]
    card = html[html.index(f'id="goal-{history["quiet"].id}"'):]
    assert card.index("Set aside for now") < card.index("</li>")


# Thoughts on a goal ---------------------------------------------------------------------------------------------------


def test_an_asked_supporter_adds_thoughts_that_the_patient_sees_and_the_audit_row_carries_the_consent(
        patient, supporter, supporter_client, patient_client, history):
    consent = grant(patient, supporter, [GOALS], data_from=history["data_from"])
    goal = history["asked"]
    ask(patient, goal, supporter)
    token = shared_token(supporter_client, patient)

    assert supporter_client.post(f"/shared/{patient.id}/goals/{goal.id}/comments",
                                 data={f"goal-{goal.id}-body": "No token"}).status_code == 400
    response = post_comment(supporter_client, patient, goal.id, "  You have got this  ", token)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/shared/{patient.id}#goal-{goal.id}"
    comment = db.session.scalar(select(GoalComment))
    assert (comment.goal_id, comment.author_id, comment.body, comment.created_at) == (
        goal.id, supporter.id, "You have got this", NOW)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "goal_comment_create"))
    assert (event.actor_id, event.subject_id, event.consent_id, event.organisation_id, event.target) == (
        supporter.id, patient.id, consent.id, consent.organisation_id, f"goal_comment:{comment.id}")

    assert "You wrote: You have got this" in supporter_client.get(f"/shared/{patient.id}").text
    page = patient_client.get(f"/goals/{goal.id}").text
    assert "Sol Supporter" in page and '<p class="note-body">You have got this</p>' in page
    assert "1 comment" in patient_client.get("/goals").text

    # Empty or too long: nothing is stored, and the supporter is told.
    for body in ("   ", "x" * 501):
        response = post_comment(supporter_client, patient, goal.id, body, token)
        assert response.status_code == 302
        assert "Write your thoughts in a few words (up to 500 characters)." in supporter_client.get(
            response.headers["Location"]).text
    assert db.session.scalar(select(func.count()).select_from(GoalComment)) == 1


def _not_asked(ctx):
    ctx["goal"] = ctx["quiet"]


def _stopped(ctx):
    progress.stop_asking(ctx["patient"], ctx["goal"], ctx["supporter"].id)
    db.session.commit()


def _consent_revoked(ctx):
    sharing.revoke_consent(ctx["consent"], ctx["patient"])
    db.session.commit()


def _held(ctx):
    hold(ctx["facilitator"], ctx["patient"], ctx["supporter"])


def _expired(ctx):
    ctx["clock"].move_to(ctx["consent"].ends_at)
    sweep()


def _no_longer_sees_it(ctx):
    """Shared again, but from a date after the goal was set: still asked, no longer seeing it."""
    _consent_revoked(ctx)
    grant(ctx["patient"], ctx["supporter"], [GOALS], data_from=NOW - timedelta(days=1))


def _another_patients_goal(ctx):
    theirs = set_goal(ctx["other_patient"], "Their goal")
    grant(ctx["other_patient"], ctx["supporter"], [GOALS], data_from=NOW - timedelta(days=1))
    ask(ctx["other_patient"], theirs, ctx["supporter"])
    ctx["goal"] = theirs


@pytest.mark.parametrize("situation", [_not_asked, _stopped, _consent_revoked, _held, _expired, _no_longer_sees_it,
                                       _another_patients_goal], ids=lambda f: f.__name__.strip("_"))
def test_thoughts_are_refused_and_nothing_stored_unless_asked_and_seeing_the_goal(
        situation, patient, other_patient, supporter, supporter_client, facilitator, sharing_group, clock, history):
    # Ten minutes, so that the supporter's login (30 idle minutes) outlives the consent when it expires.
    consent = grant(patient, supporter, [GOALS], data_from=history["data_from"], ends_at=NOW + timedelta(minutes=10))
    ask(patient, history["asked"], supporter)
    token = shared_token(supporter_client, patient)
    ctx = {"patient": patient, "other_patient": other_patient, "supporter": supporter, "facilitator": facilitator,
           "consent": consent, "clock": clock, "goal": history["asked"], "quiet": history["quiet"]}
    situation(ctx)
    response = post_comment(supporter_client, patient, ctx["goal"].id, "My thoughts", token)
    assert response.status_code == 404
    assert "My thoughts" not in response.text
    assert db.session.scalars(select(GoalComment)).all() == []
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "goal_comment_create")).all() == []
    denied = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "request_denied")
                               .order_by(AuditEvent.seq.desc()))
    assert (denied.actor_id, denied.subject_id, denied.outcome) == (supporter.id, patient.id, "denied")


def test_the_comment_form_follows_the_asking(patient, supporter, supporter_client, history):
    grant(patient, supporter, [GOALS], data_from=history["data_from"])
    goal = history["asked"]
    assert comment_forms(supporter_client.get(f"/shared/{patient.id}").text, patient) == []
    ask(patient, goal, supporter)
    assert comment_forms(supporter_client.get(f"/shared/{patient.id}").text, patient) == [goal.id]
    progress.stop_asking(patient, goal, supporter.id)
    db.session.commit()
    html = supporter_client.get(f"/shared/{patient.id}").text
    assert comment_forms(html, patient) == [] and goal_cards(html) == [history["quiet"].id, goal.id]


def test_a_supporter_sees_only_their_own_thoughts_and_the_patient_sees_and_removes_any(
        app, login, patient, supporter, supporter_client, patient_client, make_user, api_token, history):
    kim = make_user(RoleName.SUPPORTER, display_name="Kim Keep")
    kim_client = app.test_client()
    login(kim_client, kim)
    goal = history["asked"]
    for person in (supporter, kim):
        grant(patient, person, [GOALS], data_from=history["data_from"])
        ask(patient, goal, person)
    assert post_comment(supporter_client, patient, goal.id, "SOL-THOUGHTS", shared_token(supporter_client, patient)
                        ).status_code == 302
    assert post_comment(kim_client, patient, goal.id, "KIM-THOUGHTS", shared_token(kim_client, patient)
                        ).status_code == 302

    for client, person, own, other in [(supporter_client, supporter, "SOL-THOUGHTS", "KIM-THOUGHTS"),
                                       (kim_client, kim, "KIM-THOUGHTS", "SOL-THOUGHTS")]:
        html = client.get(f"/shared/{patient.id}").text
        assert f"You wrote: {own}" in html and other not in html
        fragment = client.get(f"/shared/{patient.id}", headers={"X-Momentum-Fragment": "1"}).text
        assert own in fragment and other not in fragment
        response = client.get(f"/api/v1/patients/{patient.id}/shared", headers=api_token(person))
        assert other not in response.text
        rows = {row["id"]: row for row in response.get_json()["data"][GOALS.value]["goals"]}
        assert [c["body"] for c in rows[goal.id]["comments"]] == [own]

    page = patient_client.get(f"/goals/{goal.id}").text
    assert "SOL-THOUGHTS" in page and "KIM-THOUGHTS" in page and "Kim Keep" in page
    sol_comment = db.session.scalar(select(GoalComment).where(GoalComment.author_id == supporter.id))
    assert patient_client.post(f"/goals/{goal.id}/comments/{sol_comment.id}/delete").status_code == 400
    # The comment is on this goal only: through another of the patient's goals it is not found.
    response = submit(patient_client, "/goals", {},
                      action=f"/goals/{history['quiet'].id}/comments/{sol_comment.id}/delete")
    assert response.status_code == 404 and db.session.get(GoalComment, sol_comment.id) is not None
    response = submit(patient_client, "/goals", {}, action=f"/goals/{goal.id}/comments/{sol_comment.id}/delete")
    assert response.status_code == 302 and response.headers["Location"] == f"/goals/{goal.id}"
    db.session.expire_all()
    assert [c.body for c in db.session.scalars(select(GoalComment))] == ["KIM-THOUGHTS"]
    assert "SOL-THOUGHTS" not in patient_client.get(f"/goals/{goal.id}").text
    assert "SOL-THOUGHTS" not in supporter_client.get(f"/shared/{patient.id}").text
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "goal_comment_delete"))
    assert (event.actor_id, event.subject_id, event.details) == (patient.id, patient.id,
                                                                 f'{{"author_id": {supporter.id}}}')


def test_the_api_follows_the_same_rules_for_goals_wins_and_thoughts(patient, supporter, client, api_token, history):
    consent = grant(patient, supporter, [GOALS], data_from=history["data_from"])
    headers = api_token(supporter)
    assert [g["asked"] for g in shared_api(client, patient, headers)["goals"]] == [False, False]
    ask(patient, history["asked"], supporter)
    progress.add_comment(supporter, history["asked"], "Thoughts by API")
    db.session.commit()
    goals = shared_api(client, patient, headers)["goals"]
    assert [(g["id"], g["asked"], [c["body"] for c in g["comments"]]) for g in goals] == [
        (history["quiet"].id, False, []), (history["asked"].id, True, ["Thoughts by API"])]
    assert set(goals[1]["comments"][0]) == {"body", "created_at"}  # never who else wrote, never an author id
    sharing.revoke_consent(consent, patient)
    db.session.commit()
    response = client.get(f"/api/v1/patients/{patient.id}/shared", headers=headers)
    assert response.status_code == 404 and "Asked goal" not in response.text


# Pushes ---------------------------------------------------------------------------------------------------------------


def test_a_new_win_nudges_a_supporter_who_sees_goals_and_no_one_else(
        app, login, patient, supporter, supporter_client, patient_client, sockets, make_user):
    grant(patient, supporter, [GOALS])
    sessions_only = make_user(RoleName.SUPPORTER, display_name="Sam Sessions")
    grant(patient, sessions_only, [SESSIONS, MOOD])
    other_client = app.test_client()
    login(other_client, sessions_only)
    sio, other = sockets(supporter_client), sockets(other_client)
    for socket in (sio, other):
        assert socket.emit("join_shared", {"patient_id": patient.id}, callback=True)["ok"] is True
        socket.get_received()

    response = submit(patient_client, "/goals", {"text": "Went for a walk"}, action="/goals/wins")
    assert response.status_code == 302
    # A nudge to refresh, never the data itself.
    assert shared_updates(sio) == [{"name": "shared_update", "args": [{"patient_id": patient.id}], "namespace": "/"}]
    assert other.get_received() == []
    assert "Went for a walk" in supporter_client.get(f"/shared/{patient.id}", headers={"X-Momentum-Fragment": "1"}).text


def test_each_change_the_patient_makes_nudges_the_supporters_page_once(
        patient, supporter, supporter_client, patient_client, sockets):
    grant(patient, supporter, [GOALS], data_from=NOW - timedelta(days=1))
    sio = sockets(supporter_client)
    assert sio.emit("join_shared", {"patient_id": patient.id}, callback=True)["ok"] is True
    sio.get_received()

    def nudges(action, data=None):
        response = submit(patient_client, "/goals", data or {}, action=action)
        assert response.status_code == 302, action
        return len(shared_updates(sio))

    assert nudges("/goals", {"title": "Swim"}) == 1
    goal = db.session.scalar(select(Goal))
    assert nudges(f"/goals/{goal.id}", {"title": "Swim weekly"}) == 1
    assert nudges("/goals/wins", {"text": "Swam", "goal_id": str(goal.id)}) == 1
    win = db.session.scalar(select(SmallWin))
    assert nudges(f"/goals/{goal.id}/ask", {"supporter_id": str(supporter.id)}) == 1
    progress.add_comment(supporter, goal, "Nice")
    db.session.commit()
    comment = db.session.scalar(select(GoalComment))
    sio.get_received()
    assert nudges(f"/goals/{goal.id}/comments/{comment.id}/delete") == 1
    assert nudges(f"/goals/{goal.id}/ask/{supporter.id}/stop") == 1
    assert nudges(f"/goals/wins/{win.id}/delete") == 1
    assert nudges(f"/goals/{goal.id}/status/done") == 1


def test_a_revoked_supporter_gets_no_nudge_about_goals(patient, supporter, supporter_client, patient_client, sockets):
    consent = grant(patient, supporter, [GOALS])
    sio = sockets(supporter_client)
    assert sio.emit("join_shared", {"patient_id": patient.id}, callback=True)["ok"] is True
    sharing.revoke_consent(consent, patient)
    db.session.commit()
    sio.get_received()
    submit(patient_client, "/goals", {"text": "A quiet win"}, action="/goals/wins")
    submit(patient_client, "/goals", {"title": "A quiet goal"})
    assert sio.get_received() == []


def test_new_thoughts_show_on_the_patients_home_page_until_marked_read(patient, supporter, supporter_client,
                                                                       patient_client, other_patient, history):
    grant(patient, supporter, [GOALS], data_from=history["data_from"])
    goal = history["asked"]
    ask(patient, goal, supporter)
    token = shared_token(supporter_client, patient)
    assert post_comment(supporter_client, patient, goal.id, "Proud of you", token).status_code == 302

    home = patient_client.get("/").text
    assert "New thoughts from your supporters" in home
    assert "Proud of you" in home and f'href="/goals/{goal.id}"' in home

    # Another patient marking their own as read changes nothing here.
    progress.mark_comments_read(other_patient)
    db.session.commit()
    assert "Proud of you" in patient_client.get("/").text

    response = submit(patient_client, "/", {}, action="/goals/comments/read")
    assert (response.status_code, response.headers["Location"]) == (302, "/")
    assert db.session.scalar(select(GoalComment.read_at)) == NOW
    home = patient_client.get("/").text
    assert "Proud of you" not in home and "New thoughts from your supporters" not in home
    assert "Proud of you" in patient_client.get(f"/goals/{goal.id}").text  # the goal keeps it


def _asks(goal) -> list[tuple[int, bool]]:
    db.session.expire_all()
    return [(c.supporter_id, c.ended_at is None) for c in db.session.get(Goal, goal.id).commenters]


def test_stopping_sharing_ends_the_asks_and_sharing_again_needs_a_new_one(patient, supporter, supporter_client,
                                                                         history):
    first = grant(patient, supporter, [GOALS], data_from=history["data_from"])
    goal = history["asked"]
    ask(patient, goal, supporter)

    sharing.revoke_consent(first, patient)
    db.session.commit()
    assert _asks(goal) == [(supporter.id, False)]

    grant(patient, supporter, [GOALS], data_from=history["data_from"])
    token = shared_token(supporter_client, patient)
    assert comment_forms(supporter_client.get(f"/shared/{patient.id}").text, patient) == []
    assert post_comment(supporter_client, patient, goal.id, "Back again", token).status_code == 404
    ask(patient, goal, supporter)
    assert post_comment(supporter_client, patient, goal.id, "Back again", token).status_code == 302


def test_an_ask_stays_while_another_consent_still_shares_goals_or_while_on_hold(patient, supporter, facilitator,
                                                                               sharing_group, history):
    goals_only = grant(patient, supporter, [GOALS], data_from=history["data_from"])
    grant(patient, supporter, [GOALS, MOOD], data_from=history["data_from"])
    sessions_only = grant(patient, supporter, [SESSIONS])
    goal = history["asked"]
    ask(patient, goal, supporter)

    sharing.revoke_consent(sessions_only, patient)
    sharing.revoke_consent(goals_only, patient)
    db.session.commit()
    assert _asks(goal) == [(supporter.id, True)]

    hold(facilitator, patient, supporter)
    assert _asks(goal) == [(supporter.id, True)]

    link = db.session.scalar(select(SupporterLink).where(SupporterLink.supporter_id == supporter.id))
    sharing.stop_sharing_with(patient, link)
    db.session.commit()
    assert _asks(goal) == [(supporter.id, False)]
