"""The form renderer's memo (bangui/renderer.py): the same HTML as
Django's own renderer, the second time from the memo, and nothing kept
that its key cannot describe exactly."""

from __future__ import annotations

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates, get_default_renderer
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from bangui import renderer
from bangui.renderer import MemoRenderer
from jails.forms.bans import ManualBanForm
from jails.forms.dashboard import BanTableFilterForm


class Widgets(forms.Form):
    per_page = forms.TypedChoiceField(choices=[(25, 25), (50, 50), (100, 100)], coerce=int)
    tags = forms.MultipleChoiceField(choices=[("a", "A & B"), ("b", "<b>")],
                                     widget=forms.CheckboxSelectMultiple, required=False)
    when = forms.DateField(required=False)
    note = forms.CharField(widget=forms.Textarea, required=False, max_length=10)
    lazy = forms.ChoiceField(choices=[("x", gettext_lazy("lazy label"))], required=False)


def _forms():
    yield ManualBanForm(jails=["sshd", "postfix", "a&b"], initial={"jail": "postfix"})
    yield ManualBanForm(jails=["sshd"], nodes=["n1", "n2"], labels=["eu"], initial={})
    yield ManualBanForm({"ip": "not an address", "jail": "nope"}, jails=["sshd"])
    yield BanTableFilterForm({"window": "7d", "per_page": "100", "sort": "-banned_at"})
    yield Widgets()
    yield Widgets({"per_page": "7", "tags": ["a", "b"], "when": "2026-13-45",
                   "note": "<script>alert(1)</script> far too long"})


def _html(form, with_renderer) -> list[str]:
    form.renderer = with_renderer
    return [form.as_div(), *(str(form[name]) for name in form.fields),
            str(form.errors), *(str(form[name].errors) for name in form.fields)]


def test_the_same_html_as_djangos_renderer_first_and_second_time():
    memo = MemoRenderer()
    for form_a, form_b, form_c in zip(_forms(), _forms(), _forms(), strict=True):
        plain = _html(form_a, DjangoTemplates())
        assert _html(form_b, memo) == plain  # rendered, and kept
        assert memo._memo
        assert _html(form_c, memo) == plain  # from the memo


def test_the_second_render_comes_from_the_memo(monkeypatch):
    memo = MemoRenderer()
    form = ManualBanForm(jails=["sshd", "postfix"], initial={"jail": "sshd"})
    form.renderer = memo
    first = str(form["jail"])
    monkeypatch.setattr(DjangoTemplates, "render",
                        lambda *a, **k: pytest.fail("rendered again"))
    assert str(form["jail"]) == first


def test_what_the_key_cannot_describe_is_not_kept():
    assert renderer._key({"widget": {"label": gettext_lazy("x")}}) is None
    assert renderer._key({"widget": {"when": object()}}) is None
    assert renderer._key({1: "x"}) is None
    # A safe string is not an equal plain one: it is not escaped.
    assert renderer._key({"v": mark_safe("<b>")}) != renderer._key({"v": "<b>"})
    assert renderer._key({"v": 1}) != renderer._key({"v": True}) != renderer._key({"v": "1"})
    assert renderer._key({"v": [1]}) != renderer._key({"v": (1,)})
    memo = MemoRenderer()
    form = Widgets()
    form.renderer = memo
    str(form["lazy"])
    assert not any("lazy label" in html for html in memo._memo.values())


def test_the_memo_is_bounded(monkeypatch):
    monkeypatch.setattr(renderer, "MEMO_SIZE", 5)
    memo = MemoRenderer()
    for n in range(20):
        form = ManualBanForm(jails=[f"jail{n}"], initial={})
        form.renderer = memo
        str(form["jail"])
    assert len(memo._memo) == 5
    monkeypatch.setattr(renderer, "MEMO_MAX_CHARS", 10)
    big = MemoRenderer()
    form = ManualBanForm(jails=["sshd"], initial={})
    form.renderer = big
    str(form["jail"])
    assert not big._memo


def test_it_is_the_projects_renderer():
    assert isinstance(get_default_renderer(), MemoRenderer)
