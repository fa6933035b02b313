"""Tiny helpers that read BANGUI_* settings from the environment.

Each helper rejects a bad value with a message naming the variable, so a
typo in a deployment fails at start-up instead of surfacing as odd
behaviour later. Only ``bangui/settings.py`` calls these.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ImproperEnv(ValueError):
    """An environment variable holds a value BanGUI cannot use."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "", environ: Mapping[str, str] = os.environ) -> str:
    return environ.get(name, default)


def env_bool(name: str, default: bool = False, environ: Mapping[str, str] = os.environ) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperEnv(
        f"{name}={raw!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off"
    )


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] = os.environ,
) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperEnv(f"{name}={raw!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise ImproperEnv(f"{name}={value} is below the minimum of {minimum}")
    if maximum is not None and value > maximum:
        raise ImproperEnv(f"{name}={value} is above the maximum of {maximum}")
    return value


def env_list(name: str, default: list[str], environ: Mapping[str, str] = os.environ) -> list[str]:
    raw = environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(
    name: str, default: str, choices: set[str], environ: Mapping[str, str] = os.environ
) -> str:
    raw = environ.get(name, default).strip()
    if raw not in choices:
        raise ImproperEnv(f"{name}={raw!r} must be one of: {', '.join(sorted(choices))}")
    return raw


def env_time_zone(name: str, environ: Mapping[str, str] = os.environ) -> str:
    """An IANA zone name such as ``Europe/Berlin``, or "" (unset)."""
    raw = environ.get(name, "").strip()
    if not raw:
        return ""

    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImproperEnv(
            f"{name}={raw!r} is not a time zone; use an IANA name such as Europe/Berlin or UTC"
        ) from None
    return raw
