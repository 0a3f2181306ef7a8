"""Demo data for sharing: Alex shares attendance, goals and small wins and a weekly mood summary with Jordan (who may
send encouragement), for 90 days."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models_base import utcnow
from app.supporters import services
from app.supporters.models import Consent, DataClass, SupporterLink


def demo_consent(organisation, accounts) -> None:
    alex, jordan = accounts["alex@example.org"], accounts["jordan@example.org"]
    link = db.session.scalar(select(SupporterLink).where(SupporterLink.patient_id == alex.id,
                                                         SupporterLink.supporter_id == jordan.id))
    if link is not None:
        return
    link = SupporterLink(organisation_id=organisation.id, patient_id=alex.id, supporter_id=jordan.id,
                         relationship_label="partner")
    db.session.add(link)
    db.session.flush()
    if db.session.scalar(select(Consent.id).where(Consent.patient_id == alex.id, Consent.supporter_id == jordan.id)):
        return
    services.grant_consent(alex, link, data_classes=[DataClass.SESSIONS.value, DataClass.GOALS.value,
                                                     DataClass.MOOD.value, DataClass.ENCOURAGEMENT.value],
                           data_from=utcnow() - timedelta(days=7))
