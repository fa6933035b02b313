"""The API token page (/api/tokens/): a user's own tokens (an admin's:
everyone's), made here or with manage.py api_token; a new token is shown
on the answer to its form, once, and never again."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import audit
from api import tokens
from api.forms import TokenForm
from api.models import ApiToken


def _visible(user):
    rows = ApiToken.objects.select_related("user").order_by("-id")
    return rows if tokens.may(user, "users") else rows.filter(user=user)


def _page(request: HttpRequest, form: TokenForm, issued: tokens.Issued | None = None,
          status: int = 200) -> HttpResponse:
    return render(request, "api/tokens.html", {
        "form": form, "issued": issued, "rows": _visible(request.user),
        "all_users": tokens.may(request.user, "users")}, status=status)


@never_cache  # the answer to the form holds a new token: no cache keeps it
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request, TokenForm(user=request.user))
    form = TokenForm(request.POST, user=request.user)
    if not form.is_valid():
        return _page(request, form, status=400)
    owner, data = form.owner(), form.cleaned_data
    issued = tokens.issue(owner, data["scope"], name=data["name"], days=data["expires"],
                          allow=data["allow"])
    audit.record(request, "api_token.create", target=f"token #{issued.token.pk} of {owner}",
                 detail=f"scope {data['scope']}")
    return _page(request, TokenForm(user=request.user), issued)


@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = _visible(request.user).filter(pk=pk).first()
    if token is None:
        raise Http404("no such token of yours")
    tokens.revoke(token.pk)
    audit.record(request, "api_token.revoke", target=f"token #{token.pk} of {token.user}")
    messages.success(request, f"Revoked token {token.prefix} ({token.name or 'no name'}).")
    return redirect("api:tokens")
