"""Writes and checks for second factors: authenticator-app codes (TOTP), passkeys (WebAuthn) and recovery codes.

Like every service, these validate, flush and audit; the request boundary commits.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import json
import secrets
from urllib.parse import urlsplit

import pyotp
import segno
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import delete, func, select, update
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import options_to_json_dict
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app import audit
from app.accounts import services  # which imports app.realtime, which imports this module: a module import
from app.accounts.models import (
    Organisation,
    Passkey,
    RecoveryCode,
    RoleName,
    SecondFactorMethod,
    TotpAuthenticator,
    User,
)
from app.extensions import db
from app.links import external_url
from app.models_base import utcnow
from app.notifications.email import queue_email

STAFF = frozenset({RoleName.ADMIN, RoleName.FACILITATOR})
RECOVERY_CODE_COUNT = 10
TOTP_STEP_SECONDS = 30
#: Codes of the step before and after the current one are accepted too (clocks drift; typing takes time).
TOTP_WINDOW = 1
ISSUER = "Momentum"


# What an account has --------------------------------------------------------------------------------------------------


def confirmed_totp(user: User) -> TotpAuthenticator | None:
    return db.session.scalar(select(TotpAuthenticator).where(TotpAuthenticator.user_id == user.id,
                                                             TotpAuthenticator.confirmed_at.is_not(None)))


def passkeys_of(user: User) -> list[Passkey]:
    return list(db.session.scalars(select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.created_at)))


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(select(func.count(RecoveryCode.id)).where(RecoveryCode.user_id == user.id,
                                                                       RecoveryCode.used_at.is_(None)))


def has_second_factor(user: User) -> bool:
    """A confirmed authenticator app or a passkey: recovery codes stand in for one, they are not one of their own."""
    return confirmed_totp(user) is not None or db.session.scalar(
        select(func.count(Passkey.id)).where(Passkey.user_id == user.id)) > 0


def staff_must_use_second_factor(organisation: Organisation | None) -> bool:
    if organisation is None:
        return False
    if organisation.staff_second_factor is None:
        return current_app.config["SECOND_FACTOR_FOR_STAFF"]
    return organisation.staff_second_factor


def must_enrol(user: User) -> bool:
    """Staff of an organisation that asks for a second factor, who have none yet."""
    return (user.role in STAFF and staff_must_use_second_factor(user.organisation)
            and not has_second_factor(user))


def login_has_both_factors(user: User) -> bool:
    """Whether this sign-in may do what needs both factors (create API tokens, change the factors themselves): an
    account without a second factor has only its password to give."""
    login = user.login_session
    if login is None:
        return False
    return login.second_factor is not None or not has_second_factor(user)


def mark_login(user: User, method: SecondFactorMethod) -> None:
    """This sign-in has now shown a second factor (set up on the spot by someone signed in with a password)."""
    if user.login_session is not None and user.login_session.second_factor is None:
        user.login_session.second_factor = method.value
        db.session.flush()


# Authenticator apps (TOTP, RFC 6238) ---------------------------------------------------------------------------------


def start_totp(user: User) -> TotpAuthenticator:
    """A new secret waiting for its first code; a secret set up before and never confirmed is replaced."""
    if confirmed_totp(user) is not None:
        raise services.AccountError(_("You already use an authenticator app. Remove it first to set up another."))
    db.session.execute(delete(TotpAuthenticator).where(TotpAuthenticator.user_id == user.id))
    totp = TotpAuthenticator(user_id=user.id, secret=pyotp.random_base32())
    db.session.add(totp)
    db.session.flush()
    return totp


def pending_totp(user: User) -> TotpAuthenticator | None:
    return db.session.scalar(select(TotpAuthenticator).where(TotpAuthenticator.user_id == user.id,
                                                             TotpAuthenticator.confirmed_at.is_(None)))


def totp_uri(totp: TotpAuthenticator) -> str:
    return pyotp.TOTP(totp.secret).provisioning_uri(name=totp.user.email, issuer_name=ISSUER)


def totp_qr_svg(totp: TotpAuthenticator, title: str) -> Markup:
    """The setup link as an inline SVG QR code: no image request, no script, nothing the CSP must allow."""
    svg = segno.make(totp_uri(totp), error="m").svg_inline(scale=5, border=4, dark="#000", light="#fff", title=title)
    return Markup(svg)


def _current_step() -> int:
    return int(utcnow().timestamp()) // TOTP_STEP_SECONDS


def _accepted_step(totp: TotpAuthenticator, code: str) -> int | None:
    """The time step whose code this is, if it is within the window and later than the last one accepted."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    generator = pyotp.TOTP(totp.secret)
    now = _current_step()
    for step in range(now - TOTP_WINDOW, now + TOTP_WINDOW + 1):
        if step > totp.last_step and hmac.compare_digest(generator.at(step * TOTP_STEP_SECONDS), code):
            return step
    return None


