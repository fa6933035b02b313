"""The blocklist models, taken over from the jails app (issue #23): their
tables already exist (``jails_blocklistsource``, ``jails_blocklistclaim``,
``jails_importrun``: made by jails 0002, 0005, 0011) and keep their names
(``Meta.db_table``), so this creates the models in the migration state only
(``jails 0014`` removed them from the jails app's). Nothing in the database
changes; rows, sequences, indexes and constraints stay as they are."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("jails", "0014_blocklists_leave"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='BlocklistSource',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100, unique=True)),
                        ('url', models.URLField(max_length=500, unique=True)),
                        ('enabled', models.BooleanField(default=True)),
                        ('interval_minutes', models.PositiveIntegerField(default=1440, help_text='How often the list is imported.')),
                        ('jail', models.CharField(default='blocklist-import', max_length=64)),
                        ('target_label', models.CharField(blank=True, default='', max_length=63)),
                        ('target_nodes', models.JSONField(blank=True, default=list)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'jails_blocklistsource',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='BlocklistClaim',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('node', models.CharField(max_length=63)),
                        ('running_since', models.DateTimeField(blank=True, null=True)),
                        ('source', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='claims', to='blocklists.blocklistsource')),
                    ],
                    options={
                        'db_table': 'jails_blocklistclaim',
                        'constraints': [models.UniqueConstraint(fields=('source', 'node'), name='blocklistclaim_source_node')],
                    },
                ),
                migrations.CreateModel(
                    name='ImportRun',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('running', 'running'), ('ok', 'ok'), ('failed', 'failed'), ('preview', 'preview')], default='running', max_length=10)),
                        ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('actor', models.CharField(blank=True, default='', max_length=150)),
                        ('final_url', models.CharField(blank=True, default='', max_length=500)),
                        ('downloaded_bytes', models.PositiveBigIntegerField(default=0)),
                        ('attempts', models.PositiveSmallIntegerField(default=0)),
                        ('valid', models.PositiveIntegerField(default=0)),
                        ('invalid', models.PositiveIntegerField(default=0)),
                        ('duplicates', models.PositiveIntegerField(default=0)),
                        ('skipped_networks', models.PositiveIntegerField(default=0)),
                        ('newly_banned', models.PositiveIntegerField(default=0)),
                        ('already_banned', models.PositiveIntegerField(default=0)),
                        ('invalid_samples', models.JSONField(blank=True, default=list)),
                        ('timings', models.JSONField(blank=True, default=dict)),
                        ('error', models.TextField(blank=True, default='')),
                        ('runner', models.CharField(blank=True, default='', editable=False, max_length=200)),
                        ('node', models.CharField(blank=True, default='', help_text='The fleet node whose worker ran it.', max_length=63)),
                        ('source', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='runs', to='blocklists.blocklistsource')),
                    ],
                    options={
                        'db_table': 'jails_importrun',
                        'ordering': ['-started_at', '-id'],
                        'indexes': [models.Index(fields=['source', '-started_at'], name='importrun_source_time')],
                    },
                ),
            ],
        ),
    ]
