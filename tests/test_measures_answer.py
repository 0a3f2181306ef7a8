"""A member answering a measure: the whole form without JavaScript, saved part way and finished later, a retry stored
once, item 9's crisis step (CLINICAL.md safety rule 1), calm words for a closed, withdrawn or done measure, the home
card, the member's own pause, and the single-use link that opens that one questionnaire and nothing else."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from groups_fixtures import *  # noqa: F403
from groups_fixtures import NOW
from sqlalchemy import select

from app.accounts.models import RoleName
from app.audit import AuditEvent
from app.extensions import db
from app.groups.models import Membership
from app.measures import answer_routes, queries, services
from app.measures.models import Frequency, Measure, MeasurePause, MeasureStatus
from app.rooms.models import AlertKind, SafetyAlert

PHQ9_CALM = [1, 1, 0, 1, 0, 0, 1, 0, 0]  # total 4 (minimal), item 9 = 0
PHQ9_MODERATE = [2, 2, 1, 1, 1, 1, 1, 1, 0]  # total 10 (moderate), item 9 = 0
CRISIS_LINE = "Riverside Crisis Line"


@pytest.fixture
def measure(group_with_members, facilitator, patient) -> Measure:
    organisation = patient.organisation
    organisation.crisis_name, organisation.crisis_phone = CRISIS_LINE, "0800 123 456"
    services.create_schedule(
        facilitator,
        _group(patient),
        instrument="phq9",
        frequency=Frequency.WEEKLY,
        starts_at=NOW,
        patient_id=patient.id,
    )
    db.session.commit()
    return queries.due_for(patient.id)[0]


def _group(patient):
    return db.session.scalar(select(Membership).where(Membership.user_id == patient.id)).group


def _form(answers, difficulty=None, button="finish") -> dict:
    data = {f"item_{number}": str(value) for number, value in enumerate(answers, start=1) if value is not None}
    if difficulty is not None:
        data["difficulty"] = str(difficulty)
    data[button] = "1"
    return data


def _alerts(patient) -> list[SafetyAlert]:
    return list(
        db.session.scalars(
            select(SafetyAlert).where(SafetyAlert.patient_id == patient.id, SafetyAlert.kind == AlertKind.PHQ9_ITEM9)
        )
    )


def _reload(measure_id: int) -> Measure:
    db.session.expire_all()
    return db.session.get(Measure, measure_id)


def _text(response) -> str:
    return response.get_data(as_text=True)


# The page without JavaScript ------------------------------------------------------------------------------------------


def test_the_whole_form_shows_on_one_page_with_the_published_wording(client, login, patient, measure):
    login(client, patient)
    page = _text(client.get(f"/measures/{measure.id}"))
    assert "Over the last 2 weeks, how often have you been bothered by any of the following problems?" in page
    assert page.count("<fieldset") == 10  # nine items and the difficulty question
    assert page.count("<legend>") == 10
    assert page.count('type="radio"') == 40
    assert "Thoughts that you would be better off dead, or of hurting yourself in some way" in page
    assert "how difficult have these problems made it for you" in page
    assert "with an educational grant from Pfizer Inc." in page
    assert "Save and finish later" in page and ">Finish<" not in page and 'value="Finish"' in page
    assert "js/measure-form.js" in page and "<script>" not in page


def test_a_member_finishes_the_whole_form_in_one_submission(client, login, post, patient, measure):
    login(client, patient)
    response = post(client, f"/measures/{measure.id}", _form(PHQ9_MODERATE, difficulty=1))
    assert response.status_code == 303 and response.headers["Location"] == f"/measures/{measure.id}"
    done = _reload(measure.id)
    assert (done.status, done.total, done.answers, done.difficulty) == (MeasureStatus.DONE, 10, PHQ9_MODERATE, 1)
    page = _text(client.get(f"/measures/{measure.id}"))
    assert "Thank you. Your answers are saved." in page and "“moderate”" in page
    assert 'type="radio"' not in page
    assert _alerts(patient) == []


def test_saved_part_way_the_answers_show_again_and_finish_later(client, login, post, patient, measure):
    login(client, patient)
    response = post(client, f"/measures/{measure.id}", _form([2, 1, 3], button="save"))
    assert response.status_code == 303 and response.headers["Location"] == "/"
    saved = _reload(measure.id)
    assert saved.status == MeasureStatus.DUE and saved.answers[:3] == [2, 1, 3] and saved.answers[3:] == [None] * 6
    assert "Your answers are saved" in _text(client.get("/"))
    page = _text(client.get(f"/measures/{measure.id}"))
    assert re.search(r'id="item_1-2"[^>]*checked|checked[^>]*id="item_1-2"', page)
    assert re.search(r'id="item_3-3"[^>]*checked|checked[^>]*id="item_3-3"', page)
    assert not re.search(r'id="item_4-\d"[^>]*checked', page)
    response = post(client, f"/measures/{measure.id}", _form([None, None, None, 0, 0, 1, 0, 0, 0]))
    assert response.status_code == 303
    assert (_reload(measure.id).status, _reload(measure.id).total) == (MeasureStatus.DONE, 7)


def test_finishing_with_questions_left_says_which_and_loses_nothing(client, login, post, patient, measure):
    login(client, patient)
    response = post(client, f"/measures/{measure.id}", _form([1, 2, None, 1], difficulty=2))
    assert response.status_code == 422
    page = _text(response)
    assert page.count("Answer this question to finish, or save and finish later.") == 6  # items 3 and 5 to 9
    assert re.search(r'id="item_2-2"[^>]*checked|checked[^>]*id="item_2-2"', page)
    assert re.search(r'id="difficulty-2"[^>]*checked|checked[^>]*id="difficulty-2"', page)
    assert _reload(measure.id).answers == [] and _reload(measure.id).status == MeasureStatus.DUE


def test_an_answer_that_is_not_one_of_the_four_is_refused_with_a_message(client, login, post, patient, measure):
    login(client, patient)
    response = post(client, f"/measures/{measure.id}", {**_form(PHQ9_CALM), "item_2": "7"})
    assert response.status_code == 422
    assert "Choose one of the four answers." in _text(response)
    assert _reload(measure.id).status == MeasureStatus.DUE


def test_a_retried_finish_is_stored_once(client, login, post, patient, measure):
    login(client, patient)
    first = post(client, f"/measures/{measure.id}", _form(PHQ9_CALM))
    completed_at = _reload(measure.id).completed_at
    again = post(client, f"/measures/{measure.id}", _form(PHQ9_MODERATE))
    assert first.status_code == again.status_code == 303
    done = _reload(measure.id)
    assert (done.total, done.completed_at) == (4, completed_at)
    assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "measure_completed")).all()) == 1


# Item 9 ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_item_9_above_0_shows_the_crisis_resources_next_and_raises_one_alert(
    item9, client, login, post, patient, measure
):
    login(client, patient)
    answers = [0, 0, 0, 0, 0, 0, 0, 0, item9]  # a total as low as can be: the rule holds whatever the total
    response = post(client, f"/measures/{measure.id}", _form(answers))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/measures/{measure.id}/support"
    page = _text(client.get(response.headers["Location"]))
    main = page.split('<main id="main"', 1)[1]
    assert main.index(CRISIS_LINE) < main.index("Momentum is not a crisis service") < main.index("Go on")
    assert "0800 123 456" in main and "Your facilitators have been told" in main
    assert f'href="/measures/{measure.id}"' in main
    assert len(_alerts(patient)) == 1
    assert _reload(measure.id).status == MeasureStatus.DONE


def test_item_9_saved_part_way_shows_the_crisis_step_at_once_and_finishing_raises_no_second_alert(
    client, login, post, patient, measure
):
    login(client, patient)
    response = post(client, f"/measures/{measure.id}", _form([None] * 8 + [2], button="save"))
    assert response.headers["Location"] == f"/measures/{measure.id}/support"
    assert len(_alerts(patient)) == 1
    response = post(client, f"/measures/{measure.id}", _form([1] * 8 + [None]))
    assert response.headers["Location"] == f"/measures/{measure.id}/support"
    assert len(_alerts(patient)) == 1 and _reload(measure.id).total == 10


def test_item_9_at_0_shows_no_crisis_step(client, login, post, patient, measure):
    login(client, patient)
    response = post(client, f"/measures/{measure.id}", _form([3, 3, 3, 3, 3, 3, 3, 3, 0]))
    assert response.headers["Location"] == f"/measures/{measure.id}"
    assert _alerts(patient) == []
    # Nothing to show there: the support address leads back to the measure.
    assert client.get(f"/measures/{measure.id}/support").headers["Location"] == f"/measures/{measure.id}"


# Closed, withdrawn and done -------------------------------------------------------------------------------------------


def test_a_closed_measure_shows_a_calm_message_and_keeps_nothing(client, login, post, patient, measure, clock):
    clock.move_to(measure.closes_at + timedelta(minutes=1))
    login(client, patient)
    page = _text(client.get(f"/measures/{measure.id}"))
    assert "This questionnaire has closed. There will be another chance." in page
    assert "missed" not in page.lower() and 'type="radio"' not in page
    response = post(client, f"/measures/{measure.id}", _form(PHQ9_CALM))
    assert response.status_code == 409 and "There will be another chance." in _text(response)
    assert _reload(measure.id).answers == []


def test_a_withdrawn_measure_says_it_is_no_longer_needed(client, login, patient, measure, facilitator):
    services.stop_schedule(facilitator, measure.schedule)
    db.session.commit()
    login(client, patient)
    assert "This questionnaire is no longer needed." in _text(client.get(f"/measures/{measure.id}"))


# Who may answer -------------------------------------------------------------------------------------------------------


def test_another_members_measure_is_not_found(client, login, post, group_with_members, measure):
    zoe = next(m.user for m in _group(measure.patient).memberships if m.user.display_name == "Zoe Zimmer")
    login(client, zoe)
    assert client.get(f"/measures/{measure.id}").status_code == 404
    assert post(client, f"/measures/{measure.id}", _form(PHQ9_CALM)).status_code == 404
    assert client.get(f"/measures/{measure.id}/support").status_code == 404
    assert client.get("/measures/999999").status_code == 404
    assert _reload(measure.id).answers == []


@pytest.mark.parametrize("role", [RoleName.FACILITATOR, RoleName.SUPPORTER])
def test_facilitators_and_supporters_answer_no_measure(role, client, login, post, measure, facilitator, make_user):
    someone = facilitator if role == RoleName.FACILITATOR else make_user(RoleName.SUPPORTER)
    login(client, someone)
    assert client.get(f"/measures/{measure.id}").status_code == 404
    assert post(client, f"/measures/{measure.id}", _form(PHQ9_CALM)).status_code == 404
    assert post(client, "/measures/pause").status_code == 404
    assert _reload(measure.id).answers == []


# The home card and the pause ------------------------------------------------------------------------------------------


def test_the_home_page_shows_one_short_card_for_a_due_measure(client, login, patient, measure):
    login(client, patient)
    page = _text(client.get("/"))
    assert "A short questionnaire is ready" in page
    assert "9 questions, about 3 minutes." in page
    assert "Open until Friday 27 March." in page  # the window closes a week after it opened (Friday 20 March)
    assert page.count(f'href="/measures/{measure.id}"') == 1


def test_two_due_measures_are_one_card_with_a_line_and_a_button_each(client, login, patient, measure, facilitator,
                                                                    group_with_members):
    services.create_schedule(facilitator, group_with_members, instrument="gad7", frequency="weekly",
                             starts_at=NOW, patient_id=patient.id)
    db.session.commit()
    login(client, patient)
    html = client.get("/").text
    assert html.count('class="card measure-card"') == 1
    page = _text(client.get("/"))
    assert "2 short questionnaires are ready" in page
    assert "<strong>PHQ-9</strong>: 9 questions, about 3 minutes." in page
    assert "<strong>GAD-7</strong>: 7 questions" in page
    assert "Answer the PHQ-9" in page and "Answer the GAD-7" in page


def test_the_home_page_shows_nothing_when_none_is_due(client, login, patient, group_with_members):
    login(client, patient)
    page = _text(client.get("/"))
    assert "A short questionnaire is ready" not in page and "questionnaires are paused" not in page


def test_a_member_pauses_and_resumes_their_questionnaires(client, login, post, patient, measure):
    login(client, patient)
    page = _text(client.get(f"/measures/{measure.id}"))
    assert "Pause my questionnaires" in page and "Only you can start them again." in page
    response = post(client, "/measures/pause")
    assert response.status_code == 303
    home = _text(client.get(response.headers["Location"]))
    assert "Your facilitator will see this" in home
    assert "Your questionnaires are paused." in home and "A short questionnaire is ready" not in home
    assert _reload(measure.id).status == MeasureStatus.WITHDRAWN
    again = post(client, "/measures/pause")
    assert "already paused" in _text(client.get(again.headers["Location"]))
    response = post(client, "/measures/resume")
    assert response.status_code == 303
    assert db.session.scalar(select(MeasurePause).where(MeasurePause.ended_at.is_(None))) is None
    home = _text(client.get("/"))
    assert "back on" in home and "Your questionnaires are paused." not in home


def test_pause_and_resume_need_the_form_token(client, login, patient, measure):
    login(client, patient)
    assert client.post("/measures/pause").status_code == 400
    assert queries.current_pause(patient.id) is None


# The sign-in-free link ------------------------------------------------------------------------------------------------


@pytest.fixture
def link(measure) -> str:
    token = services.issue_link(measure)
    db.session.commit()
    return token


def test_a_link_opens_its_questionnaire_once_and_shows_nothing_else(app, client, patient, measure, link):
    response = client.get(f"/m/{link}")
    assert response.status_code == 200
    page = _text(response)
    assert "Little interest or pleasure in doing things" in page
    assert patient.organisation.name in page and CRISIS_LINE in page
    assert patient.display_name not in page and patient.email not in page
    assert "<nav" not in page and "tabbar" not in page
    assert re.findall(r'href="([^"]+)"', page) == ["/static/css/momentum.css", "tel:0800123456"]
    assert set(re.findall(r'action="([^"]+)"', page)) == {f"/m/{link}"}
    assert "Pause my questionnaires" not in page
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{answer_routes.LINK_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/m/" in cookie and "Expires=" in cookie
    assert _reload(measure.id).link_used_at is not None
    # Another browser (without the cookie) finds it used.
    other = app.test_client()
    refused = other.get(f"/m/{link}")
    assert refused.status_code == 410
    assert "This link has been used or has expired. Sign in to see your questionnaires." in _text(refused)
    assert link not in "".join(event.target or "" for event in db.session.scalars(select(AuditEvent)))


def test_after_opening_the_link_the_person_saves_and_finishes_with_its_cookie(client, post, patient, measure, link):
    client.get(f"/m/{link}")
    response = post(client, f"/m/{link}", _form([1, 1, 1], button="save"))
    assert response.status_code == 303 and response.headers["Location"] == f"/m/{link}"
    page = _text(client.get(f"/m/{link}"))
    assert "Your answers are saved" in page
    assert re.search(r'id="item_2-1"[^>]*checked|checked[^>]*id="item_2-1"', page)
    response = post(client, f"/m/{link}", _form([None, None, None, 1, 0, 0, 0, 0, 0]))
    assert response.status_code == 303
    done = _reload(measure.id)
    assert (done.status, done.total, done.patient_id) == (MeasureStatus.DONE, 4, patient.id)
    assert "Thank you. Your answers are saved." in _text(client.get(f"/m/{link}"))


@pytest.mark.parametrize("item9", [1, 2, 3])
def test_the_link_shows_the_crisis_resources_after_item_9(item9, client, post, patient, measure, link):
    client.get(f"/m/{link}")
    response = post(client, f"/m/{link}", _form([0] * 8 + [item9]))
    assert response.status_code == 200
    main = _text(response).split('<main id="main"', 1)[1]
    assert main.index(CRISIS_LINE) < main.index("Momentum is not a crisis service") < main.index("Go on")
    assert f'href="/m/{link}"' in main and "Your facilitators have been told" in main
    assert len(_alerts(patient)) == 1


def test_the_link_shows_no_crisis_step_for_item_9_at_0(client, post, patient, measure, link):
    client.get(f"/m/{link}")
    response = post(client, f"/m/{link}", _form(PHQ9_CALM))
    assert response.status_code == 303 and _alerts(patient) == []


def test_a_post_to_the_link_without_its_cookie_is_refused(app, client, post, measure, link):
    client.get(f"/m/{link}")
    stranger = app.test_client()
    response = post(stranger, f"/m/{link}", _form(PHQ9_CALM))
    assert response.status_code == 410
    assert _reload(measure.id).answers == []


def test_the_cookie_opens_only_the_link_it_was_set_by(
    app, client, post, group_with_members, facilitator, patient, measure, link
):
    client.get(f"/m/{link}")
    gad7 = services.create_schedule(
        facilitator, _group(patient), instrument="gad7", frequency="weekly", starts_at=NOW, patient_id=patient.id
    )
    db.session.commit()
    other_measure = db.session.scalar(select(Measure).where(Measure.schedule_id == gad7.id))
    other_link = services.issue_link(other_measure)
    services.use_link(other_measure)
    db.session.commit()
    assert client.get(f"/m/{other_link}").status_code == 410
    assert post(client, f"/m/{other_link}", _form([0] * 7)).status_code == 410
    assert client.get("/m/not-a-link").status_code == 410
    assert _reload(other_measure.id).answers == []


def test_a_forged_cookie_opens_nothing(app, client, post, measure, link):
    client.get(f"/m/{link}")
    stranger = app.test_client()
    stranger.set_cookie(answer_routes.LINK_COOKIE, f'{{"m": {measure.id}}}', path="/m/")
    assert stranger.get(f"/m/{link}").status_code == 410


@pytest.mark.parametrize("how", ["revoked", "expired", "unknown", "reissued"])
def test_a_revoked_expired_unknown_or_reissued_link_is_refused_calmly(how, client, facilitator, measure, link, clock):
    client.get(f"/m/{link}")  # the cookie does not outlive the link either
    if how == "revoked":
        _reload(measure.id).link_revoked_at = NOW  # revoke_link refuses a used link; a revocation after use
    elif how == "expired":
        clock.move_to(measure.closes_at + timedelta(seconds=1))
    elif how == "reissued":
        services.issue_link(_reload(measure.id))
    db.session.commit()
    response = client.get(f"/m/{link}" if how != "unknown" else "/m/someone-guessing")
    assert response.status_code == 410
    assert "This link has been used or has expired. Sign in to see your questionnaires." in _text(response)
    assert 'type="radio"' not in _text(response)


def test_a_fresh_link_that_was_revoked_never_opens(client, facilitator, measure, link):
    services.revoke_link(facilitator, _reload(measure.id))
    db.session.commit()
    assert client.get(f"/m/{link}").status_code == 410
    assert _reload(measure.id).link_used_at is None


def test_the_link_is_rate_limited(client, measure, link):
    statuses = [client.get(f"/m/guess-{n}").status_code for n in range(31)]
    assert statuses[:30] == [410] * 30 and statuses[30] == 429
    response = client.get(f"/m/{link}")
    assert response.status_code == 429
    assert "<nav" not in _text(response) and "Please wait a little" in _text(response)
    assert _reload(measure.id).link_used_at is None


def test_the_link_cookie_signs_no_one_in(client, measure, link):
    client.get(f"/m/{link}")
    assert client.get("/").headers["Location"].startswith("/login")
    assert client.get(f"/measures/{measure.id}").status_code == 302
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {link}"}).status_code == 401
