"""The support role (issue #27): may ban and unban, nothing else that changes
fail2ban. Operators get ``accounts.ban`` too, so ``perms.accounts.ban`` means
"support or higher" (accounts/roles.py holds the rule)."""

from django.db import migrations

BAN = ("ban", "Can ban and unban addresses")


def create_support(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    ct, _ = ContentType.objects.get_or_create(app_label="accounts", model="capability")
    ban, _ = Permission.objects.get_or_create(content_type=ct, codename=BAN[0],
                                              defaults={"name": BAN[1]})
    for role in ("support", "operator"):
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(ban)


def remove_support(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="support").delete()
    apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="accounts", codename=BAN[0]).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_audit_pending")]

    operations = [
        migrations.AlterModelOptions(
            name="capability",
            options={"default_permissions": (), "managed": False, "permissions": [
                ("ban", "Can ban and unban addresses"),
                ("operate", "Can ban/unban, control jails, edit config and blocklists"),
                ("manage_settings", "Can change BanGUI runtime settings"),
            ]},
        ),
        migrations.RunPython(create_support, remove_support),
    ]
