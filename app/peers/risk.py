"""Risk phrases: words in a peer check-in or message that may mean someone is thinking of harming themselves. A match
never blocks what was written: the writer is shown the crisis resources and the group's facilitators are alerted."""

from __future__ import annotations

import re
import unicodedata

from app.accounts.models import Organisation

#: Used when the organisation keeps no list of its own: English and Spanish, matched without case or accents.
DEFAULT_RISK_PHRASES = (
    "kill myself", "end my life", "end it all", "want to die", "better off dead", "suicide", "suicidal",
    "hurt myself", "harm myself", "no reason to live", "can't go on", "cannot go on", "take my own life",
    "matarme", "quitarme la vida", "acabar con todo", "quiero morir", "me quiero morir", "mejor muerto", "mejor muerta",
    "suicidio", "suicidarme", "hacerme dano", "no quiero vivir", "no puedo mas", "no tengo razon para vivir",
)


def _plain(text: str) -> str:
    """Lower case, accents gone, runs of spaces as one: "No puedo MÁS" reads as "no puedo mas"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("’", "'"))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", stripped).strip()


def phrases_for(organisation: Organisation | None) -> list[str]:
    """The organisation's list (one phrase a line) or, when it keeps none, the default list."""
    own = organisation.risk_phrases if organisation is not None else None
    if own is None:
        return list(DEFAULT_RISK_PHRASES)
    return [line.strip() for line in own.splitlines() if line.strip()]


def check_risk(organisation: Organisation | None, text: str) -> bool:
    """Whether the text holds one of the organisation's risk phrases, as whole words."""
    plain = _plain(text or "")
    if not plain:
        return False
    for phrase in phrases_for(organisation):
        wanted = _plain(phrase)
        if wanted and re.search(r"(?<!\w)" + re.escape(wanted) + r"(?!\w)", plain):
            return True
    return False
