"""The database settings a ``DATABASE_URL`` gives (#29: PostgreSQL binds
parameters on the server, so psycopg can prepare a page's statements)."""

from __future__ import annotations

import pytest
from django.db import connection

from bangui.tests.test_settings_side_effects import clean_env, start

OPTIONS = ("from django.conf import settings; o = settings.DATABASES['default'].get('OPTIONS', {});"
           "print(o.get('server_side_binding'), o.get('prepare_threshold'))")


@pytest.mark.parametrize(("url", "binding"), [
    ("postgres://bangui@127.0.0.1:1/bangui", "True 5"),
    ("postgres://bangui@127.0.0.1:1/bangui?sslmode=require", "True 5"),
    ("postgres://bangui@127.0.0.1:1/bangui?server_side_binding=false", "False None"),  # a pooler
    ("", "None None"),  # SQLite: no such option
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
