"""A member answers a PHQ-9 on a phone, one question per screen, with item 9 = 1: the crisis resources come at once,
and the facilitator's home page, open in another browser, takes the safety alert live. Both pages pass axe at 375 and
1280 px, and the form still works as one page without JavaScript."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from app.accounts.models import User
from app.demo import DEMO_PASSWORD
from app.extensions import db
from app.groups.models import Membership, MembershipStatus
from app.measures import queries as measure_queries
from app.measures import services as measure_services
from app.measures.models import Measure, MeasureStatus
from app.models_base import utcnow

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
LAPTOP = {"width": 1280, "height": 800}
ALEX_ANSWERS = [1, 2, 1, 1, 0, 1, 0, 0, 1]  # item 9 = 1: "Several days"
ANSWER_WORDS = ["Not at all", "Several days", "More than half the days", "Nearly every day"]


def _schedule_phq9_for_alex() -> int:
    alex = db.session.scalar(select(User).where(User.email == "alex@example.org"))
    membership = db.session.scalar(
        select(Membership).where(Membership.user_id == alex.id, Membership.status == MembershipStatus.ACTIVE)
    )
    facilitator = db.session.scalar(select(User).where(User.email == "facilitator@example.org"))
    # The demo's own questionnaires for Alex make way for this one, so that it is the only one due.
    db.session.execute(update(Measure).where(Measure.patient_id == alex.id, Measure.status == MeasureStatus.DUE)
                       .values(status=MeasureStatus.WITHDRAWN))
    measure_services.create_schedule(
        facilitator, membership.group, instrument="phq9", frequency="once", starts_at=utcnow(), patient_id=alex.id
    )
    return measure_queries.due_for(alex.id)[0].id


@pytest.fixture
def alex_measure(in_app) -> int:
    return in_app(_schedule_phq9_for_alex)


def test_alex_answers_a_phq9_on_a_phone_and_the_facilitator_sees_the_alert_live(
    signed_in, alex_measure, assert_no_axe_violations, assert_fits, in_app
):
    facilitator = signed_in("facilitator@example.org", viewport=LAPTOP)
    expect(facilitator.locator("#dashboard-alerts")).to_be_visible()
    alex = signed_in("alex@example.org", viewport=PHONE)

    card = alex.get_by_role("region", name="A short questionnaire is ready")
    expect(card).to_contain_text("9 questions, about 3 minutes.")
    card.get_by_role("link", name="Answer the PHQ-9").click()

    form = alex.locator("#measure-form")
    progress = form.locator("[data-progress]")
    for number, value in enumerate(ALEX_ANSWERS, start=1):
        expect(progress).to_have_text(f"Question {number} of 9")
        question = form.locator("fieldset[data-question]:visible")
        expect(question).to_have_count(1)
        if number == 1:
            expect(alex.get_by_role("button", name="Back")).to_be_hidden()
            assert_no_axe_violations(alex)
            assert_fits(alex)
        question.get_by_role("radio", name=ANSWER_WORDS[value], exact=True).check()
        alex.get_by_role("button", name="Next").click()

    # Item 9 answered with "Several days": saved at once, and the very next screen is the crisis resources.
    expect(alex).to_have_url(f"{alex.url.split('/measures/')[0]}/measures/{alex_measure}/support")
    support = alex.get_by_role("main")
    expect(support.get_by_role("heading", level=1)).to_have_text("If you need help now")
    expect(support).to_contain_text("Momentum is not a crisis service")
    expect(support).to_contain_text("Your facilitators have been told")
    assert_no_axe_violations(alex)

    alert = facilitator.locator("#alert-list li", has_text="Alex")
    expect(alert).to_contain_text("answered the self-harm question of the PHQ-9")

    # Going on: the one question left (how difficult), then Finish; the crisis step again, then the thanks.
    support.get_by_role("link", name="Go on").click()
    expect(progress).to_have_text("One last question, if you like")
    form.locator("fieldset[data-question]:visible").get_by_role("radio", name="Somewhat difficult").check()
    alex.get_by_role("button", name="Finish", exact=True).click()
    expect(alex.get_by_role("heading", level=1)).to_have_text("If you need help now")
    alex.get_by_role("link", name="Go on").click()
    expect(alex.get_by_role("main")).to_contain_text("Thank you. Your answers are saved.")
    expect(alex.get_by_role("main")).to_contain_text("“mild”")

    def stored():
        measure = db.session.get(Measure, alex_measure)
        alerts = measure.alert_id is not None
        return measure.status, measure.answers, measure.difficulty, measure.total, alerts

    assert in_app(stored) == (MeasureStatus.DONE, ALEX_ANSWERS, 1, 7, True)
    expect(facilitator.locator("#alert-list li", has_text="Alex")).to_have_count(1)


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["375", "1280"])
def test_the_answer_page_and_the_crisis_step_pass_axe(
    viewport, signed_in, alex_measure, assert_no_axe_violations, assert_fits
):
    alex = signed_in("alex@example.org", viewport=viewport)
    alex.goto(f"/measures/{alex_measure}")
    expect(alex.locator("#measure-form [data-progress]")).to_have_text("Question 1 of 9")
    assert_no_axe_violations(alex)
    assert_fits(alex)
    alex.locator("details.measure-pause summary").click()
    assert_no_axe_violations(alex)
    # Item 9 straight away (Next past the first eight, unanswered), then the crisis step.
    for _number in range(8):
        alex.get_by_role("button", name="Next").click()
    alex.locator("fieldset[data-question]:visible").get_by_role("radio", name="More than half the days").check()
    alex.get_by_role("button", name="Next").click()
    expect(alex.get_by_role("heading", level=1)).to_have_text("If you need help now")
    assert_no_axe_violations(alex)
    assert_fits(alex)


def test_without_javascript_the_whole_form_shows_and_finishes_on_one_page(new_page, alex_measure):
    # axe runs as a script, so this page is checked with it above (with the script on); here only the form's working.
    alex = new_page(viewport=PHONE, java_script_enabled=False)
    alex.goto("/login")
    alex.get_by_label("Email").fill("alex@example.org")
    alex.get_by_label("Password").fill(DEMO_PASSWORD)
    alex.get_by_role("main").get_by_role("button", name="Sign in").click()
    expect(alex.get_by_role("heading", level=1)).to_contain_text("Alex")
    alex.goto(f"/measures/{alex_measure}")
    questions = alex.locator("fieldset[data-question]")
    expect(questions).to_have_count(10)
    for index in range(10):
        expect(questions.nth(index)).to_be_visible()
    for index in range(9):
        questions.nth(index).get_by_role("radio", name="Not at all").check()
    alex.get_by_role("button", name="Finish", exact=True).click()
    expect(alex.get_by_role("main")).to_contain_text("Thank you. Your answers are saved.")
