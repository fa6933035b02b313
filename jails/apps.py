from django.apps import AppConfig


class JailsConfig(AppConfig):
    name = "jails"
    # Found by bangui/health.py: /health/ready's "fail2ban" check, /metrics.
    health_checks = {"fail2ban": "jails.health.fail2ban"}
    metrics = "jails.health.metrics"
    node_facts = "jails.health.node_facts"  # nodes/worker.py publish_facts
    node_tick = "jails.tasks.node_tick"  # nodes/worker.py run_tick, every few seconds
    socket_check = "jails.live.link.check_socket"  # the setup wizard's ping (accounts)
