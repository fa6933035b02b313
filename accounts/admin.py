from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group

from accounts.models import AuditEntry, RuntimeSettings, SetupCompletion
from accounts.roles import OPERATOR_IS_ROOT


class ReadOnlyAdmin(admin.ModelAdmin):
    """Visible to superusers, changed only by the app itself."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_name", "source_ip", "action", "target", "result")
    list_filter = ("result", "action", "created_at")
    search_fields = ("actor_name", "target", "detail", "source_ip")
    date_hierarchy = "created_at"
    list_select_related = ("actor",)


@admin.register(RuntimeSettings)
class RuntimeSettingsAdmin(ReadOnlyAdmin):
    """Read-only here: /settings/ checks the socket live and audits changes."""

    list_display = ("__str__", "fail2ban_socket", "time_zone", "session_hours", "updated_at",
                    "updated_by")


@admin.register(SetupCompletion)
class SetupCompletionAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "admin", "method")


admin.site.unregister(Group)


@admin.register(Group)
class RoleAdmin(GroupAdmin):
    """Roles are groups; the form says plainly what the operator role means."""

    fieldsets = ((None, {"fields": ("name", "permissions"), "description": OPERATOR_IS_ROOT}),)
