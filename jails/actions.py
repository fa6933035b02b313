"""Ban and unban as BanGUI does them, whoever asks (dashboard, IP page,
jail page, ``manage.py f2b``): tell fail2ban, drop the cached banned list,
and archive the change at once (origin "manual", with the actor) instead of
waiting for the next sync. Auditing stays with the caller, which knows the
request. Input is validated before anything is sent."""

from __future__ import annotations

from collections.abc import Iterable

from jails import archive, banned, link
from jails.fail2ban import Fail2banClient, validation


def ban(jail: str, ips: Iterable[str], actor: str, *,
        client: Fail2banClient | None = None) -> int:
    """Ban ``ips`` in ``jail``; returns how many were newly banned."""
    ips = validation.ip_addresses(ips)
    client = client or link.client()
    newly = client.ban(jail, ips)
    banned.forget_cached(jail)
    for ip in ips:
        archive.record_manual(ip, jail, actor, client=client)
    return newly


def unban(ips: Iterable[str], actor: str, jail: str | None = None, *,
          client: Fail2banClient | None = None) -> int:
    """Unban ``ips`` from ``jail``, or from every jail when it is None."""
    ips = validation.ip_addresses(ips)
    client = client or link.client()
    count = client.unban(jail, ips) if jail else client.unban_everywhere(ips)
    if jail:
        banned.forget_cached(jail)
    for ip in ips:
        archive.record_unban(ip, actor, jail)
    return count
