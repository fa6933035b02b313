"""``manage.py node_role ROLE [--apply]``: the GRANTs for a fleet node's
PostgreSQL role (docs/fleet.md). Prints them; ``--apply`` runs them (as the
database owner). The role itself is made by you: ``CREATE ROLE bangui_node
LOGIN PASSWORD '…'``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from nodes.role import BadRoleName, statements


class Command(BaseCommand):
    help = "Print (or --apply) the GRANTs a fleet node's PostgreSQL role needs."

    def add_arguments(self, parser):
        parser.add_argument("role", help="the node's PostgreSQL role (it must exist)")
        parser.add_argument("--apply", action="store_true", help="run the GRANTs now")

    def handle(self, *args, role: str, apply: bool, **options):
        if connection.vendor != "postgresql":
            raise CommandError("node roles are for PostgreSQL; a SQLite install is one node")
        try:
            sql = statements(role, connection)
        except BadRoleName as exc:
            raise CommandError(str(exc)) from None
        if apply:
            with transaction.atomic(), connection.cursor() as cursor:
                for statement in sql:
                    cursor.execute(statement)
        for statement in sql:
            self.stdout.write(statement + ";")
