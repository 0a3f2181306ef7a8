"""The pair chat's form: a message, with the key that makes a double submit count once."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.input_checks import MomentumForm
from app.peers.models import MESSAGE_MAX


class PairMessageForm(MomentumForm):
    client_id = HiddenField(validators=[DataRequired(), Length(min=8, max=64)])
    body = TextAreaField(_l("Your message"), validators=[DataRequired(message=_l("Write a message first.")),
                                                    Length(max=MESSAGE_MAX)])
