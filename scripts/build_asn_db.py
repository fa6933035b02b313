"""Build geo/data/asn.mmdb, the free IP-to-ASN database BanGUI ships.

    python scripts/build_asn_db.py [path/to/ip-location-db-asn-VERSION.tgz] [--out FILE]

Source: the npm package ``@ip-location-db/asn`` (CSV only; ip-location-db
publishes no MMDB of it on npm), which merges RouteViews, the five RIRs' and
DB-IP's IP-to-ASN Lite data, all CC BY 4.0 (see geo/data/asn.NOTICE).
Without a path the script fetches the pinned version with ``npm pack`` into a
temp dir. It runs once; the output is committed, so BanGUI needs neither npm
nor the network at run time.

What it does: read asn-ipv4.csv and asn-ipv6.csv (inclusive ranges), join
neighbouring ranges of the same AS and organisation, and write one MaxMind DB
(IPv6 tree, IPv4 in ::/96 as MaxMind's own files do) whose records use the
GeoLite2-ASN field names, ``autonomous_system_number`` and
``autonomous_system_organization``. Each distinct record is stored once and
pointed to from every network that has it. ``database_type`` is
``ip-location-db-ASN``: not a MaxMind type, so BanGUI reads it with the plain
maxminddb reader. The build time in the metadata comes from the package
version (2.3.YYYYMMDDHH), so the same input gives the same file.

Needs the MMDB writer ``mmdb-writer`` (MIT; it pulls in ``netaddr``), a
build-time tool only, not a BanGUI dependency:

    uv run --with mmdb-writer==0.2.7 python scripts/build_asn_db.py
    # or: pip install mmdb-writer==0.2.7 into any venv and run it there
"""

from __future__ import annotations

import argparse
import calendar
import csv
import hashlib
import io
import ipaddress
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "geo" / "data" / "asn.mmdb"
PACKAGE = "@ip-location-db/asn@2.3.2026061719"
MEMBERS = ("package/asn-ipv4.csv", "package/asn-ipv6.csv")
DATABASE_TYPE = "ip-location-db-ASN"
# Addresses checked against the CSV after the build (well-known networks).
SPOT_CHECKS = ("1.1.1.1", "8.8.8.8", "9.9.9.9", "2001:4860:4860::8888", "2606:4700:4700::1111")


def npm_pack(dest: Path) -> Path:
    out = subprocess.run(["npm", "pack", PACKAGE, "--silent", "--pack-destination", str(dest)],
                         check=True, capture_output=True, text=True).stdout.split()
    return dest / out[-1]


def read_ranges(tgz: Path) -> tuple[list[tuple[int, int, int, str]], dict[str, str]]:
    """(first, last, asn, org) per CSV row, IPv4 as ::a.b.c.d, sorted; plus
    the package.json fields and each CSV's SHA-256."""
    rows: list[tuple[int, int, int, str]] = []
    info: dict[str, str] = {}
    with tarfile.open(tgz, "r:gz") as tar:
        info["version"] = json.load(tar.extractfile("package/package.json"))["version"]
        for member in MEMBERS:
            raw = tar.extractfile(member).read()
            info[member] = hashlib.sha256(raw).hexdigest()
            for first, last, asn, org in csv.reader(io.StringIO(raw.decode("utf-8"))):
                a, b = ipaddress.ip_address(first), ipaddress.ip_address(last)
                rows.append((int(a), int(b), int(asn), org.strip()))
    rows.sort()
    return rows, info


def merge(rows: list[tuple[int, int, int, str]]) -> list[tuple[int, int, int, str]]:
    """Join ranges that touch and carry the same AS and organisation."""
    out: list[list] = []
    for first, last, asn, org in rows:
        if out and out[-1][1] + 1 == first and out[-1][2:] == [asn, org]:
            out[-1][1] = last
        else:
            out.append([first, last, asn, org])
    return [tuple(r) for r in out]


def build_epoch(version: str) -> int:
    stamp = version.rsplit(".", 1)[-1]  # YYYYMMDDHH
    return calendar.timegm(time.strptime(stamp, "%Y%m%d%H"))


def write(ranges, out: Path, version: str) -> None:
    from mmdb_writer import MmdbU32, MMDBWriter
    from netaddr import IPAddress, IPRange, IPSet

    class Writer(MMDBWriter):
        def _build_meta(self):  # a fixed build_epoch: the same input, the same bytes
            return {**super()._build_meta(), "build_epoch": build_epoch(version)}

    writer = Writer(
        ip_version=6, ipv4_compatible=True, database_type=DATABASE_TYPE, languages=["en"],
        description={"en": f"IP to ASN from @ip-location-db/asn {version} "
                           "(RouteViews, NRO, DB-IP; CC BY 4.0)"},
    )
    records: dict[tuple[int, str], dict] = {}
    for first, last, asn, org in ranges:
        record = records.get((asn, org))
        if record is None:
            record = {"autonomous_system_number": MmdbU32(asn)}
            if org:
                record["autonomous_system_organization"] = org
            records[(asn, org)] = record
        version_ = 4 if last < 2**32 else 6
        net = IPSet(IPRange(IPAddress(first, version_), IPAddress(last, version_)))
        writer.insert_network(net, record)
    writer.to_db_file(str(out))


def check(out: Path, rows) -> None:
    import bisect

    import maxminddb

    starts = [r[0] for r in rows]
    with maxminddb.open_database(str(out)) as reader:
        meta = reader.metadata()
        assert meta.database_type == DATABASE_TYPE, meta.database_type
        for ip in SPOT_CHECKS:
            n = int(ipaddress.ip_address(ip))
            i = bisect.bisect_right(starts, n) - 1
            want = rows[i][2] if i >= 0 and rows[i][0] <= n <= rows[i][1] else None
            record = reader.get(ip) or {}
            got = record.get("autonomous_system_number")
            assert got == want, (ip, got, want)
            print(f"  {ip:<24} AS{got} {record.get('autonomous_system_organization')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tgz", nargs="?", type=Path, help=f"npm pack {PACKAGE} output")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tgz = args.tgz or npm_pack(Path(tmp))
        tgz_sha = hashlib.sha256(tgz.read_bytes()).hexdigest()
        rows, info = read_ranges(tgz)
    ranges = merge(rows)
    print(f"{PACKAGE}: {len(rows):,} ranges, {len(ranges):,} after joining neighbours, "
          f"{len({(r[2], r[3]) for r in ranges}):,} distinct AS/organisation records")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_name(args.out.name + ".tmp")
    write(ranges, tmp_out, info["version"])
    check(tmp_out, rows)
    tmp_out.replace(args.out)
    data = args.out.read_bytes()
    print(f"wrote {args.out} ({len(data):,} bytes)")
    print(f"  SHA-256 {hashlib.sha256(data).hexdigest()}")
    print(f"  source tgz SHA-256 {tgz_sha}")
    for member in MEMBERS:
        print(f"  {member} SHA-256 {info[member]}")


if __name__ == "__main__":
    sys.exit(main())
