"""Build geo/data/world-map.json, the country shapes of the world map page.

    python scripts/build_world_map.py [path/to/countries-50m.json]

Source: Natural Earth 1:50m admin-0 countries (public domain) as TopoJSON from
the npm package ``world-atlas`` 2.0.2 (ISC licence, Mike Bostock). Without a
path the script fetches that exact version with ``npm pack`` into a temp dir.
It runs once; the output is committed, so BanGUI needs neither npm nor the
network at run time.

What it does: decode the TopoJSON arcs, project them with the Natural Earth I
projection (the formula d3-geo uses) onto a 1000-unit wide view box, simplify
each shared arc once (Douglas-Peucker, a fraction of a unit, so neighbours keep
a common border), round to 0.1 unit and write one SVG path per ISO 3166-1
alpha-2 code. Countries smaller than a few units also get a small circle, so
Singapore or Malta can be hovered and clicked. Antarctica is left out (it
takes a fifth of the height and nobody is banned from there).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "geo" / "data" / "world-map.json"
PACKAGE = "world-atlas@2.0.2"
MEMBER = "package/countries-50m.json"

WIDTH = 1000.0
TOLERANCE = 0.35  # view-box units: well under a pixel at the usual sizes
MIN_SIZE = 4.0  # countries whose bounding box is smaller than this get a dot
DOT_RADIUS = 2.2
SKIP = {"AQ"}

# ISO 3166-1 numeric -> alpha-2 (from the standard; world-atlas uses numeric ids).
ISO_NUMERIC = (
    "004AF 008AL 010AQ 012DZ 016AS 020AD 024AO 028AG 031AZ 032AR 036AU 040AT 044BS 048BH 050BD "
    "051AM 052BB 056BE 060BM 064BT 068BO 070BA 072BW 074BV 076BR 084BZ 086IO 090SB 092VG 096BN "
    "100BG 104MM 108BI 112BY 116KH 120CM 124CA 132CV 136KY 140CF 144LK 148TD 152CL 156CN 158TW "
    "162CX 166CC 170CO 174KM 175YT 178CG 180CD 184CK 188CR 191HR 192CU 196CY 203CZ 204BJ 208DK "
    "212DM 214DO 218EC 222SV 226GQ 231ET 232ER 233EE 234FO 238FK 239GS 242FJ 246FI 248AX 250FR "
    "254GF 258PF 260TF 262DJ 266GA 268GE 270GM 275PS 276DE 288GH 292GI 296KI 300GR 304GL 308GD "
    "312GP 316GU 320GT 324GN 328GY 332HT 334HM 336VA 340HN 344HK 348HU 352IS 356IN 360ID 364IR "
    "368IQ 372IE 376IL 380IT 384CI 388JM 392JP 398KZ 400JO 404KE 408KP 410KR 414KW 417KG 418LA "
    "422LB 426LS 428LV 430LR 434LY 438LI 440LT 442LU 446MO 450MG 454MW 458MY 462MV 466ML 470MT "
    "474MQ 478MR 480MU 484MX 492MC 496MN 498MD 499ME 500MS 504MA 508MZ 512OM 516NA 520NR 524NP "
    "528NL 531CW 533AW 534SX 535BQ 540NC 548VU 554NZ 558NI 562NE 566NG 570NU 574NF 578NO 580MP "
    "581UM 583FM 584MH 585PW 586PK 591PA 598PG 600PY 604PE 608PH 612PN 616PL 620PT 624GW 626TL "
    "630PR 634QA 638RE 642RO 643RU 646RW 652BL 654SH 659KN 660AI 662LC 663MF 666PM 670VC 674SM "
    "678ST 682SA 686SN 688RS 690SC 694SL 702SG 703SK 704VN 705SI 706SO 710ZA 716ZW 724ES 728SS "
    "729SD 732EH 740SR 744SJ 748SZ 752SE 756CH 760SY 762TJ 764TH 768TG 772TK 776TO 780TT 784AE "
    "788TN 792TR 795TM 796TC 798TV 800UG 804UA 807MK 818EG 826GB 831GG 832JE 833IM 834TZ 840US "
    "850VI 854BF 858UY 860UZ 862VE 876WF 882WS 887YE 894ZM 983XK "
)
NUMERIC_TO_ALPHA2 = {item[:3]: item[3:] for item in ISO_NUMERIC.split()}
# Natural Earth units without a numeric code: the country an IP registry
# would name for them (Kosovo has its own user-assigned code, XK).
BY_NAME = {"Kosovo": "XK", "Somaliland": "SO", "N. Cyprus": "CY", "Siachen Glacier": "IN",
           "Indian Ocean Ter.": "AU"}


def natural_earth(lon: float, lat: float) -> tuple[float, float]:
    """Natural Earth I projection (Savric et al. 2011), radians in, unit sphere out."""
    lam, phi = math.radians(lon), math.radians(lat)
    phi2 = phi * phi
    phi4 = phi2 * phi2
    x = lam * (0.8707 - 0.131979 * phi2
               + phi4 * (-0.013791 + phi4 * (0.003971 * phi2 - 0.001529 * phi4)))
    y = phi * (1.007226 + phi2 * (0.015085
                                 + phi4 * (-0.044475 + 0.028874 * phi2 - 0.005916 * phi4)))
    return x, y


def decode_arcs(topo: dict) -> list[list[tuple[float, float]]]:
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def simplify(points: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """Douglas-Peucker, iterative; keeps both ends."""
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (x1, y1), (x2, y2) = points[first], points[last]
        dx, dy = x2 - x1, y2 - y1
        norm = math.hypot(dx, dy)
        worst, index = 0.0, -1
        for i in range(first + 1, last):
            px, py = points[i]
            if norm:
                dist = abs(dy * (px - x1) - dx * (py - y1)) / norm
            else:
                dist = math.hypot(px - x1, py - y1)
            if dist > worst:
                worst, index = dist, i
        if index >= 0 and worst > tolerance:
            keep[index] = True
            stack.append((first, index))
            stack.append((index, last))
    return [p for p, k in zip(points, keep, strict=True) if k]


Point = tuple[float, float]


def ring_points(ring: list[int], arcs: list[list[Point]]) -> list[Point]:
    points: list[Point] = []
    for index in ring:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc[1:] if points else arc)
    return points


def split_at_antimeridian(ring: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """A ring that jumps across 180 degrees (Russia's Chukotka, Fiji) as
    one or two rings that stop at the map's edges, in longitude/latitude."""
    if all(abs(a[0] - b[0]) <= 180 for a, b in itertools.pairwise(ring)):
        return [ring]
    unwrapped = [(lon + 360 if lon < 0 else lon, lat) for lon, lat in ring]

    def clip(points, inside, edge):  # Sutherland-Hodgman against a meridian
        out = []
        for i, current in enumerate(points):
            previous = points[i - 1]
            if inside(current):
                if not inside(previous):
                    out.append(crossing(previous, current, edge))
                out.append(current)
            elif inside(previous):
                out.append(crossing(previous, current, edge))
        return out

    def crossing(a, b, lon):
        t = (lon - a[0]) / (b[0] - a[0])
        return lon, a[1] + t * (b[1] - a[1])

    east = clip(unwrapped, lambda p: p[0] <= 180, 180.0)
    west = clip([(lon - 360, lat) for lon, lat in unwrapped], lambda p: p[0] >= -180, -180.0)
    return [piece for piece in (east, west) if len(piece) >= 3]


def ring_path(points: list[tuple[int, int]]) -> str:
    """Relative SVG path of one ring in tenths of a unit ("M12.3 4.5l1 -2...z")."""
    out: list[tuple[int, int]] = []
    for p in points:
        if not out or p != out[-1]:
            out.append(p)
    if len(out) > 1 and out[0] == out[-1]:
        out.pop()
    if len(out) < 3:
        return ""

    def num(v: int) -> str:
        text = f"{v / 10:.1f}".removesuffix(".0")
        return text.replace("0.", ".", 1) if text.startswith(("0.", "-0.")) else text

    parts = [f"M{num(out[0][0])} {num(out[0][1])}l"]
    prev = out[0]
    steps = []
    for x, y in out[1:]:
        steps.append(f"{num(x - prev[0])} {num(y - prev[1])}")
        prev = (x, y)
    parts.append(" ".join(steps).replace(" -", "-"))
    parts.append("z")
    return "".join(parts)


def build(topo: dict) -> dict:
    raw = decode_arcs(topo)
    projected = [[natural_earth(lon, lat) for lon, lat in arc] for arc in raw]
    geometries = topo["objects"]["countries"]["geometries"]

    def code_of(geometry: dict) -> str | None:
        if geometry.get("id") in NUMERIC_TO_ALPHA2:
            return NUMERIC_TO_ALPHA2[geometry["id"]]
        return BY_NAME.get(geometry.get("properties", {}).get("name", ""))

    used: set[int] = set()
    for geometry in geometries:
        if code_of(geometry) in SKIP or geometry["type"] not in ("Polygon", "MultiPolygon"):
            continue
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        for polygon in polygons:
            for ring in polygon:
                used.update(i if i >= 0 else ~i for i in ring)
    xs = [x for i in used for x, _ in projected[i]]
    ys = [y for i in used for _, y in projected[i]]
    scale = WIDTH / (max(xs) - min(xs))
    x0, y1 = min(xs), max(ys)
    height = math.ceil((max(ys) - min(ys)) * scale)

    def to_box(point: tuple[float, float]) -> tuple[float, float]:
        return (point[0] - x0) * scale, (y1 - point[1]) * scale

    boxed = [[to_box(p) for p in arc] for arc in projected]
    simple = [simplify(arc, TOLERANCE) for arc in boxed]

    def rings_of(ring: list[int]) -> list[tuple[list, list]]:
        """(full, simplified) points of a ring in view-box units. Rings are
        built from the shared, simplified arcs (neighbours keep one border),
        except the few cut at the antimeridian, simplified on their own."""
        points = ring_points(ring, raw)
        pieces = split_at_antimeridian(points)
        if pieces[0] is points:
            return [(ring_points(ring, boxed), ring_points(ring, simple))]
        out = []
        for piece in pieces:
            full = [to_box(natural_earth(lon, lat)) for lon, lat in piece]
            out.append((full, simplify([*full, full[0]], TOLERANCE)))
        return out

    paths: dict[str, list[str]] = {}
    extents: dict[str, list[float]] = {}
    for geometry in geometries:
        code = code_of(geometry)
        if code is None or code in SKIP or geometry["type"] not in ("Polygon", "MultiPolygon"):
            continue
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        for polygon in polygons:
            for ring in polygon:
                for full, reduced in rings_of(ring):
                    ext = extents.setdefault(code, [math.inf, math.inf, -math.inf, -math.inf])
                    for x, y in full:
                        ext[0], ext[1] = min(ext[0], x), min(ext[1], y)
                        ext[2], ext[3] = max(ext[2], x), max(ext[3], y)
                    d = ring_path([(round(x * 10), round(y * 10)) for x, y in reduced])
                    if d:
                        paths.setdefault(code, []).append(d)
    countries = []
    for code in sorted(extents):
        left, top, right, bottom = extents[code]
        d = "".join(paths.get(code, []))
        if max(right - left, bottom - top) < MIN_SIZE:
            cx, cy, r = (left + right) / 2, (top + bottom) / 2, DOT_RADIUS
            d += (f"M{cx - r:.1f} {cy:.1f}a{r} {r} 0 1 0 {2 * r} 0"
                  f"a{r} {r} 0 1 0 {-2 * r} 0z")
        countries.append({"code": code, "d": d})
    return {
        "source": "Natural Earth 1:50m admin-0 countries (public domain), "
                  "via the npm package world-atlas 2.0.2 (ISC)",
        "projection": "Natural Earth I",
        "viewBox": f"0 0 {int(WIDTH)} {height}",
        "countries": countries,
    }


def fetch() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        tarball = next(Path(tmp).glob("world-atlas-*.tgz"))
        with tarfile.open(tarball) as tar:
            member = tar.extractfile(MEMBER)
            if member is None:
                raise SystemExit(f"{MEMBER} not found in {tarball.name}")
            return json.load(member)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path,
                        help="countries-50m.json from world-atlas (default: npm pack it)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    topo = json.loads(args.source.read_text()) if args.source else fetch()
    data = build(topo)
    args.out.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    size = args.out.stat().st_size
    print(f"{args.out}: {len(data['countries'])} countries, {size / 1024:.0f} KiB, "
          f"viewBox {data['viewBox']}", file=sys.stderr)


if __name__ == "__main__":
    main()
