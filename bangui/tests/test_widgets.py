"""PlainSelect writes what Django's Select writes (the same options, the
same selection, the same attributes), without a template per option."""

from __future__ import annotations

import re

from django import forms

from bangui.widgets import PlainSelect

CHOICES = [("", "(leave as configured)"), ("sshd", "sshd"), ("a&b", "A <&> B"),
           ('q"t', "quote"), ("7", "seven")]


def _shape(html: str) -> tuple:
    """The select's attributes and its options (value, label, selected)."""
    attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', re.search(r"<select([^>]*)>", html)[1]))
    options = re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', html)
    return attrs, [(v, label, bool(sel)) for v, sel, label in options]


def test_it_renders_the_same_select_as_django():
    for value in ("sshd", "a&b", 'q"t', "", None, 7, "nowhere"):
        for attrs in (None, {"id": "id_filter", "class": "mono", "required": True}):
            ours = PlainSelect(choices=CHOICES).render("filter", value, attrs)
            django = forms.Select(choices=CHOICES).render("filter", value, attrs)
            assert _shape(ours) == _shape(django), (value, attrs)
    assert "A &lt;&amp;&gt; B" in PlainSelect(choices=CHOICES).render("f", None)


def test_a_bound_form_shows_the_posted_choice():
    class Form(forms.Form):
        filter = forms.ChoiceField(choices=CHOICES, required=False, widget=PlainSelect)

    html = str(Form({"filter": "a&b"})["filter"])
    assert '<option value="a&amp;b" selected>' in html
    assert 'name="filter"' in html and 'id="id_filter"' in html