def _use_totp(totp: TotpAuthenticator, step: int) -> None:
    # Conditional, so that two requests carrying the same code at once cannot both pass.
    claimed = db.session.execute(update(TotpAuthenticator).where(
        TotpAuthenticator.id == totp.id, TotpAuthenticator.last_step < step).values(
        last_step=step, last_used_at=utcnow())).rowcount
    db.session.refresh(totp)
    if claimed != 1:
        raise services.AccountError(_("That code was used already. Wait for the next one."), "code")


def confirm_totp(user: User, code: str) -> TotpAuthenticator:
    totp = pending_totp(user)
    if totp is None:
        raise services.AccountError(_("Start setting up the authenticator app again."))
    step = _accepted_step(totp, code)
    if step is None:
        audit.record("second_factor_enrol", actor=user, subject=user, outcome="failure", target=f"totp:{totp.id}",
                     details={"method": SecondFactorMethod.TOTP.value})
        raise services.AccountError(
            _("That code does not match. Check the time on your phone and try the newest code."), "code")
    _use_totp(totp, step)
    totp.confirmed_at = utcnow()
    db.session.flush()
    audit.record("second_factor_enrol", actor=user, subject=user, target=f"totp:{totp.id}",
                 details={"method": SecondFactorMethod.TOTP.value})
    mark_login(user, SecondFactorMethod.TOTP)
    return totp


def verify_totp(user: User, code: str) -> bool:
    """Sign-in with a code from the app: each code once, within one step either side of now."""
    totp = confirmed_totp(user)
    step = _accepted_step(totp, code) if totp is not None else None
    if step is not None:
        try:
            _use_totp(totp, step)
        except services.AccountError:
            step = None
    _record_use(user, SecondFactorMethod.TOTP, step is not None, f"totp:{totp.id}" if totp else "")
    return step is not None


def remove_totp(by: User, user: User) -> None:
    totp = confirmed_totp(user)
    if totp is None:
        return
    _refuse_removing_the_last(user, keeping=len(passkeys_of(user)))
    db.session.delete(totp)
    db.session.flush()
    audit.record("second_factor_remove", actor=by, subject=user, target=f"totp:{totp.id}",
                 details={"method": SecondFactorMethod.TOTP.value})


def _refuse_removing_the_last(user: User, keeping: int) -> None:
    if keeping == 0 and user.role in STAFF and staff_must_use_second_factor(user.organisation):
        raise services.AccountError(_("Your organisation asks staff for a second factor: add another before removing "
                             "this one."))


# Recovery codes -------------------------------------------------------------------------------------------------------


def normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def new_recovery_codes(user: User) -> list[str]:
    """Ten new codes, shown once; those made before stop working. 80 random bits each, so a hash is enough."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _n in range(RECOVERY_CODE_COUNT):
        raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
        codes.append("-".join(raw[i:i + 4] for i in range(0, 16, 4)))
        db.session.add(RecoveryCode(user_id=user.id, code_hash=services.hash_token(normalise_recovery_code(raw))))
    db.session.flush()
    audit.record("recovery_codes_create", actor=user, subject=user, details={"count": RECOVERY_CODE_COUNT})
    return codes


def use_recovery_code(user: User, code: str) -> bool:
    hashed = services.hash_token(normalise_recovery_code(code))
    # Claimed with a conditional update: a code works once, even for two requests at the same moment.
    used = db.session.execute(update(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == hashed, RecoveryCode.used_at.is_(None)
    ).values(used_at=utcnow())).rowcount == 1
    audit.record("recovery_code_use", actor=user if used else None, subject=user,
                 outcome="success" if used else "failure", organisation_id=_organisation_id(user),
                 details={"left": recovery_codes_left(user)} if used else None)
    return used


# Passkeys (WebAuthn) --------------------------------------------------------------------------------------------------


def relying_party() -> tuple[str, str] | None:
    """The relying party id and origin passkeys are bound to: from WEBAUTHN_RP_ID and WEBAUTHN_ORIGIN, else from
    BASE_URL, never from the request (a Host header is the client's to choose). None where the host cannot be one
    (browsers take a domain name, not an address like 127.0.0.1): passkeys are then not offered."""
    config = current_app.config
    base = urlsplit(config["BASE_URL"])
    origin = config.get("WEBAUTHN_ORIGIN") or f"{base.scheme}://{base.netloc}"
    rp_id = config.get("WEBAUTHN_RP_ID") or urlsplit(origin).hostname
    if not rp_id or _is_address(rp_id):
        return None
    return rp_id, origin


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _transports(names) -> list[AuthenticatorTransport]:
    known = {transport.value for transport in AuthenticatorTransport}
    return [AuthenticatorTransport(name) for name in names or [] if name in known]


def _descriptors(user: User) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=passkey.credential_id, transports=_transports(passkey.transports))
            for passkey in passkeys_of(user)]


def registration_options(user: User) -> tuple[dict, str]:
    """The options for navigator.credentials.create() (JSON-ready), and the challenge to keep for the answer."""
    rp_id, _origin = relying_party()
    options = generate_registration_options(
        rp_id=rp_id, rp_name=ISSUER, user_name=user.email, user_display_name=user.display_name,
        user_id=hmac.digest(current_app.config["SECRET_KEY"].encode(), f"webauthn-user:{user.id}".encode(), "sha256"),
        exclude_credentials=_descriptors(user),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.PREFERRED),
    )
    return options_to_json_dict(options), _b64url(options.challenge)


def register_passkey(user: User, name: str, credential: str, challenge: str | None) -> Passkey:
    rp_id, origin = relying_party()
    try:
        if not challenge:
            raise WebAuthnException("no challenge")
        verified = verify_registration_response(
            credential=credential, expected_challenge=base64.urlsafe_b64decode(challenge + "=="),
            expected_rp_id=rp_id, expected_origin=origin)
    except (WebAuthnException, ValueError) as error:
        audit.record("second_factor_enrol", actor=user, subject=user, outcome="failure",
                     details={"method": SecondFactorMethod.PASSKEY.value, "reason": str(error)[:200]})
        raise services.AccountError(_("The passkey could not be checked. Try again.")) from None
    if db.session.scalar(select(Passkey).where(Passkey.credential_id == verified.credential_id)):
        raise services.AccountError(_("That passkey is registered already."))
    passkey = Passkey(user_id=user.id, name=name.strip() or _("Passkey"), credential_id=verified.credential_id,
                      public_key=verified.credential_public_key, sign_count=verified.sign_count,
                      transports=_transports_from(credential))
    db.session.add(passkey)
    db.session.flush()
    audit.record("second_factor_enrol", actor=user, subject=user, target=f"passkey:{passkey.id}",
                 details={"method": SecondFactorMethod.PASSKEY.value})
    mark_login(user, SecondFactorMethod.PASSKEY)
    return passkey


def _transports_from(credential: str) -> list[str]:
    """The transports the browser reported (getTransports()), if it did; they only help the browser later."""
    try:
        names = json.loads(credential).get("response", {}).get("transports") or []
    except (ValueError, AttributeError):
        return []
    return [transport.value for transport in _transports(names if isinstance(names, list) else [])]


def authentication_options(user: User) -> tuple[dict, str]:
    rp_id, _origin = relying_party()
    options = generate_authentication_options(rp_id=rp_id, allow_credentials=_descriptors(user),
                                              user_verification=UserVerificationRequirement.PREFERRED)
    return options_to_json_dict(options), _b64url(options.challenge)


def verify_passkey(user: User, credential: str, challenge: str | None) -> bool:
    """Sign-in with one of the account's passkeys, against the challenge this browser was given."""
    rp_id, origin = relying_party()
    passkey = None
    try:
        if not challenge:
            raise WebAuthnException("no challenge")
        raw_id = _credential_raw_id(credential)
        passkey = db.session.scalar(select(Passkey).where(Passkey.user_id == user.id,
                                                          Passkey.credential_id == raw_id))
        if passkey is None:
            raise WebAuthnException("not one of this account's passkeys")
        verified = verify_authentication_response(
            credential=credential, expected_challenge=base64.urlsafe_b64decode(challenge + "=="),
            expected_rp_id=rp_id, expected_origin=origin, credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count)
    except (WebAuthnException, ValueError):
        _record_use(user, SecondFactorMethod.PASSKEY, False, f"passkey:{passkey.id}" if passkey else "")
        return False
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = utcnow()
    db.session.flush()
    _record_use(user, SecondFactorMethod.PASSKEY, True, f"passkey:{passkey.id}")
    return True


def _credential_raw_id(credential: str) -> bytes:
    try:
        raw_id = json.loads(credential).get("rawId")
    except (ValueError, AttributeError):
        raw_id = None
    if not isinstance(raw_id, str):
        raise WebAuthnException("no rawId")
    return base64.urlsafe_b64decode(raw_id + "===")


def passkey_of(user: User, passkey_id: int) -> Passkey | None:
    return db.session.scalar(select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user.id))


