"""Every archive row and sync cursor names its node (docs/fleet.md).

Existing rows get this install's node (BANGUI_NODE when migrate runs, the
host name by default). On SQLite the field and constraint changes rebuild
the table, which drops the daily rollup's triggers: they are installed
again at the end (the copy fires no trigger, so the rollup stays exact).
The trigger SQL is frozen here, as migration 0004 installed it (a migration
imports no app code: jails/archive/rollup.py may change, history may not).
"""

from django.db import migrations, models

import nodes.nodename

SQLITE_INSTALL = [
    """
CREATE TRIGGER IF NOT EXISTS banevent_banday_insert AFTER INSERT ON jails_banevent
BEGIN
    INSERT INTO jails_banday (kind, day, key, origin, bans) VALUES ('jail', substr(NEW.banned_at, 1, 10), NEW.jail, NEW.origin, 1), ('country', substr(NEW.banned_at, 1, 10), coalesce(NEW.country_code, ''), NEW.origin, 1)
    ON CONFLICT (kind, day, key, origin) DO UPDATE SET bans = bans + 1;
END""",
    """
CREATE TRIGGER IF NOT EXISTS banevent_banday_delete AFTER DELETE ON jails_banevent
BEGIN
    UPDATE jails_banday SET bans = bans - 1 WHERE kind = 'jail' AND day = substr(OLD.banned_at, 1, 10) AND key = OLD.jail AND origin = OLD.origin;
    DELETE FROM jails_banday WHERE kind = 'jail' AND day = substr(OLD.banned_at, 1, 10) AND key = OLD.jail AND origin = OLD.origin AND bans <= 0;
    UPDATE jails_banday SET bans = bans - 1 WHERE kind = 'country' AND day = substr(OLD.banned_at, 1, 10) AND key = coalesce(OLD.country_code, '') AND origin = OLD.origin;
    DELETE FROM jails_banday WHERE kind = 'country' AND day = substr(OLD.banned_at, 1, 10) AND key = coalesce(OLD.country_code, '') AND origin = OLD.origin AND bans <= 0;
END""",
    """
CREATE TRIGGER IF NOT EXISTS banevent_banday_update
AFTER UPDATE OF banned_at, jail, country_code, origin ON jails_banevent
WHEN substr(OLD.banned_at, 1, 10) IS NOT substr(NEW.banned_at, 1, 10)
  OR OLD.jail IS NOT NEW.jail OR OLD.country_code IS NOT NEW.country_code
  OR OLD.origin IS NOT NEW.origin
BEGIN
    UPDATE jails_banday SET bans = bans - 1 WHERE kind = 'jail' AND day = substr(OLD.banned_at, 1, 10) AND key = OLD.jail AND origin = OLD.origin;
    DELETE FROM jails_banday WHERE kind = 'jail' AND day = substr(OLD.banned_at, 1, 10) AND key = OLD.jail AND origin = OLD.origin AND bans <= 0;
    UPDATE jails_banday SET bans = bans - 1 WHERE kind = 'country' AND day = substr(OLD.banned_at, 1, 10) AND key = coalesce(OLD.country_code, '') AND origin = OLD.origin;
    DELETE FROM jails_banday WHERE kind = 'country' AND day = substr(OLD.banned_at, 1, 10) AND key = coalesce(OLD.country_code, '') AND origin = OLD.origin AND bans <= 0;
    INSERT INTO jails_banday (kind, day, key, origin, bans) VALUES ('jail', substr(NEW.banned_at, 1, 10), NEW.jail, NEW.origin, 1), ('country', substr(NEW.banned_at, 1, 10), coalesce(NEW.country_code, ''), NEW.origin, 1)
    ON CONFLICT (kind, day, key, origin) DO UPDATE SET bans = bans + 1;
END""",
]


def _pg_function(name, body):
    return (f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql "
            f"AS $body$ BEGIN {body} RETURN NULL; END $body$")


_PG_BANDAY_ON_INSERT = """
    INSERT INTO jails_banday (kind, day, key, origin, bans)
    SELECT kind, day, key, origin, sum(n) FROM (SELECT 'jail'::varchar AS kind, (banned_at AT TIME ZONE 'UTC')::date AS day, jail AS key, origin, 1::bigint AS n FROM new_rows UNION ALL SELECT 'country'::varchar AS kind, (banned_at AT TIME ZONE 'UTC')::date AS day, coalesce(country_code, '') AS key, origin, 1::bigint AS n FROM new_rows) AS s
    GROUP BY kind, day, key, origin HAVING sum(n) <> 0 ORDER BY kind, day, key, origin
    ON CONFLICT (kind, day, key, origin) DO UPDATE SET bans = jails_banday.bans + EXCLUDED.bans;"""

