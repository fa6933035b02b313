"""WCAG AA contrast of the stylesheet's colour pairs, light and dark, read
from static/css/bangui.css itself (so a colour change that breaks it fails)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parents[2] / "static" / "css" / "bangui.css").read_text()
_BLOCK = re.compile(r'(:root(?:\[data-theme="dark"\])?)\s*\{([^}]*)\}')
_VAR = re.compile(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})")


def theme(name: str) -> dict[str, str]:
    """Custom properties of ``:root`` (light) or ``:root[data-theme=dark]``."""
    selector = ":root" if name == "light" else ':root[data-theme="dark"]'
    found: dict[str, str] = {}
    for sel, body in _BLOCK.findall(CSS):
        if sel == selector:
            found.update(_VAR.findall(body))
    return found


def contrast(a: str, b: str) -> float:
    def lum(hex_colour: str) -> float:
        r, g, b_ = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
        f = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b_)]
        return 0.2126 * f[0] + 0.7152 * f[1] + 0.0722 * f[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


TEXT_PAIRS = [("text", "bg"), ("text", "surface"), ("muted", "surface"), ("muted", "bg"),
              ("accent", "surface"), ("accent", "bg"), ("accent-text", "accent"),
              ("danger-text", "danger-bg"), ("bad", "bad-bg"), ("warn", "warn-bg"),
              ("ok", "ok-bg"), ("text", "bad-bg"), ("text", "warn-bg")]


@pytest.mark.parametrize("name", ["light", "dark"])
@pytest.mark.parametrize("fg, bg", TEXT_PAIRS)
def test_text_colours_meet_wcag_aa(name, fg, bg):
    colours = theme(name)
    assert contrast(colours[fg], colours[bg]) >= 4.5, (name, fg, bg)


@pytest.mark.parametrize("band", [1, 2, 3, 4, 5])
def test_dark_map_bands_stand_out_from_the_panel(band):
    """Non-text contrast (WCAG 1.4.11): 3:1 against the map's panel."""
    colours = theme("dark")
    assert contrast(colours[f"scale-{band}"], colours["surface"]) >= 3.0
