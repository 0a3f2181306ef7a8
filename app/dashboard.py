"""Home-page panels: each domain registers what it adds to a role's home page, in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Panel:
    role: str
    template: str
    context: Callable[[object], dict]
    order: int = 100


PANELS: list[Panel] = []


def register_panel(role: str, template: str, context: Callable[[object], dict], order: int = 100) -> None:
    if not any(p.role == role and p.template == template for p in PANELS):
        PANELS.append(Panel(role, template, context, order))


def panels_for(user) -> list[tuple[str, dict]]:
    role = user.role.value if user.role else None
    return [(p.template, p.context(user)) for p in sorted(PANELS, key=lambda p: p.order) if p.role == role]
