"""Median latency of common fail2ban operations: BanGUI's socket client
versus the fail2ban-client CLI, against one sandboxed server in one run.

    .venv/bin/python bench/socket_roundtrip.py [--runs 200] [--cli-runs 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import median_ms
from jails.fail2ban import Fail2banClient
from jails.fail2ban.testing import Sandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--cli-runs", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bangui-bench-") as tmp:
        sandbox = Sandbox(Path(tmp))
        sandbox.start()
        try:
            client = Fail2banClient(str(sandbox.socket))
            base = ["fail2ban-client", "-s", str(sandbox.socket)]

            def cli(*a: str) -> None:
                subprocess.run([*base, *a], check=True, capture_output=True)

            def client_pair() -> None:
                client.ban("sshd", ["203.0.113.50"])
                client.unban("sshd", ["203.0.113.50"])

            def cli_pair() -> None:
                cli("set", "sshd", "banip", "203.0.113.50")
                cli("set", "sshd", "unbanip", "203.0.113.50")

            rows = [
                ("status", lambda: client.call("status"), lambda: cli("status")),
                ("status sshd", lambda: client.jail_status("sshd"), lambda: cli("status", "sshd")),
                ("ban+unban pair", client_pair, cli_pair),
                ("overview (status bar)", client.overview, None),
            ]
            print(f"fail2ban {client.version()} sandbox; medians of {args.runs} client runs "
                  f"and {args.cli_runs} CLI runs")
            print(f"{'operation':<24}{'client ms':>12}{'CLI ms':>12}{'CLI/client':>12}")
            for name, fast, slow in rows:
                c = median_ms(fast, args.runs)
                if slow is None:
                    print(f"{name:<24}{c:>12.3f}{'-':>12}{'-':>12}")
                    continue
                s = median_ms(slow, args.cli_runs)
                print(f"{name:<24}{c:>12.3f}{s:>12.1f}{s / c:>11.0f}x")
        finally:
            sandbox.stop()


if __name__ == "__main__":
    main()
