"""Jails as the config files describe them: enabled and inactive jails, their
backends, line-preserving edits of a jail's ``.local``, and BanGUI's own jails.

Reading the config through ``fail2ban-client -d`` costs ~60-100 ms, so results
are cached keyed on the mtimes and sizes of the jail config files.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import re
from dataclasses import dataclass, fields
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
    source: str  # the first file that defines the section: where it is defined
    # Journal matches the jail reads with backend = systemd (its own
    # journalmatch, else its filter's), one OR'ed match per entry.
    journalmatch: tuple[str, ...] = ()
    # The banaction* options its action needs but the config does not
    # define (fail2ban 1.1.1's jail.conf no longer sets banaction).
    banaction_missing: tuple[str, ...] = ()
    # The later files that define the section again (its .local, jail.d/…),
    # in the order fail2ban reads them: the last one wins.
    overrides: tuple[str, ...] = ()

    @property
    def journal(self) -> bool:
        """Whether it reads the systemd journal (``systemd`` or ``systemd[...]``)."""
        return is_journal(self.backend)


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
    # fail2ban gives every ban of a jail that jail's bantime (banip takes no
    # time of its own, 1.0.2 and 1.1.1): a permanent ban needs a jail whose
    # bantime is -1. fail2ban restores its bans after a restart.
    BanguiJail("permanent", "jail.d/bangui-permanent.local",
               "permanent bans made in BanGUI", -1,
               "the dashboard's \"Ban permanently\" bans into it: bantime -1, until unbanned"),
)


def published(jails: dict | None, name: str) -> ConfiguredJail | None:
    """Jail ``name`` of another node's config as its worker published it
    (jails.health.node_facts), or None."""
    data = (jails or {}).get(name)
    if not isinstance(data, dict):
        return None
    known = {f.name for f in fields(ConfiguredJail)}
    try:
        return ConfiguredJail(**{k: tuple(v) if isinstance(v, list) and k != "logpath" else v
                                 for k, v in data.items() if k in known})
    except TypeError:  # published by an older BanGUI: missing fields
        return None


def is_journal(backend: str | None) -> bool:
    return (backend or "").split("[", 1)[0].strip().lower() == "systemd"


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
    for path in [*_jail_files(base), *sorted(base.glob("paths-*.*")),
                 base / "fail2ban.conf", base / "fail2ban.local"]:
        with contextlib.suppress(OSError):
            st = path.stat()
            parts.append(f"{path}:{st.st_mtime_ns}:{st.st_size}")
    # Directories too: a filter's journalmatch and the action.d a fix names
    # (BanGUI's atomic writes rename into the directory, changing its mtime).
    for d in (base / "jail.d", base / "filter.d", base / "action.d"):
        with contextlib.suppress(OSError):
            parts.append(f"{d}:{d.stat().st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def configured_jails() -> dict[str, ConfiguredJail]:
    """Every jail section in the jail files, enabled or not (cached)."""
    key = f"bangui:jails:configured:{_signature()}"
    found = cache.get(key)
    if found is None:
        found = _parse_jails()
        cache.set(key, found, 3600)
    return found


_PARSER_OPTS = {"inline_comment_prefixes": (";",), "strict": False}
_INTERPOLATION = re.compile(r"%\((?P<key>[^)]+)\)s")


def _with_includes(path: Path, seen: set[Path], sibling_local: bool = False) -> list[Path]:
    """``path`` with the files its ``[INCLUDES]`` names (before, after), as
    fail2ban reads them: jail.conf brings paths-debian.conf, which brings
    paths-common.conf, and their DEFAULTs (banaction, *_backend) count.
    ``sibling_local``: an included name.conf is followed by its name.local."""
    if path in seen or not path.is_file():
        return []
    seen.add(path)
    inc = configparser.RawConfigParser(**_PARSER_OPTS)
    with contextlib.suppress(OSError, configparser.Error):
        inc.read_string(path.read_text(errors="replace"), source=str(path))

    def named(option: str) -> list[Path]:
        out: list[Path] = []
        for name in inc.get("INCLUDES", option, fallback="").split():
            out += _with_includes(path.parent / name, seen, sibling_local=True)
        return out

    files = [*named("before"), path]
    if sibling_local and path.suffix == ".conf":
        files += _with_includes(path.with_suffix(".local"), seen)
    return files + named("after")


def _interpolate(value: str, lookup, missing: set[str], depth: int = 0) -> str:
    """fail2ban's ``%(name)s`` substitution; names it cannot resolve go to
    ``missing`` (fail2ban itself refuses such a config)."""
    def sub(m: re.Match) -> str:
        key = m["key"]
        found = lookup(key) if depth < 12 else None
        if found is None:
            missing.add(key)
            return ""
        return _interpolate(found, lookup, missing, depth + 1)

    return _INTERPOLATION.sub(sub, value)


def _section_lookup(parser: configparser.RawConfigParser, section: str):
    """How fail2ban resolves a name in a jail: the jail's option, else
    [DEFAULT]'s; ``default/x`` and ``known/x`` read [DEFAULT] (``known/``
    is the value before an override: DEFAULT's is the usual one)."""
    def lookup(key: str) -> str | None:
        if key == "__name__":
            return section
        key = key.lower()
        if "/" in key:
            prefix, key = key.split("/", 1)
            if prefix in ("default", "known"):
                return parser.defaults().get(key)
            return None
        if parser.has_section(section):
            return parser.get(section, key, raw=True, fallback=None)
        return parser.defaults().get(key)
    return lookup


