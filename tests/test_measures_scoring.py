"""The PHQ-9 and GAD-7 core (app/measures): the instruments as published, scoring at every band boundary, refusal of
bad answers, the item 9 safety rule, change over time against the formula and the NHS Talking Therapies thresholds of
CLINICAL.md, and the FHIR R5 QuestionnaireResponse."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po
from fhir.resources.questionnaireresponse import QuestionnaireResponse
from flask_babel.speaklater import LazyString

from app.measures import change, fhir, instruments, labels, scoring, spanish_wording
from app.measures.change import HOW_MEASURED, change_over_time, paired_outcome
from app.measures.instruments import GAD7, PHQ9, Instrument
from app.measures.scoring import Severity
from app.refusal import Refusal

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def answers_for(instrument: Instrument, total: int) -> list[int]:
    """A full set of answers adding up to `total`, filled from the first item on."""
    answers = [0] * instruments.definition(instrument).item_count
    for index in range(len(answers)):
        answers[index] = min(3, total)
        total -= answers[index]
    assert total == 0
    return answers


def scores(*totals: int) -> list[tuple[datetime, int]]:
    return [(T0 + timedelta(weeks=2 * n), total) for n, total in enumerate(totals)]


def msgid(text: LazyString) -> str:
    return text._args[0]


# The instruments ----------------------------------------------------------------------------------------------------


def test_the_phq9_has_nine_items_scored_0_to_27_with_loincs_codes_in_form_order():
    assert [item.loinc for item in PHQ9.items] == [
        "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8",
    ]  # fmt: skip
    assert [item.number for item in PHQ9.items] == list(range(1, 10))
    assert (PHQ9.panel_loinc, PHQ9.total_loinc, PHQ9.difficulty.loinc) == ("44249-1", "44261-6", "69722-7")
    assert PHQ9.max_total == 27
    assert PHQ9.questionnaire_url == "http://loinc.org/q/44249-1"
    assert msgid(PHQ9.items[8].text) == "Thoughts that you would be better off dead, or of hurting yourself in some way"
    assert instruments.SAFETY_ITEM is PHQ9.items[8]


def test_the_gad7_has_seven_items_scored_0_to_21_with_loincs_codes_in_form_order():
    assert [item.loinc for item in GAD7.items] == [
        "69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7",
    ]  # fmt: skip
    assert (GAD7.panel_loinc, GAD7.total_loinc, GAD7.difficulty.loinc) == ("69737-5", "70274-6", "69722-7")
    assert GAD7.max_total == 21
    assert GAD7.questionnaire_url == "http://loinc.org/q/69737-5"


@pytest.mark.parametrize("form", [PHQ9, GAD7], ids=["phq9", "gad7"])
def test_both_forms_carry_the_published_stem_answers_difficulty_question_and_notice(form):
    assert (
        msgid(form.stem) == "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
    )
    for item in form.items:
        assert [(a.value, msgid(a.text)) for a in item.answers] == [
            (0, "Not at all"), (1, "Several days"), (2, "More than half the days"), (3, "Nearly every day"),
        ]  # fmt: skip
    assert [(a.value, msgid(a.text), a.code) for a in form.difficulty.answers] == [
        (0, "Not difficult at all", "LA6572-7"),
        (1, "Somewhat difficult", "LA6573-5"),
        (2, "Very difficult", "LA6575-0"),
        (3, "Extremely difficult", "LA6574-3"),
    ]
    assert msgid(form.difficulty.text).startswith("If you checked off any problems, how difficult have these problems")
    assert msgid(form.notice) == (
        "Developed by Drs. Robert L. Spitzer, Janet B.W. Williams, Kurt Kroenke and colleagues, with an educational "
        "grant from Pfizer Inc. No permission required to reproduce, translate, display or distribute."
    )


def test_frequency_answers_carry_loincs_answer_codes():
    assert [a.code for a in PHQ9.items[0].answers] == ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
    # LOINC binds GAD-7 item 2 (68509-9) to a list whose score-2 answer is "More days than not".
    assert [a.code for a in GAD7.items[1].answers] == ["LA6568-5", "LA6569-3", "LA18938-3", "LA6571-9"]
    assert msgid(GAD7.items[1].answers[2].text) == "More than half the days"


def test_every_text_of_the_forms_has_its_published_spanish_wording():
    texts = {msgid(text) for form in (PHQ9, GAD7) for text in (form.stem, form.notice, form.difficulty.text)}
    texts |= {msgid(item.text) for form in (PHQ9, GAD7) for item in form.items}
    texts |= {msgid(a.text) for form in (PHQ9, GAD7) for item in form.items for a in item.answers}
    texts |= {msgid(a.text) for a in PHQ9.difficulty.answers}
    assert texts - spanish_wording.PUBLISHED.keys() == set()
    assert spanish_wording.PUBLISHED["Not at all"] == "Ningún día"
    assert spanish_wording.PUBLISHED[msgid(PHQ9.stem)] == (
        "Durante las últimas 2 semanas, ¿qué tan seguido ha tenido molestias debido a los siguientes problemas?"
    )


def test_every_other_text_of_the_package_has_a_spanish_entry_with_the_same_placeholders():
    texts = {msgid(PHQ9.title), msgid(GAD7.title)} | {msgid(label) for label in labels.SEVERITY_LABELS.values()}
    texts |= {msgid(text) for figures in HOW_MEASURED.values() for text in figures.values()}
    every = spanish_wording.PUBLISHED | spanish_wording.PRODUCT
    assert texts - every.keys() == set()
    for english, spanish in every.items():
        placeholders = sorted(part.split(")")[0] for part in english.split("%(")[1:])
        assert sorted(part.split(")")[0] for part in spanish.split("%(")[1:]) == placeholders, english


def test_the_spanish_data_covers_the_instruments_and_the_catalog_carries_the_published_wording():
    """Every published text is one the instruments use, and the catalog carries its published Spanish word for word
    (that every message has a Spanish entry at all is test_translations' job)."""
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    package = Path(__file__).resolve().parent.parent / "app" / "measures"
    found = {
        message if isinstance(message, str) else message[0]
        for name in ("instruments.py", "scoring.py", "change.py")
        for _line, message, _comments, _context in extract_from_file("python", str(package / name), keywords=keywords)
    }
    assert spanish_wording.PUBLISHED.keys() <= found
    catalog_path = package.parent / "translations" / "es" / "LC_MESSAGES" / "messages.po"
    with open(catalog_path, "rb") as handle:
        catalog = read_po(handle)
    assert {english: catalog[english].string for english in spanish_wording.PUBLISHED} == spanish_wording.PUBLISHED


def test_definition_takes_a_member_or_its_value_and_nothing_else():
    assert instruments.definition("phq9") is PHQ9
    assert instruments.definition(Instrument.GAD7) is GAD7
    with pytest.raises(ValueError):
        instruments.definition("bdi")


# Scoring -----------------------------------------------------------------------------------------------------------

BOUNDARIES = [
    (Instrument.PHQ9, 0, Severity.MINIMAL),
    (Instrument.PHQ9, 4, Severity.MINIMAL),
    (Instrument.PHQ9, 5, Severity.MILD),
    (Instrument.PHQ9, 9, Severity.MILD),
    (Instrument.PHQ9, 10, Severity.MODERATE),
    (Instrument.PHQ9, 14, Severity.MODERATE),
    (Instrument.PHQ9, 15, Severity.MODERATELY_SEVERE),
    (Instrument.PHQ9, 19, Severity.MODERATELY_SEVERE),
    (Instrument.PHQ9, 20, Severity.SEVERE),
    (Instrument.PHQ9, 27, Severity.SEVERE),
    (Instrument.GAD7, 0, Severity.MINIMAL),
    (Instrument.GAD7, 4, Severity.MINIMAL),
    (Instrument.GAD7, 5, Severity.MILD),
    (Instrument.GAD7, 9, Severity.MILD),
    (Instrument.GAD7, 10, Severity.MODERATE),
    (Instrument.GAD7, 14, Severity.MODERATE),
    (Instrument.GAD7, 15, Severity.SEVERE),
    (Instrument.GAD7, 21, Severity.SEVERE),
]


@pytest.mark.parametrize(("instrument", "total", "band"), BOUNDARIES, ids=lambda v: str(v))
def test_a_total_falls_in_its_published_band(instrument, total, band):
    result = scoring.score(instrument, answers_for(instrument, total))
    assert (result.instrument, result.total, result.severity) == (instrument, total, band)


@pytest.mark.parametrize("instrument", list(Instrument))
def test_the_bands_cover_every_possible_total_once_in_order(instrument):
    bands = scoring.band_ranges(instrument)
    covered = [total for band in bands for total in range(band.low, band.high + 1)]
    assert covered == list(range(0, instruments.definition(instrument).max_total + 1))


def test_a_total_outside_the_scale_is_a_programming_error():
    with pytest.raises(ValueError):
        scoring.severity(Instrument.GAD7, 22)


BAD_ANSWERS = [
    ("eight answers", [0] * 8),
    ("ten answers", [0] * 10),
    ("a four", [0] * 8 + [4]),
    ("a minus one", [-1] + [0] * 8),
    ("an unanswered item", [0] * 8 + [None]),
    ("a boolean", [True] + [0] * 8),
    ("a string digit", ["2"] + [0] * 8),
    ("a float", [2.0] + [0] * 8),
    ("a string", "000000000"),
    ("nothing", None),
]


@pytest.mark.parametrize(("case", "answers"), BAD_ANSWERS, ids=[case for case, _answers in BAD_ANSWERS])
def test_bad_answers_are_refused_with_one_refusal_naming_the_field(case, answers):
    with pytest.raises(Refusal) as refused:
        scoring.score(Instrument.PHQ9, answers)
    assert (refused.value.code, refused.value.field, refused.value.status) == ("invalid_answers", "answers", 422)
    assert refused.value.message


def test_the_gad7_refuses_nine_answers():
    with pytest.raises(Refusal):
        scoring.total(Instrument.GAD7, [0] * 9)


def test_a_bad_difficulty_answer_is_refused_and_none_is_allowed():
    assert scoring.validate_difficulty(None) is None
    assert scoring.validate_difficulty(3) == 3
    with pytest.raises(Refusal) as refused:
        scoring.validate_difficulty(4)
    assert refused.value.field == "difficulty"


def test_unanswered_items_lists_the_questions_still_to_answer_by_their_number():
    assert scoring.unanswered_items(Instrument.PHQ9, []) == tuple(range(1, 10))
    assert scoring.unanswered_items(Instrument.PHQ9, [1, None, 2]) == (2, 4, 5, 6, 7, 8, 9)
    assert scoring.unanswered_items(Instrument.GAD7, [0] * 7) == ()
    with pytest.raises(Refusal):
        scoring.unanswered_items(Instrument.GAD7, [0] * 8)
    with pytest.raises(Refusal):
        scoring.unanswered_items(Instrument.GAD7, [5])


# Safety rule 1: PHQ-9 item 9 ----------------------------------------------------------------------------------------


def test_item_9_answered_not_at_all_needs_no_alert():
    assert not scoring.needs_safety_alert(Instrument.PHQ9, [3] * 8 + [0])


@pytest.mark.parametrize("answer", [1, 2, 3])
def test_any_other_answer_to_item_9_needs_the_alert_whatever_the_total(answer):
    answers = [0] * 8 + [answer]
    assert scoring.score(Instrument.PHQ9, answers).severity is Severity.MINIMAL
    assert scoring.needs_safety_alert(Instrument.PHQ9, answers)


def test_item_9_saved_part_way_needs_the_alert_at_once():
    assert scoring.needs_safety_alert(Instrument.PHQ9, [None] * 8 + [1])
    assert not scoring.needs_safety_alert(Instrument.PHQ9, [2, 2])


def test_the_gad7_never_raises_the_item_9_alert():
    assert not scoring.needs_safety_alert(Instrument.GAD7, [3] * 7)


def test_a_bad_answer_to_item_9_is_refused_rather_than_read_as_no_alert():
    with pytest.raises(Refusal):
        scoring.needs_safety_alert(Instrument.PHQ9, [0] * 8 + [7])


# Change over time ---------------------------------------------------------------------------------------------------


def test_the_rci_follows_the_formula_with_the_stated_constants_phq9():
    # SE = 5.4 * sqrt(1 - 0.84) = 5.4 * 0.4 = 2.16; S_diff = sqrt(2) * 2.16 = 3.05470; RCI = (10 - 18) / 3.05470.
    assert (change.RELIABILITY[Instrument.PHQ9], change.STANDARD_DEVIATION[Instrument.PHQ9]) == (0.84, 5.4)
    result = change_over_time(Instrument.PHQ9, scores(18, 12, 10))
    assert result.rci == pytest.approx(-8 / (math.sqrt(2) * 2.16))
    assert result.rci == pytest.approx(-2.61891, abs=1e-5)
    assert result.reliable_change


def test_the_rci_follows_the_formula_with_the_stated_constants_gad7():
    # SE = 3.4 * sqrt(1 - 0.83) = 1.40187; S_diff = sqrt(2) * 1.40187 = 1.98253; RCI = (15 - 12) / 1.98253.
    assert (change.RELIABILITY[Instrument.GAD7], change.STANDARD_DEVIATION[Instrument.GAD7]) == (0.83, 3.4)
    result = change_over_time(Instrument.GAD7, scores(12, 15))
    assert result.rci == pytest.approx(3 / (math.sqrt(2) * 3.4 * math.sqrt(0.17)))
    assert result.rci == pytest.approx(1.51322, abs=1e-5)
    assert not result.reliable_change


@pytest.mark.parametrize("instrument", list(Instrument))
def test_the_rci_and_the_nhs_points_agree_on_every_possible_change(instrument):
    points = change.RELIABLE_CHANGE_POINTS[instrument]
    for difference in range(
        -instruments.definition(instrument).max_total, instruments.definition(instrument).max_total
    ):
        rci = change.reliable_change_index(instrument, 0, difference)
        assert (abs(rci) > change.RCI_CRITICAL) == (abs(difference) >= points), difference


@pytest.mark.parametrize(
    ("instrument", "pre", "post", "improved", "deteriorated"),
    [
        (Instrument.PHQ9, 20, 15, False, False),
        (Instrument.PHQ9, 20, 14, True, False),
        (Instrument.PHQ9, 8, 13, False, False),
        (Instrument.PHQ9, 8, 14, False, True),
        (Instrument.GAD7, 15, 12, False, False),
        (Instrument.GAD7, 15, 11, True, False),
        (Instrument.GAD7, 6, 9, False, False),
        (Instrument.GAD7, 6, 10, False, True),
    ],
)
def test_nhs_reliable_improvement_and_deterioration_start_exactly_at_the_threshold(
    instrument, pre, post, improved, deteriorated
):
    result = change_over_time(instrument, scores(pre, post))
    assert (result.change, result.reliable_improvement, result.reliable_deterioration) == (
        post - pre,
        improved,
        deteriorated,
    )


@pytest.mark.parametrize(
    ("instrument", "total", "case"),
    [(Instrument.PHQ9, 9, False), (Instrument.PHQ9, 10, True), (Instrument.GAD7, 7, False), (Instrument.GAD7, 8, True)],
)
def test_caseness_starts_at_the_cut_off(instrument, total, case):
    assert change.at_caseness(instrument, total) is case
    assert change_over_time(instrument, scores(total)).baseline_caseness is case


@pytest.mark.parametrize(
    ("instrument", "pre", "post", "recovered", "reliably"),
    [
        (Instrument.PHQ9, 10, 9, True, False),
        (Instrument.PHQ9, 15, 9, True, True),
        (Instrument.PHQ9, 14, 10, False, False),
        (Instrument.PHQ9, 9, 3, False, False),
        (Instrument.GAD7, 8, 7, True, False),
        (Instrument.GAD7, 12, 7, True, True),
        (Instrument.GAD7, 12, 8, False, False),
    ],
)
def test_recovery_is_from_caseness_to_below_the_cut_off_and_reliable_with_reliable_improvement(
    instrument, pre, post, recovered, reliably
):
    result = change_over_time(instrument, scores(pre, post))
    assert (result.recovery, result.reliable_recovery) == (recovered, reliably)


def test_improvement_from_below_caseness_is_reliable_but_not_recovery():
    result = change_over_time(Instrument.PHQ9, scores(9, 3))
    assert result.reliable_improvement and not result.recovery and not result.reliable_recovery


@pytest.mark.parametrize(
    ("pre", "post", "responded"), [(10, 5, True), (10, 6, False), (15, 7, True), (15, 8, False), (0, 0, False)]
)
def test_response_is_a_fall_of_half_the_baseline_or_more(pre, post, responded):
    assert change_over_time(Instrument.GAD7, scores(pre, post)).response is responded


@pytest.mark.parametrize(("post", "remitted"), [(4, True), (5, False)])
def test_remission_is_a_phq9_below_5(post, remitted):
    assert change_over_time(Instrument.PHQ9, scores(12, post)).remission is remitted


def test_remission_does_not_apply_to_the_gad7():
    assert change_over_time(Instrument.GAD7, scores(12, 2)).remission is None


def test_no_scores_give_no_figures():
    result = change_over_time(Instrument.PHQ9, [])
    assert (result.count, result.baseline, result.latest, result.change, result.rci) == (0, None, None, None, None)
    assert result.baseline_caseness is None
    assert not any((result.reliable_change, result.reliable_improvement, result.reliable_deterioration,
                    result.recovery, result.reliable_recovery, result.response, result.remission))  # fmt: skip


def test_one_score_is_a_baseline_and_no_change():
    result = change_over_time(Instrument.PHQ9, scores(16))
    assert (result.count, result.baseline, result.latest, result.baseline_at) == (1, 16, 16, T0)
    assert (result.change, result.rci) == (None, None)
    assert result.baseline_caseness is True
    assert not any((result.reliable_change, result.reliable_improvement, result.reliable_deterioration,
                    result.recovery, result.reliable_recovery, result.response, result.remission))  # fmt: skip
    assert change_over_time(Instrument.GAD7, scores(3)).remission is None


def test_scores_are_taken_in_time_order_whatever_order_they_come_in():
    later, earlier = (T0 + timedelta(weeks=4), 6), (T0, 18)
    result = change_over_time(Instrument.PHQ9, [later, (T0 + timedelta(weeks=2), 12), earlier])
    assert (result.baseline, result.latest, result.change, result.count) == (18, 6, -12, 3)
    assert (result.baseline_at, result.latest_at) == (T0, T0 + timedelta(weeks=4))


def test_the_change_is_frozen():
    result = change_over_time(Instrument.PHQ9, scores(18, 10))
    with pytest.raises(AttributeError):
        result.latest = 0


def test_paired_recovery_needs_both_below_their_cut_offs():
    phq9 = change_over_time(Instrument.PHQ9, scores(16, 8))
    assert paired_outcome(phq9, change_over_time(Instrument.GAD7, scores(12, 9))).recovery is False
    outcome = paired_outcome(phq9, change_over_time(Instrument.GAD7, scores(12, 6)))
    assert (outcome.caseness, outcome.recovery, outcome.reliable_improvement, outcome.reliable_recovery) == (
        True,
        True,
        True,
        True,
    )


def test_paired_reliable_deterioration_on_either_rules_out_reliable_improvement():
    outcome = paired_outcome(
        change_over_time(Instrument.PHQ9, scores(16, 8)), change_over_time(Instrument.GAD7, scores(2, 6))
    )
    assert (outcome.reliable_deterioration, outcome.reliable_improvement, outcome.reliable_recovery) == (
        True,
        False,
        False,
    )


def test_paired_outcome_needs_two_scores_on_each():
    assert (
        paired_outcome(change_over_time(Instrument.PHQ9, scores(16, 8)), change_over_time(Instrument.GAD7, scores(9)))
        is None
    )


def test_how_measured_states_r_and_sd_in_the_rci_text(app):
    phq9 = str(HOW_MEASURED[Instrument.PHQ9]["rci"])
    assert "r = 0.84" in phq9 and "standard deviation 5.4" in phq9 and "95% level" in phq9
    assert "r = 0.83" in str(HOW_MEASURED[Instrument.GAD7]["rci"])
    assert "6 points" in str(HOW_MEASURED[Instrument.PHQ9]["reliable_improvement"])
    assert "4 points" in str(HOW_MEASURED[Instrument.GAD7]["reliable_deterioration"])
    assert set(HOW_MEASURED[Instrument.PHQ9]) == set(HOW_MEASURED[Instrument.GAD7]) | {"remission"}


def test_severity_labels_read_as_words(app):
    assert labels.severity_label("moderately_severe") == "Moderately severe"
    assert set(labels.SEVERITY_LABELS) == set(Severity)


# FHIR ---------------------------------------------------------------------------------------------------------------


def _answers_by_link(resource: dict) -> dict[str, dict]:
    return {item["linkId"]: item["answer"][0] for item in resource["item"]}


def test_a_phq9_is_a_valid_r5_questionnaire_response_with_loinc_coded_answers():
    answers = [0, 1, 2, 3, 0, 1, 2, 3, 1]
    resource = fhir.questionnaire_response(Instrument.PHQ9, answers, 2, T0, "Patient/7", "m-1")
    parsed = QuestionnaireResponse.model_validate(resource)
    assert (parsed.status, parsed.questionnaire, parsed.subject.reference) == (
        "completed",
        "http://loinc.org/q/44249-1",
        "Patient/7",
    )
    assert resource["authored"] == "2026-01-05T09:00:00+00:00"
    by_link = _answers_by_link(resource)
    codes = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
    for item, value in zip(PHQ9.items, answers, strict=True):
        coding = by_link[f"/{item.loinc}"]["valueCoding"]
        assert (coding["system"], coding["code"]) == ("http://loinc.org", codes[value])
    assert by_link["/69722-7"]["valueCoding"]["code"] == "LA6575-0"
    assert by_link["/44261-6"] == {"valueDecimal": 13}


def test_a_gad7_without_the_difficulty_answer_is_valid_and_codes_item_2_as_loinc_binds_it():
    resource = fhir.questionnaire_response("gad7", [2] * 7, None, datetime(2026, 2, 1, 8, 30), "Patient/9", 42)
    parsed = QuestionnaireResponse.model_validate(resource)
    assert parsed.questionnaire == "http://loinc.org/q/69737-5"
    by_link = _answers_by_link(resource)
    assert "/69722-7" not in by_link
    assert by_link["/68509-9"]["valueCoding"]["code"] == "LA18938-3"
    assert by_link["/69725-0"]["valueCoding"]["code"] == "LA6570-1"
    assert by_link["/70274-6"] == {"valueDecimal": 14}
    assert [item["linkId"] for item in resource["item"]][:7] == [item.link_id for item in GAD7.items]
    assert resource["authored"] == "2026-02-01T08:30:00+00:00"  # stored UTC without a zone is UTC
    assert resource["id"] == "42"


def test_the_fhir_form_refuses_what_scoring_refuses():
    with pytest.raises(Refusal):
        fhir.questionnaire_response(Instrument.PHQ9, [0] * 8, None, T0, "Patient/7", "m-2")
    with pytest.raises(Refusal):
        fhir.questionnaire_response(Instrument.PHQ9, [0] * 9, 4, T0, "Patient/7", "m-3")
