"""Ban and unban as BanGUI does them, whoever asks (dashboard, IP page,
jail page, ``manage.py f2b``): tell fail2ban, drop the cached banned list,
and archive the change at once (origin "manual", with the actor) instead of
waiting for the next sync. Bulk actions (unban all, stopping a jail) go the
same way, so the archive never says "expired" for a ban somebody lifted.
Auditing stays with the caller, which knows the request. Input is validated
before anything is sent."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from django.conf import settings

from bangui.hooks import app_hooks
from jails.archive import sync as archive
from jails.fail2ban import Fail2banClient, Fail2banError, InvalidInput, validation
from jails.live import banned, link
from jails.live import state as live
from nodes.models import Node


def ignore_lists(node: str, jail: str | None = None) -> dict[str, list[str]]:
    """The ignore lists of ``node``'s running jails (only ``jail``'s when
    given): this host's asked now, another node's as its worker last
    published them (``Node.jail_settings``). {} when fail2ban does not
    answer or the node is unknown."""
    if node == settings.BANGUI_NODE:
        try:
            client = link.client(connect_retries=0)
            return {j: client.ignore_list(j) for j in ([jail] if jail else client.jail_names())}
        except Fail2banError:
            return {}
    row = Node.objects.filter(pk=node).values_list("jails", "jail_settings").first()
    if row is None:
        return {}
    running, published = row
    return {j: list((published.get(j) or {}).get("ignore_ips") or [])
            for j in running if jail in (None, j)}


def ban_warnings(jail: str, ips: Iterable[str], own_ip: str | None,
                 nodes: Sequence[str] = ()) -> list[str]:
    """Why banning ``ips`` in ``jail`` on ``nodes`` (default this host's)
    deserves a second thought: an address of the jail's ignore list there
    (fail2ban bans it when asked by hand, yet its owner asked never to), or
    the address the admin's own browser comes from (a lock-out), and what
    the apps' ``ban_warnings`` hooks say (the allow-list: which entry holds
    it, who added it). This host's ignore list is asked now (one ``get JAIL
    ignoreip``), another node's is the one it published; [] when nothing is
    odd (a fail2ban that does not answer: the ban itself will say so)."""
    ips = validation.ban_targets(ips)
    nodes = list(nodes) or [settings.BANGUI_NODE]
    alone = nodes == [settings.BANGUI_NODE]
    reasons = []
    own = _address_or_none(own_ip)
    for node in nodes:
        where = jail if alone else f"{jail} on {node}"
        ignored = [ipaddress.ip_network(v, strict=False)
                   for v in ignore_lists(node, jail).get(jail, []) if _network_or_none(v)]
        for ip in ips:
            target = ipaddress.ip_network(ip, strict=False)  # an address: its /32 or /128
            hit = next((str(n) for n in ignored
                        if target.version == n.version and target.overlaps(n)), None)
            if hit:
                reasons.append(f"{ip} is in {where}'s ignore list ({hit}): fail2ban never bans "
                               "it on its own" if validation.is_network(ip) is False else
                               f"{ip} overlaps {where}'s ignore list ({hit})")
    for ip in ips:
        target = ipaddress.ip_network(ip, strict=False)
        if own is not None and own.version == target.version and own in target:
            reasons.append(f"{ip} is the address your browser connects from: banning it may "
                           "lock you out" if not validation.is_network(ip) else
                           f"{ip} holds {own}, the address your browser connects from: "
                           "banning it may lock you out")
    # Apps that know more (the allow-list: which entry, who added it).
    for _, hook in app_hooks("ban_warnings"):
        for node in nodes:
            reasons += hook(jail, ips, node)
    return list(dict.fromkeys(reasons))


def _address_or_none(value):
    try:
        return ipaddress.ip_address(str(value)) if value else None
    except ValueError:
        return None


def _network_or_none(value) -> bool:
    try:
        ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return False  # ignoreip also takes host names and "127.0.0.1/8 ::1" lists
    return True


def ban(jail: str, ips: Iterable[str], actor: str, *,
        client: Fail2banClient | None = None) -> int:
    """Ban ``ips`` (addresses or networks) in ``jail``; returns how many
    were newly banned."""
    ips = validation.ban_targets(ips)
    client = client or link.client()
    networks = [ip for ip in ips if validation.is_network(ip)]
    if networks:
        refusal = range_refusal(jail, networks, client)
        if refusal:
            raise InvalidInput(refusal)
    newly = client.ban(jail, ips)
    banned.forget_cached(jail)
    # One read of the new bans' start times for all of them (jails.live.state),
    # once fail2ban has written them (a bounded wait).
    entries = live.settle(jail, ips, client=client)
    for ip in ips:
        archive.record_manual(ip, jail, actor, client=client, entry=entries.get((jail, ip)))
    return newly


def range_refusal(jail: str, networks: list[str], client: Fail2banClient) -> str | None:
    """Why ``jail``'s ban actions cannot ban ``networks`` (None: they can).
    fail2ban hands a network to each action as <ip>: iptables (-s) takes
    it; an nftables set takes it only with "flags interval", which
    fail2ban's nftables action does not declare (``nft add element`` fails,
    while fail2ban lists the ban as made); ipset's hash:ip takes an IPv4
    range (every address of it), no IPv6 one. Read from the running jail
    (``get JAIL actions``, ``get JAIL action ACT actionstart|actionban``)."""
    try:
        names = list(client.call("get", jail, "actions") or [])
        texts = {name: (str(client.call("get", jail, "action", name, "actionstart") or ""),
                        str(client.call("get", jail, "action", name, "actionban") or ""))
                 for name in names}
    except Fail2banError:
        return None  # the ban itself says what is wrong with the jail
    v6 = [n for n in networks if ":" in n]
    for name, (start, ban) in texts.items():
        if "add element" in ban and "nft" in ban and "interval" not in start:
            return (f"{jail}'s action {name} (nftables) cannot ban a network: its set has no "
                    "\"flags interval\"; ban the addresses, or use a jail whose action is "
                    "iptables-based. Nothing was banned")
        if "ipset" in ban and v6:
            return (f"{jail}'s action {name} (ipset hash:ip) cannot ban an IPv6 network "
                    f"({v6[0]}); nothing was banned")
    return None


def unban(ips: Iterable[str], actor: str, jail: str | None = None, *,
          client: Fail2banClient | None = None) -> int:
    """Unban ``ips`` from ``jail``, or from every jail when it is None."""
    ips = validation.ban_targets(ips)
    client = client or link.client()
    count = client.unban(jail, ips) if jail else client.unban_everywhere(ips)
    if jail:
        banned.forget_cached(jail)
    archive.record_unbans(ips, actor, jail)
    return count


def unban_all(jail: str, actor: str, *, client: Fail2banClient | None = None) -> int:
    """Unban every IP of ``jail``; the archive notes each unban with ``actor``."""
    jail = validation.jail_name(jail)
    client = client or link.client()
    ips = client.jail_status(jail).banned_ips
    count = client.unban(jail, ips) if ips else 0  # an empty list is refused
    banned.forget_cached(jail)
    archive.record_unbans(ips, actor, jail)
    return count


def stop_jail(jail: str, actor: str, *, client: Fail2banClient | None = None) -> int:
    """Stop ``jail``: fail2ban lifts its bans (and restores them if the jail
    starts again, which the live columns then show). The archive notes the
    lifted bans as unbanned by ``actor``. Returns how many were lifted."""
    jail = validation.jail_name(jail)
    client = client or link.client()
    ips = client.jail_status(jail).banned_ips
    client.stop_jail(jail)
    banned.forget_cached(jail)
    archive.record_unbans(ips, actor, jail)
    return len(ips)
