"""Supporters and consent: patient-scoped, time-limited, revocable sharing, and the access log the patient reads."""

from flask import Blueprint

bp = Blueprint("supporters", __name__)
