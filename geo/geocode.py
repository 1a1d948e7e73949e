"""Free-text Chinese address → the best standard address (标准地址库), its grid, and a confidence.

The index of one city's standard addresses is built once in memory (`get_index`) and rebuilt when an
import (or a boundary change) moves the address version. Matching works on the parts of an address
rather than on the whole string, so that it stays fast (a dict lookup per part) at 100k addresses:

1. `address_text.fold` folds width, numerals, unit words and flat numbers; the province/city prefix is
   dropped; a text naming another province or city matches nothing.
2. District, street and community names (full names anywhere, short names at the start) narrow the
   candidates; a name that contradicts the road lowers the confidence instead of being ignored.
3. The road (街巷) or compound (小区) is found as an exact substring, else by fuzzy comparison of the
   text before the door number with the known names (rapidfuzz: C++ Levenshtein/Indel ratios, MIT,
   maintained, no Python-level loops — 10k names compared in well under a millisecond).
4. The door number and building pick the record; a missing number falls back to the nearest number
   on the same side of the road, or to the road, each with a lower confidence.
5. "A与B交叉口" and its variants: the closest pair of door plates of the two roads, if they meet.

A match at or above `[geocode].min_confidence` places a case; below it the case is created 待定位
(events) with the deepest region the text made certain (`Match.region_codes`).
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz, process
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import settings
from geo import address_text as at
from geo.locate import get_locator
from geo.meta import VersionedCache, boundary_version
from store.models import Meta, Region, StandardAddress
from store.region_codes import ancestor_at, is_within, level_of, lineage

VERSION_KEY = "address_version"
LEVELS = ("district", "street", "community", "grid")
KINDS = {"door": "门牌", "building": "楼栋", "compound": "小区", "near": "邻近门牌", "road": "道路",
         "intersection": "交叉口"}
_M_PER_DEG_LAT = 111_320.0
_FOREIGN = re.compile(r"^(?:[\u4e00-\u9fff]{2,7}(?:省|自治区)|[\u4e00-\u9fff]{2,4}市)")


def min_confidence() -> float:
    return float(settings.get_settings().get("geocode", {}).get("min_confidence", 0.8))


# -- the version that invalidates cached indexes --------------------------------------------------------
def address_version(session: Session) -> str:
    return session.scalar(select(Meta.value).where(Meta.key == VERSION_KEY)) or "0"


def bump_address_version(session: Session) -> str:
    """A new random version in the caller's transaction (every process's index rebuilds on next use)."""
    row = session.get(Meta, VERSION_KEY)
    value = uuid.uuid4().hex[:12]
    if row is None:
        session.add(Meta(key=VERSION_KEY, value=value))
    else:
        row.value = value
    session.flush()
    return value


# -- results -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Match:
    query: str
    confidence: float = 0.0
    kind: str | None = None                 # KINDS key, None when nothing matched
    address_id: int | None = None           # the standard address (None for an intersection)
    text: str | None = None                 # the standard address, or "A与B交叉口"
    lon: float | None = None                # WGS-84
    lat: float | None = None
    codes: dict = field(default_factory=dict)         # city … grid of the match
    region_codes: dict = field(default_factory=dict)  # what the text made certain, even when not placed
    note: str = ""                          # why the confidence is what it is (Chinese)

    def placed(self, threshold: float | None = None) -> bool:
        return self.kind is not None and self.confidence >= (min_confidence() if threshold is None else threshold)

    @property
    def kind_name(self) -> str:
        return KINDS.get(self.kind or "", "未匹配")


@dataclass
class _Admin:
    codes: dict = field(default_factory=dict)   # level → set of candidate codes named by the text
    names: list = field(default_factory=list)


# -- the index ---------------------------------------------------------------------------------------
RECORD_COLUMNS = ("id", "full_text", "lon", "lat", "city_code", "district_code", "street_code", "community_code",
                  "grid_code", "road", "house_number", "compound", "building")


class AddressIndex:
    """One city's standard addresses and region names, ready for matching.

    `records`: rows of RECORD_COLUMNS; `regions`: (code, name, level) of the city's regions;
    `locate`: optional (lon, lat) → codes, used to put an intersection into its grid."""

    def __init__(self, city_code: str, records, regions, *, city_name: str = "", province: str = "",  # noqa: ANN001
                 locate=None) -> None:  # noqa: ANN001
        self.city_code = city_code
        self.locate = locate
        cols = list(zip(*records)) if records else [[] for _ in RECORD_COLUMNS]
        self.ids = np.asarray(cols[0], dtype=np.int64)
        self.texts = list(cols[1])
        self.lons = np.asarray(cols[2], dtype=float)
        self.lats = np.asarray(cols[3], dtype=float)
        self.codes = [dict(zip(("city", *LEVELS), c)) for c in zip(*cols[4:9])] if records else []
        self.roads = list(cols[9])
        self.numbers = list(cols[10])
        self.compounds = list(cols[11])
        self.buildings = list(cols[12])
        self._by_road: dict[str, list[int]] = {}
        self._by_compound: dict[str, list[int]] = {}
        self._plates: dict[tuple[str, str], list[int]] = {}
        for i, (road, number, compound) in enumerate(zip(self.roads, self.numbers, self.compounds)):
            if road:
                self._by_road.setdefault(road, []).append(i)
                if number:
                    self._plates.setdefault((road, number), []).append(i)
            if compound:
                self._by_compound.setdefault(compound, []).append(i)
        self.road_names = sorted(self._by_road)
        self.compound_names = sorted(self._by_compound)
        self._road_districts: dict[str, set[str]] = {}
        self._compound_districts: dict[str, set[str]] = {}
        for road, compound, codes in zip(self.roads, self.compounds, self.codes):
            if road:
                self._road_districts.setdefault(codes["district"], set()).add(road)
            if compound:
                self._compound_districts.setdefault(codes["district"], set()).add(compound)
        self._road_starts = _by_first_char(self.road_names)
        self._compound_starts = _by_first_char(self.compound_names)
        self._admin = {lv: {} for lv in ("district", "street", "community")}
        self._admin_short = {lv: {} for lv in ("district", "street")}
        for code, name, level in regions:
            if level in self._admin and name:
                self._admin[level].setdefault(name, set()).add(code)
                if level in self._admin_short:
                    short = at.short_name(name)
                    if short != name:
                        self._admin_short[level].setdefault(short, set()).add(code)
        self._admin_order = {lv: sorted(names, key=len, reverse=True) for lv, names in self._admin.items()}
        self._short_order = {lv: sorted(names, key=len, reverse=True) for lv, names in self._admin_short.items()}
        self.prefixes = tuple(p for p in {"中国", province, at.short_name(province) if province else "",
                                          city_name, at.short_name(city_name) if city_name else ""} if p)
        self._own_names = {n for names in self._admin.values() for n in names} | set(self.prefixes)

    def __len__(self) -> int:
        return len(self.texts)

    # -- the parts of a query ------------------------------------------------------------------------------
    def _take_admin(self, text: str) -> tuple[str, _Admin]:
        admin = _Admin()
        for level in ("district", "street", "community"):
            for name in self._admin_order[level]:
                pos = text.find(name)
                if pos >= 0:
                    admin.codes[level] = set(self._admin[level][name])
                    admin.names.append(name)
                    text = text[:pos] + text[pos + len(name):]
                    break
            else:
                if level in self._short_order:
                    for short in self._short_order[level]:
                        rest = text[len(short):]
                        if text.startswith(short) and rest and not self._starts_with_place(text):
                            admin.codes[level] = set(self._admin_short[level][short])
                            admin.names.append(short)
                            text = rest
                            break
        # A street or community named with its district must lie in it (names repeat across districts).
        for level, above in (("street", "district"), ("community", "street"), ("community", "district")):
            if level in admin.codes and above in admin.codes:
                inside = {c for c in admin.codes[level] if any(is_within(c, a) for a in admin.codes[above])}
                admin.codes[level] = inside or admin.codes[level]
        return text, admin

    def _starts_with_place(self, text: str) -> bool:
        return any(text.startswith(n) for n in self._road_starts.get(text[:1], ())) or \
            any(text.startswith(n) for n in self._compound_starts.get(text[:1], ()))

    @staticmethod
    def _find(text: str, starts: dict[str, list[str]]) -> tuple[str, int] | None:
        """The longest known name occurring in `text` (the earliest on a tie) and its position."""
        best: tuple[str, int] | None = None
        for i, ch in enumerate(text):
            for name in starts.get(ch, ()):
                if text.startswith(name, i):
                    if best is None or len(name) > len(best[0]):
                        best = (name, i)
                    break  # names are sorted longest first
        return best

    def _fuzzy(self, head: str, names: list[str]) -> tuple[str, float, bool] | None:
        """The closest name to `head` (the text before the door number): (name, score 0–1, ambiguous)."""
        if len(head) < 2 or not names:
            return None
        found = [f for f in process.extract(head, names, scorer=fuzz.ratio, score_cutoff=70, limit=3)
                 if _numerals(f[0]) == _numerals(head)]  # 油城十一路 is not a typo of 油城一路
        if not found:
            return None
        name, score, _ = found[0]
        ambiguous = len(found) > 1 and found[1][1] >= score
        return name, score / 100.0, ambiguous

    # -- matching --------------------------------------------------------------------------------------
    def geocode(self, query: str) -> Match:
        text = at.fold(query)
        text = at.strip_prefixes(text, self.prefixes)
        if not text or len(self) == 0:
            return Match(str(query), note="地址为空或地址库为空")
        foreign = _FOREIGN.match(text)
        if foreign and foreign.group(0) not in self._own_names and not any(
                text.startswith(n) for n in self._own_names):
            return Match(str(query), note=f"地址不在本市（{foreign.group(0)}）")
        text, admin = self._take_admin(text)
        region_codes = self._admin_codes(admin)
        splits = at.crossing_splits(text)
        for fuzzy in (False, True):  # a split into two known names first, then one with a near-miss
            for a, b in splits:
                crossing = self._intersection(query, a, b, admin, region_codes, fuzzy=fuzzy)
                if crossing is not None:
                    return crossing
        return self._address(query, text, admin, region_codes)

    def _admin_codes(self, admin: _Admin) -> dict:
        """The deepest region the text names unambiguously, with its ancestors (from the codes)."""
        for level in ("community", "street", "district"):
            named = admin.codes.get(level) or set()
            if len(named) == 1:
                return _lineage(next(iter(named)), self.city_code)
        return {"city": self.city_code} if admin.codes else {}

    def _candidates(self, rows: list[int], admin: _Admin) -> tuple[list[int], bool]:
        """`rows` inside the regions the text names; (all rows, True) when none is (a contradiction)."""
        keep = rows
        for level in ("district", "street", "community"):
            named = admin.codes.get(level)
            if not named:
                continue
            inside = [i for i in keep if self.codes[i][level] in named]
            if not inside:
                return rows, True
            keep = inside
        return keep, False

    def _names_near(self, admin: _Admin, kind: str) -> list[str]:
        """Road (or compound) names to compare a near-miss with: those of the districts the text names,
        else all — so a typo is compared with the roads where the writer says it is."""
        by_district = self._road_districts if kind == "road" else self._compound_districts
        named = admin.codes.get("district") or {ancestor_at(c, "district") for c in admin.codes.get("street", set())}
        names = sorted({n for d in named for n in by_district.get(d, ())})
        return names or (self.road_names if kind == "road" else self.compound_names)

    def _resolve_place(self, text: str, admin: _Admin) -> tuple[str, str, int, float, bool] | None:
        """(kind "road"/"compound", name, end position in text, name score, ambiguous) or None."""
        road = self._find(text, self._road_starts)
        compound = self._find(text, self._compound_starts)
        if road and (not compound or road[1] <= compound[1]):
            return "road", road[0], road[1] + len(road[0]), 1.0, False
        if compound:
            return "compound", compound[0], compound[1] + len(compound[0]), 1.0, False
        digit = re.search(r"\d", text)
        head = text[: digit.start()] if digit else text
        best = None
        for kind in ("road", "compound"):
            got = self._fuzzy(head, self._names_near(admin, kind))
            if got and (best is None or got[1] > best[3]):
                best = (kind, got[0], len(head), got[1], got[2])
        return best

    def _address(self, query: str, text: str, admin: _Admin, region_codes: dict) -> Match:
        place = self._resolve_place(text, admin)
        if place is None:
            return Match(str(query), region_codes=region_codes, note="未找到道路或小区")
        kind, name, end, score, ambiguous = place
        tail = at.split_tail(text[end:])
        pool = self._by_road[name] if kind == "road" else self._by_compound[name]
        rows, contradiction = self._candidates(pool, admin)
        conf = 1.0 if score >= 0.999 else (0.95 if score >= 0.9 else 0.85)
        notes = [] if score >= 0.999 else [f"名称近似（{name}，相似度 {score:.0%}）"]
        if ambiguous:
            conf *= 0.8
            notes.append("有多个同样接近的名称")
        if contradiction:
            conf *= 0.6
            notes.append("与所写的区、街道或社区不一致")
        compound = None
        if kind == "road" and tail.rest:
            hit = self._find(tail.rest, self._compound_starts)
            compound = hit[0] if hit else None
        chosen, how = self._pick(rows, kind, tail, compound)
        factor = {"door": 1.0, "building": 1.0, "compound": 0.9, "near": 0.85, "road": 0.55}[how]
        if tail.building and how == "door":
            factor = 0.95  # the door is right, the building is not in the base
        conf *= factor
        # A near-miss of the name is trusted only when the door number and the named regions agree.
        if score < 0.9 and not (how in ("door", "building") and admin.codes and not contradiction):
            conf = min(conf, 0.7)
            notes.append("名称不完全一致且缺少可印证的区县/街道与门牌")
        districts = {self.codes[i]["district"] for i in rows}
        if how in ("road", "near", "compound") and len(districts) > 1:
            conf *= 0.6
            notes.append("同名道路或小区分布在多个区县")
        elif how in ("door", "building") and len({self.codes[i]["district"] for i in chosen}) > 1:
            conf *= 0.6
            notes.append("多个区县有相同门牌")
        best = chosen[0]
        if not region_codes.get("street"):  # the road (or compound) may tell more than the text's names
            region_codes = _common_codes([self.codes[i] for i in rows], self.city_code) or region_codes
        if how == "road":
            notes.append("只匹配到道路" + ("（门牌号不在地址库中）" if tail.number else "（没有门牌号）"))
        elif how == "near":
            notes.append(f"门牌号不在地址库中，取同侧最近的 {self.numbers[best]} 号")
        return Match(str(query), round(conf, 3), how, int(self.ids[best]), self.texts[best], float(self.lons[best]),
                     float(self.lats[best]), dict(self.codes[best]), region_codes, "；".join(notes))

    def _pick(self, rows: list[int], kind: str, tail: at.Tail, compound: str | None) -> tuple[list[int], str]:
        """The records the door number / building select among `rows`, and how they were found."""
        if kind == "compound":
            if tail.building:
                exact = [i for i in rows if self.buildings[i] == tail.building]
                if exact:
                    return exact, "building"
            return sorted(rows, key=lambda i: (self.buildings[i] is not None, _num(self.buildings[i]))), "compound"
        if tail.number:
            exact = [i for i in rows if self.numbers[i] == tail.number]
            if exact:
                if tail.building:
                    same = [i for i in exact if self.buildings[i] == tail.building
                            and (compound is None or self.compounds[i] == compound)]
                    if same:
                        return same, "building"
                plates = [i for i in exact if self.buildings[i] is None] or exact
                return plates, "door"
            want = at.number_value(tail.number)
            if want is not None:
                side = [(abs(v - want), i) for i in rows
                        if (v := at.number_value(self.numbers[i])) is not None and v % 2 == want % 2
                        and abs(v - want) <= 6 and self.buildings[i] is None]
                if side:
                    return [min(side)[1]], "near"
        if compound and tail.building:
            exact = [i for i in rows if self.compounds[i] == compound and self.buildings[i] == tail.building]
            if exact:
                return exact, "building"
        # The road only: its middle door plate stands for it.
        plates = sorted((i for i in rows if self.buildings[i] is None), key=lambda i: _num(self.numbers[i])) or rows
        return [plates[len(plates) // 2]], "road"

    def _road_rows(self, name_text: str, admin: _Admin, fuzzy: bool) -> tuple[list[int], float, str] | None:
        name_text = re.sub(r"\d+号?$", "", name_text)
        if name_text in self._by_road:
            name, score = name_text, 1.0
        else:
            hit = self._find(name_text, self._road_starts)
            if hit:
                name, score = hit[0], 1.0
            else:
                got = self._fuzzy(name_text, self._names_near(admin, "road")) if fuzzy else None
                if got is None or got[2]:
                    return None
                name, score = got[0], got[1]
        rows, contradiction = self._candidates(self._by_road[name], admin)
        return rows, score * (0.6 if contradiction else 1.0), name

    def _intersection(self, query: str, a: str, b: str, admin: _Admin, region_codes: dict, *,
                      fuzzy: bool) -> Match | None:
        ra, rb = self._road_rows(a, admin, fuzzy), self._road_rows(b, admin, fuzzy)
        if ra is None or rb is None or ra[2] == rb[2]:
            return None
        # Roads of the same names in several districts (every town has its 人民路): one crossing each.
        crossings = []
        for district in sorted({self.codes[i]["district"] or "" for i in ra[0]}):
            ia = np.asarray([i for i in ra[0] if (self.codes[i]["district"] or "") == district])
            ib = np.asarray([i for i in rb[0] if (self.codes[i]["district"] or "") == district])
            if ia.size and ib.size:
                crossings.append(self._closest_pair(ia, ib))
        if not crossings:
            return None
        metres, pa, pb = min(crossings)
        lon = float((self.lons[pa] + self.lons[pb]) / 2)
        lat = float((self.lats[pa] + self.lats[pb]) / 2)
        conf = 0.95 if metres <= 150 else (0.7 if metres <= 400 else 0.3)
        conf *= min(ra[1], rb[1]) if min(ra[1], rb[1]) < 0.9 else 1.0
        note = f"两条道路最近门牌相距约 {metres:.0f} 米" + ("" if metres <= 150 else "，可能并不相交")
        meeting = [c for c in crossings if c[0] <= 150]
        if len(meeting) > 1:
            conf = min(conf, 0.5)
            note = f"{len(meeting)} 个区县都有这两条道路的交叉口，请写明区县"
            region_codes = region_codes or {"city": self.city_code}
        codes = (self.locate(lon, lat) if self.locate else None) or dict(self.codes[pa])
        return Match(str(query), round(min(conf, 0.95), 3), "intersection", None, f"{ra[2]}与{rb[2]}交叉口", lon, lat,
                     codes, region_codes or _common_codes([self.codes[pa], self.codes[pb]], self.city_code), note)

    def _closest_pair(self, ia: np.ndarray, ib: np.ndarray) -> tuple[float, int, int]:
        """(metres, record a, record b): the closest door plates of two roads."""
        scale = np.cos(np.radians(float(np.mean(self.lats[ia]))))
        dx = (self.lons[ia][:, None] - self.lons[ib][None, :]) * scale * _M_PER_DEG_LAT
        dy = (self.lats[ia][:, None] - self.lats[ib][None, :]) * _M_PER_DEG_LAT
        d = np.hypot(dx, dy)
        k = int(np.argmin(d))
        return float(d.flat[k]), int(ia[k // d.shape[1]]), int(ib[k % d.shape[1]])


def _by_first_char(names: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in sorted(names, key=len, reverse=True):
        out.setdefault(name[:1], []).append(name)
    return out


def _numerals(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit() or ch in "零〇一二两三四五六七八九十百千")


def _num(value: str | None) -> int:
    v = at.number_value(value)
    return v if v is not None else 0


def _lineage(code: str, city_code: str) -> dict:
    """{city, district, …} down to `code`, from the code itself (store.region_codes)."""
    out = {"city": city_code}
    for c in lineage(code):
        level = level_of(c)
        if level in LEVELS:
            out[level] = c
    return out


def _common_codes(rows: list[dict], city_code: str) -> dict:
    """The codes every row shares, from the city down to where they part."""
    if not rows:
        return {}
    out = {"city": city_code}
    for level in LEVELS:
        values = {r.get(level) for r in rows}
        if len(values) != 1 or None in values:
            break
        out[level] = values.pop()
    return out


# -- the cached index per database and city --------------------------------------------------------------
def load_index(session: Session, city_code: str | None = None, locator=None) -> AddressIndex:  # noqa: ANN001
    """Build the index from the database (no cache)."""
    cfg = settings.get_settings()["city"]
    city_code = city_code or cfg["code"]
    records = session.execute(
        select(*(getattr(StandardAddress, c) for c in RECORD_COLUMNS)).where(StandardAddress.city_code == city_code)
        .order_by(StandardAddress.id)).all()
    regions = session.execute(select(Region.code, Region.name, Region.level).where(Region.city_code == city_code)).all()
    city_name = next((n for c, n, lv in regions if lv == "city"), cfg.get("name", ""))
    return AddressIndex(city_code, [tuple(r) for r in records], [tuple(r) for r in regions], city_name=city_name,
                        province=cfg.get("province", ""), locate=locator.locate if locator is not None else None)


def _versions(session: Session) -> str:
    return f"{address_version(session)}/{boundary_version(session)}"


_indexes = VersionedCache(_versions, lambda session, city_code: load_index(session, city_code,
                                                                            get_locator(session, city_code)))


def get_index(bind: Engine | Session | None = None, city_code: str | None = None) -> AddressIndex:
    """The index for `city_code` on the database of `bind`, rebuilt only when the address or boundary
    version moved (an import, in any process; geo.meta.VersionedCache)."""
    return _indexes.get(bind, city_code or settings.get_settings()["city"]["code"])


def clear_index_cache() -> None:
    _indexes.clear()


def geocode(bind: Engine | Session | None, text: str, city_code: str | None = None) -> Match:
    """The best match for `text` in the city's address base (see Match.placed for the threshold)."""
    return get_index(bind, city_code).geocode(text)
