"""The questionnaire form: one set of four radio answers per item, the unscored difficulty question, and two ways to
send it ("Save and finish later" keeps what is answered, "Finish" needs every item)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectChoice, SubmitField
from wtforms.validators import AnyOf, Optional

from app.input_checks import MomentumForm
from app.measures.instruments import InstrumentDefinition
from app.measures.scoring import ANSWER_VALUES

CHOOSE_ONE = _l("Choose one of the four answers.")


def item_field_name(number: int) -> str:
    return f"item_{number}"


def _answer_field(label, answers) -> RadioField:
    # The answer must be one of the four (0-3); a missing one is fine until "Finish" (see AnswerForm.validate).
    return RadioField(
        label,
        choices=[SelectChoice(answer.value, answer.text) for answer in answers],
        coerce=int,
        validate_choice=False,
        validators=[Optional(), AnyOf(list(ANSWER_VALUES), message=CHOOSE_ONE)],
    )


class AnswerForm(MomentumForm):
    """Built per instrument by `answer_form`; `finishing` says which button was pressed."""

    definition: InstrumentDefinition
    #: The answers saved before, one per item (None where not answered): "Finish" needs each item in one or the other.
    stored: list
    save = SubmitField(_l("Save and finish later"))
    finish = SubmitField(_l("Finish"))

    @property
    def finishing(self) -> bool:
        return bool(self.finish.data)

    def item_fields(self) -> list:
        return [self[item_field_name(item.number)] for item in self.definition.items]

    def answers(self) -> list[int | None]:
        return [field.data for field in self.item_fields()]

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.finishing:
            stored = list(self.stored) + [None] * len(self.definition.items)
            for index, field in enumerate(self.item_fields()):
                if field.data is None and stored[index] is None and not field.errors:
                    field.errors = [*field.errors, _l("Answer this question to finish, or save and finish later.")]
                    valid = False
        return valid


def answer_form(definition: InstrumentDefinition, stored: list | None = None, **kwargs) -> AnswerForm:
    """The form for one instrument; `stored` holds the answers saved so far (shown checked when nothing is posted)."""
    fields = {item_field_name(item.number): _answer_field(item.text, item.answers) for item in definition.items}
    fields["difficulty"] = _answer_field(definition.difficulty.text, definition.difficulty.answers)
    form_class = type(f"{definition.code.replace('-', '')}Form", (AnswerForm,), {"definition": definition, **fields})
    form = form_class(**kwargs)
    form.stored = list(stored or [])
    return form
