"""Accounts: organisations, roles, invitations, sign-in, API tokens and the profile."""

from flask import Blueprint

bp = Blueprint("accounts", __name__)
