"""One IP's page: its archived bans, where it is banned now, ban/unban; and
the header's IP search, which leads there.

Any address has a page, banned or not. Geo data is read-only here
(``lookup_cached_only``: memory, geo_cache, the local MMDB; no writes).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import ban_or_unban
from bangui.hooks import app_hooks
from bangui.htmx import render_page
from geo.service import get_cache
from jails.fail2ban import InvalidInput, validation
from jails.fail2ban.results import BanEntry
from jails.fleet import live as fleet_live
from jails.forms.bans import ManualBanForm, UnbanForm
from jails.forms.ip import IPSearchForm
from jails.live import state as live_bans
from jails.live import status as server_status
from jails.models import BanEvent
from jails.views import results
from jails.views.results import Result, refused, respond
from nodes.fleet import scope_choices

MAX_EVENTS = 500  # archived bans listed on one IP's page (newest first)


def _canonical(ip: str) -> str | None:
    """An address, or a network BanGUI may ban (validation.ban_target)."""
    try:
        return validation.ban_target(ip)
    except InvalidInput:
        return None


def _ranges(ip: str) -> list[str]:
    """The networks that may hold ``ip`` as a banned range (none for a
    network's own page)."""
    return [] if validation.is_network(ip) else validation.containing_networks(ip)


def _network_of(ip: str, raw: str) -> str | None:
    """The ``network`` a form sent with the page of ``ip`` (a range that
    holds it: "ban its /64", "unban the range"), or None when it is none of
    those."""
    network = _canonical(raw)
    if network is None or not validation.is_network(network) or validation.is_network(ip) \
            or network not in _ranges(ip):
        return None
    return network


@dataclass(frozen=True)
class LiveBan:
    jail: str
    entry: BanEntry
    network: str = ""  # a banned range that holds the page's address

    @property
    def time_left(self) -> timedelta | None:
        return live_bans.time_left(self.entry)

    @property
    def permanent(self) -> bool:
        return self.entry.permanent


def _banned_now(ip: str) -> tuple[list[LiveBan] | None, list[str], str]:
    """Where fail2ban has ``ip`` banned now (None: unknown), its running
    jails, and why it is unknown: its own bans, then the banned ranges that
    hold it (fail2ban's ``banned IP`` does not see those). Costs this IP
    and its few possible ranges, one indexed query (jails.live.state)."""
    ranges = _ranges(ip)
    # the status bar's overview (once per request): one talk with fail2ban a page
    state = live_bans.read([ip, *ranges], overview=server_status.read_state().overview)
    if not state.reachable:
        return None, [], f"fail2ban is not answering ({state.error})"
    if not state.known:
        return None, state.jails, state.note
    return ([LiveBan(jail, entry) for jail, entry in state.jails_of(ip)]
            + [LiveBan(jail, entry, network) for network in ranges
               for jail, entry in state.jails_of(network)]), state.jails, ""


def _elsewhere(ip: str, names: list[str]) -> list[dict]:
    """The other nodes' word on ``ip``, as they last published it
    (jails/fleet/live.py): its bans there, or why that is unknown."""
    others = [n for n in names if n != settings.BANGUI_NODE]
    out = []
    for name, state in fleet_live.states(others, [ip]).items():
        bans = [LiveBan(jail, entry) for jail, entry in state.jails_of(ip)]
        out.append({"node": name, "known": state.known, "note": state.note, "bans": bans})
    return out


# Where an admin looks an address up elsewhere: plain links the browser
# follows when clicked (rel="noopener noreferrer"); BanGUI fetches none of
# them (docs/archive.md, "The IP page looks outward").
OUTWARD = (
    ("RDAP (whois)", "https://rdap.org/ip/{ip}"),
    ("AbuseIPDB", "https://www.abuseipdb.com/check/{ip}"),
    ("Shodan", "https://www.shodan.io/host/{ip}"),
)
ASN_PAGE = ("bgp.tools", "https://bgp.tools/as/{asn}")


def outward_links(ip: str, asn: int | None) -> list[dict]:
    """The links to other sites about ``ip`` (and its network's ASN):
    none for an address that is not public (no site knows it)."""
    if validation.is_network(ip):  # a banned range: its RDAP record only
        return [{"label": "RDAP (whois)",
                 "url": OUTWARD[0][1].format(ip=quote(ip, safe=":/"))}] \
            if ipaddress.ip_network(ip).is_global else []
    address = ipaddress.ip_address(ip)
    if not address.is_global:
        return []
    links = [{"label": label, "url": url.format(ip=quote(ip, safe=":"))}
             for label, url in OUTWARD]
    if asn:
        links.append({"label": f"AS{int(asn)} on {ASN_PAGE[0]}",
                      "url": ASN_PAGE[1].format(asn=int(asn))})
    return links


def _context(ip: str, ban_form: ManualBanForm | None = None) -> dict:
    # its own bans and those of the ranges that hold it
    events = BanEvent.objects.filter(ip__in=[ip, *_ranges(ip)]).order_by("-banned_at", "-id")
    total = events.count()
    address = ip.split("/", 1)[0]  # a range: its network address's country (geo knows addresses)
    geo = get_cache().lookup_cached_only([address]).get(address)
    live, running, error = _banned_now(ip)
    manual = live_bans.MANUAL_JAIL if live_bans.MANUAL_JAIL in running else \
        (running[0] if running else "")
    node_names, multi_node = scope_choices()
    return {
        # one IP across every node: the history names the node when there are several
        "multi_node": multi_node, "elsewhere": _elsewhere(ip, node_names) if multi_node else [],
        "ip": ip, "is_network": validation.is_network(ip),
        # an IPv6 address: its /64, offered to ban (one host's usual share)
        "net64": (str(ipaddress.ip_network(f"{ip}/64", strict=False))
                  if not validation.is_network(ip) and ":" in ip else ""),
        "events": list(events[:MAX_EVENTS]), "total": total, "max_events": MAX_EVENTS,
        "geo": geo, "outward": outward_links(ip, getattr(geo, "asn", None)),
        "live": live, "running": running, "error": error,
        "ban_form": ban_form or ManualBanForm.here_and_fleet(
            running, {"ip": ip, "jail": manual}, multi_node),
        # what other apps say of it (the allow-list: the entries that protect it)
        "notes": [n for _, hook in app_hooks("address_notes") for n in hook(ip)],
    }



def _invalid(request: HttpRequest, raw: str) -> HttpResponse:
    return render(request, "jails/ip_invalid.html", {"raw": raw[:100]}, status=404)


@login_required
@require_GET
def ip_detail(request: HttpRequest, ip: str) -> HttpResponse:
    canonical = _canonical(ip)
    if canonical is None:
        return _invalid(request, ip)
    if canonical != ip:  # one page per address: 2001:DB8::1 -> 2001:db8::1
        return redirect("ip_detail", ip=canonical)
    return render_page(request, "jails/ip.html", "ip-main", _context(canonical))


@login_required
@require_GET
def ip_search(request: HttpRequest) -> HttpResponse:
    form = IPSearchForm(request.GET or None)
    if form.is_valid():
        return redirect("ip_detail", ip=form.cleaned_data["q"])
    if prefix := form.address_start():  # the start of one: its bans, as the dashboard filters
        return redirect(f"{reverse('dashboard')}?{urlencode({'ip': prefix, 'window': '365d'})}")
    return render(request, "jails/ip_search.html", {"form": form},
                  status=400 if form.is_bound else 200)


def _answer(request: HttpRequest, ip: str, result: Result) -> HttpResponse:
    def fragment(result: Result) -> HttpResponse:
        context = _context(ip)
        context["result"] = result
        return render_page(request, "jails/ip.html", "ip-main", context)

    return respond(request, result, fragment, reverse("ip_detail", args=[ip]))


@require_POST
@ban_or_unban
def ban(request: HttpRequest, ip: str) -> HttpResponse:
    canonical = _canonical(ip)
    if canonical is None:
        return _invalid(request, ip)
    node = request.POST.get("node", "")
    network, refusal = _posted_network(request, canonical, "ban")
    if refusal is not None:
        return refusal
    target = network or canonical
    form = ManualBanForm({"ip": target, "jail": request.POST.get("jail", ""), "node": node},
                         jails=[request.POST.get("jail", "")], nodes=[node] if node else None)
    if not form.is_valid():
        return _answer(request, canonical, refused(request, "ban", target, form,
                                                   "Nothing was banned: "))
    jail = form.cleaned_data["jail"]
    return _answer(request, canonical, results.ban(
        request, jail, [target],
        {"ip": canonical, "jail": jail, **({"network": network} if network else {})},
        node=form.cleaned_data.get("node", "")))


def _posted_network(request: HttpRequest, canonical: str, action: str
                    ) -> tuple[str | None, HttpResponse | None]:
    """The network a ban or unban from the address's page aims at (its /64,
    a range holding it), or the answer that refuses one that does not hold
    the address."""
    raw = request.POST.get("network", "")
    network = _network_of(canonical, raw) if raw else None
    if raw and network is None:
        return None, _answer(request, canonical, results.refused_because(
            request, action, canonical, f"{raw[:100]!r} is not a network that holds "
                                        f"{canonical}; nothing was {action}ned"))
    return network, None


@require_POST
@ban_or_unban
def unban(request: HttpRequest, ip: str) -> HttpResponse:
    canonical = _canonical(ip)
    if canonical is None:
        return _invalid(request, ip)
    network, refusal = _posted_network(request, canonical, "unban")
    if refusal is not None:
        return refusal
    form = UnbanForm({"ip": network or canonical, "jail": request.POST.get("jail", ""),
                      "node": request.POST.get("node", "")})
    if not form.is_valid():
        return _answer(request, canonical, refused(request, "unban", canonical, form,
                                                   "Nothing was unbanned: "))
    return _answer(request, canonical, results.unban(request, form.cleaned_data["ip"],
                                                     form.cleaned_data["jail"],
                                                     form.cleaned_data["node"]))
