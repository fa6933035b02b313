"""The Node model's content type follows it to this app: an install that
had it as ``bangui | node`` keeps the same row, relabelled ``nodes``, so
permissions granted on it (through the admin: BanGUI's own roles grant
none) and the admin's history stay attached. A fresh install has none yet
(post_migrate makes it). Frozen here, no app code imported."""

from django.db import migrations


def _relabel(apps, old: str, new: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    if content_type.objects.filter(app_label=new, model="node").exists():
        return  # already made for the new label: leave the old one stale
    content_type.objects.filter(app_label=old, model="node").update(app_label=new)


def forwards(apps, schema_editor):
    _relabel(apps, "bangui", "nodes")


def backwards(apps, schema_editor):
    _relabel(apps, "nodes", "bangui")


class Migration(migrations.Migration):
    dependencies = [
        ("nodes", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