def remove_passkey(by: User, passkey: Passkey) -> None:
    user = passkey.user
    _refuse_removing_the_last(user, keeping=len(passkeys_of(user)) - 1 + (confirmed_totp(user) is not None))
    db.session.delete(passkey)
    db.session.flush()
    audit.record("second_factor_remove", actor=by, subject=user, target=f"passkey:{passkey.id}",
                 details={"method": SecondFactorMethod.PASSKEY.value})


# Signing in and resets ------------------------------------------------------------------------------------------------


def _organisation_id(user: User) -> int | None:
    return user.roles[0].organisation_id if user.roles else None


def _record_use(user: User, method: SecondFactorMethod, ok: bool, target: str) -> None:
    audit.record("second_factor_use", actor=user if ok else None, subject=user, target=target,
                 outcome="success" if ok else "failure", organisation_id=_organisation_id(user),
                 details={"method": method.value})


def reset_second_factors(by: User, account: User) -> None:
    """An admin clears a staff member's factors (a lost phone): every sign-in and token of theirs ends, they set up a
    new factor at their next sign-in, and they are told by email, so that a reset they did not ask for shows."""
    removed = {
        "totp": db.session.execute(delete(TotpAuthenticator).where(TotpAuthenticator.user_id == account.id)).rowcount,
        "passkeys": db.session.execute(delete(Passkey).where(Passkey.user_id == account.id)).rowcount,
        "recovery_codes": db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == account.id)).rowcount,
    }
    services.end_all_sessions(account, "second_factor_reset")
    link = external_url("accounts.login")
    with force_locale(account.locale):
        subject = _("Your Momentum sign-in was reset")
        body = _(
            "%(name)s, an admin of %(organisation)s, removed the second factors of your Momentum account "
            "(authenticator app, passkeys and recovery codes), and signed you out everywhere.\n\n"
            "Sign in with your password to set up a new one:\n%(link)s\n\n"
            "If you did not ask for this, tell your organisation at once.",
            name=by.display_name, organisation=by.organisation.name if by.organisation else "", link=link,
        )
    queue_email(account.email, subject, body)
    audit.record("second_factor_reset", actor=by, subject=account, target=f"user:{account.id}", details=removed)
