"""fail2ban's server settings (log level, log target, dbpurgeage), kept in
``fail2ban.local``."""

from __future__ import annotations

from jails.config import files as config_files
from jails.config.jail import set_options

SERVER_LOCAL = "fail2ban.local"


def save(values: dict[str, str]) -> config_files.Outcome:
    """Write ``values`` to fail2ban.local's [Definition] through the config
    transaction (validate, back up, reload, probe, roll back), so they
    survive a restart and a bad one cannot leave fail2ban down."""
    current = config_files.read(SERVER_LOCAL)
    text = set_options(current.text or "", "Definition", values)
    return config_files.apply([config_files.Change(SERVER_LOCAL, text, current.version)])
