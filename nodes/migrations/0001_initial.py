"""The Node model, taken over from the bangui app (issue #23): its table
already exists (``bangui_node``: made by bangui 0002, widened by 0003 and
0004) and keeps its name (``Meta.db_table``), so this creates the model in
the migration state only (``bangui 0006`` removed it from the bangui app's).
Nothing in the database changes; rows, indexes and constraints stay."""

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("bangui", "0006_node_leaves"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Node",
                    fields=[
                        ("name", models.CharField(max_length=63, primary_key=True, serialize=False)),
                        ("labels", models.JSONField(blank=True, default=list, help_text='Group names for fleet-wide actions, e.g. ["web"].')),
                        ("holder", models.CharField(blank=True, default="", help_text="hostname:pid:random of the cluster holding the lease; empty when released.", max_length=200)),
                        ("acquired_at", models.DateTimeField(blank=True, null=True)),
                        ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                        ("expires_at", models.DateTimeField(blank=True, null=True)),
                        ("fail2ban_up", models.BooleanField(default=False)),
                        ("fail2ban_version", models.CharField(blank=True, default="", max_length=40)),
                        ("jails", models.JSONField(blank=True, default=list)),
                        ("jail_counts", models.JSONField(blank=True, default=dict)),
                        ("jail_settings", models.JSONField(blank=True, default=dict)),
                        ("filters", models.JSONField(blank=True, default=list)),
                        ("archive_synced_at", models.DateTimeField(blank=True, help_text="When this node's fail2ban database was last synced into the archive.", null=True)),
                        ("facts_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "bangui_node",
                        "ordering": ["name"],
                    },
                ),
            ],
        ),
    ]
