"""Progress: goals and small wins, and the thoughts a patient asks their supporters for."""

from flask import Blueprint

bp = Blueprint("progress", __name__)
