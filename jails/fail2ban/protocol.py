"""fail2ban's socket protocol: pickled command lists ended by a marker.

Requests are ``pickle.dumps(list_of_str)`` + ``END``; replies are a pickle of
``(code, payload)`` + ``END``. Replies are unpickled with
:class:`RestrictedUnpickler`, which builds plain builtins only: a reply that
names any other class is refused, except exception classes, which fail2ban
sends as the payload of a failed command (``UnknownJailException('x')``);
those become :class:`RemoteException` stand-ins carrying the class name.
"""

from __future__ import annotations

import builtins
import io
import pickle
from typing import Any

from .errors import ProtocolError

END = b"<F2B_END_COMMAND>"
CLOSE = b"<F2B_CLOSE_COMMAND>"

# The only globals a reply may name. Containers and scalars that the pickle
# protocol encodes with opcodes (list, dict, tuple, str, int, ...) never reach
# find_class; these are the ones that do under older protocols.
_SAFE_BUILTINS = {"set", "frozenset", "list", "dict", "tuple", "str", "int", "float", "bool"}


class RemoteException(Exception):
    """Stand-in for an exception instance found in a reply."""

    def __init__(self, *args: Any):
        super().__init__(*args)
        self.remote_class = "Exception"

    def message(self) -> str:
        return " ".join(str(a) for a in self.args) or self.remote_class


def _exception_standin(module: str, name: str):
    qualified = name if module == "builtins" else f"{module}.{name}"

    def build(*args: Any) -> RemoteException:
        exc = RemoteException(*args)
        exc.remote_class = qualified
        return exc

    return build


def _looks_like_exception(module: str, name: str) -> bool:
    if module == "builtins":
        obj = getattr(builtins, name, None)
        return isinstance(obj, type) and issubclass(obj, BaseException)
    return name.endswith(("Exception", "Error"))


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module == "__builtin__":  # protocol 2 spells it the Python 2 way
            module = "builtins"
        if module == "builtins" and name in _SAFE_BUILTINS:
            return getattr(builtins, name)
        if _looks_like_exception(module, name):
            return _exception_standin(module, name)
        raise ProtocolError(f"fail2ban reply tried to build {module}.{name}; refused")


def encode(command: list[str]) -> bytes:
    return pickle.dumps([str(part) for part in command], pickle.HIGHEST_PROTOCOL) + END


def decode(data: bytes) -> tuple[int, Any]:
    """Decode one reply (with or without its END marker)."""
    if data.endswith(END):
        data = data[: -len(END)]
    try:
        reply = RestrictedUnpickler(io.BytesIO(data)).load()
    except ProtocolError:
        raise
    except Exception as exc:
        raise ProtocolError(f"fail2ban sent a reply BanGUI cannot read ({exc})") from None
    if not (isinstance(reply, tuple | list) and len(reply) == 2 and isinstance(reply[0], int)):
        raise ProtocolError("fail2ban sent a reply that is not a (code, payload) pair")
    return reply[0], reply[1]
