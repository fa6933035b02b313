from __future__ import annotations

from allauth.account.internal.flows.login import perform_password_login
from allauth.account.models import Login
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import audit, mfa, sso, users
from accounts.forms import AuditFilterForm, RoleForm, RuntimeSettingsForm, SetupForm, UserCreateForm
from accounts.models import SINGLETON_PK, AuditEntry, RuntimeSettings
from accounts.redirects import safe_next
from accounts.roles import ROLE_DESCRIPTIONS, ROLES, manage_settings, manage_users
from accounts.setup import SetupAlreadyDone, SetupValues, complete_setup, gate
from accounts.users import PasswordLink, stored_role
from bangui.htmx import render_page
from bangui.views import form_errors, setup_not_required
from nodes.fleet import scope_choices

AUDIT_PAGE_SIZE = 50


@setup_not_required
@login_not_required
@sensitive_post_parameters("password1", "password2")
@never_cache
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    if gate().is_complete():
        raise Http404("Setup is complete.")
    form = SetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        values = SetupValues(
            username=data["username"], password=data["password1"], email=data["email"],
            fail2ban_socket=data["fail2ban_socket"], time_zone=data["time_zone"],
            session_hours=data["session_hours"],
        )
        try:
            user = complete_setup(values, method="wizard", request=request)
        except SetupAlreadyDone:
            raise Http404("Setup is complete.") from None
        # The admin who just chose the password is logged in at once.
        auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Setup complete. You are logged in as {values.username}.")
        return redirect("dashboard")
    return render(request, "accounts/setup.html", {"form": form})


@login_not_required
@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request.POST.get("next") or request.GET.get("next"))
    if request.user.is_authenticated and request.method == "GET":
        return redirect(next_url or resolve_url("dashboard"))
    context = {"next": next_url or "", "sso": sso.button(), "attempts_left": None}
    if not settings.BANGUI_LOCAL_LOGIN:
        # Single sign-on only (docs/sso.md): no password is checked here.
        return sso.allow_form_to_provider(render(
            request, "accounts/login.html", context,
            status=403 if request.method == "POST" else 200))
    form = AuthenticationForm(request, data=request.POST or None, label_suffix="")
    if request.method == "POST" and form.is_valid():
        user = form.get_user()
        # allauth's login stages: the TOTP step when the user has one, then
        # Django's login (session lifetime and the audit row come from the
        # user_logged_in signal).
        return perform_password_login(
            request, {"username": user.get_username()},
            Login(user=user, redirect_url=next_url or resolve_url("dashboard")))
    if request.method == "POST":
        context["attempts_left"] = attempts_left(request, request.POST.get("username", ""))
    return sso.allow_form_to_provider(
        render(request, "accounts/login.html", {**context, "form": form}))


LOCKOUT_WARNING_AT = 2  # failed logins left when the login page starts warning


def attempts_left(request: HttpRequest, username: str) -> int | None:
    """Failed logins left before django-axes locks this username from this
    address out, once that is LOCKOUT_WARNING_AT or fewer; else None."""
    from axes.helpers import get_failure_limit
    from axes.models import AccessAttempt
    from django.db.models import Sum

    from bangui.clientip import client_ip

    failures = AccessAttempt.objects.filter(
        username=username[:255], ip_address=client_ip(request)).aggregate(
        n=Sum("failures_since_start"))["n"] or 0
    left = get_failure_limit(request, {"username": username}) - failures
    return left if 0 < left <= LOCKOUT_WARNING_AT else None


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    auth_logout(request)
    messages.info(request, "You are logged out.")
    return redirect("login")


def lockout(request: HttpRequest, response=None, credentials=None) -> HttpResponse:
    """django-axes' lockout response (AXES_LOCKOUT_CALLABLE): says when to
    retry, in the configured time zone."""
    from axes.helpers import get_cool_off

    cool_off = get_cool_off(request)
    retry_at = timezone.now() + cool_off if cool_off else None
    minutes = max(1, round(cool_off.total_seconds() / 60)) if cool_off else None
    return render(request, "accounts/lockout.html",
                  {"retry_at": retry_at, "cool_off_minutes": minutes}, status=429)


