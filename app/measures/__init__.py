"""Measurement-based care: the PHQ-9 and GAD-7 on a schedule, scored and charted, item 9's safety rule, change that
means something, and outcomes per therapy group."""

from flask import Blueprint

bp = Blueprint("measures", __name__)
