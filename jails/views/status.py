from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from bangui.nodes import bar_summary
from jails.live.status import read_state


@require_GET
def status_bar(request: HttpRequest) -> HttpResponse:
    return render(request, "partials/status_bar.html",
                  {"state": read_state(), "fleet": bar_summary()})
