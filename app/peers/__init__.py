"""Peer support: facilitator-proposed pairs of members of one group, their shared space (rhythm, peer check-ins,
reactions, shared goals, messages), and the safety around it (concerns, blocks, risk phrases)."""

from flask import Blueprint

bp = Blueprint("peers", __name__)
