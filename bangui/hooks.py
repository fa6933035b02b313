"""How the project asks its apps for things without importing them.

An app offers a hook as an attribute of its AppConfig holding a dotted
path (or a ``{name: dotted path}`` dict); :func:`app_hooks` imports them on
use. So the arrows stay one way: ``bangui`` and ``accounts`` never import
``jails`` (bangui/tests/test_imports.py), yet /health/ready checks
fail2ban and the setup wizard pings its socket.

Hooks in use: ``health_checks`` and ``metrics`` (bangui/health.py),
``socket_check`` (accounts/forms.py), ``credits`` (the footer's data credits,
bangui/context_processors.py), ``node_facts`` (what a node's worker
publishes about its fail2ban) and ``node_tick`` (what it does every few
seconds), both nodes/worker.py; ``ban_warnings`` (what a ban should ask
first, jails/live/actions.py) and ``address_notes`` (what the IP page says
of an address), both offered by the allow-list; ``notifications_page`` (the
API's way to the stored notifications, api/reads.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from django.apps import apps
from django.utils.module_loading import import_string


def app_hooks(attr: str) -> Iterator[tuple[str, Callable]]:
    """(name, function) for each hook the installed apps offer under
    ``attr``, in INSTALLED_APPS order; a plain dotted path is named after
    its app's label."""
    for config in apps.get_app_configs():
        hooks = getattr(config, attr, None)
        if isinstance(hooks, str):
            hooks = {config.label: hooks}
        for name, path in (hooks or {}).items():
            yield name, import_string(path)


def app_hook(attr: str) -> Callable | None:
    """The first app's hook under ``attr``, or None when no app offers one."""
    return next((func for _, func in app_hooks(attr)), None)
