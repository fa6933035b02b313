"""Parse a downloaded blocklist into IP addresses.

Tolerates what real lists contain: a BOM, CRLF, blank lines, ``#``/``;``
comments, trailing text after the address (``1.2.3.4  # scanner``,
``1.2.3.4\t17``). CIDR networks are expanded only when small (see
``cidr_limit``); larger ones are skipped and counted, because banning a /8
address by address would flood fail2ban.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

_SPLIT = re.compile(r"[\s,;#]+")
# A dotted quad in canonical form (no leading zeros, octets up to 255) is
# its own str(ipaddress.ip_address(...)): most lines of most lists take this
# path, five times cheaper than building an address object.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"  # ASCII digits only
_CANONICAL_V4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
DEFAULT_CIDR_LIMIT = 256


class GarbageList(ValueError):
    """The body is not a text list of addresses at all."""


@dataclass
class ParseResult:
    ips: list[str] = field(default_factory=list)
    valid: int = 0  # lines that held an address or a usable network
    invalid: int = 0  # lines that held something else
    duplicates: int = 0
    skipped_networks: int = 0  # networks larger than the expansion limit
    invalid_samples: list[str] = field(default_factory=list)

    def note_invalid(self, line: str) -> None:
        self.invalid += 1
        if len(self.invalid_samples) < 5:
            self.invalid_samples.append(line[:80])


def decode(body: bytes) -> str:
    if b"\x00" in body[:65536]:
        raise GarbageList("the download is binary data, not a text list of addresses")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Some lists are Latin-1 in their comments; addresses are ASCII anyway.
        return body.decode("latin-1")


def parse(body: bytes, *, cidr_limit: int = DEFAULT_CIDR_LIMIT) -> ParseResult:
    text = decode(body)
    result = ParseResult()
    seen: set[str] = set()

    def add(ip: str) -> None:
        if ip in seen:
            result.duplicates += 1
        else:
            seen.add(ip)
            result.ips.append(ip)

    canonical_v4 = _CANONICAL_V4.fullmatch
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if canonical_v4(line):
            add(line)
            result.valid += 1
            continue
        token = _SPLIT.split(line, maxsplit=1)[0]
        if canonical_v4(token):
            add(token)
            result.valid += 1
            continue
        try:
            if "/" in token:
                network = ipaddress.ip_network(token, strict=False)
                if network.num_addresses == 1:
                    add(str(network.network_address))
                elif network.num_addresses > cidr_limit:
                    result.skipped_networks += 1
                    continue
                else:
                    for host in network.hosts():
                        add(str(host))
            else:
                add(str(ipaddress.ip_address(token)))
            result.valid += 1
        except ValueError:
            result.note_invalid(line)
    if result.valid == 0 and result.invalid > 0:
        raise GarbageList(
            f"no valid address in {result.invalid} non-comment lines "
            f"(first: {result.invalid_samples[0]!r})"
        )
    return result
