from django.apps import AppConfig


def _close_orphaned_imports(**_):
    from jails.blocklists.importer import close_orphaned_runs

    close_orphaned_runs()


class JailsConfig(AppConfig):
    name = "jails"
    # Found by bangui/health.py: /health/ready's "fail2ban" check, /metrics.
    health_checks = {"fail2ban": "jails.health.fail2ban"}
    metrics = "jails.health.metrics"
    node_facts = "jails.health.node_facts"  # bangui/worker.py publish_facts
    node_tick = "jails.tasks.node_tick"  # bangui/worker.py run_tick, every few seconds
    socket_check = "jails.live.link.check_socket"  # the setup wizard's ping (accounts)

    def ready(self):
        from bangui.worker import worker_started

        # A new worker closes the import runs its killed predecessor left
        # "running" (docs/blocklists.md).
        worker_started.connect(_close_orphaned_imports, dispatch_uid="jails.orphaned_imports")
