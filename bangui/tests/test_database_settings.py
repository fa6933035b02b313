"""The database settings a ``DATABASE_URL`` gives (#29: PostgreSQL binds
parameters on the server, so psycopg can prepare a page's statements)."""

from __future__ import annotations

import pytest
from django.db import connection

from bangui.tests.test_settings_side_effects import clean_env, start

OPTIONS = ("from django.conf import settings; o = settings.DATABASES['default'].get('OPTIONS', {});"
           "print(o.get('server_side_binding'), o.get('prepare_threshold'), o.get('options'))")
CUSTOM = "-c plan_cache_mode=force_custom_plan"


@pytest.mark.parametrize(("url", "binding"), [
    ("postgres://bangui@127.0.0.1:1/bangui", f"True 5 {CUSTOM}"),
    ("postgres://bangui@127.0.0.1:1/bangui?sslmode=require", f"True 5 {CUSTOM}"),
    ("postgres://bangui@127.0.0.1:1/bangui?options=-c%20work_mem%3D8MB",
     f"True 5 -c work_mem=8MB {CUSTOM}"),  # the URL's own options kept
    ("postgres://bangui@127.0.0.1:1/bangui?server_side_binding=false",
     "False None None"),  # a pooler
    ("", "None None None"),  # SQLite: no such option
])
def test_postgresql_binds_parameters_on_the_server_unless_the_url_says_not(tmp_path, url,
                                                                           binding):
    env = clean_env(BANGUI_DATA_DIR=str(tmp_path / "data"), HOME=str(tmp_path),
                    DATABASE_URL=url)
    assert start(env, OPTIONS) == binding


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's prepared statements")
def test_a_statement_run_again_and_again_is_prepared_and_answers_the_same():
    from accounts.models import RuntimeSettings

    def prepared() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            return cursor.fetchone()[0]

    first = RuntimeSettings.load()
    before = prepared()
    answers = {RuntimeSettings.load().pk for _ in range(6)}  # psycopg prepares at the 5th
    assert answers == {first.pk}
    assert prepared() > before


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's prepared statements")
def test_a_prepared_statement_is_planned_for_each_runs_values():
    # A generic plan, made once without the values, scanned the whole
    # archive for the sync's look at a page's few addresses (322 s for a
    # 200,000-row first sync instead of 17).
    from jails.models import BanEvent

    for n in range(8):
        list(BanEvent.objects.filter(ip__in=["192.0.2.1", f"192.0.2.{n + 2}"]))
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone()[0] == "force_custom_plan"
        cursor.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                       "WHERE statement LIKE %s", ['%"jails_banevent"."ip" IN%'])
        plans = cursor.fetchall()
    assert plans and all(generic == 0 and custom >= 3 for generic, custom in plans)
