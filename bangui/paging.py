"""Pages through Django's Paginator, for lists that know their length
without a COUNT: the ban archive (its total comes from the daily rollup)
and a jail's live bans (fail2ban's ``status JAIL short`` says how many).

``Counted(total, fetch)`` is what Paginator needs from an object list:
``count()`` answers ``total`` and a slice calls ``fetch(offset, limit)``,
so one page costs one query for its rows and nothing for the total.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.core.paginator import Page, Paginator


class Counted:
    def __init__(self, total: int, fetch: Callable[[int, int], list]) -> None:
        self.total = total
        self.fetch = fetch

    def count(self) -> int:
        return self.total

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, key: slice) -> list:
        start, stop = key.start or 0, min(key.stop, self.total)
        return self.fetch(start, stop - start) if stop > start else []


def page_of(items: Counted | Sequence, number, per_page: int) -> Page:
    """Page ``number`` (1-based; not a number: the first, past the end: the
    last) of ``items``."""
    return Paginator(items, per_page).get_page(number)
