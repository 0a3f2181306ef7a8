"""What every form refuses: text no page, feed or email header could carry back, and dates no time zone can move.
One-line fields take no line break or control character; longer texts take line breaks and tabs but no other control
character (NUL included, which PostgreSQL cannot store); dates fall between 1900 and 2200."""

from __future__ import annotations

import re
from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DateTimeField, Form, HiddenField, PasswordField, StringField, TextAreaField
from wtforms.validators import ValidationError

#: Line breaks (Unicode's too) and control characters: C0, DEL and C1.
LINE_BREAKS_AND_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Half of a surrogate pair on its own: JSON's "\\ud800" escape decodes to one, and no UTF-8 encoder takes it.
UNPAIRED_SURROGATE = re.compile(r"[\ud800-\udfff]")
#: Control characters other than the line breaks and tab a longer text may hold.
CONTROLS_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


#: The years a date may fall in: wide enough for any birth date or plan, narrow enough that moving a date to any
#: time zone stays within what Python's dates can hold (year 1 minus a day is an OverflowError).
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200


def in_date_range(value: date) -> bool:
    """Dates and datetimes alike (a datetime is a date)."""
    return EARLIEST_YEAR <= value.year <= LATEST_YEAR


def is_one_line(value: str) -> bool:
    return not LINE_BREAKS_AND_CONTROLS.search(value)


def one_line(value: str) -> str:
    """`value` with each run of line breaks and control characters made one space: for writers (a calendar's name,
    an email's subject) that must never fail on what an older version of the app let in."""
    return LINE_BREAKS_AND_CONTROLS.sub(" ", value)


def _one_line(form, field) -> None:
    if isinstance(field.data, str) and not is_one_line(field.data):
        raise ValidationError(_l("Keep this on one line, without special characters."))


def _plain_text(form, field) -> None:
    if isinstance(field.data, str) and CONTROLS_IN_TEXT.search(field.data):
        raise ValidationError(_l("This field contains a character that is not allowed."))


def _date_in_range(form, field) -> None:
    if isinstance(field.data, date) and not in_date_range(field.data):  # a TimeField is a DateTimeField too
        raise ValidationError(_l("Choose a date between %(first)d and %(last)d.", first=EARLIEST_YEAR,
                                 last=LATEST_YEAR))


def input_check(field) -> object | None:
    """The check a field's input gets: one line for text inputs, plain text for text areas, a sane year for dates;
    passwords are taken as typed, and hidden fields carry what the app itself wrote."""
    if isinstance(field, (DateField, DateTimeField)):
        return _date_in_range
    if isinstance(field, TextAreaField):
        return _plain_text
    if isinstance(field, StringField) and not isinstance(field, (PasswordField, HiddenField)):
        return _one_line
    return None


class InputChecks:
    """Adds each field's check to the validators it runs (subforms of a FieldList included)."""

    def validate(self, extra_validators=None):
        extra = dict(extra_validators or {})
        for name, field in self._fields.items():
            check = input_check(field)
            if check is not None:
                extra[name] = [*extra.get(name, []), check]
        return super().validate(extra)


class MomentumForm(InputChecks, FlaskForm):
    """Every page form's base."""

    class Meta:
        def render_field(self, field, render_kw):
            # A page may hold several forms, each with its token: an id on each would be the same id twice.
            if field.type == "CSRFTokenField":
                render_kw = {**render_kw, "id": False}
            return super().render_field(field, render_kw)


class MomentumSubForm(InputChecks, Form):
    """The base of a form repeated inside another (a row of the attendance sheet)."""
