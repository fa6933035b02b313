"""The Node model moved to its own app, ``nodes`` (issue #23). Its table
stays as it is (``bangui_node``): this removes the model from the bangui
app's migration state only, and ``nodes 0001`` takes it over, again in the
state only. Nothing in the database changes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("bangui", "0005_drop_prefleet_schedules"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Node")],
            database_operations=[],
        ),
    ]
