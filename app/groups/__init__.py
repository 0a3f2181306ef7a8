"""Therapy groups: groups and enrolment, schedules and sessions, attendance, agendas, notes and calendars."""

from flask import Blueprint

bp = Blueprint("groups", __name__)
