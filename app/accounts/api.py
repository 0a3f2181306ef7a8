"""JSON API for accounts: bearer tokens and the signed-in account."""

from __future__ import annotations

from flask import abort
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app import audit, policy
from app.accounts import queries, second_factor, services
from app.accounts.models import ApiToken
from app.accounts.schemas import MeSchema, NewTokenSchema, TokenRequestSchema, TokenSchema
from app.api_base import ApiBlueprint, document_errors
from app.errors import json_error
from app.extensions import limiter

blp = ApiBlueprint("accounts_api", __name__, url_prefix="/api/v1", description="Accounts and authentication")


@blp.post("/auth/tokens")
@limiter.limit("10 per 15 minutes")
@blp.arguments(TokenRequestSchema)
@blp.response(201, NewTokenSchema)
@document_errors(blp, 400, 401, 403, 422, 429)
@blp.doc(security=[])
def create_token(data):
    """Exchange an email and password, and for an account with a second factor a `totp` or `recovery_code`, for a
    bearer token. Staff whose organisation asks for a second factor get 403 until they set one up."""
    user = services.authenticate(data["email"], data["password"])
    if user is None:
        audit.record("api_token_create", outcome="failure", details={"reason": "credentials"})
        abort(401)
    user.api_token = None
    # Answered here rather than by abort(), whose handler rolls back: a failed code's audit record must stay.
    if second_factor.must_enrol(user):
        audit.record("api_token_create", outcome="denied", subject=user, details={"reason": "no_second_factor"})
        return json_error(403, "second_factor_required", _(
            "Your organisation asks staff for a second factor: set one up on the Sign-in security page first."))
    if second_factor.has_second_factor(user) and not _second_factor_given(user, data):
        audit.record("api_token_create", outcome="failure", subject=user, details={"reason": "second_factor"})
        return json_error(401, "second_factor_required", _(
            "This account signs in with a second factor: send a current totp code or a recovery_code."))
    token, raw = services.create_api_token(user, data["name"])
    # The response schema dumps once; the raw value exists only now and is never stored.
    return {**{name: getattr(token, name) for name in TokenSchema().fields}, "token": raw}


def _second_factor_given(user, data: dict) -> bool:
    if data.get("totp"):
        return second_factor.verify_totp(user, data["totp"])
    if data.get("recovery_code"):
        return second_factor.use_recovery_code(user, data["recovery_code"])
    return False


@blp.get("/auth/tokens")
@login_required
@blp.response(200, TokenSchema(many=True))
@document_errors(blp, 401, 429)
def list_tokens():
    """The signed-in account's API tokens (never their values)."""
    return queries.tokens_of(current_user)


@blp.delete("/auth/tokens/<int:token_id>")
@login_required
@blp.response(204)
@document_errors(blp, 400, 401, 404, 429)
def revoke_token(token_id: int):
    """Revoke one of your tokens, at once."""
    token = queries.token_of(current_user, token_id) or policy.hidden(ApiToken, token_id)
    services.revoke_api_token(current_user, token)


@blp.get("/me")
@login_required
@blp.response(200, MeSchema)
@document_errors(blp, 401, 429)
def me():
    """The signed-in account, its role and organisation."""
    user = current_user
    organisation = user.organisation
    return {
        "id": user.id, "email": user.email, "display_name": user.display_name, "pronouns": user.pronouns,
        "timezone": user.timezone, "locale": user.locale, "low_energy": user.low_energy,
        "availability": list(user.availability or []), "role": user.role,
        "organisation": {"id": organisation.id, "name": organisation.name} if organisation else None,
    }
