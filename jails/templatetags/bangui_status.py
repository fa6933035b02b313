from django import template

from jails.live.status import bar_context

register = template.Library()


@register.inclusion_tag("partials/status_bar.html")
def status_bar():
    return bar_context()
