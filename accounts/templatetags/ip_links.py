"""``|ip_links``: every IP address in a text becomes a link to its IP page."""

from __future__ import annotations

import ipaddress
import re

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

register = template.Library()
_TOKEN = re.compile(r"[0-9A-Fa-f:.]{2,45}")


def _link(match: re.Match) -> str:
    text = match.group(0)
    try:
        ip = str(ipaddress.ip_address(text))
        if ip == "::":
            raise ValueError(ip)
        url = reverse("ip_detail", args=[ip])
    except (ValueError, NoReverseMatch):
        return conditional_escape(text)
    return format_html('<a class="ip" href="{}">{}</a>', url, text)


@register.filter
def ip_links(value) -> str:
    text = "" if value is None else str(value)
    out, last = [], 0
    for match in _TOKEN.finditer(text):
        out.append(conditional_escape(text[last:match.start()]))
        out.append(_link(match))
        last = match.end()
    out.append(conditional_escape(text[last:]))
    return mark_safe("".join(out))  # noqa: S308 - every part escaped above
