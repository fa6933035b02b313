from django.urls import path, register_converter

from jails.views import (
    commands,
    config,
    dashboard,
    ip,
    jails,
    map,
    node_config,
    nodes,
    status,
)


class IPOrNetwork:
    """An address or a banned network ("203.0.113.0/24"): one IP page for
    each (docs/archive.md, "Network and permanent bans"). Anything without
    a slash reaches the view as before (which says what is wrong with it)."""

    regex = r"[^/]+(?:/[0-9]{1,3})?"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(IPOrNetwork, "ipnet")

JAIL_PAGES = (
    ("", jails.jail_detail, "jail_detail"),
    ("ban/", jails.ban, "jail_ban"),
    ("unban/", jails.unban, "jail_unban"),
    ("unban-all/", jails.unban_all, "jail_unban_all"),
    ("start/", jails.start, "jail_start"),
    ("stop/", jails.stop, "jail_stop"),
    ("reload/", jails.reload, "jail_reload"),
    ("idle/", jails.idle, "jail_idle"),
    ("ignore/add/", jails.ignore_add, "jail_ignore_add"),
    ("ignore/remove/", jails.ignore_remove, "jail_ignore_remove"),
    ("ignore/self/", jails.ignore_self, "jail_ignore_self"),
    ("enable/", jails.enable, "jail_enable"),
    ("disable/", jails.disable, "jail_disable"),
    ("settings/", jails.jail_settings, "jail_settings"),
)

CONFIG_PAGES = (
    ("file/", config.config_file, "config_file"),
    ("file/save/", config.config_save, "config_save"),
    ("file/preview/", config.config_preview, "config_preview"),
    ("history/", config.config_history, "config_history"),
    ("history/restore/", config.config_restore, "config_restore"),
    ("filters/create/", config.filter_create, "config_filter_create"),
    ("provision/", config.provision, "config_provision"),
    ("server/", config.server, "config_server"),
    ("server/save/", config.server_save, "config_server_save"),
)

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("status/", status.status_bar, name="status_bar"),
    path("map/", map.world_map_page, name="world_map"),
    # dashboard actions and per-IP pages (jails/views/dashboard.py, ip.py)
    path("bans/ban/", dashboard.ban, name="dashboard_ban"),
    path("bans/unban/", dashboard.unban, name="dashboard_unban"),
    path("bans/new/", dashboard.new_bans, name="dashboard_new_bans"),
    # a fleet node's jails (jails/views/nodes.py; the list is bangui's /nodes/)
    path("commands/<slug:group>/", commands.command_answer, name="command_answer"),
    path("nodes/<str:name>/", nodes.node_detail, name="node_detail"),
    path("nodes/<str:name>/jail/", nodes.node_jail, name="node_jail"),
    path("nodes/<str:name>/unban/", nodes.node_unban, name="node_unban"),
    path("nodes/<str:name>/config/", node_config.node_config_home, name="node_config"),
    path("ip/", ip.ip_search, name="ip_search"),
    path("ip/<ipnet:ip>/", ip.ip_detail, name="ip_detail"),
    path("ip/<ipnet:ip>/ban/", ip.ban, name="ip_ban"),
    path("ip/<ipnet:ip>/unban/", ip.unban, name="ip_unban"),
    # jails and config (docs/config.md)
    path("jails/", jails.jail_list, name="jail_list"),
    # One jail page and its actions for any node: this host's at /jails/NAME/,
    # any node's (this host's included) at /nodes/NODE/jails/NAME/.
    *(path(f"{prefix}jails/<str:name>/{suffix}", view, name=f"{name_prefix}{url_name}")
      for prefix, name_prefix in (("", ""), ("nodes/<str:node>/", "node_"))
      for suffix, view, url_name in JAIL_PAGES),
    path("config/", config.config_home, name="config"),
    path("config/regex/", config.regex, name="config_regex"),
    # One set of config pages for every node: this host's at /config/...,
    # node NAME's at /nodes/NAME/config/... (the views take the node as name).
    *(path(f"{prefix}config/{suffix}", view, name=f"{name_prefix}{url_name}")
      for prefix, name_prefix in (("", ""), ("nodes/<str:name>/", "node_"))
      for suffix, view, url_name in CONFIG_PAGES),
]
