from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save


def _close_orphaned_imports(**_):
    from jails.blocklists.importer import close_orphaned_runs

    close_orphaned_runs()


def _blocklist_schedules_of_this_node(**_):
    from jails.blocklists.schedules import sync_node

    sync_node()


def _blocklist_schedules(sender, plan=None, **_):
    """After ``migrate``: every source's schedules as its targets say. Not
    after a migrate to an older state (a test's or an operator's partial
    one), whose tables the current models do not match."""
    if sender.name != "jails" or any(backwards for _, backwards in plan or ()):
        return
    from django.db import DatabaseError, transaction

    from jails.blocklists.schedules import sync_all

    try:
        with transaction.atomic():  # a failure leaves the connection usable (PostgreSQL)
            sync_all()
    except DatabaseError:  # tables older than the code: the next full migrate writes them
        pass


def _blocklist_schedules_after_node_change(**_):
    """Never in the way of a node registering (this runs inside its save)."""
    import logging

    from django.db import DatabaseError, transaction

    from jails.blocklists.schedules import sync_all

    try:
        with transaction.atomic():
            sync_all()
    except DatabaseError:
        logging.getLogger(__name__).exception("blocklist schedules not synced after a node "
                                              "change; the next save or start does it")


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
        # A node that starts gets the blocklist schedules aimed at it (and
        # loses those no longer aimed at it); migrate rewrites them all
        # (jails/blocklists/schedules.py).
        worker_started.connect(_blocklist_schedules_of_this_node,
                               dispatch_uid="jails.blocklist_schedules")
        post_migrate.connect(_blocklist_schedules, dispatch_uid="jails.blocklist_schedules")
        # A node's labels edited in Django admin move the sources aimed at a label.
        post_save.connect(_blocklist_schedules_after_node_change, sender="bangui.Node",
                          dispatch_uid="jails.blocklist_schedules_nodes")
