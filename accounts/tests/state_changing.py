"""Every state-changing URL, with the kind of action it is (a key of
``accounts.roles.LEAST_ROLE``: ban, operate, config, settings, users).

Later features add their rows here; ``test_roles.py`` then walks every URL
as every role (anonymous, viewer, support, operator, admin) and checks that
exactly the roles the action needs get through, that the others are refused
and nothing changed, and that every POST needs a CSRF token. A URL that
takes a POST and is not listed fails that walk. Add rows to the list itself (not
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
    action: str = "operate"
    data: dict = field(default_factory=dict)

    def url(self) -> str:
        return reverse(self.url_name, kwargs=self.kwargs or None)

    def __str__(self) -> str:
        return self.url_name


STATE_CHANGING: list[StateChanging] = [
    StateChanging("settings", action="settings",
                  data={"fail2ban_socket": "/run/x.sock", "time_zone": "UTC",
                        "session_hours": "8"}),
    # a fleet node's jails (jails/views/nodes.py)
    StateChanging("node_jail", {"name": "web-2"}, data={"action": "reload"}),
    StateChanging("node_unban", {"name": "web-2"}, data={"ip": "192.0.2.9", "jail": "sshd"},
                  action="ban"),
    StateChanging("node_config_save", {"name": "web-2"}, action="config",
                  data={"path": "jail.d/x.local", "version": "absent", "text": ""}),
    # jails and config (jails/views/jails.py, jails/views/config.py)
    # (each also for a node: /nodes/NODE/jails/NAME/..., the same views)
    *(StateChanging(prefix + name, {"name": "sshd", **kwargs},
                    data={"ips": "203.0.113.9", "ip": "203.0.113.9", "value": "192.0.2.1",
                          "maxretry": "5"},
                    action="ban" if name in ("jail_ban", "jail_unban") else "operate")
      for prefix, kwargs in (("", {}), ("node_", {"node": "web-2"}))
      for name in ("jail_ban", "jail_unban", "jail_unban_all", "jail_start", "jail_stop",
                   "jail_reload", "jail_idle", "jail_ignore_add", "jail_ignore_remove",
                   "jail_ignore_self", "jail_enable", "jail_disable", "jail_settings")),
    StateChanging("config_save", action="config",
                  data={"path": "jail.d/x.local", "version": "absent", "text": "[sshd]\n"}),
    StateChanging("config_preview", action="config",
                  data={"path": "jail.d/x.local", "text": "[sshd]\n"}),
    StateChanging("config_restore", action="config", data={"path": "jail.d/x.local"}),
    StateChanging("config_filter_create", action="config",
                  data={"name": "x", "failregex": "^<HOST>$"}),
    StateChanging("config_provision"),
    # blocklists (blocklists/views.py); pk 1 need not exist: permission
    # is checked before the lookup.
    StateChanging("blocklist_new", data={"name": "x", "url": "https://example.org/x.txt",
                                         "interval_minutes": "1440", "jail": "sshd"}),
    *(StateChanging(name, {"pk": 1}) for name in (
        "blocklist_edit", "blocklist_delete", "blocklist_toggle", "blocklist_import")),
    StateChanging("blocklist_preview", data={"url": "https://example.org/x.txt"}),
    StateChanging("config_server_save", action="config",
                  data={"loglevel": "INFO", "logtarget": "STDERR", "dbpurgeage": "86400"}),
    # dashboard and IP page (jails/views/dashboard.py, jails/views/ip.py)
    StateChanging("dashboard_ban", data={"ip": "203.0.113.9", "jail": "sshd"}, action="ban"),
    StateChanging("dashboard_unban", data={"ip": "203.0.113.9", "jail": "sshd"}, action="ban"),
    StateChanging("ip_ban", {"ip": "203.0.113.9"}, data={"jail": "sshd"}, action="ban"),
    StateChanging("ip_unban", {"ip": "203.0.113.9"}, data={"jail": "sshd"}, action="ban"),
    # the allow-list (allowlist/views.py): support and above
    StateChanging("allowlist_add", data={"value": "192.0.2.77"}, action="ban"),
    StateChanging("allowlist_remove", {"pk": 1}, action="ban"),
    # notifications (notifications/views.py): operators change channels and
    # rules (their forms too) and mark messages read
    StateChanging("notification_channel_new", data={"name": "x"}),
    StateChanging("notification_rule_new", data={"name": "x"}),
    StateChanging("notifications_read"),
    *(StateChanging(name, {"pk": 1}, data={"name": "x"}) for name in (
        "notification_channel_edit", "notification_channel_delete",
        "notification_channel_test", "notification_rule_edit", "notification_rule_delete")),
    # users (accounts/views.py)
    StateChanging("users", action="users", data={"username": "walk", "role": "viewer"}),
    *(StateChanging(name, {"pk": 1}, action="users", data={"role": "viewer"}) for name in (
        "user_role", "user_disable", "user_enable", "user_password_link",
        "user_reset_two_factor")),
]
