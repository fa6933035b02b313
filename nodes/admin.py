"""Django admin for the fleet's nodes: labels are the one thing to edit
(what shared-ban rules and fleet actions aim at); the rest is what each
node's worker reports."""

from django.contrib import admin

from nodes.models import Node


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ("name", "labels", "heartbeat_at", "fail2ban_version", "archive_synced_at")
    fields = ("name", "labels", "holder", "heartbeat_at", "expires_at", "fail2ban_up",
              "fail2ban_version", "jails", "archive_synced_at")
    readonly_fields = ("name", "holder", "heartbeat_at", "expires_at", "fail2ban_up",
                       "fail2ban_version", "jails", "archive_synced_at")

    def has_add_permission(self, request):
        return False  # a node registers itself when its worker starts
