from django import template

from bangui.nodes import bar_summary
from jails.live.status import read_state

register = template.Library()


@register.inclusion_tag("partials/status_bar.html")
def status_bar():
    return {"state": read_state(), "fleet": bar_summary()}
