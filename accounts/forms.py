from __future__ import annotations

from datetime import timedelta
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator

from accounts.models import AuditEntry, RuntimeSettings
from accounts.roles import ROLE_DESCRIPTIONS, ROLES
from bangui.hooks import app_hook
from bangui.widgets import PlainSelect

SOCKET_CHECK_TIMEOUT = 5.0
MAX_SESSION_HOURS = 24 * 90


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(available_timezones())]


def check_socket(path: str) -> str:
    """Ask fail2ban at ``path`` for a ping; its error becomes the form error."""
    path = path.strip()
    if not path.startswith("/"):
        raise ValidationError("Give the absolute path of fail2ban's socket, "
                              "e.g. /var/run/fail2ban/fail2ban.sock.")
    # The ping is the jails app's (JailsConfig.socket_check): accounts knows
    # nothing of fail2ban's protocol.
    ping = app_hook("socket_check")
    problem = ping(path, SOCKET_CHECK_TIMEOUT) if ping else None
    if problem:
        raise ValidationError(problem)
    return path


def _default_hours() -> int:
    return max(1, settings.SESSION_COOKIE_AGE // 3600)



def new_username(value: str) -> str:
    """A name for a new user: normalised, valid, not taken."""
    User = get_user_model()
    username = User.normalize_username(value.strip())
    User.username_validator(username)
    if User.objects.filter(username=username).exists():
        raise ValidationError("A user with that name already exists.")
    return username


def check_new_password(form: forms.Form, data: dict) -> None:
    """The two password fields agree (when neither was refused already) and
    the password passes the validators, judged for the new user."""
    p1, p2 = data.get("password1"), data.get("password2")
    if (p1 or p2) and p1 != p2 and not form.has_error("password1") \
            and not form.has_error("password2"):
        form.add_error("password2", "The two passwords differ.")
    elif p1:
        user = get_user_model()(username=data.get("username", ""), email=data.get("email", ""))
        try:
            password_validation.validate_password(p1, user)
        except ValidationError as exc:
            form.add_error("password1", exc)

class _NoColon:
    """Labels read "Password", not "Password:" (cleaner for screen readers)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class _RuntimeFields(_NoColon, forms.Form):
    """Socket, time zone and session lifetime: asked by the wizard and the
    settings page alike."""

    fail2ban_socket = forms.CharField(
        label="fail2ban socket path", max_length=500,
        help_text="Checked live: fail2ban must answer at this path.",
    )
    time_zone = forms.TypedChoiceField(choices=time_zone_choices, initial="UTC",
                                        widget=PlainSelect)
    session_hours = forms.IntegerField(
        label="Session lifetime (hours)", initial=_default_hours,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_SESSION_HOURS)],
    )

    def clean_fail2ban_socket(self) -> str:
        return check_socket(self.cleaned_data["fail2ban_socket"])


class SetupForm(_RuntimeFields):
    username = forms.CharField(max_length=150, help_text="The first admin account.")
    email = forms.EmailField(required=False)
    password1 = forms.CharField(label="Password", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(label="Password again", strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    field_order = ["username", "email", "password1", "password2",
                   "fail2ban_socket", "time_zone", "session_hours"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["fail2ban_socket"].initial = settings.FAIL2BAN_SOCKET

    def clean_username(self) -> str:
        return new_username(self.cleaned_data["username"])

    def clean(self):
        data = super().clean()
        check_new_password(self, data)
        return data


class RuntimeSettingsForm(_NoColon, forms.ModelForm):
    """The /settings/ page. A new knob is a model field plus its name here."""

    time_zone = forms.TypedChoiceField(choices=time_zone_choices, initial="UTC",
                                        widget=PlainSelect)
    fail2ban_socket = _RuntimeFields.base_fields["fail2ban_socket"]
    session_hours = _RuntimeFields.base_fields["session_hours"]

    class Meta:
        model = RuntimeSettings
        fields = ["fail2ban_socket", "time_zone", "session_hours"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Show what is in effect when a value was never stored.
        inst = self.instance
        if not self.initial.get("fail2ban_socket"):
            self.initial["fail2ban_socket"] = inst.socket_path
        if not self.initial.get("time_zone"):
            self.initial["time_zone"] = str(inst.zone)
        if not self.initial.get("session_hours"):
            self.initial["session_hours"] = int(inst.session_age.total_seconds() // 3600) or 1
        if settings.FAIL2BAN_SOCKET_FROM_ENV:  # this host's environment wins (docs/fleet.md)
            field = self.fields["fail2ban_socket"]
            field.disabled = True
            self.initial["fail2ban_socket"] = settings.FAIL2BAN_SOCKET
            field.help_text = ("Set by BANGUI_FAIL2BAN_SOCKET in this host's environment, "
                               "which wins over this setting.")

    def clean_fail2ban_socket(self) -> str:
        if self.fields["fail2ban_socket"].disabled:
            return self.instance.fail2ban_socket  # left as stored
        return check_socket(self.cleaned_data["fail2ban_socket"])


WINDOWS = {
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "365d": ("Last 365 days", timedelta(days=365)),
    "all": ("All time", None),
}


class AuditFilterForm(_NoColon, forms.Form):
    actor = forms.CharField(required=False, max_length=150)
    action = forms.ChoiceField(required=False)
    window = forms.ChoiceField(required=False, initial="7d",
                               choices=[(k, label) for k, (label, _) in WINDOWS.items()])
    result = forms.ChoiceField(required=False,
                               choices=[("", "any"), *AuditEntry.Result.choices])
    node = forms.CharField(required=False, max_length=63)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        actions = AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct()
        self.fields["action"].choices = [("", "any"), *((a, a) for a in actions)]

    def filter(self, queryset, now):
        data = self.cleaned_data
        if data.get("actor"):
            queryset = queryset.filter(actor_name__icontains=data["actor"])
        if data.get("action"):
            queryset = queryset.filter(action=data["action"])
        if data.get("result"):
            queryset = queryset.filter(result=data["result"])
        if data.get("node"):
            queryset = queryset.filter(node=data["node"])
        window = WINDOWS[data.get("window") or "7d"][1]
        if window is not None:
            queryset = queryset.filter(created_at__gte=now - window)
        return queryset


def role_choices() -> list[tuple[str, str]]:
    return [(role, role) for role in ROLES]


def _role_help() -> str:
    return " ".join(f"{role}: {text}" for role, text in ROLE_DESCRIPTIONS.items())


class UserCreateForm(_NoColon, forms.Form):
    """A new user on /accounts/users/. No password: the page shows a
    set-password link for them instead."""

    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=role_choices, initial="viewer")
    email = forms.EmailField(required=False)
    password1 = forms.CharField(
        label="Password", strip=False, required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to get a set-password link to send them instead.")
    password2 = forms.CharField(
        label="Password again", strip=False, required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean_username(self) -> str:
        return new_username(self.cleaned_data["username"])

    def clean(self):
        data = super().clean()
        check_new_password(self, data)
        return data


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=role_choices)
