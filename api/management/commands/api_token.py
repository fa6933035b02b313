"""API tokens from the shell (docs/api.md):

    manage.py api_token create --user NAME --scope read|write [--expires DAYS]
                               [--allow CIDR]... [--name TEXT]
    manage.py api_token list
    manage.py api_token revoke ID

``create`` prints the new token alone on its last line (scripts read it
there); it is shown this once and stored only as a hash.
"""

from __future__ import annotations

import getpass

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import audit
from api import tokens
from api.models import ApiToken


class Command(BaseCommand):
    help = "Create, list and revoke API tokens (docs/api.md)."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="a new token (printed once, on the last line)")
        create.add_argument("--user", required=True, help="the owner's username")
        create.add_argument("--scope", required=True, choices=ApiToken.Scope.values)
        create.add_argument("--expires", type=int, metavar="DAYS",
                            help="days until it expires (default: never)")
        create.add_argument("--allow", action="append", default=[], metavar="CIDR",
                            help="a network it may be used from (repeatable; default: any)")
        create.add_argument("--name", default="", help="what it is for")
        sub.add_parser("list", help="every token (never the tokens themselves)")
        revoke = sub.add_parser("revoke", help="revoke a token by its ID")
        revoke.add_argument("id", type=int)

    def handle(self, *args, action: str, **options) -> None:
        actor = f"cli:{getpass.getuser()}"
        getattr(self, f"handle_{action}")(actor, **options)

    def handle_create(self, actor: str, *, user: str, scope: str, expires: int | None,
                      allow: list[str], name: str, **_) -> None:
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"no user named {user!r}")
        try:
            issued = tokens.issue(owner, scope, name=name, days=expires, allow=allow)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        token = issued.token
        audit.record(actor, "api_token.create", target=f"token #{token.pk} of {owner}",
                     detail=f"scope {scope}" + (f", expires {token.expires_at:%Y-%m-%d}"
                                                if token.expires_at else "")
                     + (f", from {', '.join(token.allowed_networks)}"
                        if token.allowed_networks else ""))
        if scope == ApiToken.Scope.WRITE and not tokens.may(owner, "ban"):
            self.stderr.write(f"note: {owner}'s role may not change anything: this write "
                              "token can only read")
        self.stdout.write(f"Token #{token.pk} for {owner} ({scope}"
                          + (f", expires {token.expires_at:%Y-%m-%d %H:%M} UTC"
                             if token.expires_at else ", never expires") + ").")
        self.stdout.write("It is shown this once; BanGUI keeps only its hash:")
        self.stdout.write(issued.secret)

    def handle_list(self, actor: str, **_) -> None:
        rows = ApiToken.objects.select_related("user").order_by("id")
        self.stdout.write("ID\tUSER\tNAME\tPREFIX\tSCOPE\tSTATE\tEXPIRES\tLAST USED\tFROM\tALLOW")
        for t in rows:
            self.stdout.write("\t".join([
                str(t.pk), t.user.get_username(), t.name or "-", t.prefix, t.scope, t.state(),
                f"{t.expires_at:%Y-%m-%d %H:%M}" if t.expires_at else "never",
                f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never",
                t.last_used_ip or "-", ",".join(t.allowed_networks) or "any"]))

    def handle_revoke(self, actor: str, *, id: int, **_) -> None:
        token = tokens.revoke(id)
        if token is None:
            raise CommandError(f"no token #{id}")
        audit.record(actor, "api_token.revoke", target=f"token #{token.pk} of {token.user}")
        self.stdout.write(f"Revoked token #{token.pk} of {token.user} "
                          f"({token.revoked_at:%Y-%m-%d %H:%M} UTC).")
