"""The PHQ-9 and the GAD-7 as published, with the LOINC codes that name each question and answer.

Wording: the Pfizer forms (phqscreeners.com), released for free use in 2010 with the notice below (CLINICAL.md).
Codes: LOINC panels 44249-1 (PHQ-9) and 69737-5 (GAD-7) as loinc.org and LHC-Forms publish them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

LOINC = "http://loinc.org"


class Instrument(StrEnum):
    PHQ9 = "phq9"
    GAD7 = "gad7"


@dataclass(frozen=True)
class Answer:
    """One answer as the person reads it (`text`), what it scores (`value`), and its LOINC answer code with LOINC's own
    English display for that code (what a FHIR Coding carries)."""

    value: int
    text: LazyString
    code: str
    display: str


@dataclass(frozen=True)
class Item:
    """One scored question: its number on the form (1-based), its wording and its LOINC question code."""

    number: int
    text: LazyString
    loinc: str
    answers: tuple[Answer, ...]

    @property
    def link_id(self) -> str:
        """The item's linkId in the LOINC Questionnaire (LHC-Forms names each item "/<LOINC code>")."""
        return f"/{self.loinc}"


@dataclass(frozen=True)
class DifficultyQuestion:
    """The unscored last question: how much the problems got in the way of work, home and relationships."""

    text: LazyString
    loinc: str
    answers: tuple[Answer, ...]

    @property
    def link_id(self) -> str:
        return f"/{self.loinc}"


@dataclass(frozen=True)
class InstrumentDefinition:
    instrument: Instrument
    #: The short name people know it by ("PHQ-9"); not translated, as the published forms do not translate it.
    code: str
    title: LazyString
    stem: LazyString
    items: tuple[Item, ...]
    difficulty: DifficultyQuestion
    notice: LazyString
    #: The LOINC panel code of the whole questionnaire.
    panel_loinc: str
    #: The LOINC code of the total score.
    total_loinc: str
    #: What a FHIR QuestionnaireResponse.questionnaire points at: LOINC's own Questionnaire for the panel
    #: (http://loinc.org/q/<panel>, the canonical URL of the Questionnaire that LOINC publishes on its FHIR server).
    questionnaire_url: str
    #: Where the instrument and its severity bands were published.
    citation: str

    @property
    def item_count(self) -> int:
        return len(self.items)

    @property
    def max_total(self) -> int:
        return sum(max(answer.value for answer in item.answers) for item in self.items)

    @property
    def total_link_id(self) -> str:
        return f"/{self.total_loinc}"


STEM = _l("Over the last 2 weeks, how often have you been bothered by any of the following problems?")
NOTICE = _l(
    "Developed by Drs. Robert L. Spitzer, Janet B.W. Williams, Kurt Kroenke and colleagues, with an educational grant "
    "from Pfizer Inc. No permission required to reproduce, translate, display or distribute."
)

# LOINC answer list LL358-3 (Not at all / Several days / More than half the days / Nearly every day), scored 0-3.
NOT_AT_ALL = Answer(0, _l("Not at all"), "LA6568-5", "Not at all")
SEVERAL_DAYS = Answer(1, _l("Several days"), "LA6569-3", "Several days")
MORE_THAN_HALF = Answer(2, _l("More than half the days"), "LA6570-1", "More than half the days")
NEARLY_EVERY_DAY = Answer(3, _l("Nearly every day"), "LA6571-9", "Nearly every day")
FREQUENCY = (NOT_AT_ALL, SEVERAL_DAYS, MORE_THAN_HALF, NEARLY_EVERY_DAY)
# LOINC binds GAD-7 item 2 (68509-9, a term shared with other panels) to a list whose score-2 answer is LA18938-3
# "More days than not" (LOINC panel 69737-5 and its LHC-Forms Questionnaire); the form still reads "More than half
# the days", so the person sees the published wording and the record carries the code LOINC expects for that item.
FREQUENCY_68509_9 = (
    NOT_AT_ALL,
    SEVERAL_DAYS,
    Answer(2, MORE_THAN_HALF.text, "LA18938-3", "More days than not"),
    NEARLY_EVERY_DAY,
)