def _filter_journalmatch(base: Path, filter_spec: str) -> tuple[str, ...]:
    """The ``journalmatch`` of a filter (filter.d/NAME.conf and .local with
    their includes), one entry per line."""
    name = filter_spec.split("[", 1)[0].strip()
    if not name or "/" in name or name.startswith("."):
        return ()
    parser = configparser.RawConfigParser(**_PARSER_OPTS)
    seen: set[Path] = set()
    for path in [*_with_includes(base / "filter.d" / f"{name}.conf", seen),
                 *_with_includes(base / "filter.d" / f"{name}.local", seen)]:
        with contextlib.suppress(OSError, configparser.Error):
            parser.read_string(path.read_text(errors="replace"), source=str(path))

    def lookup(key: str) -> str | None:
        for sec in ("Definition", "Init"):  # some filters set journalmatch in [Init]
            if parser.has_section(sec) and parser.has_option(sec, key):
                return parser.get(sec, key, raw=True)
        return None

    return _lines(_interpolate(lookup("journalmatch") or "", lookup, set()))


def _lines(value: str) -> tuple[str, ...]:
    return tuple(ln.strip() for ln in value.splitlines() if ln.strip())


def _parse_jails() -> dict[str, ConfiguredJail]:
    parser = configparser.RawConfigParser(**_PARSER_OPTS)
    source: dict[str, list[str]] = {}
    base = config_files.root()
    seen: set[Path] = set()
    for jail_file in _jail_files(base):
        for path in _with_includes(jail_file, seen):
            try:
                text = path.read_text(errors="replace")
                single = configparser.RawConfigParser(**_PARSER_OPTS)
                single.read_string(text, source=str(path))
                parser.read_string(text, source=str(path))
            except (OSError, configparser.Error):
                continue  # a broken file is fail2ban's config test's business
            rel = str(path.relative_to(base)) if path.is_relative_to(base) else str(path)
            for section in single.sections():
                if rel not in source.setdefault(section, []):
                    source[section].append(rel)
    jails = {}
    for name in parser.sections():
        if name in NOT_JAILS:
            continue
        lookup = _section_lookup(parser, name)

        def get(option: str, default: str = "", lookup=lookup) -> str:
            raw = lookup(option)
            return default if raw is None else _interpolate(raw, lookup, set()).strip()

        backend = get("backend", "auto")
        filter_spec = get("filter")
        journalmatch: tuple[str, ...] = ()
        if is_journal(backend):
            # The jail's own journalmatch wins over its filter's (as in fail2ban).
            journalmatch = _lines(get("journalmatch")) or _filter_journalmatch(base, filter_spec)
        missing: set[str] = set()
        _interpolate(lookup("action") or "", lookup, missing)
        jails[name] = ConfiguredJail(
            name=name,
            enabled=get("enabled", "false").lower() in _TRUE,
            filter=filter_spec,
            backend=backend,
            logpath=list(_lines(get("logpath"))),
            bantime=get("bantime"), findtime=get("findtime"), maxretry=get("maxretry"),
            source=(source.get(name) or [""])[0],
            overrides=tuple(source.get(name, [])[1:]),
            journalmatch=journalmatch,
            banaction_missing=tuple(sorted(k for k in missing if k.startswith("banaction"))),
        )
    return dict(sorted(jails.items()))


# -- a missing banaction -------------------------------------------------------------
@dataclass(frozen=True)
class MissingBanaction:
    """Jails whose action needs a ``banaction*`` the config never sets."""
    enabled: list[str]
    disabled: list[str]
    fix: list[str]  # the lines to add to [DEFAULT] in jail.local


# What the fix suggests, best first, when action.d has it.
_BANACTIONS = {"banaction": ("nftables-multiport", "iptables-multiport"),
               "banaction_allports": ("nftables-allports", "iptables-allports")}


def banaction_fix(keys) -> list[str]:
    """One line per missing option, naming an action this config has."""
    actions = config_files.root() / "action.d"
    lines = []
    for key in sorted(keys):
        choices = _BANACTIONS.get(key, (_BANACTIONS["banaction"][0],))
        pick = next((c for c in choices if (actions / f"{c}.conf").is_file()), choices[0])
        lines.append(f"{key} = {pick}")
    return lines


def missing_banaction() -> MissingBanaction | None:
    """None when every jail's action resolves. fail2ban refuses the whole
    config when one enabled jail's does not ("contains an interpolation key
    'banaction' which is not a valid option name"), so the pages name it
    before anyone reloads."""
    affected = [j for j in configured_jails().values() if j.banaction_missing]
    if not affected:
        return None
    keys = {k for j in affected for k in j.banaction_missing}
    return MissingBanaction(enabled=[j.name for j in affected if j.enabled],
                            disabled=[j.name for j in affected if not j.enabled],
                            fix=banaction_fix(keys))


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
    configured = configured_jails().get(validation.jail_name(jail))
    if configured is None:
        raise config_files.ConfigError(
            f"fail2ban's config has no jail named {jail!r}; nothing was written. Define "
            "the jail in a jail.d/*.local file first")
    if str(values.get("enabled", "")).lower() in _TRUE and configured.banaction_missing:
        # fail2ban's own test would refuse it with an interpolation error;
        # say what to add instead.
        raise config_files.ConfigError(
            f"{jail} has no ban action: its action uses "
            f"{', '.join(configured.banaction_missing)}, which the config does not define. "
            f"Add \"{'; '.join(banaction_fix(configured.banaction_missing))}\" to [DEFAULT] "
            "in jail.local; nothing was written")
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


