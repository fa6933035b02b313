"""field__any_of (bangui.lookups): the rows of __in, the list as one parameter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from geo.models import GeoCacheEntry
from jails.models import BanEvent

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
IPS = ["8.8.8.8", "2001:db8::1", "203.0.113.0/24", "10.0.0.1", "2a00:1450:4001::5"]


@pytest.fixture
def rows():
    for n, ip in enumerate(IPS):
        BanEvent.objects.create(ip=ip, jail=f"jail-'{n}\u00e9", banned_at=T0, bantime=60)
        if "/" not in ip:
            GeoCacheEntry.objects.create(ip=ip, source="none", resolved_at=T0, last_seen=T0)


@pytest.mark.parametrize("asked", [
    [], ["8.8.8.8"], ["2001:db8::1", "203.0.113.0/24", "nope"], IPS,
    [f"9.9.{i // 256}.{i % 256}" for i in range(3000)] + ["10.0.0.1"],
])
def test_it_finds_what_in_finds(rows, asked):
    found = set(BanEvent.objects.filter(ip__any_of=asked).values_list("ip", flat=True))
    assert found == set(BanEvent.objects.filter(ip__in=asked).values_list("ip", flat=True))
    addresses = [ip for ip in asked if "/" not in ip and ip != "nope"]  # an address column
    found = set(GeoCacheEntry.objects.filter(ip__any_of=addresses).values_list("ip", flat=True))
    assert found == set(GeoCacheEntry.objects.filter(ip__in=addresses)
                        .values_list("ip", flat=True))
    jails = ["jail-'1\u00e9", "jail-'4\u00e9", "other"]
    assert (set(BanEvent.objects.filter(jail__any_of=jails).values_list("ip", flat=True))
            == {"2001:db8::1", "2a00:1450:4001::5"})


def test_the_list_is_one_parameter(rows):
    asked = [f"9.9.{i // 256}.{i % 256}" for i in range(3000)]
    sql, params = GeoCacheEntry.objects.filter(ip__any_of=asked).query.sql_with_params()
    assert sql.count("%s") == len(params) == 1
    assert not GeoCacheEntry.objects.filter(ip__any_of=asked).exists()
