"""System checks: the data directory and secret key that
``BanguiConfig.ready()`` makes on a fresh installation are there (the
task cluster's one-worker check is the nodes app's: nodes/checks.py).

Run by every ``manage.py`` command.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured


def data_dir_errors() -> list[Error]:
    """What BanguiConfig.ready() could not make (a data dir BanGUI's user
    may not create, a key file it may not write): said here, with the
    variable to set, instead of as an odd failure later."""
    errors = []
    data_dir = getattr(settings, "DATA_DIR", None)
    if data_dir is not None and not Path(data_dir).is_dir():
        errors.append(Error(
            f"The data directory {data_dir} does not exist and could not be made.",
            hint="Set BANGUI_DATA_DIR to a directory BanGUI's user may write: it holds the "
                 "SQLite database, the auth log, config backups and, without "
                 "BANGUI_SECRET_KEY, the generated secret key.",
            id="bangui.E003",
        ))
    try:
        has_key = bool(settings.SECRET_KEY)
    except ImproperlyConfigured:  # Django refuses to hand out an empty one
        has_key = False
    if not has_key:
        key_file = getattr(settings, "SECRET_KEY_FILE", None)
        errors.append(Error(
            "There is no secret key: BANGUI_SECRET_KEY is not set"
            + (f" and {key_file} could not be made." if key_file else "."),
            hint="Set BANGUI_SECRET_KEY to 50 or more random characters (production does), "
                 "or let BanGUI's user write BANGUI_DATA_DIR (the demo's generated key).",
            id="bangui.E004",
        ))
    return errors


@register()
def check_data_dir(app_configs=None, **kwargs) -> list[Error]:
    return data_dir_errors()
