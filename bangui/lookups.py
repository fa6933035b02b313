"""``field__any_of=[...]``: IN with the whole list as one parameter.

Django's ``__in`` writes one placeholder per value, and Django and the
driver then handle every value on their own (psycopg also splits the
statement's text at each one). For lists of thousands that cost more than
the database's work: the archive sync's geo_cache reads and its look for
rows archived at ban time took 9.6 and 4.3 s of a first sync of a million
rows under the profiler on PostgreSQL (2026-12-07). This lookup passes the
list as one array (PostgreSQL: ``= ANY(%s::type[])``) or one JSON text
(SQLite: ``IN (SELECT value FROM json_each(%s))``; Django requires SQLite's
JSON functions), so a statement costs the same to prepare for 5 values or
5,000. Values are compared as text: for text and address columns.
Registered on every field by bangui.apps."""

from __future__ import annotations

import json

from django.db.models import Lookup


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = [str(value) for value in self.rhs]
        if connection.vendor == "postgresql":
            kind = self.lhs.output_field.db_type(connection)
            return f"{lhs} = ANY(%s::{kind}[])", [*lhs_params, values]
        # The compiled column only; the values are bound.
        sql = f"{lhs} IN (SELECT value FROM json_each(%s))"  # noqa: S608
        return sql, [*lhs_params, json.dumps(values)]
