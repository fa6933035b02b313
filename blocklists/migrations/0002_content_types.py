"""The blocklist models' content types follow them to this app: an install
that had them as ``jails | blocklist source`` (and so on) keeps the same rows,
relabelled ``blocklists``, so permissions granted on them (through the admin:
BanGUI's own roles grant none, accounts 0002) and the admin's history stay
attached. A fresh install has none yet (post_migrate makes them). Frozen
here, no app code imported."""

from django.db import migrations

MODELS = ("blocklistsource", "blocklistclaim", "importrun")


def _relabel(apps, old: str, new: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if content_type.objects.filter(app_label=new, model=model).exists():
            continue  # already made for the new label: leave the old one stale
        content_type.objects.filter(app_label=old, model=model).update(app_label=new)


def forwards(apps, schema_editor):
    _relabel(apps, "jails", "blocklists")


def backwards(apps, schema_editor):
    _relabel(apps, "blocklists", "jails")


class Migration(migrations.Migration):
    dependencies = [
        ("blocklists", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
