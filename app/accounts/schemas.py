"""API schemas for accounts."""

from marshmallow import fields, validate

from app.accounts.models import RoleName
from app.api_base import Line, Schema, Text


class TokenRequestSchema(Schema):
    email = Line(required=True, validate=validate.Length(min=3, max=254))
    password = Text(required=True, validate=validate.Length(min=1, max=128), load_only=True)
    name = Line(load_default="API token", validate=validate.Length(max=100))
    totp = Text(load_only=True, validate=validate.Length(max=12), metadata={
        "description": "A current code from the account's authenticator app. An account with a second factor sends "
                       "this or `recovery_code`; without either it gets 401 with the code `second_factor_required`."})
    recovery_code = Text(load_only=True, validate=validate.Length(max=40), metadata={
        "description": "One of the account's unused recovery codes, instead of `totp` (it is used up)."})


class TokenSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class NewTokenSchema(TokenSchema):
    token = fields.String(required=True, metadata={"description": "Send as `Authorization: Bearer <token>`. "
                                                                   "Shown only once."})


class OrganisationSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class MeSchema(Schema):
    id = fields.Integer(required=True)
    email = fields.String(required=True)
    display_name = fields.String(required=True)
    pronouns = fields.String(required=True)
    timezone = fields.String(required=True)
    locale = fields.String(required=True)
    low_energy = fields.Boolean(required=True)
    availability = fields.List(fields.String(), required=True, metadata={
        "description": "When the account is usually free, in its own time zone: slots such as \"tue-evening\" "
                       "(mon to sun, morning 08-12, afternoon 12-17, evening 17-22)"})
    role = fields.Enum(RoleName, by_value=True, allow_none=True)
    organisation = fields.Nested(OrganisationSchema, allow_none=True)