# LOINC answer list LL359-1, in the form's order; note LA6575-0 is "Very difficult" and LA6574-3 "Extremely difficult".
DIFFICULTY_ANSWERS = (
    Answer(0, _l("Not difficult at all"), "LA6572-7", "Not difficult at all"),
    Answer(1, _l("Somewhat difficult"), "LA6573-5", "Somewhat difficult"),
    Answer(2, _l("Very difficult"), "LA6575-0", "Very difficult"),
    Answer(3, _l("Extremely difficult"), "LA6574-3", "Extremely difficult"),
)
# Both forms end with the same question, which LOINC codes 69722-7 (answer list LL359-1) in the PHQ-9 panel 44249-1 and
# the PHQ-SADS panel 69729-2. LOINC's GAD-7 panel 69737-5 lists no difficulty question, so the GAD-7 uses 69722-7 too
# (69726-8, sometimes given for it, is "Discharge instructions Narrative").
DIFFICULTY = DifficultyQuestion(
    _l(
        "If you checked off any problems, how difficult have these problems made it for you to do your work, take "
        "care of things at home, or get along with other people?"
    ),
    "69722-7",
    DIFFICULTY_ANSWERS,
)

PHQ9 = InstrumentDefinition(
    instrument=Instrument.PHQ9,
    code="PHQ-9",
    title=_l("Patient Health Questionnaire (PHQ-9)"),
    stem=STEM,
    items=(
        Item(1, _l("Little interest or pleasure in doing things"), "44250-9", FREQUENCY),
        Item(2, _l("Feeling down, depressed, or hopeless"), "44255-8", FREQUENCY),
        Item(3, _l("Trouble falling or staying asleep, or sleeping too much"), "44259-0", FREQUENCY),
        Item(4, _l("Feeling tired or having little energy"), "44254-1", FREQUENCY),
        Item(5, _l("Poor appetite or overeating"), "44251-7", FREQUENCY),
        Item(
            6,
            _l("Feeling bad about yourself — or that you are a failure or have let yourself or your family down"),
            "44258-2",
            FREQUENCY,
        ),
        Item(
            7,
            _l("Trouble concentrating on things, such as reading the newspaper or watching television"),
            "44252-5",
            FREQUENCY,
        ),
        Item(
            8,
            _l(
                "Moving or speaking so slowly that other people could have noticed? Or the opposite — being so "
                "fidgety or restless that you have been moving around a lot more than usual"
            ),
            "44253-3",
            FREQUENCY,
        ),
        Item(
            9,
            _l("Thoughts that you would be better off dead, or of hurting yourself in some way"),
            "44260-8",
            FREQUENCY,
        ),
    ),
    difficulty=DIFFICULTY,
    notice=NOTICE,
    panel_loinc="44249-1",
    total_loinc="44261-6",
    questionnaire_url="http://loinc.org/q/44249-1",
    citation="Kroenke K, Spitzer RL, Williams JBW. J Gen Intern Med 2001;16:606-613.",
)

GAD7 = InstrumentDefinition(
    instrument=Instrument.GAD7,
    code="GAD-7",
    title=_l("Generalized Anxiety Disorder scale (GAD-7)"),
    stem=STEM,
    items=(
        Item(1, _l("Feeling nervous, anxious, or on edge"), "69725-0", FREQUENCY),
        Item(2, _l("Not being able to stop or control worrying"), "68509-9", FREQUENCY_68509_9),
        Item(3, _l("Worrying too much about different things"), "69733-4", FREQUENCY),
        Item(4, _l("Trouble relaxing"), "69734-2", FREQUENCY),
        Item(5, _l("Being so restless that it is hard to sit still"), "69735-9", FREQUENCY),
        Item(6, _l("Becoming easily annoyed or irritable"), "69689-8", FREQUENCY),
        Item(7, _l("Feeling afraid, as if something awful might happen"), "69736-7", FREQUENCY),
    ),
    difficulty=DIFFICULTY,
    notice=NOTICE,
    panel_loinc="69737-5",
    total_loinc="70274-6",
    questionnaire_url="http://loinc.org/q/69737-5",
    citation="Spitzer RL, Kroenke K, Williams JBW, Löwe B. Arch Intern Med 2006;166:1092-1097.",
)

DEFINITIONS = {Instrument.PHQ9: PHQ9, Instrument.GAD7: GAD7}

#: PHQ-9 item 9: any answer but "Not at all" raises a safety alert (CLINICAL.md, safety rule 1).
SAFETY_ITEM = PHQ9.items[8]


def definition(instrument: Instrument | str) -> InstrumentDefinition:
    """The definition of an instrument, by member or value ("phq9"); ValueError for anything else."""
    return DEFINITIONS[Instrument(instrument)]
