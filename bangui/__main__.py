"""``bangui`` (the console entry of an installed BanGUI) and ``python -m
bangui``: what ``manage.py`` is in a source tree, e.g. ``bangui migrate``,
``bangui qcluster``, ``bangui setup``."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bangui.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
