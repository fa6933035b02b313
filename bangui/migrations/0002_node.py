from django.db import migrations, models


class Migration(migrations.Migration):
    """The one worker lease becomes one row per node (docs/fleet.md). The old
    row held only a lease, which a restart takes again: nothing to copy."""

    dependencies = [("bangui", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Node",
            fields=[
                ("name", models.CharField(max_length=63, primary_key=True, serialize=False)),
                ("labels", models.JSONField(blank=True, default=list,
                                            help_text='Group names for fleet-wide actions, '
                                                      'e.g. ["web"].')),
                ("holder", models.CharField(blank=True, default="", max_length=200,
                                            help_text="hostname:pid:random of the cluster "
                                                      "holding the lease; empty when "
                                                      "released.")),
                ("acquired_at", models.DateTimeField(blank=True, null=True)),
                ("heartbeat_at", models.DateTimeField(blank=True, null=True)),
                ("expires_at", models.DateTimeField(blank=True, null=True)),
                ("fail2ban_up", models.BooleanField(default=False)),
                ("fail2ban_version", models.CharField(blank=True, default="", max_length=40)),
                ("jails", models.JSONField(blank=True, default=list)),
                ("archive_synced_at", models.DateTimeField(
                    blank=True, null=True, help_text="When this node's fail2ban database was "
                                                     "last synced into the archive.")),
                ("facts_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={"ordering": ["name"]},
        ),
        migrations.DeleteModel(name="WorkerLease"),
    ]
