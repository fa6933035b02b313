"""The accounts tests' helpers: every role's user and client are in the
top-level conftest.py."""

from conftest import ensure_roles  # noqa: F401 (the tests' import path)
