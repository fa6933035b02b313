"""First-run setup: the gate every request passes, and the one atomic step
that completes setup."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from accounts import audit
from accounts.models import SINGLETON_PK, RuntimeSettings, SetupCompletion


class SetupAlreadyDone(Exception):
    """Setup ran before; it never runs twice."""

    def __init__(self) -> None:
        super().__init__("BanGUI is already set up; the setup step cannot run again. "
                         "Manage users in Django admin and settings on /settings/.")


class SetupGate:
    """Read-through cache of "is there a SetupCompletion row?".

    Once the database says yes the answer can never change back (setup is
    never undone), so the flag only goes False -> True and requests stop
    querying. Until then every request asks the database, so a setup done by
    another worker or by ``manage.py setup`` is seen at once.
    """

    def __init__(self) -> None:
        self._complete = False
        self._lock = threading.Lock()

    def is_complete(self) -> bool:
        if self._complete:
            return True
        if SetupCompletion.objects.filter(pk=SINGLETON_PK).exists():
            self.mark_complete()
            return True
        return False

    def mark_complete(self) -> None:
        with self._lock:
            self._complete = True

    def reset(self) -> None:
        """For tests only: each test starts from its own database state."""
        with self._lock:
            self._complete = False


def gate() -> SetupGate:
    return apps.get_app_config("accounts").setup_gate


@dataclass(frozen=True)
class SetupValues:
    username: str
    password: str
    fail2ban_socket: str
    time_zone: str = "UTC"
    session_hours: int = 8
    email: str = ""


def complete_setup(values: SetupValues, *, method: str, actor: object = None,
                   request=None):
    """Create the first admin and the runtime settings, and mark setup done,
    all in one transaction. The claim (INSERT of the pk-1 completion row) comes
    first, so a second caller, concurrent or later, fails on the primary key
    and its whole transaction (including its admin) rolls back.

    Raises :class:`SetupAlreadyDone`; returns the new superuser.
    """
    if gate().is_complete():
        raise SetupAlreadyDone()
    User = get_user_model()
    try:
        with transaction.atomic():
            completion = SetupCompletion.objects.create(pk=SINGLETON_PK, method=method)
            user = User.objects.create_superuser(
                username=values.username, email=values.email, password=values.password
            )
            completion.admin = user
            completion.save(update_fields=["admin"])
            RuntimeSettings.objects.update_or_create(
                pk=SINGLETON_PK,
                defaults={
                    "fail2ban_socket": values.fail2ban_socket,
                    "time_zone": values.time_zone,
                    "session_hours": values.session_hours,
                    "updated_by": user,
                },
            )
            audit.record(
                actor if actor is not None else user, "setup", target=f"user:{user.username}",
                detail=(f"socket={values.fail2ban_socket} time_zone={values.time_zone} "
                        f"session_hours={values.session_hours} via {method}"),
                request=request,
            )
            transaction.on_commit(gate().mark_complete)
    except IntegrityError:
        # The only row that can collide is the completion row (the username is
        # checked before, and a collision there also means someone else won).
        if SetupCompletion.objects.filter(pk=SINGLETON_PK).exists():
            gate().mark_complete()
            raise SetupAlreadyDone() from None
        raise
    return user
