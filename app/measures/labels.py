"""Words for severity bands, as a member and their facilitator read them."""

from flask_babel import lazy_gettext as _l

from app.measures.scoring import Severity

SEVERITY_LABELS = {
    Severity.MINIMAL: _l("Minimal"),
    Severity.MILD: _l("Mild"),
    Severity.MODERATE: _l("Moderate"),
    Severity.MODERATELY_SEVERE: _l("Moderately severe"),
    Severity.SEVERE: _l("Severe"),
}


def severity_label(severity) -> str:
    return str(SEVERITY_LABELS[Severity(severity)])
