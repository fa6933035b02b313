from __future__ import annotations

from django.contrib import admin

from geo.models import GeoCacheEntry


@admin.register(GeoCacheEntry)
class GeoCacheEntryAdmin(admin.ModelAdmin):
    """Read-only: the worker owns these rows. Deleting one is allowed (it is
    looked up again the next time the address is banned)."""

    list_display = ("ip", "country_code", "country_name", "asn", "org", "source",
                    "resolved_at", "last_seen")
    list_filter = ("source", "country_code")
    search_fields = ("=ip", "country_code", "org")
    date_hierarchy = "last_seen"
    ordering = ("-last_seen",)
    readonly_fields = list_display

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
