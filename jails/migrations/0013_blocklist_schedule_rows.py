"""Blocklist imports are no longer one django-q2 schedule per source and
node (``blocklist:<id>@<node>``, written by a second schedule engine): each
node decides from the data which sources are due (the fixed
``bangui:blocklist-imports@<node>`` schedule, jails/blocklists/schedules.py).
The old rows go; frozen here, no app code imported."""

from django.db import migrations


def drop_per_source_schedules(apps, schema_editor):
    schedule = apps.get_model("django_q", "Schedule")
    schedule.objects.filter(name__startswith="blocklist:").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("jails", "0012_livebanstate_fingerprint"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(drop_per_source_schedules, migrations.RunPython.noop)]
