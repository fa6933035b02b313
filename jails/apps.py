from django.apps import AppConfig


def _close_orphaned_imports(**_):
    from jails.blocklists.importer import close_orphaned_runs

    close_orphaned_runs()


class JailsConfig(AppConfig):
    name = "jails"

    def ready(self):
        from bangui.worker import worker_started

        # A new worker closes the import runs its killed predecessor left
        # "running" (docs/blocklists.md).
        worker_started.connect(_close_orphaned_imports, dispatch_uid="jails.orphaned_imports")
