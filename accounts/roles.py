"""What each role may do, where a permission alone does not say it.

An operator (``accounts.operate``) may edit ``action.d``, ``jail.d`` and the
server's log target, and fail2ban runs actions as root: an operator who may
edit config files is effectively root on the host (docs/security.md).
``BANGUI_OPERATORS_EDIT_CONFIG=0`` limits operators to bans, jail controls,
jail settings and ignore lists; config files, filters and server settings
are then for superusers only.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import permission_required, user_passes_test
from django.core.exceptions import PermissionDenied

OPERATOR_IS_ROOT = (
    "Operators may edit fail2ban's config files (action.d, jail.d) and server "
    "settings, and fail2ban runs actions as root: an operator who may edit config "
    "is effectively root on this host. Set BANGUI_OPERATORS_EDIT_CONFIG=0 to keep "
    "config files and server settings for superusers."
)


def can_edit_config(user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    return settings.BANGUI_OPERATORS_EDIT_CONFIG and user.has_perm("accounts.operate")


def _check(user) -> bool:
    if can_edit_config(user):
        return True
    raise PermissionDenied("editing fail2ban's config files is for superusers here")


# For views that write config files or server settings (403 otherwise).
config_editor = user_passes_test(_check)


def context(request):
    """``can_edit_config`` for templates (one check per render)."""
    return {"can_edit_config": can_edit_config(getattr(request, "user", None))}


# For every view that changes fail2ban or BanGUI's own data (403 otherwise).
operate = permission_required("accounts.operate", raise_exception=True)
