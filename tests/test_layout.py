"""The shape of the code: dependencies point one way, imports sit at the top of their modules, and no module grows
past what one person reads in a sitting. Each test names what breaks the rule."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
#: The modules every domain builds on; they may read the domains' models and queries, never their pages.
PLATFORM = ("app.realtime", "app.api_base", "app.errors", "app.policy", "app.refusal", "app.signals", "app.web",
            "app.extensions", "app.audit", "app.input_checks", "app.links", "app.zones", "app.recurrence")
#: Where a domain's pages, API and socket events live: only the factory wires them in.
ENTRY_POINTS = ("routes", "security_routes", "trail", "session_pages", "api", "events")


def _modules() -> dict[str, tuple[ast.Module, list[str]]]:
    """Each module of app/ by dotted name: its syntax tree and its lines."""
    found = {}
    for path in sorted(APP.rglob("*.py")):
        name = ".".join(path.relative_to(APP.parent).with_suffix("").parts).removesuffix(".__init__")
        source = path.read_text()
        found[name] = (ast.parse(source, filename=str(path)), source.splitlines())
    return found


def _imported(module: str, node: ast.AST) -> list[str]:
    """Every module an import statement names (a `from package import module` names the module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            base = ".".join(module.split(".")[:-node.level] + ([base] if base else []))
        return [base] + [f"{base}.{alias.name}" for alias in node.names]
    return []


def _imports(tree: ast.Module, module: str) -> set[str]:
    return {name for node in ast.walk(tree) for name in _imported(module, node)}


MODULES = _modules()


def test_groups_never_imports_rooms():
    offenders = [name for name, (tree, _lines) in MODULES.items()
                 if name.startswith("app.groups") and any(i.startswith("app.rooms") for i in _imports(tree, name))]
    assert offenders == [], "groups sends a signal (app/signals.py) and rooms listens"


def test_platform_modules_import_no_domains_pages_api_or_events():
    offenders = {}
    for name, (tree, _lines) in MODULES.items():
        if not name.startswith(PLATFORM):
            continue
        entry = sorted(i for i in _imports(tree, name)
                       if i.split(".")[-1] in ENTRY_POINTS and not i.startswith(PLATFORM))
        if entry:
            offenders[name] = entry
    assert offenders == {}


def test_a_domain_package_declares_only_its_blueprint():
    """Importing a domain's queries must not drag its pages in (the factory wires them)."""
    # app.policy is not a domain: it is the one namespace of authorization rules, read across its modules.
    packages = {f"app.{path.parent.name}" for path in APP.glob("*/__init__.py")} - {"app.policy"}
    offenders = [name for name in sorted(packages)
                 if any(i.startswith("app.") for i in _imports(MODULES[name][0], name))]
    assert offenders == []


def test_imports_inside_functions_are_few_and_each_says_why():
    inside = []
    for name, (tree, lines) in MODULES.items():
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(function):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        inside.append((name, node.lineno, "#" in lines[node.lineno - 1]))
    assert len(inside) < 10, inside
    assert [entry for entry in inside if not entry[2]] == [], "an import inside a function names the cycle it breaks"


def test_no_module_is_over_500_lines():
    long = {name: len(lines) for name, (_tree, lines) in MODULES.items() if len(lines) > 500}
    assert long == {}
