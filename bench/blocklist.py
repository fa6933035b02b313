"""Blocklist import speed, per stage, against fail2ban's own floor.

Serves a 20,000-IP list from a local HTTP server and imports it with
BanGUI's importer into (a) a jail without actions and (b) a jail with
``action = dummy``; beside each, the same IPs through the raw socket:
one ``banip`` per IP for (a), one bulk ``banip`` for (b).

    .venv/bin/python bench/blocklist.py [--ips 20000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jails.fail2ban import Fail2banClient  # noqa: E402
from jails.fail2ban.sandbox import Sandbox, SandboxJail  # noqa: E402


def serve(body: bytes) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/list.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ips", type=int, default=20_000)
    args = parser.parse_args()
    rng = random.Random(7)
    ips = sorted({f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
                  f"{rng.randint(1, 254)}" for _ in range(args.ips * 2)})[: args.ips]
    body = ("# bench list\n" + "\n".join(ips) + "\n").encode()

    tmp = Path(tempfile.mkdtemp(prefix="bangui-bench-bl-"))
    sandbox = Sandbox(tmp / "f2b", jails=(
        SandboxJail("bl-noaction", "sshd", "noaction.log", actions=False),
        SandboxJail("bl-dummy", "sshd", "dummy.log"),
    ))
    sandbox.start()
    os.environ.update(BANGUI_DATA_DIR=str(tmp / "data"), BANGUI_FAIL2BAN_SOCKET=str(sandbox.socket),
                      BANGUI_FAIL2BAN_CONFIG_DIR=str(sandbox.confdir),
                      BANGUI_BLOCKLIST_ALLOW_PRIVATE="1", DJANGO_SETTINGS_MODULE="bangui.settings")
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from jails.blocklists.importer import run_import
    from jails.blocklists.models import BlocklistSource

    httpd, url = serve(body)
    client = Fail2banClient(str(sandbox.socket), timeout=600)
    try:
        print(f"{len(ips):,} IPs, {len(body):,} bytes, fail2ban {client.version()}")
        print(f"{'jail':<12}{'what':<34}{'download':>10}{'parse':>8}{'ban':>9}"
              f"{'archive':>9}{'total s':>9}")
        for jail in ("bl-noaction", "bl-dummy"):
            source = BlocklistSource.objects.create(name=jail, url=url + f"?{jail}", jail=jail)
            run = run_import(source, actor="bench")
            assert run.status == "ok", run.error
            t = run.timings
            print(f"{jail:<12}{'BanGUI import':<34}{t['download']:>10.3f}{t['parse']:>8.3f}"
                  f"{t['ban']:>9.3f}{t['archive']:>9.3f}{t['total']:>9.3f}")
            client.unban_all()
            start = time.perf_counter()
            if jail == "bl-noaction":
                label = "raw socket, one banip per IP"
                for ip in ips:
                    client.call("set", jail, "banip", ip)
            else:
                label = "raw socket, one bulk banip"
                client.call("set", jail, "banip", *ips)
            floor = time.perf_counter() - start
            print(f"{jail:<12}{label:<34}{'':>10}{'':>8}{floor:>9.3f}{'':>9}{floor:>9.3f}")
            ratio = floor / t["total"] if jail == "bl-noaction" else t["total"] / floor
            what = "BanGUI is {:.1f}x faster" if jail == "bl-noaction" else \
                "BanGUI total / floor = {:.2f}x"
            print(f"{'':<12}{what.format(ratio)}")
            client.unban_all()
    finally:
        httpd.shutdown()
        sandbox.stop()


if __name__ == "__main__":
    main()
