"""Rows resolved before BanGUI bundled free ASN data (geo/data/asn.mmdb)
have a country but no network: mark them due, so the hourly re-resolve
(oldest ``resolved_at`` first, 2,000 a run) fills their ASN and organisation."""

from datetime import UTC, datetime

from django.db import migrations

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def mark_due(apps, schema_editor):
    entry = apps.get_model("geo", "GeoCacheEntry")
    entry.objects.filter(country_code__isnull=False, asn__isnull=True).update(
        resolved_at=LONG_AGO)


class Migration(migrations.Migration):
    dependencies = [("geo", "0001_initial")]
    operations = [migrations.RunPython(mark_due, migrations.RunPython.noop)]
