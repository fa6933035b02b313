"""Every archive row and sync cursor names its node (docs/fleet.md).

Existing rows get this install's node (BANGUI_NODE when migrate runs, the
host name by default). On SQLite the field and constraint changes rebuild
the table, which drops the daily rollup's triggers: they are installed
again at the end (the copy fires no trigger, so the rollup stays exact).
"""

import bangui.nodename
from django.db import migrations, models


def reinstall_triggers(apps, schema_editor):
    from jails.archive import rollup

    rollup.install_triggers(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('jails', '0007_banevent_ip_key'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='banevent',
            name='banevent_unique_ban',
        ),
        migrations.AddField(
            model_name='banevent',
            name='node',
            field=models.CharField(default=bangui.nodename.local, help_text='The node whose fail2ban holds the ban.', max_length=63),
        ),
        migrations.AddField(
            model_name='syncstate',
            name='node',
            field=models.CharField(default=bangui.nodename.local, help_text='The node whose fail2ban database this is.', max_length=63),
        ),
        migrations.AlterField(
            model_name='syncstate',
            name='db_path',
            field=models.CharField(max_length=1024),
        ),
        migrations.AddIndex(
            model_name='banevent',
            index=models.Index(fields=['node', 'banned_at'], name='banevent_node_time'),
        ),
        migrations.AddConstraint(
            model_name='banevent',
            constraint=models.UniqueConstraint(fields=('node', 'jail', 'ip', 'banned_at'), name='banevent_unique_node_ban'),
        ),
        migrations.AddConstraint(
            model_name='syncstate',
            constraint=models.UniqueConstraint(fields=('node', 'db_path'), name='syncstate_node_db'),
        ),
        migrations.RunPython(reinstall_triggers, migrations.RunPython.noop),
    ]
