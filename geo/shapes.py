"""The country shapes of the world map: read-only data built by
``scripts/build_world_map.py`` into ``geo/data/world-map.json``."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

SHAPES_FILE = Path(__file__).resolve().parent / "data" / "world-map.json"


@dataclass(frozen=True)
class Shape:
    code: str
    d: str


@dataclass(frozen=True)
class Shapes:
    view_box: str
    countries: tuple[Shape, ...]
    source: str


@functools.cache
def shapes() -> Shapes:
    """The country shapes, read once per process (read-only data built by
    ``scripts/build_world_map.py``)."""
    data = json.loads(SHAPES_FILE.read_text())
    return Shapes(
        view_box=data["viewBox"],
        countries=tuple(Shape(c["code"], c["d"]) for c in data["countries"]),
        source=data["source"],
    )
