"""Django's form renderer, remembering what it rendered from plain values
(#29: a select's options, each an included template with its attributes'
template, were ~3 ms of the dashboard's render for one small form, every
request, with the same output each time).

A widget's template gets a context of plain values (its name, value,
attributes, options); the same context renders the same HTML, so a render
of one seen before is answered from a small per-process memo. A context
holding anything else (a bound field, a lazy translation, a form) is
rendered as always: only what its key can describe exactly is remembered.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from django.forms.renderers import DjangoTemplates
from django.utils import translation
from django.utils.safestring import SafeString

MEMO_SIZE = 256          # renders kept per process
MEMO_MAX_CHARS = 32_768  # longer output is rendered each time, not kept

_PLAIN = (str, int, float, bool, type(None))


def _key(value):
    """A hashable, exact description of ``value``, or None when it holds
    anything but plain values. The type is part of it: a ``SafeString`` is
    not escaped where an equal ``str`` is."""
    kind = type(value)
    if kind in _PLAIN or kind is SafeString:
        return (kind, value)
    if kind is dict:
        items = []
        for k, v in value.items():
            if type(k) is not str:
                return None
            part = _key(v)
            if part is None:
                return None
            items.append((k, part))
        return (dict, tuple(items))
    if kind is list or kind is tuple:
        parts = []
        for v in value:
            part = _key(v)
            if part is None:
                return None
            parts.append(part)
        return (kind, tuple(parts))
    return None


class MemoRenderer(DjangoTemplates):
    """``FORM_RENDERER``: Django's default renderer with the memo."""

    def __init__(self):
        super().__init__()
        self._memo: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def render(self, template_name, context, request=None):
        key = None if request is not None else _key(context)
        if key is None:
            return super().render(template_name, context, request)
        # The language too: a number's rendering may follow it.
        key = (template_name, translation.get_language(), key)
        with self._lock:
            html = self._memo.get(key)
            if html is not None:
                self._memo.move_to_end(key)
                return html
        html = super().render(template_name, context, request)
        if len(html) <= MEMO_MAX_CHARS:
            with self._lock:
                self._memo[key] = html
                if len(self._memo) > MEMO_SIZE:
                    self._memo.popitem(last=False)
        return html
