"""Config history: every version of a config file BanGUI wrote, tried, found
or restored, per node (docs/config.md, "Config history").

The config transaction (``jails.config.files.apply``) records here, in the
process that runs it: the web process for this host's node, the node's
worker for another (through the dispatch), so both roads record in one
place. Pages read the shared database only (:func:`versions`, :func:`diff`).

Recording never fails a config change: the change on disk is what the admin
asked for; a history row that could not be written is logged.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError

from bangui.dbretry import retrying

# files imports this module (it records every transaction): its module, not
# a name from it, so either may be imported first.
from jails.config import files
from jails.models import ConfigVersion

logger = logging.getLogger(__name__)

# Who changes the config, and why, for transactions whose caller does not
# pass them (the structured editors): set around the call with :func:`acting`.
_actor: contextvars.ContextVar[str] = contextvars.ContextVar("config_actor", default="")
_reason: contextvars.ContextVar[str] = contextvars.ContextVar("config_reason", default="")


@contextlib.contextmanager
def acting(actor: str, reason: str = "") -> Iterator[None]:
    """Config transactions inside are by ``actor`` for ``reason``; an empty
    one keeps what an outer ``acting`` said."""
    tokens = (_actor.set(actor or _actor.get()), _reason.set(reason or _reason.get()))
    try:
        yield
    finally:
        _actor.reset(tokens[0])
        _reason.reset(tokens[1])


def current_actor() -> str:
    return _actor.get()


def current_reason() -> str:
    return _reason.get()


def _hash(text: str | bytes | None) -> str:
    return files.content_hash(text)


def _text(data: bytes | str | None) -> str | None:
    if data is None or isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")


def latest_applied(path: str, node: str | None = None):
    """The newest version of ``path`` that was on disk (None: no history)."""
    return (ConfigVersion.objects.filter(node=node or settings.BANGUI_NODE, path=path,
                                    applied=True).order_by("-id").first())


def record(path: str, data: bytes | str | None, kind: str, *, applied: bool = True,
           verdict: str = "", message: str = "", actor: str | None = None,
           reason: str | None = None):
    """Write one version of ``path`` on this process's node, then prune the
    file's oldest beyond ``BANGUI_CONFIG_HISTORY_KEEP``. Returns the row, or
    None when the database refused (logged; never raises)."""
    model = ConfigVersion
    text = _text(data)
    node = settings.BANGUI_NODE
    row = model(node=node, path=path, kind=kind, applied=applied, verdict=verdict,
                message=message[:4000], text=text, sha256=_hash(text),
                actor=(current_actor() if actor is None else actor)[:150],
                reason=(current_reason() if reason is None else reason)[:300])
    try:
        retrying(row.save, what=f"recording a version of {path}", seconds=30)
        prune(path, node)
    except DatabaseError:
        logger.exception("could not record a version of %s on %s", path, node)
        return None
    return row


def prune(path: str, node: str | None = None) -> int:
    """Delete the versions of ``path`` older than the newest
    ``BANGUI_CONFIG_HISTORY_KEEP``; how many went."""
    model = ConfigVersion
    node = node or settings.BANGUI_NODE
    keep = settings.BANGUI_CONFIG_HISTORY_KEEP
    ids = list(model.objects.filter(node=node, path=path).order_by("-id")
               .values_list("id", flat=True)[keep:keep + 10_000])
    if not ids:
        return 0
    return model.objects.filter(id__in=ids).delete()[0]


def note_before(path: str, old: bytes | None) -> None:
    """Before BanGUI writes ``path``: the content it is about to replace, when
    the history does not have it as the latest version on disk (the first
    change BanGUI makes: "as BanGUI found it"; later: "changed outside
    BanGUI"). A file that never existed and has no history needs nothing."""
    try:
        latest = latest_applied(path)
    except DatabaseError:
        logger.exception("could not read the history of %s", path)
        return
    if latest is None:
        if old is not None:
            record(path, old, ConfigVersion.FOUND, actor="", reason="")
    elif latest.sha256 != _hash(old):
        record(path, old, ConfigVersion.OUTSIDE, actor="", reason="")


def note_read(path: str, data: str | None):
    """The editor read ``path``: when it has a history and the file differs
    from its latest version on disk, record it as "changed outside BanGUI"
    (what BanGUI did not write, found when next read). Returns that row or
    None."""
    try:
        latest = latest_applied(path)
    except DatabaseError:
        logger.exception("could not read the history of %s", path)
        return None
    if latest is None or latest.sha256 == _hash(data):
        return None
    return record(path, data, ConfigVersion.OUTSIDE, actor="", reason="")


# -- reading (any web process, any node's files) ----------------------------------
def versions(path: str, node: str):
    return ConfigVersion.objects.filter(node=node, path=path).order_by("-id")


def version(path: str, node: str, pk: int):
    return ConfigVersion.objects.filter(node=node, path=path, pk=pk).first()


@dataclass(frozen=True)
class DiffLine:
    text: str
    kind: str  # "add", "del", "hunk", "head" or "" (context)


def diff_lines(old: str | None, new: str | None, old_name: str, new_name: str
               ) -> list[DiffLine]:
    """A unified diff (difflib) as lines the template colours by class."""
    out = []
    for line in difflib.unified_diff((old or "").splitlines(), (new or "").splitlines(),
                                     fromfile=old_name, tofile=new_name, lineterm=""):
        if line.startswith(("---", "+++")):
            kind = "head"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = ""
        out.append(DiffLine(line, kind))
    return out
