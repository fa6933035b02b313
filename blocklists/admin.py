"""Django admin for superusers: blocklist sources are editable, import runs
read-only."""

from django.contrib import admin

from blocklists.models import BlocklistSource, ImportRun


@admin.register(BlocklistSource)
class BlocklistSourceAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "enabled", "interval_minutes", "jail")
    list_filter = ("enabled",)


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "source", "status", "valid", "invalid", "newly_banned", "error")
    list_filter = ("status", "source")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
