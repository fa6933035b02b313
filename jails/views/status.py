from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from jails.live.status import bar_context


@require_GET
def status_bar(request: HttpRequest) -> HttpResponse:
    return render(request, "partials/status_bar.html", bar_context())
