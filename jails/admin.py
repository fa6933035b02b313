"""Django admin for superusers: the archive is read-only (it mirrors
fail2ban); shared-ban rules are editable (blocklists: blocklists/admin.py)."""

from django.contrib import admin

from jails.fleet.models import SharedBanRule
from jails.models import BanEvent, SyncState


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(BanEvent)
class BanEventAdmin(ReadOnlyAdmin):
    list_display = ("banned_at", "ip", "jail", "node", "country_code", "origin", "bantime",
                    "actor", "shared_from")
    list_filter = ("origin", "node", "jail")
    search_fields = ("ip",)
    date_hierarchy = "banned_at"
    show_full_result_count = False  # the archive may hold millions of rows


@admin.register(SyncState)
class SyncStateAdmin(ReadOnlyAdmin):
    list_display = ("node", "db_path", "last_rowid", "last_success_at", "last_inserted",
                    "last_error")


@admin.register(SharedBanRule)
class SharedBanRuleAdmin(admin.ModelAdmin):
    """docs/fleet.md, "Shared bans": target nodes' workers apply the rules
    on their next tick."""

    list_display = ("name", "jail", "source_label", "target_label", "enabled")
    list_filter = ("enabled",)
