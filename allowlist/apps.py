from django.apps import AppConfig


class AllowlistConfig(AppConfig):
    name = "allowlist"
    verbose_name = "Allow-list"
    # nodes/worker.py run_tick: every few seconds on each node, its fail2ban's
    # ignore lists are made to match the allow-list (docs/allowlist.md).
    node_tick = "allowlist.sync.node_tick"
    # jails/live/actions.py ban_warnings: "it is allow-listed by …, ban anyway?"
    ban_warnings = "allowlist.models.ban_reasons"
    # The IP page: which entries protect an address (jails/views/ip.py).
    address_notes = "allowlist.models.address_notes"
