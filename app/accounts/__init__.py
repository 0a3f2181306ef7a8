"""Accounts: organisations, roles, invitations, sign-in, API tokens and the profile."""

from flask import Blueprint

bp = Blueprint("accounts", __name__)

from app.accounts import routes, security_routes, trail  # noqa: E402,F401
