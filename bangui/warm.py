"""Make a fresh web worker ready before its first request (#29).

Without this, a worker's first request to each page compiles that page's
templates (the cached loader keeps them per process: 50-150 ms) and imports
its view module; and Python's full collections walk every object Django and
the app modules made at start (~0.3 M), each time ~20-60 ms inside some
request. ``gc.freeze()`` moves what start-up made into a generation the
collector never walks; objects made by requests are collected as before."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

from django.conf import settings
from django.template import TemplateSyntaxError, engines
from django.template.utils import get_app_template_dirs
from django.urls import get_resolver

logger = logging.getLogger(__name__)


def own_template_names() -> list[str]:
    """The names of BanGUI's own templates (the top templates/ and each of
    its apps'), not the installed packages' (Django admin's are compiled on
    first use: few pages, superusers only)."""
    base = Path(settings.BASE_DIR).resolve()
    dirs = [Path(d) for e in settings.TEMPLATES for d in e.get("DIRS", [])]
    dirs += [Path(d) for d in get_app_template_dirs("templates")]
    names = set()
    for folder in dirs:
        folder = folder.resolve()
        if not folder.is_relative_to(base) or ".venv" in folder.parts:
            continue
        names.update(str(p.relative_to(folder)) for p in folder.rglob("*.html"))
    return sorted(names)


def worker() -> int:
    """Import every view, compile BanGUI's templates, freeze what start-up
    built; the number of templates compiled."""
    get_resolver().url_patterns  # noqa: B018 (imports every urls and views module)
    engine = engines["django"]
    compiled = 0
    for name in own_template_names():
        try:
            engine.get_template(name)
            compiled += 1
        except TemplateSyntaxError as exc:  # a request to it shows the same error
            logger.warning("template %s does not compile: %s", name, exc)
    gc.collect()
    gc.freeze()
    return compiled
