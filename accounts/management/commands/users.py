"""BanGUI's users from the command line (the /accounts/users/ page's twin).

    manage.py users add NAME --role viewer|support|operator|admin --password-file FILE
    manage.py users set-role NAME ROLE
    manage.py users disable NAME
    manage.py users enable NAME
    manage.py users link NAME [--base-url https://bangui.example.org]
    manage.py users reset-2fa NAME       (a lost phone: TOTP and recovery codes removed)
    manage.py users list

``--password-file -`` reads the password from stdin; without
``--password-file`` the user has no password and a set-password link is
printed. The password never comes from argv (visible in ps and shell
history). Every change is audited as ``cli:<login name>``. Exit 0 on
success, 1 when refused (nothing changed).
"""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import mfa, users
from accounts.management.commands.setup import _login_name
from accounts.roles import ROLES


class Command(BaseCommand):
    help = "List, add, disable users and set their roles (like /accounts/users/)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = sub.add_parser("add", help="create a user with a role")
        add.add_argument("name")
        add.add_argument("--role", required=True, choices=ROLES)
        add.add_argument("--password-file",
                         help="file holding the password ('-' for stdin); without it the "
                              "user gets a set-password link")
        add.add_argument("--email", default="")
        add.add_argument("--base-url", default="", help="BanGUI's address, for the link")
        role = sub.add_parser("set-role", help="change a user's role")
        role.add_argument("name")
        role.add_argument("role", choices=ROLES)
        for action, text in (("disable", "disable a user (signed out, cannot log in)"),
                             ("enable", "enable a disabled user again")):
            sub.add_parser(action, help=text).add_argument("name")
        link = sub.add_parser("link", help="print a set-password link for a user")
        link.add_argument("name")
        link.add_argument("--base-url", default="", help="BanGUI's address, for the link")
        sub.add_parser("reset-2fa", help="remove a user's TOTP and recovery codes (a lost "
                                         "phone)").add_argument("name")
        sub.add_parser("list", help="every user, their role and state")

    def handle(self, *args, **options):
        self.actor = f"cli:{_login_name()}"
        try:
            getattr(self, "handle_" + options["action"].replace("-", "_"))(options)
        except users.UserChangeRefused as exc:
            raise CommandError(f"refused, nothing changed: {exc}") from None

    def _user(self, name: str):
        user = get_user_model().objects.filter(username=name).first()
        if user is None:
            raise CommandError(f"no user named {name!r}")
        return user

    def _password(self, source: str) -> str:
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text()
        except OSError as exc:
            raise CommandError(f"cannot read the password file: {exc.strerror}") from None
        password = text.rstrip("\r\n")
        if not password:
            raise CommandError("the password file is empty")
        return password

    def _base_url(self, options) -> str:
        # BanGUI's own address when the deployment names it (docs/security.md)
        origins = settings.CSRF_TRUSTED_ORIGINS
        return options["base_url"] or (origins[0] if origins else "")

    def _print_link(self, user, options) -> None:
        link = users.password_link(self.actor, user, self._base_url(options))
        if link.url == link.path:
            self.stdout.write("Set-password link (prefix it with BanGUI's address, or pass "
                              "--base-url):")
        else:
            self.stdout.write("Set-password link:")
        self.stdout.write(link.url)

    def handle_add(self, options) -> None:
        password = self._password(options["password_file"]) if options["password_file"] \
            else None
        if password:
            try:
                users.check_password(password, options["name"], options["email"])
            except ValidationError as exc:
                raise CommandError("refused, nothing changed: " + " ".join(exc.messages)) \
                    from None
        user = users.create_user(self.actor, options["name"], options["role"], password,
                                 options["email"])
        self.stdout.write(self.style.SUCCESS(f"Created {user.username} ({options['role']})."))
        if not password:
            self._print_link(user, options)

    def handle_set_role(self, options) -> None:
        user = self._user(options["name"])
        if users.set_role(self.actor, user, options["role"]):
            self.stdout.write(self.style.SUCCESS(f"{user.username} is now {options['role']}."))
        else:
            self.stdout.write(f"{user.username} already was {options['role']}.")

    def handle_disable(self, options) -> None:
        user = self._user(options["name"])
        if users.set_active(self.actor, user, False):
            self.stdout.write(self.style.SUCCESS(f"Disabled {user.username}."))
        else:
            self.stdout.write(f"{user.username} already was disabled.")

    def handle_enable(self, options) -> None:
        user = self._user(options["name"])
        if users.set_active(self.actor, user, True):
            self.stdout.write(self.style.SUCCESS(f"Enabled {user.username}."))
        else:
            self.stdout.write(f"{user.username} already was enabled.")

    def handle_reset_2fa(self, options) -> None:
        user = self._user(options["name"])
        if mfa.reset(self.actor, user):
            self.stdout.write(self.style.SUCCESS(
                f"Removed {user.username}'s two-factor: they sign in with their password."))
        else:
            self.stdout.write(f"{user.username} had no two-factor.")

    def handle_link(self, options) -> None:
        self._print_link(self._user(options["name"]), options)

    def handle_list(self, options) -> None:
        rows = [(u.username, users.stored_role(u), "active" if u.is_active else "disabled",
                 u.last_login.strftime("%Y-%m-%d %H:%M UTC") if u.last_login else "never")
                for u in users.listed()]
        header = ("USER", "ROLE", "STATE", "LAST LOGIN")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
        for row in [header, *rows]:
            self.stdout.write("  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True))
                              + "  " + row[3])
