"""The archive's schema belongs to the migrations, as frozen SQL: they import
no app code (an edit of jails/archive/rollup.py must not change history),
and the rollup triggers a migrated database has are the very ones
rollup.py installs again after ``sync_bans --backfill`` or
``--rebuild-rollup``. Should rollup.py's SQL change, a new migration
installs it (copied in as text); 0004 and 0008 stay as they are."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.db import connection

from jails.archive import rollup

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_migrations_import_no_archive_code():
    for path in sorted(MIGRATIONS.glob("0*.py")):
        app_code = {name for name in _imported(path) if name.split(".")[0] == "jails"}
        assert not app_code, f"{path.name} imports {app_code}: freeze what it needs instead"


def _trigger_definitions() -> list[tuple]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                           "AND tbl_name = %s ORDER BY name", [rollup.BANEVENT])
            return cursor.fetchall()
        cursor.execute("SELECT t.tgname, pg_get_triggerdef(t.oid), p.prosrc "
                       "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                       "JOIN pg_proc p ON p.oid = t.tgfoid "
                       "WHERE c.relname = %s AND NOT t.tgisinternal ORDER BY 1",
                       [rollup.BANEVENT])
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_the_migrated_triggers_are_the_ones_rollup_installs():
    migrated = _trigger_definitions()
    assert len(migrated) == 3
    try:
        rollup.drop_triggers()
        assert _trigger_definitions() == []
    finally:
        rollup.install_triggers()
    assert _trigger_definitions() == migrated
