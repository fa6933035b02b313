"""Before the fleet, BanGUI's schedules were named ``bangui:<task>`` (no
node); since, ``bangui:<task>@<node>``. The schedule writer used to prune
the old names on every run; an upgrade does it once here instead, off the
hot path. Frozen: no app code imported."""

from django.db import migrations


def drop_prefleet_rows(apps, schema_editor):
    schedule = apps.get_model("django_q", "Schedule")
    schedule.objects.filter(name__startswith="bangui:").exclude(name__contains="@").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("bangui", "0004_node_jail_settings"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(drop_prefleet_rows, migrations.RunPython.noop)]
