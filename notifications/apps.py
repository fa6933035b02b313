from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Notifications (docs/notifications.md): channels, rules, what was sent.
    It sits at the top, like the API: it reads the other apps, nothing
    imports it."""

    name = "notifications"
    # GET /api/v1/notifications/ (api/reads.py asks through bangui.hooks).
    notifications_page = "notifications.reads.page"
    # Every few seconds on each node (nodes/worker.py): the coordinator
    # looks at the rules (notifications.tasks.tick).
    node_tick = "notifications.tasks.tick"
    verbose_name = "Notifications"
    default_auto_field = "django.db.models.BigAutoField"
