"""Translations: every user-facing string has a Spanish translation, and the Spanish catalog is complete and used.

A new string wrapped in `_()`, `gettext`, `_l`/`lazy_gettext` (Python) or `_()` (templates) fails
`test_every_message_in_the_source_is_in_the_spanish_catalog` until someone runs `make extract-messages`
and translates the new entries in app/translations/es/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from babel.messages.catalog import PYTHON_FORMAT, Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "babel.cfg"
TRANSLATIONS = ROOT / "app" / "translations"
SPANISH_PO = TRANSLATIONS / "es" / "LC_MESSAGES" / "messages.po"
SPANISH_MO = SPANISH_PO.with_suffix(".mo")

# The same keywords as the Makefile's `extract-messages` target: Babel's defaults (_, gettext, ngettext, pgettext, ...)
# plus Flask-Babel's lazy variants. Jinja templates are read by Jinja's own extractor with these keywords.
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "lazy_pgettext": ((1, "c"), 2),
}

FIX_HINT = ("Run `make extract-messages`, then translate the new entries in "
            "app/translations/es/LC_MESSAGES/messages.po (no fuzzy flags, keep every %(placeholder)s).")


def _read_spanish() -> Catalog:
    with SPANISH_PO.open("rb") as f:
        return read_po(f, locale="es")


def _msgid(message_id) -> str:
    return message_id[0] if isinstance(message_id, (tuple, list)) else message_id


def _extracted() -> dict[tuple[str | None, str], list[str]]:
    """(context, msgid) -> the files it occurs in, for the current source, with the project's mapping."""
    with MAPPING.open() as f:
        method_map, options_map = parse_mapping_cfg(f, filename=str(MAPPING))
    found: dict[tuple[str | None, str], list[str]] = {}
    for filename, _lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True
    ):
        msgid = _msgid(message)
        if msgid:
            found.setdefault((context, msgid), []).append(filename)
    return found


def _placeholders(text: str) -> list[tuple[str, str]]:
    """Python-format placeholders as (name, conversion); positional ones keep their order, named ones are sorted."""
    named, positional = [], []
    for name, _flags, conversion in PYTHON_FORMAT.findall(text):
        if conversion == "%":
            continue
        (named if name else positional).append((name, "d" if conversion in "di" else conversion))
    return positional + sorted(named)


def test_every_message_in_the_source_is_in_the_spanish_catalog():
    extracted = _extracted()
    assert extracted, "no messages were extracted: is babel.cfg still mapping app/**.py and app/templates?"
    catalog = _read_spanish()
    missing = sorted(
        (key for key in extracted if catalog.get(key[1], context=key[0]) is None),
        key=lambda key: (key[1], key[0] or ""),
    )
    assert not missing, (
        f"{len(missing)} user-facing message(s) are not in the Spanish catalog. {FIX_HINT}\n"
        + "\n".join(
            f"  {msgid!r}" + (f" (context {context!r})" if context else "") + f"  [{', '.join(sorted(set(extracted[(context, msgid)])))}]"
            for context, msgid in missing
        )
    )


def test_every_spanish_message_is_translated_and_keeps_its_placeholders():
    catalog = _read_spanish()
    assert not catalog.fuzzy, "the catalog header is marked fuzzy: remove `#, fuzzy` above the first msgid"
    messages = [m for m in catalog if m.id]
    assert messages, "the Spanish catalog is empty"
    problems = []
    for message in messages:
        ids = list(message.id) if message.pluralizable else [message.id]
        strings = list(message.string) if message.pluralizable else [message.string]
        label = repr(_msgid(message.id))
        if message.fuzzy:
            problems.append(f"{label}: marked fuzzy (check the translation, then remove the fuzzy flag)")
        if not all(s and s.strip() for s in strings):
            problems.append(f"{label}: no translation")
            continue
        if message.pluralizable and len(strings) != catalog.num_plurals:
            problems.append(f"{label}: {len(strings)} plural forms, Spanish has {catalog.num_plurals}")
        for index, translated in enumerate(strings):
            original = ids[min(index, len(ids) - 1)]
            if _placeholders(original) != _placeholders(translated):
                problems.append(f"{label}: placeholders {_placeholders(translated)} in the translation, "
                                f"{_placeholders(original)} in the original")
    for message, errors in catalog.check():
        for error in errors:
            problems.append(f"{_msgid(message.id)!r}: {error}")
    assert not problems, f"{len(problems)} problem(s) in {SPANISH_PO.relative_to(ROOT)}. {FIX_HINT}\n" + "\n".join(
        "  " + p for p in problems)


@pytest.fixture
def compiled_spanish(app):
    """The compiled catalog the app loads; `make test` compiles it first, this keeps the test self-sufficient."""
    if not SPANISH_MO.exists() or SPANISH_MO.stat().st_mtime < SPANISH_PO.stat().st_mtime:
        catalog = _read_spanish()
        fd, tmp = tempfile.mkstemp(dir=SPANISH_MO.parent, suffix=".mo.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                write_mo(f, catalog)
            os.chmod(tmp, 0o644)
            os.replace(tmp, SPANISH_MO)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    # Flask-Babel caches loaded catalogs on its (process-wide) domain: drop any loaded before the compilation.
    app.extensions["babel"].instance.domain_instance.cache.clear()
    return SPANISH_MO


def _heading(html: str) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert match, "the sign-in page has no h1"
    return match.group(1).strip()


def test_sign_in_page_is_in_english_by_default(compiled_spanish, client):
    response = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert _heading(html) == "Sign in"


def test_sign_in_page_follows_accept_language_spanish(compiled_spanish, client):
    response = client.get("/login", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="es">' in html
    assert _heading(html) == "Iniciar sesión"
    assert "¿Olvidaste tu contraseña?" in html
    assert "Contraseña" in html  # a form label, translated lazily in app/accounts/forms.py
    assert "Forgot your password?" not in html


def test_sign_in_page_follows_the_session_language(compiled_spanish, client):
    with client.session_transaction() as session:
        session["lang"] = "es"
    response = client.get("/login", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="es">' in html
    assert _heading(html) == "Iniciar sesión"
    assert "Saltar al contenido principal" in html


def test_a_socket_refusal_is_in_the_accounts_language(compiled_spanish, app, client, login, make_user):
    from app.accounts.models import RoleName
    from app.extensions import socketio

    patient = make_user(RoleName.PATIENT, locale="es")
    login(client, patient)
    sio = socketio.test_client(app, flask_test_client=client)
    try:
        answer = sio.emit("join_session", {"session_id": "3"}, callback=True)
    finally:
        sio.disconnect()

    assert answer == {"ok": False, "error": "invalid", "message": "session_id debe ser un número entero positivo."}
