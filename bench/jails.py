"""Jail page and its banned-IP fragment with 10,000 and 50,000 live bans
over five jails (bench/crowd.py): median server time per page of 50 results
for the jail ``postfix`` (a fifth of the bans), side by side with
``fail2ban-client status postfix`` and a raw socket ``status postfix`` in
the same run, and the jails list and status bar.

    .venv/bin/python bench/jails.py [--runs 20] [--cli-runs 5]

Runs against its own sandboxed fail2ban and its own SQLite database (both in
a temp dir); the crowd jails have no actions, so 50,000 bans take seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import crowd
from bench.timing import median_ms
from jails.fail2ban import Fail2banClient

JAIL = "postfix"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cli-runs", type=int, default=5)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bangui-bench-jails-"))
    sandbox = crowd.sandbox(tmp / "f2b")
    sandbox.start()
    os.environ.update({
        "BANGUI_DATA_DIR": str(tmp / "data"),
        "BANGUI_FAIL2BAN_SOCKET": str(sandbox.socket),
        "BANGUI_FAIL2BAN_CONFIG_DIR": str(sandbox.confdir),
        "DJANGO_SETTINGS_MODULE": "bangui.settings",
        "BANGUI_LOG_LEVEL": "WARNING",
    })
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from accounts.models import SetupCompletion
    from jails.config.regex import filter_names
    from jails.live.banned import banned_page

    call_command("migrate", verbosity=0)
    SetupCompletion.objects.get_or_create(method="bench")
    user = User.objects.create_superuser("bench", password=None)
    web = Client(HTTP_HOST="localhost")
    web.force_login(user)
    f2b = Fail2banClient(str(sandbox.socket), timeout=60)
    print(f"{'bans':>7}  {'what':<44} {'median ms':>10}")
    try:
        for target in (10_000, 50_000):
            crowd.empty(sandbox)
            held = crowd.fill(sandbox, target)
            in_jail = f2b.jail_status(JAIL).currently_banned
            print(f"{held:>7,}  live bans, {in_jail:,} of them in {JAIL}")

            def get(path: str, hx: bool = False):
                r = web.get(path, **({"HTTP_HX_REQUEST": "true"} if hx else {}))
                assert r.status_code == 200, r.status_code

            rows = [
                ("jail page (full HTML, page 1)", lambda: get(f"/jails/{JAIL}/")),
                ("banned-IP fragment, page 1", lambda: get(f"/jails/{JAIL}/?page=1", True)),
                ("banned-IP fragment, last page",
                 lambda: get(f"/jails/{JAIL}/?page=100000", True)),
                ("banned-IP fragment, search '10.0.1'",
                 lambda: get(f"/jails/{JAIL}/?q=10.0.1", True)),
                ("jails list", lambda: get("/jails/")),
                ("status bar", lambda: get("/status/")),
                ("  of which: banned_page() (bips query)",
                 lambda: banned_page(JAIL, total=in_jail)),  # noqa: B023
                (f"  of which: raw socket status {JAIL} short",
                 lambda: f2b.call("status", JAIL, "short")),
                (f"  of which: jail_settings({JAIL})", lambda: f2b.jail_settings(JAIL)),
                ("  of which: filter_names()", filter_names),
                (f"raw socket: status {JAIL}", lambda: f2b.call("status", JAIL)),
                ("raw socket: status", lambda: f2b.call("status")),
            ]
            for label, fn in rows:
                fn()  # warm up
                print(f"{target:>7,}  {label:<44} {median_ms(fn, args.runs):>10.2f}")
            cli = [sandbox.client_binary, "-s", str(sandbox.socket), "status", JAIL]
            ms = median_ms(lambda: subprocess.run(cli, capture_output=True, check=True),  # noqa: B023
                           args.cli_runs)
            print(f"{target:>7,}  {'CLI: fail2ban-client status ' + JAIL:<44} {ms:>10.2f}")
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
