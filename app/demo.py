"""Demo data for trying Momentum: one organisation and an account for each role (see the README)."""

from __future__ import annotations

from sqlalchemy import select

from app.accounts import services
from app.accounts.models import Organisation, Role, RoleName, User
from app.extensions import db
from app.groups.demo import demo_group
from app.measures.demo import demo_measures
from app.peers.demo import demo_circle, demo_pair
from app.progress.demo import demo_goals
from app.rooms.demo import demo_checkins
from app.supporters.demo import demo_consent

DEMO_PASSWORD = "momentum-demo"
DEMO_SLUG = "demo-clinic"
#: The demo clinic's crisis resources: clearly an example, so that every page shows where they appear and nobody
#: mistakes them for a real service.
DEMO_CRISIS_RESOURCES = {
    "crisis_name": "Example Crisis Line (demo only, not a real service)",
    "crisis_phone": "01632 960 000",  # Ofcom keeps 01632 960xxx for drama: it rings no one
    "crisis_url": "https://example.org/crisis-help",
    "crisis_note": "Emergency services: 112 (Europe) / 911 (North America). The line above is an example: an admin "
                   "replaces it with the clinic's own on the Crisis resources page.",
}
DEMO_ACCOUNTS = [
    ("admin@example.org", "Robin (admin)", RoleName.ADMIN, "Europe/London"),
    ("facilitator@example.org", "Dr. Morgan Lee", RoleName.FACILITATOR, "Europe/Berlin"),
    ("alex@example.org", "Alex", RoleName.PATIENT, "Europe/Berlin"),
    ("sam@example.org", "Sam", RoleName.PATIENT, "America/New_York"),
    ("jordan@example.org", "Jordan", RoleName.SUPPORTER, "Europe/Berlin"),
]


def load_demo() -> dict[str, User]:
    """Create what is missing and leave what exists: running it twice changes nothing."""
    organisation = db.session.scalar(select(Organisation).where(Organisation.slug == DEMO_SLUG))
    if organisation is None:
        organisation = services.create_organisation("Momentum Demo Clinic", DEMO_SLUG)
    if not organisation.has_crisis_resources():
        for name, value in DEMO_CRISIS_RESOURCES.items():
            setattr(organisation, name, value)
    accounts = {}
    for email, name, role, timezone in DEMO_ACCOUNTS:
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            user = services.create_account(email, DEMO_PASSWORD, name, organisation, role, timezone=timezone)
        elif user.role_in(organisation.id) is None:
            user.roles.append(Role(organisation_id=organisation.id, name=role))
        accounts[email] = user
    db.session.flush()
    # Each domain's part, in the order they build on each other: the group (with a session on now), check-ins, then
    # the sharing, then goals a supporter is asked about, then Alex and Sam's peer pair (sharing one of those goals),
    # then twelve weeks of questionnaires and a check-in circle to come.
    demo_group(organisation, accounts)
    demo_checkins(organisation, accounts)
    demo_consent(organisation, accounts)
    demo_goals(organisation, accounts)
    demo_pair(organisation, accounts)
    demo_measures(organisation, accounts)
    demo_circle(organisation)
    return accounts
