"""JSON API for accounts: bearer tokens and the signed-in account."""

from __future__ import annotations

from flask import abort
from flask_login import current_user, login_required

from app import audit, policy
from app.accounts import queries, services
from app.accounts.models import ApiToken
from app.accounts.schemas import MeSchema, NewTokenSchema, TokenRequestSchema, TokenSchema
from app.api_base import ApiBlueprint, document_errors
from app.extensions import limiter

blp = ApiBlueprint("accounts_api", __name__, url_prefix="/api/v1", description="Accounts and authentication")


@blp.post("/auth/tokens")
@limiter.limit("10 per 15 minutes")
@blp.arguments(TokenRequestSchema)
@blp.response(201, NewTokenSchema)
@document_errors(blp, 400, 401, 422, 429)
@blp.doc(security=[])
def create_token(data):
    """Exchange an email and password for a bearer token."""
    user = services.authenticate(data["email"], data["password"])
    if user is None:
        audit.record("api_token_create", outcome="failure", details={"reason": "credentials"})
        abort(401)
    user.api_token = None
    token, raw = services.create_api_token(user, data["name"])
    # The response schema dumps once; the raw value exists only now and is never stored.
    return {**{name: getattr(token, name) for name in TokenSchema().fields}, "token": raw}


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
        "timezone": user.timezone, "locale": user.locale, "low_energy": user.low_energy, "role": user.role,
        "organisation": {"id": organisation.id, "name": organisation.name} if organisation else None,
    }
