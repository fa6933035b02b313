from django.apps import AppConfig
from django.db.models.signals import post_migrate


class BanguiConfig(AppConfig):
    name = "bangui"
    verbose_name = "BanGUI"

    def ready(self) -> None:
        # Only connects a receiver: schedules are written after migrate, not
        # here (no database access in ready()).
        from bangui.schedules import sync_after_migrate

        post_migrate.connect(sync_after_migrate, dispatch_uid="bangui.sync_schedules")
