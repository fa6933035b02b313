"""``manage.py demo_fail2ban``: a sandboxed fail2ban-server with live attack traffic.

Starts a fail2ban-server whose config, socket, db and logs all live under
``--root`` (``backend = polling``, ``action = dummy``: no firewall is touched,
the system's own fail2ban is left alone), then keeps appending failed-login
lines to its jails' logs until SIGINT/SIGTERM, and stops the server on the way
out. ``scripts/demo.sh`` runs it beside the web server and the task worker.
"""

from __future__ import annotations

import random
import shutil
import signal
import threading
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from jails.demo_traffic import TrafficGenerator
from jails.fail2ban import Fail2banClient, Fail2banError
from jails.fail2ban.testing import DEFAULT_JAILS, Sandbox

SUMMARY_EVERY = 30.0  # seconds between the one-line progress reports


class Command(BaseCommand):
    help = "Run a sandboxed fail2ban-server and feed it failed logins until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--root", type=Path, default=Path(settings.DATA_DIR) / "demo" / "fail2ban",
            help="directory for the sandbox's config, socket, db and logs "
                 "(default: var/demo/fail2ban)")
        parser.add_argument(
            "--rate", type=float, default=24.0,
            help="failed-login lines per minute across all jails (default 24: "
                 "a few bans a minute)")
        parser.add_argument("--seed", type=int, default=None,
                            help="random seed, for a repeatable run")

    def handle(self, *args, root: Path, rate: float, seed: int | None, **options) -> None:
        if rate <= 0:
            raise CommandError("--rate must be above zero")
        if not shutil.which("fail2ban-client"):
            raise CommandError("fail2ban is not installed: run scripts/setup.sh "
                               "(apt-get install fail2ban)")
        stop = threading.Event()

        def on_signal(signum, frame):
            stop.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

        sandbox = Sandbox(root.resolve(), jails=DEFAULT_JAILS)
        if sandbox.is_running():
            # Left over from a run that was killed hard: it is ours, restart it
            # so it picks up a freshly written config.
            sandbox.stop()
        sandbox.write_config()
        try:
            sandbox.start()
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        try:
            self._run(sandbox, rate, seed, stop)
        finally:
            sandbox.stop()
            self.stdout.write("fail2ban sandbox stopped.")

    def _run(self, sandbox: Sandbox, rate: float, seed: int | None,
             stop: threading.Event) -> None:
        client = Fail2banClient(str(sandbox.socket))
        self.stdout.write(
            f"fail2ban {client.version()} sandbox running: socket {sandbox.socket}, "
            f"config {sandbox.confdir}, jails {', '.join(client.jail_names())}")
        generator = TrafficGenerator.for_sandbox(
            sandbox, rng=random.Random(seed))  # noqa: S311 (made-up traffic)
        self.stdout.write(f"Writing about {rate:g} failed logins a minute to "
                          f"{', '.join(str(p) for p in generator.log_paths.values())}")
        next_summary = time.monotonic() + SUMMARY_EVERY

        def on_failure(_failure) -> None:
            nonlocal next_summary
            if time.monotonic() >= next_summary:
                next_summary = time.monotonic() + SUMMARY_EVERY
                self._summary(client, generator)

        generator.run(rate, stop.wait, on_failure)

    def _summary(self, client: Fail2banClient, generator: TrafficGenerator) -> None:
        try:
            overview = client.overview()
        except Fail2banError as exc:
            self.stderr.write(f"fail2ban sandbox did not answer: {exc}")
            return
        jails = ", ".join(f"{j.name} {j.currently_banned}" for j in overview.jails)
        self.stdout.write(
            f"{generator.lines_written} failed logins written; banned now: {jails}; "
            f"bans since start: {overview.total_banned}")
