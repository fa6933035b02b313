"""The arrows between the apps run one way (docs/architecture.md):

    bangui (core)  <-  accounts  <-  jails
    bangui (core)  <-  geo       <-  jails

``geo`` is a leaf: resolvers, cache, countries, shapes. ``accounts`` knows
no fail2ban (the setup wizard's ping is a hook, bangui/hooks.py).
``bangui`` imports no app at all, except ``bangui/urls.py``, which includes
their URLs; /health/ready and /metrics ask the apps through hooks.
Tests and migrations are left out: tests exercise the whole product.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("bangui", "accounts", "geo", "jails")
# app -> the apps it must never import
FORBIDDEN = {
    "geo": {"jails", "accounts"},
    "accounts": {"jails", "geo"},
    "bangui": {"jails", "geo", "accounts"},
    "jails": set(),
}
ALLOWED_FILES = {"bangui/urls.py"}  # the URL root includes every app's urls


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """Top-level packages ``path`` imports (module level, in functions,
    under TYPE_CHECKING alike), with the line."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add((node.module.split(".")[0], node.lineno))
    return out


def product_files(app: str) -> list[Path]:
    return sorted(p for p in (ROOT / app).rglob("*.py")
                  if "tests" not in p.parts and "migrations" not in p.parts)


@pytest.mark.parametrize("app", APPS)
def test_imports_run_one_way(app):
    wrong = []
    for path in product_files(app):
        rel = path.relative_to(ROOT).as_posix()
        if rel in ALLOWED_FILES:
            continue
        wrong += [f"{rel}:{line} imports {pkg}" for pkg, line in imported_packages(path)
                  if pkg in FORBIDDEN[app]]
    assert wrong == []


def test_the_check_sees_an_arrow_that_runs_back(tmp_path):
    # The parser finds imports wherever they are (a function body included).
    sample = tmp_path / "sample.py"
    sample.write_text("import os\n\ndef f():\n    from jails.live import link\n")
    assert ("jails", 4) in imported_packages(sample)


def test_every_app_has_product_files():
    assert all(product_files(app) for app in APPS)
