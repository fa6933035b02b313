"""The PostgreSQL role a fleet node connects with (docs/fleet.md, "The
database roles").

A node runs its task cluster with a role that may touch only what node
tasks touch: its registration and lease, the archive and its rollup and
cursors, blocklist runs, the geo cache and django-q2's queue tables. Not
users, groups, sessions, the audit trail, login attempts or the runtime
settings: a compromised fail2ban host must not give its holder the web
tier. :func:`statements` is the one list, printed (or applied) by
``manage.py node_role`` and checked by ``bangui/tests/test_node_role.py``.
"""

from __future__ import annotations

import re

from django.apps import apps

ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# model label -> privileges. The rollup (jails.BanDay) is written by the
# archive's triggers, which run with the writer's privileges; the purge
# deletes archive rows; geo's cleanup deletes cache rows.
NODE_TABLES: dict[str, str] = {
    "nodes.Node": "SELECT, INSERT, UPDATE",
    "jails.BanEvent": "SELECT, INSERT, UPDATE, DELETE",
    "jails.BanDay": "SELECT, INSERT, UPDATE, DELETE",
    "jails.SyncState": "SELECT, INSERT, UPDATE",
    "blocklists.BlocklistSource": "SELECT",
    "blocklists.BlocklistClaim": "SELECT, INSERT, UPDATE",
    "blocklists.ImportRun": "SELECT, INSERT, UPDATE",
    "jails.SharedBanRule": "SELECT",
    "jails.SharedBanState": "SELECT, INSERT, UPDATE",
    "jails.LiveBan": "SELECT, INSERT, UPDATE, DELETE",
    "jails.LiveBanState": "SELECT, INSERT, UPDATE",
    # The config history: a node records its own config transactions and
    # prunes its old versions; a restore reads the version (docs/config.md).
    "jails.ConfigVersion": "SELECT, INSERT, DELETE",
    "geo.GeoCacheEntry": "SELECT, INSERT, UPDATE, DELETE",
    "django_q.Task": "SELECT, INSERT, UPDATE, DELETE",
    "django_q.OrmQ": "SELECT, INSERT, UPDATE, DELETE",
    "django_q.Schedule": "SELECT, INSERT, UPDATE, DELETE",
}


class BadRoleName(ValueError):
    pass


def statements(role: str, connection) -> list[str]:
    """The GRANTs that give ``role`` what a node needs, on ``connection``'s
    database (PostgreSQL: sequence names are looked up there)."""
    if not ROLE_NAME.fullmatch(role):
        raise BadRoleName(f"{role!r} is not a role name: lower-case letters, digits and _")
    qn = connection.ops.quote_name
    out = [f"GRANT CONNECT ON DATABASE {qn(connection.settings_dict['NAME'])} TO {role}",
           f"GRANT USAGE ON SCHEMA public TO {role}"]
    with connection.cursor() as cursor:
        for label, privileges in NODE_TABLES.items():
            model = apps.get_model(label)
            table = model._meta.db_table
            out.append(f"GRANT {privileges} ON TABLE {qn(table)} TO {role}")
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)",
                           [table, model._meta.pk.column])
            sequence = cursor.fetchone()[0]
            if sequence:  # an auto id: inserts take numbers from it
                out.append(f"GRANT USAGE, SELECT ON SEQUENCE {sequence} TO {role}")
    return out
