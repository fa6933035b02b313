"""Jails as the config files describe them: enabled and inactive jails, their
backends, line-preserving edits of a jail's ``.local``, and BanGUI's own jails.

Reading the config through ``fail2ban-client -d`` costs ~60-100 ms, so results
are cached keyed on the mtimes and sizes of the jail config files.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from django.core.cache import cache

from jails.config import files as config_files
from jails.fail2ban import Fail2banError, validation
from jails.live import link

NOT_JAILS = {"INCLUDES", "DEFAULT", "Definition", "Init", "definition", "init"}
_TRUE = {"true", "yes", "1", "on"}


@dataclass(frozen=True)
class ConfiguredJail:
    name: str
    enabled: bool
    filter: str
    backend: str
    logpath: list[str]
    bantime: str
    findtime: str
    maxretry: str
    source: str  # the last file that defines the section


@dataclass(frozen=True)
class BanguiJail:
    name: str
    rel: str
    purpose: str
    bantime: int  # seconds, written into the file it creates
    explanation: str  # what the config page says where it offers to create it


BANGUI_JAILS = (
    BanguiJail("manual", "jail.d/bangui-manual.local",
               "bans made in BanGUI where no jail was chosen", 86400,
               "the dashboard's \"Ban an IP\" uses it when no jail fits: a ban for a day"),
    # A day and a bit: a daily list re-imported every 24 h keeps its IPs
    # banned without a gap, and an IP dropped from the list is free a day later.
    BanguiJail("blocklist-import", "jail.d/bangui-blocklist-import.local",
               "IPs imported from blocklists", 90000,
               "blocklist imports ban into it; 25 hours, so a daily list never lapses"),
    BanguiJail("shared-bans", "jail.d/bangui-shared-bans.local",
               "bans other fleet nodes shared with this one", 86400,
               "shared-ban rules apply other nodes' bans into it (docs/fleet.md): a day"),
)


def _jail_files(base: Path) -> list[Path]:
    """In fail2ban's reading order: jail.conf, jail.d/*.conf, jail.local, jail.d/*.local."""
    files = [base / "jail.conf"]
    jd = base / "jail.d"
    with contextlib.suppress(OSError):
        files += sorted(jd.glob("*.conf"))
    files.append(base / "jail.local")
    with contextlib.suppress(OSError):
        files += sorted(jd.glob("*.local"))
    return [f for f in files if f.is_file()]


def _signature() -> str:
    base = config_files.root()
    parts = [str(base)]
    for path in [*_jail_files(base), *sorted(base.glob("paths-*.conf")),
                 base / "fail2ban.conf", base / "fail2ban.local"]:
        with contextlib.suppress(OSError):
            st = path.stat()
            parts.append(f"{path}:{st.st_mtime_ns}:{st.st_size}")
    jd = base / "jail.d"
    with contextlib.suppress(OSError):
        parts.append(f"{jd}:{jd.stat().st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def configured_jails() -> dict[str, ConfiguredJail]:
    """Every jail section in the jail files, enabled or not (cached)."""
    key = f"bangui:jails:configured:{_signature()}"
    found = cache.get(key)
    if found is None:
        found = _parse_jails()
        cache.set(key, found, 3600)
    return found


def _parse_jails() -> dict[str, ConfiguredJail]:
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";",), strict=False)
    source: dict[str, str] = {}
    base = config_files.root()
    for path in _jail_files(base):
        try:
            text = path.read_text(errors="replace")
            single = configparser.RawConfigParser(inline_comment_prefixes=(";",),
                                                  strict=False)
            single.read_string(text, source=str(path))
            parser.read_string(text, source=str(path))
        except (OSError, configparser.Error):
            continue  # a broken file is fail2ban's config test's business
        for section in single.sections():
            source[section] = str(path.relative_to(base))
    jails = {}
    for name in parser.sections():
        if name in NOT_JAILS:
            continue
        sec = parser[name]

        def get(option: str, default: str = "", sec=sec) -> str:
            return sec.get(option, default, raw=True).strip()

        jails[name] = ConfiguredJail(
            name=name,
            enabled=get("enabled", "false").lower() in _TRUE,
            filter=get("filter"),
            backend=get("backend", "auto"),
            logpath=[ln.strip() for ln in get("logpath").splitlines() if ln.strip()],
            bantime=get("bantime"), findtime=get("findtime"), maxretry=get("maxretry"),
            source=source.get(name, ""),
        )
    return dict(sorted(jails.items()))


def backends() -> dict[str, str]:
    """Enabled jails and their backends, as fail2ban-client resolves them
    (cached; empty when the config cannot be read)."""
    key = f"bangui:jails:backends:{_signature()}"
    found = cache.get(key)
    if found is None:
        try:
            found = link.cli().jail_backends()
        except Fail2banError:
            found = {}
        cache.set(key, found, 3600)
    return found


def filters_in_use() -> dict[str, list[str]]:
    """Filter name -> the configured jails that use it (enabled or not)."""
    used: dict[str, list[str]] = {}
    for jail in configured_jails().values():
        if jail.filter:
            name = jail.filter.split("[", 1)[0].strip()
            used.setdefault(name, []).append(jail.name)
    return used


def inactive_jails(running: list[str]) -> list[ConfiguredJail]:
    """Configured jails fail2ban does not run: disabled ones, and enabled
    ones that were stopped (``fail2ban-client stop JAIL``, BanGUI's Stop)
    or failed to start."""
    return [j for j in configured_jails().values() if j.name not in running]


