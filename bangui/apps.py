from django.apps import AppConfig
from django.db.models.signals import post_migrate


class BanguiConfig(AppConfig):
    name = "bangui"
    verbose_name = "BanGUI"

    def ready(self) -> None:
        # Only connects a receiver: schedules are written after migrate, not
        # here (no database access in ready()).
        from django_q.signals import post_execute_in_worker, pre_execute

        from bangui import checks  # noqa: F401 (registers the one-worker check)
        from bangui.logging import task_finished, task_started
        from bangui.schedules import sync_after_migrate

        post_migrate.connect(sync_after_migrate, dispatch_uid="bangui.sync_schedules")
        # Log lines written while a task runs carry its id and name.
        pre_execute.connect(task_started, dispatch_uid="bangui.task_log_start")
        post_execute_in_worker.connect(task_finished, dispatch_uid="bangui.task_log_end")
