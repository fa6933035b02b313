"""Every state-changing URL, with the permission it needs.

Later features add their rows here (ban, unban, jail start/stop/reload,
config save, blocklist import …); ``test_roles.py`` then checks that a
viewer gets 403 on each, that anonymous users are sent to the login page,
and that every POST needs a CSRF token. Add rows to the list itself (not
from another test module at import time: test_roles.py parametrizes when it is
imported, which may be first).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.urls import reverse


@dataclass(frozen=True)
class StateChanging:
    url_name: str
    kwargs: dict = field(default_factory=dict)
    permission: str = "accounts.operate"
    data: dict = field(default_factory=dict)

    def url(self) -> str:
        return reverse(self.url_name, kwargs=self.kwargs or None)

    def __str__(self) -> str:
        return self.url_name


STATE_CHANGING: list[StateChanging] = [
    StateChanging("settings", permission="accounts.manage_settings",
                  data={"fail2ban_socket": "/run/x.sock", "time_zone": "UTC",
                        "session_hours": "8"}),
    # a fleet node's jails (jails/views/nodes.py)
    StateChanging("node_jail", {"name": "web-2"}, data={"action": "reload"}),
    StateChanging("node_unban", {"name": "web-2"}, data={"ip": "192.0.2.9", "jail": "sshd"}),
    StateChanging("node_config_save", {"name": "web-2"},
                  data={"path": "jail.d/x.local", "version": "absent", "text": ""}),
    # jails and config (jails/views/jails.py, jails/views/config.py)
    # (each also for a node: /nodes/NODE/jails/NAME/..., the same views)
    *(StateChanging(prefix + name, {"name": "sshd", **kwargs},
                    data={"ips": "203.0.113.9", "ip": "203.0.113.9", "value": "192.0.2.1",
                          "maxretry": "5"})
      for prefix, kwargs in (("", {}), ("node_", {"node": "web-2"}))
      for name in ("jail_ban", "jail_unban", "jail_unban_all", "jail_start", "jail_stop",
                   "jail_reload", "jail_idle", "jail_ignore_add", "jail_ignore_remove",
                   "jail_ignore_self", "jail_enable", "jail_disable", "jail_settings")),
    StateChanging("config_save", data={"path": "jail.d/x.local", "version": "absent",
                                       "text": "[sshd]\n"}),
    StateChanging("config_filter_create", data={"name": "x", "failregex": "^<HOST>$"}),
    StateChanging("config_provision"),
    # blocklists (blocklists/views.py); pk 1 need not exist: permission
    # is checked before the lookup.
    StateChanging("blocklist_new", data={"name": "x", "url": "https://example.org/x.txt",
                                         "interval_minutes": "1440", "jail": "sshd"}),
    *(StateChanging(name, {"pk": 1}) for name in (
        "blocklist_edit", "blocklist_delete", "blocklist_toggle", "blocklist_import")),
    StateChanging("blocklist_preview", data={"url": "https://example.org/x.txt"}),
    StateChanging("config_server_save", data={"loglevel": "INFO", "logtarget": "STDERR",
                                              "dbpurgeage": "86400"}),
    # dashboard and IP page (jails/views/dashboard.py, jails/views/ip.py)
    StateChanging("dashboard_ban", data={"ip": "203.0.113.9", "jail": "sshd"}),
    StateChanging("dashboard_unban", data={"ip": "203.0.113.9", "jail": "sshd"}),
    StateChanging("ip_ban", {"ip": "203.0.113.9"}, data={"jail": "sshd"}),
    StateChanging("ip_unban", {"ip": "203.0.113.9"}, data={"jail": "sshd"}),
]
