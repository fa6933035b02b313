"""Form widgets every app may use."""

from __future__ import annotations

from django import forms
from django.forms.utils import flatatt
from django.utils.html import escape
from django.utils.safestring import mark_safe


class PlainSelect(forms.Select):
    """A <select> written in Python. Django renders each option through a
    template (~0.1 ms an option): a jail's filter list (~100 filter.d
    names) cost a jail page 15-30 ms (docs/performance.md). Flat choices
    only (no groups); the same markup as Django's but for whitespace."""

    def render(self, name, value, attrs=None, renderer=None):
        chosen = set(self.format_value(value))
        attrs = self.build_attrs(self.attrs, {**(attrs or {}), "name": name})
        options = "".join(
            f'<option value="{escape(key)}"{" selected" if str(key) in chosen else ""}>'
            f"{escape(label)}</option>" for key, label in self.choices)
        return mark_safe(f"<select{flatatt(attrs)}>{options}</select>")  # noqa: S308 (escaped)