# -- line-preserving edits of a jail's .local -----------------------------------------
_SECTION = re.compile(r"^\s*\[(?P<name>[^\]]+)\]\s*$")
_OPTION = re.compile(r"^(?P<key>[A-Za-z0-9_.\-]+)\s*[=:]")


def set_options(text: str, section: str, values: dict[str, str | None]) -> str:
    """Set (or with None, remove) options of one section, keeping every other
    line and comment as it was. Multi-line values get continuation lines."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines)
                  if (m := _SECTION.match(ln)) and m["name"].strip() == section), None)
    if start is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines.append(f"[{section}]")
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if _SECTION.match(lines[i])),
               len(lines))
    body = lines[start + 1:end]
    pending = dict(values)
    out: list[str] = []
    skipping = False
    for ln in body:
        if skipping and ln[:1] in (" ", "\t") and ln.strip():
            continue  # continuation of a replaced value
        skipping = False
        m = _OPTION.match(ln)
        if m and m["key"].lower() in {k.lower() for k in pending}:
            key = next(k for k in pending if k.lower() == m["key"].lower())
            value = pending.pop(key)
            skipping = True
            if value is not None:
                out.extend(_render(key, value))
            continue
        out.append(ln)
    while out and not out[-1].strip():
        out.pop()
    for key, value in pending.items():
        if value is not None:
            out.extend(_render(key, value))
    tail = lines[end:]
    result = lines[:start + 1] + out + ([""] if tail else []) + tail
    return "\n".join(result).rstrip("\n") + "\n"


def _render(key: str, value: str) -> list[str]:
    parts = [p.strip() for p in str(value).splitlines() if p.strip()] or [""]
    first = f"{key} = {parts[0]}".rstrip()
    return [first] + [f"          {p}" for p in parts[1:]]


def local_for(jail: str) -> str:
    """The .local BanGUI edits for a jail: its own ``jail.d/<name>.local``,
    or the BanGUI file that created it."""
    jail = validation.jail_name(jail)
    for own in BANGUI_JAILS:
        if own.name == jail:
            return own.rel
    return f"jail.d/{jail}.local"


def create_filter(name: str, text: str) -> config_files.Outcome:
    """A new ``filter.d/NAME.local`` through the config transaction. Refused
    when the .local exists (edit it instead) or a distribution filter of that
    name does (a .local beside it would silently override it)."""
    rel = f"filter.d/{name}.local"
    if config_files.read(rel).exists:
        raise config_files.ConfigError(
            f"{rel} exists already; edit it in the file editor instead")
    if config_files.resolve(f"filter.d/{name}.conf").exists():
        raise config_files.ConfigError(
            f"a distribution filter {name!r} exists; pick another name, or override it by "
            "editing its .local")
    return config_files.apply([config_files.Change(rel, text, config_files.ABSENT)])


def apply_change(jail: str, values: dict[str, str | None]) -> config_files.Outcome:
    """Set ``values`` in the jail's .local through the config transaction
    (validate, back up, reload, probe, roll back)."""
    return config_files.apply([change_jail(jail, values)])


def change_jail(jail: str, values: dict[str, str | None]) -> config_files.Change:
    """The change that sets ``values`` for a jail of fail2ban's config. A
    jail the config does not define is refused: writing its settings would
    create ``jail.d/<name>.local`` for a jail that does not exist."""
    if validation.jail_name(jail) not in configured_jails():
        raise config_files.ConfigError(
            f"fail2ban's config has no jail named {jail!r}; nothing was written. Define "
            "the jail in a jail.d/*.local file first")
    rel = local_for(jail)
    current = config_files.read(rel)
    return config_files.Change(rel, set_options(current.text or "", jail, values),
                               current.version)


# -- BanGUI's own jails ------------------------------------------------------------------
def bangui_jail_text(jail: BanguiJail) -> str:
    # A jail that only receives bans through the socket: no filter (no
    # failregex), a log path that always exists and never grows, and the
    # polling backend (no inotify/systemd needed). Verified on fail2ban 1.0.2.
    return (
        f"# Created by BanGUI: {jail.purpose}.\n"
        "# Safe to edit (bantime, action ...); BanGUI never overwrites this file.\n"
        f"[{jail.name}]\n"
        "enabled = true\n"
        "filter =\n"
        "backend = polling\n"
        "logpath = /dev/null\n"
        f"bantime = {jail.bantime}\n"
    )


def missing_bangui_jails() -> list[BanguiJail]:
    configured = configured_jails()
    out = []
    for jail in BANGUI_JAILS:
        if jail.name in configured or config_files.resolve(jail.rel).exists():
            continue
        out.append(jail)
    return out


def provision() -> config_files.Outcome | None:
    """Create the missing BanGUI jails in one config transaction; an
    operator's file or section of the same name is left alone. None when
    nothing was missing."""
    missing = missing_bangui_jails()
    if not missing:
        return None
    changes = [config_files.Change(j.rel, bangui_jail_text(j), config_files.ABSENT)
               for j in missing]
    return config_files.apply(changes)


def log_dir_ok(path: str, allowed: list[str]) -> bool:
    real = os.path.realpath(path)
    return any(Path(real).is_relative_to(os.path.realpath(d)) for d in allowed)
