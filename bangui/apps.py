import contextlib
import os
import secrets
from pathlib import Path

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_migrate


class BanguiConfig(AppConfig):
    name = "bangui"
    verbose_name = "BanGUI"

    def ready(self) -> None:
        # No database access here: schedules are written after migrate.
        from django.db.models import Field
        from django_q.signals import post_execute_in_worker, pre_execute

        from bangui import checks  # noqa: F401 (registers the system checks)
        from bangui.logging import task_finished, task_started
        from bangui.lookups import AnyOf
        from bangui.schedules import sync_after_migrate

        prepare_data_dir()  # files only, what the settings' import may not write
        Field.register_lookup(AnyOf)  # field__any_of: IN, the list as one parameter
        post_migrate.connect(sync_after_migrate, dispatch_uid="bangui.sync_schedules")
        # Log lines written while a task runs carry its id and name.
        pre_execute.connect(task_started, dispatch_uid="bangui.task_log_start")
        post_execute_in_worker.connect(task_finished, dispatch_uid="bangui.task_log_end")


def prepare_data_dir() -> None:
    """What a fresh installation lacks on its first start, made here and not
    when the settings are imported (importing them writes nothing): the data
    directory (the SQLite database, the auth log), the static root (whitenoise
    warns without it) and, without BANGUI_SECRET_KEY, the generated key, which
    the settings could not read yet. What cannot be made (a read-only or
    foreign data dir) is left to bangui/checks.py to report."""
    for path in (Path(settings.DATA_DIR), Path(settings.STATIC_ROOT)):
        with contextlib.suppress(OSError):
            path.mkdir(parents=True, exist_ok=True)
    path = getattr(settings, "SECRET_KEY_FILE", None)
    if path is None or _has_secret_key():
        return
    with contextlib.suppress(OSError):
        key = secret_key(Path(path))
        if key:
            # The one setting assigned after start-up, before anything signs:
            # the first process of a fresh installation loaded its settings
            # before the key file existed. (django-q2, which read the empty
            # key at import, then signs with settings.SECRET_KEY too.)
            settings.SECRET_KEY = key


def _has_secret_key() -> bool:
    try:
        return bool(settings.SECRET_KEY)
    except ImproperlyConfigured:  # Django refuses to hand out an empty one
        return False


def secret_key(path: Path) -> str:
    """The key kept in ``path``, generated first when there is none: written
    whole to a private (0600) file beside it, then linked into place, so
    processes starting together on a fresh installation read the one key
    that got there first, never a half-written one."""
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(64))
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink()
    return path.read_text().strip()
