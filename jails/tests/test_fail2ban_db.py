"""The hand-built fail2ban database of ``fail2ban_db.py`` against the one a
real fail2ban-server creates: the archive and speed tests read the former,
BanGUI reads the latter in production."""

from __future__ import annotations

import sqlite3

from jails.tests import fail2ban_db


def _schema(path) -> dict:
    """{table: {column: (type, not null, primary-key position)}},
    {index: (table, columns)} and the schema version of a fail2ban db."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        columns = {
            table: {name: (decl.upper(), bool(notnull), pk)
                    for _cid, name, decl, notnull, _default, pk
                    in con.execute(f'PRAGMA table_info("{table}")')}
            for table in tables
        }
        indexes = {
            name: (table, [col for _seq, _cid, col in con.execute(f'PRAGMA index_info("{name}")')])
            for name, table in con.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        }
        version = con.execute("SELECT version FROM fail2banDb").fetchone()[0]
    finally:
        con.close()
    return {"columns": columns, "indexes": indexes, "version": version}


def _real_and_built(f2b_client, tmp_path):
    real = f2b_client.dbfile()
    assert real, "the sandbox keeps a database"
    return _schema(real), _schema(fail2ban_db.create(tmp_path / "built.sqlite3"))


def test_the_hand_built_tables_and_columns_are_fail2bans(f2b_client, tmp_path):
    real, built = _real_and_built(f2b_client, tmp_path)
    assert set(built["columns"]) <= set(real["columns"])
    for table, columns in built["columns"].items():
        for name, shape in columns.items():
            # Same name, declared type, NOT NULL and primary-key position.
            assert real["columns"][table].get(name) == shape, (table, name, real["columns"][table])
    assert built["version"] == real["version"]


def test_the_hand_built_indexes_are_fail2bans(f2b_client, tmp_path):
    # The archive's speed tests time queries on the hand-built database:
    # its indexes must be the ones fail2ban creates.
    real, built = _real_and_built(f2b_client, tmp_path)
    for name, shape in built["indexes"].items():
        assert real["indexes"].get(name) == shape, (name, real["indexes"])
