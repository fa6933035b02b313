"""Who may do what: one table, and the decorators and checks derived from it.

Roles form a ladder; each may do everything the one before may:

- **viewer**: read (no host logs);
- **support**: ban and unban (and, later, the allow-list);
- **operator**: every fail2ban action (jail start/stop/reload, ignore lists,
  jail settings, blocklists), and config files if
  ``BANGUI_OPERATORS_EDIT_CONFIG`` (the default);
- **admin** (a superuser): config, BanGUI's settings and its users.

A role is held as a Django group whose permissions say it (``accounts.ban``
for support; ``accounts.ban`` and ``accounts.operate`` for operator; migrations
0002 and 0006), so ``perms.accounts.ban`` in a template and ``has_perm`` in
Python agree with :func:`may`. Admin is ``is_superuser``.

An operator (``accounts.operate``) may edit ``action.d``, ``jail.d`` and the
server's log target, and fail2ban runs actions as root: an operator who may
edit config files is effectively root on the host (docs/security.md).
``BANGUI_OPERATORS_EDIT_CONFIG=0`` limits operators to bans, jail controls,
jail settings and ignore lists; config files, filters and server settings
are then for admins only.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

VIEWER, SUPPORT, OPERATOR, ADMIN = "viewer", "support", "operator", "admin"
ROLES = (VIEWER, SUPPORT, OPERATOR, ADMIN)  # the ladder, lowest first
GROUP_ROLES = (VIEWER, SUPPORT, OPERATOR)  # held as a group; admin is is_superuser

# The permission that makes a user a support or operator (what the groups hold).
ROLE_PERMISSION = {SUPPORT: "accounts.ban", OPERATOR: "accounts.operate"}

# THE rule: the least role that may do each kind of action.
LEAST_ROLE = {
    "read": VIEWER,      # every page, pasted lines in the regex tester
    "ban": SUPPORT,      # ban, unban (and the allow-list, when it lands)
    "operate": OPERATOR,  # jail start/stop/reload/idle, ignore lists, jail settings, blocklists
    "config": ADMIN,     # config files, filters, server settings, host logs (see least_role)
    "settings": ADMIN,   # BanGUI's runtime settings
    "users": ADMIN,      # users and their roles
}
ACTIONS = tuple(LEAST_ROLE)

ROLE_DESCRIPTIONS = {
    VIEWER: "Reads every page; changes nothing; never reads a log file.",
    SUPPORT: "Bans and unbans addresses. No jail controls, config, settings or users.",
    OPERATOR: "Every fail2ban action: jails, ignore lists, jail settings, blocklists, "
              "and config files unless BANGUI_OPERATORS_EDIT_CONFIG=0.",
    ADMIN: "Everything, including BanGUI's settings and its users.",
}

OPERATOR_IS_ROOT = (
    "Operators may edit fail2ban's config files (action.d, jail.d) and server "
    "settings, and fail2ban runs actions as root: an operator who may edit config "
    "is effectively root on this host. Set BANGUI_OPERATORS_EDIT_CONFIG=0 to keep "
    "config files and server settings for superusers."
)


def least_role(action: str) -> str:
    """The lowest role that may do ``action`` (a key of LEAST_ROLE)."""
    if action == "config" and settings.BANGUI_OPERATORS_EDIT_CONFIG:
        return OPERATOR
    return LEAST_ROLE[action]


def role_may(role: str | None, action: str) -> bool:
    if role is None:
        return False
    return ROLES.index(role) >= ROLES.index(least_role(action))


def role_of(user) -> str | None:
    """The user's role: None for anonymous or disabled users, ``viewer`` for
    any other signed-in user without a higher one."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return ADMIN
    for role in reversed(GROUP_ROLES[1:]):
        if user.has_perm(ROLE_PERMISSION[role]):
            return role
    return VIEWER


def may(user, action: str) -> bool:
    """May ``user`` do ``action``? Every view, command and template asks this."""
    return role_may(role_of(user), action)


def can_edit_config(user) -> bool:
    return may(user, "config")


def requires(action: str):
    """Decorator for a view that needs ``action``: anonymous users go to the
    login page, signed-in users without the role get 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if may(request.user, action):
                return view(request, *args, **kwargs)
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            raise PermissionDenied(f"this needs the {least_role(action)} role")

        wrapped.bangui_requires = action
        return wrapped

    return decorator


# Every view that changes something says which kind of action it is.
ban_or_unban = requires("ban")  # ban and unban (views named ban/unban: hence the name)
operate = requires("operate")    # every other fail2ban action, blocklists
config_editor = requires("config")  # config files, filters, server settings
manage_settings = requires("settings")
manage_users = requires("users")


class _May:
    """``may.ban``, ``may.config`` … in templates, computed on first use."""

    def __init__(self, user):
        self._role = role_of(user)

    def __getattr__(self, action: str) -> bool:
        if action not in LEAST_ROLE:
            raise AttributeError(action)
        return role_may(self._role, action)

    def __getitem__(self, action: str) -> bool:
        return role_may(self._role, action) if action in LEAST_ROLE else False


def context(request):
    """``may`` (``{% if may.ban %}``) and ``can_edit_config`` for templates."""
    user = getattr(request, "user", None)
    return {"can_edit_config": can_edit_config(user), "may": _May(user),
            "role": role_of(user)}
