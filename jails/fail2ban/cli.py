"""What fail2ban only does through its own ``fail2ban-client`` program.

A reload is a stream of commands that ``fail2ban-client`` builds from the
config files; sent over the raw socket with an empty stream, fail2ban drops
every jail. So reloads, config tests and config dumps run the real CLI
(~70 ms each), pointed at BanGUI's socket and config dir.
"""

from __future__ import annotations

import ast
import re
import subprocess
from dataclasses import dataclass

from . import validation
from .errors import CommandError, Timeout, Unreachable

# A log line of fail2ban-client: "2024-01-01 10:00:00,123 fail2ban [123]: ERROR ..."
_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ \S+\s+\[\d+\]: (?:ERROR|CRITICAL)\s+")


@dataclass(frozen=True)
class Fail2banCli:
    config_dir: str
    socket_path: str
    binary: str = "fail2ban-client"
    timeout: float = 60.0

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [self.binary, "-c", self.config_dir, "-s", self.socket_path, *args]
        try:
            return subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise Timeout(self.socket_path, self.timeout, list(args)) from None
        except FileNotFoundError:
            raise CommandError(list(args), "FileNotFoundError",
                               f"{self.binary!r} is not installed or not on PATH") from None

    @staticmethod
    def _reason(result: subprocess.CompletedProcess) -> str:
        lines = [ln for ln in (result.stdout + "\n" + result.stderr).splitlines()
                 if ln.strip() and "WARNING" not in ln]
        return lines[-1].strip() if lines else f"exit code {result.returncode}"

    def dump(self) -> list[list[str]]:
        """The command stream fail2ban-client would send for the current config."""
        result = self._run("-d")
        if result.returncode != 0:
            raise CommandError(["-d"], "ConfigError", self._reason(result))
        stream = []
        for line in result.stdout.splitlines():
            line = line.strip()
            if line.startswith("["):
                try:
                    stream.append(ast.literal_eval(line))
                except (ValueError, SyntaxError):
                    continue
        return stream

    def jail_backends(self) -> dict[str, str]:
        """Enabled jails in the config and their backends (``add NAME BACKEND``)."""
        return {cmd[1]: cmd[2] for cmd in self.dump()
                if len(cmd) >= 3 and cmd[0] == "add"}

    def test(self) -> tuple[bool, str]:
        """fail2ban's own configuration test (``fail2ban-client -t``): (True,
        "") when it passes, else False and fail2ban's reasons (its ERROR
        lines without the log prefix, at most three). Raises CommandError
        when the program is missing, Timeout when it hangs."""
        result = self._run("-t")
        if result.returncode == 0:
            return True, ""
        reasons = []
        for line in (result.stderr + "\n" + result.stdout).splitlines():
            if _LOG_PREFIX.match(line) and "test configuration failed" not in line:
                reasons.append(_LOG_PREFIX.sub("", line).replace(
                    "Failed during configuration: ", ""))
        return False, "; ".join(reasons[:3]) or self._reason(result)

    def reload(self, jail: str | None = None) -> None:
        """Reload everything, or one jail. Refuses a config that has no
        enabled jail at all: that stream would make fail2ban drop them all."""
        if jail is None and not self.jail_backends():
            raise CommandError(["reload"], "EmptyStream",
                               "the configuration enables no jail; reloading it would stop "
                               "every running jail, so BanGUI did not reload")
        args = ["reload"] if jail is None else ["reload", validation.jail_name(jail)]
        self._check(self._run(*args), args)

    def start_jail(self, jail: str) -> None:
        """Start a stopped jail from its config (``stop`` removes it entirely)."""
        args = ["reload", "--if-exists", validation.jail_name(jail)]
        self._check(self._run(*args), args)

    def _check(self, result: subprocess.CompletedProcess, args: list[str]) -> None:
        if result.returncode == 0:
            return
        reason = self._reason(result)
        if "Failed to access socket" in reason or "Is fail2ban running" in reason:
            raise Unreachable(self.socket_path, reason)
        raise CommandError(args, "fail2ban-client", reason)