@manage_settings
@require_http_methods(["GET", "POST"])
def runtime_settings(request: HttpRequest) -> HttpResponse:
    instance = RuntimeSettings.load()
    before = {name: getattr(instance, name) for name in RuntimeSettingsForm.Meta.fields}
    form = RuntimeSettingsForm(request.POST or None, instance=instance)
    if request.method == "POST":
        if form.is_valid():
            saved = form.save(commit=False)
            saved.pk = SINGLETON_PK
            saved.updated_by = request.user
            saved.save()
            changes = [f"{name}: {before[name]!r} -> {getattr(saved, name)!r}"
                       for name in RuntimeSettingsForm.Meta.fields
                       if before[name] != getattr(saved, name)]
            audit.record(request, "settings.change", target="runtime settings",
                         detail="; ".join(changes) or "no change")
            messages.success(request, "Settings saved; they apply from the next request on.")
            return redirect("settings")
        audit.record(request, "settings.change", target="runtime settings",
                     result=audit.FAILED,
                     detail="; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return render(request, "accounts/settings.html", {"form": form})


@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    data = request.GET.copy()
    data.setdefault("window", "7d")
    form = AuditFilterForm(data)
    entries = AuditEntry.objects.none()
    audit.settle_unanswered()  # commands no node took: shown as such, not "pending"
    if form.is_valid():
        entries = form.filter(AuditEntry.objects.all(), timezone.now())
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = data.copy()
    query.pop("page", None)
    node_names, multi_node = scope_choices(data.get("node", ""))
    return render_page(request, "accounts/audit.html", "audit-rows",
                       {"form": form, "page": page, "query": query.urlencode(),
                        "node_names": node_names, "multi_node": multi_node})


# --- users (docs/accounts.md, "Users") -------------------------------------------------
def _users_page(request: HttpRequest, form: UserCreateForm | None = None,
                link: PasswordLink | None = None, link_for: str = "",
                status: int = 200) -> HttpResponse:
    listed = users.listed()
    two_factor = mfa.enrolled(listed)
    rows = [{"user": u, "role": stored_role(u), "self": u.pk == request.user.pk,
             "two_factor": u.pk in two_factor} for u in listed]
    return render(request, "accounts/users.html", {
        "rows": rows, "form": form or UserCreateForm(), "roles": ROLES,
        "role_descriptions": ROLE_DESCRIPTIONS.items(), "link": link, "link_for": link_for,
        "link_hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
    }, status=status)


def _user_or_404(pk: int):
    return get_object_or_404(get_user_model(), pk=pk)


@manage_users
@sensitive_post_parameters("password1", "password2")
@never_cache  # an answer may carry a set-password link: kept by no cache
@require_http_methods(["GET", "POST"])
def user_list(request: HttpRequest) -> HttpResponse:
    """Every user with their role and state; the form below adds one."""
    if request.method == "GET":
        return _users_page(request)
    form = UserCreateForm(request.POST)
    if not form.is_valid():
        audit.record(request, "user.create", target=f"user:{request.POST.get('username', '')}",
                     result=audit.FAILED, detail=form_errors(form))
        return _users_page(request, form, status=400)
    data = form.cleaned_data
    try:
        user = users.create_user(request, data["username"], data["role"],
                                 data["password1"] or None, data["email"])
    except users.UserChangeRefused as exc:
        form.add_error(None, str(exc))
        return _users_page(request, form, status=400)
    if data["password1"]:
        messages.success(request, f"Created {user.username} ({data['role']}).")
        return redirect("users")
    # No password: the link is shown now, once, and never stored.
    link = users.password_link(request, user, users.base_url_of(request))
    messages.success(request, f"Created {user.username} ({data['role']}) without a password: "
                              "send them the link below.")
    return _users_page(request, link=link, link_for=user.username)


def _change(request: HttpRequest, change) -> HttpResponse:
    try:
        message = change()
    except users.UserChangeRefused as exc:
        messages.error(request, f"Nothing changed: {exc}.")
    else:
        messages.success(request, message)
    return redirect("users")


@require_POST
@manage_users
def user_role(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user_or_404(pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Nothing changed: {form_errors(form)}")
        return redirect("users")
    role = form.cleaned_data["role"]
    return _change(request, lambda: f"{user.username} is now {role}."
                   if users.set_role(request, user, role)
                   else f"{user.username} already was {role}.")


@require_POST
@manage_users
def user_disable(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user_or_404(pk)
    def disable() -> str:
        if not users.set_active(request, user, False):
            return f"{user.username} already was disabled."
        return f"Disabled {user.username}: they are signed out and cannot log in."

    return _change(request, disable)


@require_POST
@manage_users
def user_enable(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user_or_404(pk)
    return _change(request, lambda: f"Enabled {user.username}." if users.set_active(
        request, user, True) else f"{user.username} already was enabled.")


@require_POST
@manage_users
def user_reset_two_factor(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user_or_404(pk)
    return _change(request, lambda: (
        f"Removed {user.username}'s two-factor: they sign in with their password and "
        "enrol again." if mfa.reset(request, user, request)
        else f"{user.username} had no two-factor."))


@require_POST
@manage_users
@never_cache
def user_password_link(request: HttpRequest, pk: int) -> HttpResponse:
    """A set-password link for the user, shown in this answer only."""
    user = _user_or_404(pk)
    link = users.password_link(request, user, users.base_url_of(request))
    return _users_page(request, link=link, link_for=user.username)


@method_decorator(sensitive_post_parameters("new_password1", "new_password2"), name="dispatch")
class SetPasswordView(auth_views.PasswordResetConfirmView):
    """Where a set-password link leads (public: the token is the key)."""

    template_name = "accounts/set_password.html"
    success_url = reverse_lazy("user_set_password_done")

    def form_valid(self, form):
        response = super().form_valid(form)
        audit.record(form.user, "user.set_password", target=f"user:{form.user.username}",
                     request=self.request)
        return response
