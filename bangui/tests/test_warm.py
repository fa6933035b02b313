"""A web worker gets ready before its first request (bangui.warm, #29)."""

import gc
import os
import subprocess
import sys
from pathlib import Path

from django.template import engines

from bangui import warm

ROOT = Path(__file__).resolve().parents[2]


def test_it_lists_our_templates_not_the_packages():
    names = warm.own_template_names()
    assert {"base.html", "jails/jail_detail.html", "jails/dashboard.html"} <= set(names)
    assert not [n for n in names if n.startswith("admin/")]  # Django admin's own


def test_it_compiles_every_template_and_freezes_what_start_up_built():
    loader = engines["django"].engine.template_loaders[0]
    while not hasattr(loader, "get_template_cache"):  # template-partials wraps it
        loader = loader.loaders[0]
    loader.reset()
    try:
        assert warm.worker() == len(warm.own_template_names())
        cached = {key.split("-")[0] for key in loader.get_template_cache}
        assert set(warm.own_template_names()) <= cached
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_wsgi_module_warms_the_worker():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bangui.settings")
    out = subprocess.run([sys.executable, "-c", "import gc, bangui.wsgi; "
                          "print(gc.get_freeze_count())"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) > 10_000
