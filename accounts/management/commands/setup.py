"""Non-interactive first-run setup (the wizard's twin for scripts).

    BANGUI_SETUP_PASSWORD=... manage.py setup --username admin \\
        --socket /var/run/fail2ban/fail2ban.sock --timezone Europe/Berlin
    manage.py setup --username admin --password-file /run/secrets/admin --socket ...

The password never comes from argv (visible in ps and shell history).
Exit 0 on success, 1 when refused (already set up, invalid input, fail2ban
not answering).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.forms import SetupForm
from accounts.setup import SetupAlreadyDone, SetupValues, complete_setup, gate

PASSWORD_ENV = "BANGUI_SETUP_PASSWORD"  # noqa: S105 (a variable name, not a secret)


class Command(BaseCommand):
    help = "Create the first admin and the runtime settings, once (like the /setup/ wizard)."

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument("--password-file",
                            help=f"file holding the password ('-' for stdin); "
                                 f"else ${PASSWORD_ENV} is used")
        parser.add_argument("--socket", required=True, help="fail2ban socket path (checked live)")
        parser.add_argument("--timezone", default="UTC", help="IANA time zone (default UTC)")
        parser.add_argument("--session-hours", type=int, default=8,
                            help="session lifetime in hours (default 8)")

    def _password(self, options) -> str:
        source = options["password_file"]
        if source == "-":
            text = sys.stdin.read()
        elif source:
            try:
                text = Path(source).read_text()
            except OSError as exc:
                raise CommandError(f"cannot read the password file: {exc.strerror}") from None
        else:
            # A one-off secret for this command; settings never hold it.
            text = os.environ.get(PASSWORD_ENV, "")
        password = text.rstrip("\r\n")
        if not password:
            raise CommandError(f"no password: use --password-file or set {PASSWORD_ENV}")
        return password

    def handle(self, *args, **options):
        if gate().is_complete():
            raise CommandError("BanGUI is already set up; refusing to run setup again. "
                               "Manage users with Django admin or `manage.py createsuperuser`.")
        password = self._password(options)
        form = SetupForm(data={
            "username": options["username"], "email": options["email"],
            "password1": password, "password2": password,
            "fail2ban_socket": options["socket"], "time_zone": options["timezone"],
            "session_hours": options["session_hours"],
        })
        if not form.is_valid():
            problems = "\n".join(
                f"  {name.replace('password1', 'password')}: {' '.join(errors)}"
                for name, errors in form.errors.items()
            )
            raise CommandError(f"setup refused, nothing was saved:\n{problems}")
        data = form.cleaned_data
        values = SetupValues(
            username=data["username"], password=password, email=data["email"],
            fail2ban_socket=data["fail2ban_socket"], time_zone=data["time_zone"],
            session_hours=data["session_hours"],
        )
        actor = f"cli:{_login_name()}"
        try:
            complete_setup(values, method="command", actor=actor)
        except SetupAlreadyDone as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(
            f"Setup complete: admin {values.username!r}, fail2ban at {values.fail2ban_socket}, "
            f"time zone {values.time_zone}, sessions last {values.session_hours} h."
        ))


def _login_name() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid())
