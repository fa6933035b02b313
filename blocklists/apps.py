from django.apps import AppConfig


def _close_orphaned_imports(**_):
    from blocklists.importer import close_orphaned_runs

    close_orphaned_runs()


class BlocklistsConfig(AppConfig):
    """Blocklist sources, their imports and the import log (docs/blocklists.md).
    Uses jails (fail2ban, the archive sync); jails knows nothing of it."""

    name = "blocklists"

    def ready(self):
        from nodes.worker import worker_started

        # A new worker closes the import runs its killed predecessor left
        # "running" (docs/blocklists.md).
        worker_started.connect(_close_orphaned_imports,
                               dispatch_uid="blocklists.orphaned_imports")
