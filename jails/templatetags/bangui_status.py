from django import template

from jails.live.status import read_state

register = template.Library()


@register.inclusion_tag("partials/status_bar.html")
def status_bar():
    return {"state": read_state()}
