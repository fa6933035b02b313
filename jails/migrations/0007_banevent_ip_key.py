"""BanEvent.ip_key: the ban table sorts IPs numerically (IPv4 and IPv6).

Existing rows get their key once per distinct address (a year's archive has
far fewer addresses than bans), through the (ip, banned_at) index, before
the new index is built. The column is added as NULL: on SQLite a column
with a default rebuilds the table, which would drop the rollup's triggers.
"""

import ipaddress

from django.db import migrations, models

BATCH = 5000


def ip_sort_key(ip: str) -> str:
    """As jails.models.ip_sort_key when this migration was written."""
    try:
        address = ipaddress.ip_address(str(ip).strip())
    except ValueError:
        return ""
    if address.version == 4:
        address = ipaddress.IPv6Address(f"::ffff:{address}")
    return f"{int(address):032x}"


def fill_keys(apps, schema_editor):
    BanEvent = apps.get_model("jails", "BanEvent")
    table = schema_editor.connection.ops.quote_name(BanEvent._meta.db_table)
    ips = (BanEvent.objects.filter(ip_key__isnull=True).values_list("ip", flat=True)
           .distinct().order_by())
    batch = []
    with schema_editor.connection.cursor() as cursor:
        for ip in ips.iterator(chunk_size=BATCH):
            batch.append((ip_sort_key(ip), ip))
            if len(batch) == BATCH:
                cursor.executemany(f"UPDATE {table} SET ip_key = %s WHERE ip = %s", batch)  # noqa: S608
                batch = []
        if batch:
            cursor.executemany(f"UPDATE {table} SET ip_key = %s WHERE ip = %s", batch)  # noqa: S608


class Migration(migrations.Migration):

    dependencies = [
        ("jails", "0006_banevent_time_cover"),
    ]

    operations = [
        migrations.AddField(
            model_name="banevent",
            name="ip_key",
            field=models.CharField(blank=True, editable=False, max_length=32, null=True),
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="banevent",
            index=models.Index(fields=["ip_key", "banned_at"], name="banevent_ipkey_time"),
        ),
    ]
