from django.apps import AppConfig


class NodesConfig(AppConfig):
    """The fleet's nodes (docs/fleet.md): the Node row and its lease, node
    names and queues, the task cluster (``manage.py qcluster``), ``/nodes/``,
    ``manage.py nodes`` and ``node_role``. Uses only the project (bangui);
    what a node publishes and does on its tick comes from the apps through
    hooks (``node_facts``, ``node_tick``: bangui/hooks.py)."""

    name = "nodes"
    # bangui/health.py asks the apps: the task cluster's lease and the nodes.
    health_checks = {"worker": "nodes.health.check_worker"}
    metrics = "nodes.health.metrics"

    def ready(self) -> None:
        from nodes import checks  # noqa: F401 (registers the one-worker check)
