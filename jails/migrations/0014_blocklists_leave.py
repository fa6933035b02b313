"""The blocklist models moved to their own app, ``blocklists`` (issue #23).
Their tables stay as they are (``jails_blocklistsource``,
``jails_blocklistclaim``, ``jails_importrun``): this removes the three
models from the jails app's migration state only, and ``blocklists 0001``
takes them over, again in the state only. Nothing in the database changes.
Nothing outside them points at them, so the order needs only the claims and
runs to go before their source."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("jails", "0013_blocklist_schedule_rows"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="BlocklistClaim"),
                migrations.DeleteModel(name="ImportRun"),
                migrations.DeleteModel(name="BlocklistSource"),
            ],
            database_operations=[],
        ),
    ]