_PG_BANDAY_ON_DELETE = """
    INSERT INTO jails_banday (kind, day, key, origin, bans)
    SELECT kind, day, key, origin, sum(n) FROM (SELECT 'jail'::varchar AS kind, (banned_at AT TIME ZONE 'UTC')::date AS day, jail AS key, origin, -1::bigint AS n FROM old_rows UNION ALL SELECT 'country'::varchar AS kind, (banned_at AT TIME ZONE 'UTC')::date AS day, coalesce(country_code, '') AS key, origin, -1::bigint AS n FROM old_rows) AS s
    GROUP BY kind, day, key, origin HAVING sum(n) <> 0 ORDER BY kind, day, key, origin
    ON CONFLICT (kind, day, key, origin) DO UPDATE SET bans = jails_banday.bans + EXCLUDED.bans;
    DELETE FROM jails_banday b
    USING (SELECT DISTINCT kind, day, key, origin FROM (SELECT 'jail'::varchar AS kind, (banned_at AT TIME ZONE 'UTC')::date AS day, jail AS key, origin, -1::bigint AS n FROM old_rows UNION ALL SELECT 'country'::varchar AS kind, (banned_at AT TIME ZONE 'UTC')::date AS day, coalesce(country_code, '') AS key, origin, -1::bigint AS n FROM old_rows) AS o) AS gone
    WHERE b.bans <= 0
      AND (b.kind, b.day, b.key, b.origin) = (gone.kind, gone.day, gone.key, gone.origin);"""

_PG_BANDAY_ON_UPDATE = """
    INSERT INTO jails_banday (kind, day, key, origin, bans)
    SELECT kind, day, key, origin, sum(n) FROM (SELECT 'jail'::varchar AS kind, (banned_at AT TIME ZONE 'UTC')::date AS day, jail AS key, origin, 1::bigint AS n FROM new_rows UNION ALL SELECT 'country'::varchar AS kind, (banned_at AT TIME ZONE 'UTC')::date AS day, coalesce(country_code, '') AS key, origin, 1::bigint AS n FROM new_rows UNION ALL SELECT 'jail'::varchar AS kind, (banned_at AT TIME ZONE 'UTC')::date AS day, jail AS key, origin, -1::bigint AS n FROM old_rows UNION ALL SELECT 'country'::varchar AS kind, (banned_at AT TIME ZONE 'UTC')::date AS day, coalesce(country_code, '') AS key, origin, -1::bigint AS n FROM old_rows) AS s
    GROUP BY kind, day, key, origin HAVING sum(n) <> 0 ORDER BY kind, day, key, origin
    ON CONFLICT (kind, day, key, origin) DO UPDATE SET bans = jails_banday.bans + EXCLUDED.bans;
    DELETE FROM jails_banday b
    USING (SELECT DISTINCT kind, day, key, origin FROM (SELECT 'jail'::varchar AS kind, (banned_at AT TIME ZONE 'UTC')::date AS day, jail AS key, origin, -1::bigint AS n FROM old_rows UNION ALL SELECT 'country'::varchar AS kind, (banned_at AT TIME ZONE 'UTC')::date AS day, coalesce(country_code, '') AS key, origin, -1::bigint AS n FROM old_rows) AS o) AS gone
    WHERE b.bans <= 0
      AND (b.kind, b.day, b.key, b.origin) = (gone.kind, gone.day, gone.key, gone.origin);"""

PG_INSTALL = [
    _pg_function("banday_on_insert", _PG_BANDAY_ON_INSERT),
    "DROP TRIGGER IF EXISTS banday_on_insert ON jails_banevent",
    "CREATE TRIGGER banday_on_insert AFTER INSERT ON jails_banevent REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION banday_on_insert()",
    _pg_function("banday_on_delete", _PG_BANDAY_ON_DELETE),
    "DROP TRIGGER IF EXISTS banday_on_delete ON jails_banevent",
    "CREATE TRIGGER banday_on_delete AFTER DELETE ON jails_banevent REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION banday_on_delete()",
    _pg_function("banday_on_update", _PG_BANDAY_ON_UPDATE),
    "DROP TRIGGER IF EXISTS banday_on_update ON jails_banevent",
    "CREATE TRIGGER banday_on_update AFTER UPDATE ON jails_banevent REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION banday_on_update()",
]

INSTALL = {"sqlite": SQLITE_INSTALL, "postgresql": PG_INSTALL}


def reinstall_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in INSTALL:
        raise NotImplementedError(f"no BanDay triggers for {vendor}")
    with schema_editor.connection.cursor() as cursor:
        for sql in INSTALL[vendor]:
            cursor.execute(sql)


class Migration(migrations.Migration):

    dependencies = [
        ('jails', '0007_banevent_ip_key'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='banevent',
            name='banevent_unique_ban',
        ),
        migrations.AddField(
            model_name='banevent',
            name='node',
            field=models.CharField(default=nodes.nodename.local, help_text='The node whose fail2ban holds the ban.', max_length=63),
        ),
        migrations.AddField(
            model_name='syncstate',
            name='node',
            field=models.CharField(default=nodes.nodename.local, help_text='The node whose fail2ban database this is.', max_length=63),
        ),
        migrations.AlterField(
            model_name='syncstate',
            name='db_path',
            field=models.CharField(max_length=1024),
        ),
        migrations.AddIndex(
            model_name='banevent',
            index=models.Index(fields=['node', 'banned_at'], name='banevent_node_time'),
        ),
        migrations.AddConstraint(
            model_name='banevent',
            constraint=models.UniqueConstraint(fields=('node', 'jail', 'ip', 'banned_at'), name='banevent_unique_node_ban'),
        ),
        migrations.AddConstraint(
            model_name='syncstate',
            constraint=models.UniqueConstraint(fields=('node', 'db_path'), name='syncstate_node_db'),
        ),
        migrations.RunPython(reinstall_triggers, migrations.RunPython.noop),
    ]
