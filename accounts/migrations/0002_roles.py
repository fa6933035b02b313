"""The two roles. Permissions are created here rather than left to
post_migrate, which runs only after every migration."""

from django.db import migrations

CAPABILITIES = {
    "operate": "Can ban/unban, control jails, edit config and blocklists",
    "manage_settings": "Can change BanGUI runtime settings",
}
ROLES = {"viewer": [], "operator": ["operate"]}


def create_roles(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    ct, _ = ContentType.objects.get_or_create(app_label="accounts", model="capability")
    perms = {
        codename: Permission.objects.get_or_create(
            content_type=ct, codename=codename, defaults={"name": name}
        )[0]
        for codename, name in CAPABILITIES.items()
    }
    for role, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*(perms[c] for c in codenames))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
