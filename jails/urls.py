from django.urls import path

from jails.views import blocklists, config, dashboard, ip, jails, map, nodes, status

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("status/", status.status_bar, name="status_bar"),
    path("map/", map.world_map_page, name="world_map"),
    # dashboard actions and per-IP pages (jails/views/dashboard.py, ip.py)
    path("bans/ban/", dashboard.ban, name="dashboard_ban"),
    path("bans/unban/", dashboard.unban, name="dashboard_unban"),
    path("bans/new/", dashboard.new_bans, name="dashboard_new_bans"),
    # a fleet node's jails (jails/views/nodes.py; the list is bangui's /nodes/)
    path("nodes/<str:name>/", nodes.node_detail, name="node_detail"),
    path("nodes/<str:name>/jail/", nodes.node_jail, name="node_jail"),
    path("nodes/<str:name>/unban/", nodes.node_unban, name="node_unban"),
    path("ip/", ip.ip_search, name="ip_search"),
    path("ip/<str:ip>/", ip.ip_detail, name="ip_detail"),
    path("ip/<str:ip>/ban/", ip.ban, name="ip_ban"),
    path("ip/<str:ip>/unban/", ip.unban, name="ip_unban"),
    # jails and config (docs/config.md)
    path("jails/", jails.jail_list, name="jail_list"),
    path("jails/<str:name>/", jails.jail_detail, name="jail_detail"),
    path("jails/<str:name>/ban/", jails.ban, name="jail_ban"),
    path("jails/<str:name>/unban/", jails.unban, name="jail_unban"),
    path("jails/<str:name>/unban-all/", jails.unban_all, name="jail_unban_all"),
    path("jails/<str:name>/start/", jails.start, name="jail_start"),
    path("jails/<str:name>/stop/", jails.stop, name="jail_stop"),
    path("jails/<str:name>/reload/", jails.reload, name="jail_reload"),
    path("jails/<str:name>/idle/", jails.idle, name="jail_idle"),
    path("jails/<str:name>/ignore/add/", jails.ignore_add, name="jail_ignore_add"),
    path("jails/<str:name>/ignore/remove/", jails.ignore_remove, name="jail_ignore_remove"),
    path("jails/<str:name>/ignore/self/", jails.ignore_self, name="jail_ignore_self"),
    path("jails/<str:name>/enable/", jails.enable, name="jail_enable"),
    path("jails/<str:name>/disable/", jails.disable, name="jail_disable"),
    path("jails/<str:name>/settings/", jails.jail_settings, name="jail_settings"),
    path("config/", config.config_home, name="config"),
    path("config/file/", config.config_file, name="config_file"),
    path("config/file/save/", config.config_save, name="config_save"),
    path("config/filters/create/", config.filter_create, name="config_filter_create"),
    path("config/provision/", config.provision, name="config_provision"),
    path("config/regex/", config.regex, name="config_regex"),
    path("config/server/", config.server, name="config_server"),
    path("config/server/save/", config.server_save, name="config_server_save"),
    # blocklists (docs/blocklists.md)
    path("blocklists/", blocklists.blocklist_list, name="blocklist_list"),
    path("blocklists/new/", blocklists.blocklist_edit, name="blocklist_new"),
    path("blocklists/preview/", blocklists.blocklist_preview, name="blocklist_preview"),
    path("blocklists/<int:pk>/", blocklists.blocklist_detail, name="blocklist_detail"),
    path("blocklists/<int:pk>/edit/", blocklists.blocklist_edit, name="blocklist_edit"),
    path("blocklists/<int:pk>/delete/", blocklists.blocklist_delete, name="blocklist_delete"),
    path("blocklists/<int:pk>/toggle/", blocklists.blocklist_toggle, name="blocklist_toggle"),
    path("blocklists/<int:pk>/import/", blocklists.blocklist_import, name="blocklist_import"),
]
