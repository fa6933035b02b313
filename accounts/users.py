"""BanGUI's users: create, change role, disable, set-password links.

One function per change, used by the /accounts/users/ pages and by
``manage.py users`` alike; each checks its guards, changes the user and
writes the audit row. ``actor`` is what :func:`accounts.audit.record` takes
(a request, a user, "cli:root").

A role is stored as accounts/roles.py says: admin is ``is_superuser`` (and
``is_staff``, so Django admin stays open to admins), the others are one of
the role groups. Nobody is left without an active admin, and an admin on the
page cannot demote or disable themselves (another admin, or the command, can).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import audit
from accounts.roles import ADMIN, GROUP_ROLES, ROLES, role_of


class UserChangeRefused(Exception):
    """A change the rules refuse; the message says why, nothing changed."""


def _user_of(actor):
    return getattr(actor, "user", actor)


def _is_self(actor, user) -> bool:
    me = _user_of(actor)
    return getattr(me, "pk", None) is not None and me.pk == user.pk


def _clear_perm_cache(user) -> None:
    for name in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(name, None)


def _other_active_admins(user) -> bool:
    return get_user_model().objects.filter(is_superuser=True, is_active=True).exclude(
        pk=user.pk).exists()


def _apply_role(user, role: str) -> None:
    if role not in ROLES:
        raise UserChangeRefused(f"{role!r} is not a role: choose one of {', '.join(ROLES)}")
    groups = {g.name: g for g in Group.objects.filter(name__in=GROUP_ROLES)}
    if role != ADMIN and role not in groups:
        raise UserChangeRefused(f"the {role} group is missing: run `manage.py migrate`")
    user.is_superuser = user.is_staff = role == ADMIN
    user.save(update_fields=["is_superuser", "is_staff"])
    user.groups.remove(*groups.values())
    if role != ADMIN:
        user.groups.add(groups[role])
    _clear_perm_cache(user)


def check_password(password: str, username: str, email: str = "") -> None:
    """Django's validators (AUTH_PASSWORD_VALIDATORS); ValidationError if refused."""
    password_validation.validate_password(
        password, get_user_model()(username=username, email=email))


@transaction.atomic
def create_user(actor, username: str, role: str, password: str | None = None,
                email: str = ""):
    """A new active user with ``role``; without ``password`` they have none
    until they follow a set-password link."""
    User = get_user_model()
    username = User.normalize_username(username.strip())
    try:
        User.username_validator(username)
    except ValidationError as exc:
        raise UserChangeRefused(" ".join(exc.messages)) from None
    if User.objects.filter(username=username).exists():
        raise UserChangeRefused(f"a user named {username!r} already exists")
    if role not in ROLES:
        raise UserChangeRefused(f"{role!r} is not a role: choose one of {', '.join(ROLES)}")
    user = User.objects.create_user(username=username, email=email, password=password or None)
    _apply_role(user, role)
    audit.record(actor, "user.create", target=f"user:{username}",
                 detail=f"role {role}" + ("" if password else "; no password yet"))
    return user


@transaction.atomic
def set_role(actor, user, role: str) -> bool:
    """Give ``user`` ``role``; False when it already was theirs."""
    before = stored_role(user)
    if role == before:
        return False
    if _is_self(actor, user):
        raise UserChangeRefused("you cannot change your own role; ask another admin")
    if before == ADMIN and user.is_active and not _other_active_admins(user):
        raise UserChangeRefused(f"{user.username} is the last active admin; make another "
                                "admin first")
    _apply_role(user, role)
    audit.record(actor, "user.role", target=f"user:{user.username}",
                 detail=f"{before} -> {role}")
    return True


@transaction.atomic
def record_sso_user(actor, user, role: str, uid: str = "") -> None:
    """A user the first single sign-on just made (accounts/sso.py): their
    role, stored as every other user's, and the audit row."""
    _apply_role(user, role)
    audit.record(actor, "user.create", target=f"user:{user.username}",
                 detail=f"role {role}; by single sign-on" + (f" (subject {uid})" if uid else ""))


def _stored_role(user) -> str:
    """The role a disabled user will have again when enabled."""
    if user.is_superuser:
        return ADMIN
    names = set(user.groups.values_list("name", flat=True))
    return next((r for r in reversed(GROUP_ROLES) if r in names), GROUP_ROLES[0])


def stored_role(user) -> str:
    return role_of(user) if user.is_active else _stored_role(user)


@transaction.atomic
def set_active(actor, user, active: bool) -> bool:
    """Enable or disable ``user`` (a disabled user is signed out at their
    next request and cannot log in); False when nothing changed."""
    if user.is_active == active:
        return False
    if not active:
        if _is_self(actor, user):
            raise UserChangeRefused("you cannot disable yourself; ask another admin")
        if user.is_superuser and not _other_active_admins(user):
            raise UserChangeRefused(f"{user.username} is the last active admin; make another "
                                    "admin first")
    user.is_active = active
    user.save(update_fields=["is_active"])
    audit.record(actor, "user.enable" if active else "user.disable",
                 target=f"user:{user.username}")
    return True


@dataclass(frozen=True)
class PasswordLink:
    path: str  # /accounts/set-password/<uid>/<token>/
    url: str   # absolute when the base is known, else the path


def password_link(actor, user, base_url: str = "") -> PasswordLink:
    """A link that lets ``user`` choose a password (Django's
    PasswordResetTokenGenerator: valid for PASSWORD_RESET_TIMEOUT, until the
    password changes or they log in). It is shown once, never stored."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse("user_set_password",
                   kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)})
    audit.record(actor, "user.password_link", target=f"user:{user.username}")
    return PasswordLink(path, base_url.rstrip("/") + path if base_url else path)


def base_url_of(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def listed():
    """Every user, admins first, then by name; disabled ones included."""
    return get_user_model().objects.order_by("-is_active", "-is_superuser", "username") \
        .prefetch_related("groups")
