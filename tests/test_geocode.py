"""The geocoder on the demo city's generated address base: a labelled set of address variants made here
deterministically from the base (prefixes, full-width digits, Chinese numerals, 号/栋/幢/单元 forms,
spaces, typos, intersections) and negatives that must not be placed (other cities, roads that do not
exist, door numbers far off a real road, noise). Precision and recall are printed and held to floors.
Also the text folding itself, and the index's refresh when the base changes."""
from __future__ import annotations

import random
import time
from collections import Counter

import numpy as np
import pytest
from sqlalchemy import select

from geo import address_text as at
from geo import demo_addresses, demo_city
from geo.geocode import AddressIndex, bump_address_version, clear_index_cache, get_index, load_index
from geo.locate import Locator
from store.db import get_engine, session_scope
from store.demo_scale import get_scale
from store.models import Base, Region, StandardAddress

SEED = 7
PRECISION_FLOOR = 0.98
RECALL_FLOOR = 0.90
CN = "零一二三四五六七八九"
_M = 111_320.0


def cn_number(n: int) -> str:
    """12 → 十二, 40 → 四十, 7 → 七 (as people write door numbers)."""
    if n < 10:
        return CN[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else CN[tens]) + "十" + (CN[ones] if ones else "")


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in text)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The demo city's regions and address base (the generators and streams of demo.seed)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('geocode') / 'demo.db'}"
    engine = get_engine(url)
    Base.metadata.create_all(engine)
    with session_scope(engine) as s:
        demo_city.generate(s, np.random.default_rng([SEED, 0]), get_scale("demo"))
    with session_scope(engine) as s:
        summary = demo_addresses.generate(s, np.random.default_rng([SEED, 6]), get_scale("demo"))
    with session_scope(engine, readonly=True) as s:
        index = load_index(s, "440900", Locator.from_session(s, "440900"))
        rows = s.execute(select(StandardAddress)).scalars().all()
        names = dict(s.execute(select(Region.code, Region.name)).all())
    return {"engine": engine, "index": index, "rows": rows, "names": names, "summary": summary}


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(np.hypot((a[0] - b[0]) * _M * np.cos(np.radians(a[1])), (a[1] - b[1]) * _M))


def labelled_set(base) -> list[dict]:  # noqa: ANN001
    """[{query, kind, truth id or point}] — positives first, then negatives (truth None)."""
    rng = random.Random(20261206)
    rows, names = base["rows"], base["names"]
    roads = {r.road for r in rows if r.road}
    road_districts: dict[str, set] = {}
    for r in rows:
        road_districts.setdefault(r.road, set()).add(r.district_code)
    plates = sorted((r for r in rows if r.building is None), key=lambda r: r.id)
    buildings = sorted((r for r in rows if r.building is not None), key=lambda r: r.id)
    out: list[dict] = []

    def add(query: str, kind: str, truth) -> None:  # noqa: ANN001
        out.append({"query": query, "kind": kind, "truth": truth})

    for r in rng.sample(plates, 60):
        d, street = names[r.district_code], names[r.street_code]
        n = int(r.house_number)
        unique = len(road_districts[r.road]) == 1
        add(r.full_text, "standard", r.id)
        add(f"广东省茂名市{d}{r.road}{n}号", "prefix", r.id)
        add(f"茂名{d}{r.road}{full_width(str(n))}号", "full-width", r.id)
        add(f"{d}{r.road}{cn_number(n)}号", "chinese numeral", r.id)
        add(f"{d} {r.road} {n} 号 门口", "spaces", r.id)
        add(f"{d}{street}{r.road}{n}#附近", "street + #", r.id)
        add(f"{at.short_name(d)}{r.road}{n}号", "short district", r.id)
        if unique:
            add(f"{r.road}{n}号", "road only", r.id)
            add(f"{r.road}{n}", "no 号", r.id)
        stem = r.road[:-1] if r.road.endswith(("路", "街", "巷")) else r.road[:-2]
        if len(r.road) >= 4:
            for _ in range(10):
                i = rng.randrange(len(stem))
                if stem[i] in "一二三四五六七八九十":
                    continue
                typo = stem[:i] + rng.choice("城成山衫金今水氵林木华化") + stem[i + 1:] + r.road[len(stem):]
                if typo not in roads and typo != r.road:
                    add(f"{d}{typo}{n}号", "typo", r.id)
                    add(f"{typo}{n}号", "typo, no district", r.id)  # 待定位 is the expected answer
                    break
    for r in rng.sample(buildings, 30):
        d = names[r.district_code]
        b = int(r.building)
        add(f"{r.compound}{b}栋2单元501室", "compound + flat", r.id)
        add(f"{d}{r.road}{r.house_number}号{r.compound}{b}幢", "road + compound", r.id)
        add(f"{d}{r.compound}{b}号楼", "号楼", r.id)
        add(f"{r.road}{r.house_number}号{r.compound}{cn_number(b)}栋", "chinese building", r.id)

    # Intersections: two roads of one street that cross (their closest plates are close).
    by_street: dict[str, dict[str, list]] = {}
    for r in plates:
        by_street.setdefault(r.street_code, {}).setdefault(r.road, []).append(r)
    crossings = []
    for street, streets_roads in sorted(by_street.items()):
        names_here = sorted(streets_roads)
        for i, a in enumerate(names_here):
            for b in names_here[i + 1:]:
                pa = np.array([[p.lon, p.lat] for p in streets_roads[a]])
                pb = np.array([[p.lon, p.lat] for p in streets_roads[b]])
                d = np.hypot((pa[:, None, 0] - pb[None, :, 0]) * _M * np.cos(np.radians(pa[0, 1])),
                             (pa[:, None, 1] - pb[None, :, 1]) * _M)
                k = int(np.argmin(d))
                if d.flat[k] <= 60:
                    x, y = pa[k // d.shape[1]], pb[k % d.shape[1]]
                    crossings.append((street, a, b, ((x[0] + y[0]) / 2, (x[1] + y[1]) / 2)))
    for street, a, b, point in rng.sample(crossings, min(25, len(crossings))):
        d = names[street[:6]]
        add(f"{d}{a}与{b}交叉口", "intersection", point)
        add(f"{d}{names[street]} {b}和{a}路口", "intersection", point)

    # Negatives: none of these may be placed.
    for q in ("广州市天河区体育西路100号", "深圳市南山区科技园路1号", "北京市朝阳区建国路88号", "湛江市霞山区人民大道南50号",
              "广东省广州市越秀区中山五路33号", "上海市浦东新区世纪大道100号", "佛山市禅城区季华五路10号", "广西北海市海城区北部湾中路3号"):
        add(q, "other city", None)
    fake_chars = "鑫磊淼焱森垚犇骉鹏"
    for _ in range(30):
        d = names[rng.choice(plates).district_code]
        fake = "".join(rng.choice(fake_chars) for _ in range(2)) + rng.choice(["路", "大道", "街"])
        assert fake not in roads
        add(f"{d}{fake}{rng.randint(1, 99)}号", "no such road", None)
    for r in rng.sample(plates, 20):
        add(f"{names[r.district_code]}{r.road}{rng.randint(900, 9999)}号", "number far off the road", None)
    for q in ("", "   ", "12345", "随便写点什么", "请尽快处理", "号", "路口", "附近有人乱扔垃圾", "！！！", "abc def"):
        add(q, "noise", None)
    return out


def test_labelled_variants_precision_and_recall(base):
    cases = labelled_set(base)
    positives = [c for c in cases if c["truth"] is not None]
    assert len(cases) >= 200 and len(positives) >= 150 and len(cases) - len(positives) >= 50
    index: AddressIndex = base["index"]
    placed = correct = 0
    per_kind: Counter = Counter()
    per_kind_total: Counter = Counter()
    misses = []
    started = time.perf_counter()
    for c in cases:
        m = index.geocode(c["query"])
        per_kind_total[c["kind"]] += 1
        if not m.placed(0.8):
            if c["truth"] is not None:
                misses.append((c["kind"], c["query"], m.kind, m.confidence, m.note))
            continue
        placed += 1
        truth = c["truth"]
        good = (m.address_id == truth) if isinstance(truth, int) else \
            (truth is not None and _metres((m.lon, m.lat), truth) <= 150)
        if good:
            correct += 1
            per_kind[c["kind"]] += 1
        else:
            misses.append(("WRONG " + c["kind"], c["query"], m.text, m.confidence, m.note))
    ms = (time.perf_counter() - started) * 1000 / len(cases)
    precision = correct / placed if placed else 0.0
    recall = correct / len(positives)
    print(f"\ngeocoding: {len(cases)} labelled variants ({len(positives)} positive, {len(cases) - len(positives)} "
          f"negative) on {len(index)} standard addresses; precision {precision:.3f}, recall {recall:.3f}, "
          f"{ms:.2f} ms per address")
    for kind in per_kind_total:
        print(f"  {kind:26} {per_kind[kind]:3d}/{per_kind_total[kind]:3d} placed correctly")
    for miss in misses[:15]:
        print("  miss:", miss)
    assert precision >= PRECISION_FLOOR
    assert recall >= RECALL_FLOOR


def test_negatives_keep_what_the_text_made_certain(base):
    index: AddressIndex = base["index"]
    row = next(r for r in base["rows"] if r.building is None)
    district = base["names"][row.district_code]
    far = index.geocode(f"{district}{row.road}9999号")
    assert not far.placed() and far.kind == "road" and far.region_codes.get("district") == row.district_code
    unknown = index.geocode(f"{district}鑫磊路5号")
    assert unknown.kind is None and unknown.region_codes == {"city": "440900", "district": row.district_code}
    assert index.geocode("广州市天河区体育西路100号").region_codes == {}


def test_every_district_has_its_renmin_and_zhongshan_roads(base):
    index: AddressIndex = base["index"]
    districts = {r.district_code for r in base["rows"]}
    renmin = {r.district_code for r in base["rows"] if r.road == "人民路"}
    assert renmin == districts and len(districts) >= 5
    alone = index.geocode("人民路与中山路交叉口")
    assert not alone.placed() and "请写明区县" in alone.note
    d = base["names"][sorted(districts)[0]]
    assert index.geocode(f"{d}人民路与中山路交叉口").placed()
    assert base["summary"]["addresses"] == len(base["rows"]) and base["summary"]["compounds"] > 0
    assert all(r.source == "演示数据" for r in base["rows"])


def test_every_address_lies_in_its_roads_street(base):
    """The generator's promise: codes agree with the hierarchy and each road stays in one street."""
    streets_of_road: dict[tuple, set] = {}
    for r in base["rows"]:
        assert r.grid_code and r.grid_code.startswith(r.street_code) and r.street_code.startswith(r.district_code)
        if r.building is None:
            streets_of_road.setdefault((r.district_code, r.road), set()).add(r.street_code)
    assert all(len(s) == 1 for s in streets_of_road.values())


def test_the_cached_index_follows_imports(base):
    engine = base["engine"]
    clear_index_cache()
    first = get_index(engine)
    assert get_index(engine) is first
    with session_scope(engine) as s:
        bump_address_version(s)
    assert get_index(engine) is not first


@pytest.mark.parametrize("text,folded", [
    ("广东省茂名市茂南区油城五路１２号", "广东省茂名市茂南区油城五路12号"),
    ("油城五路十二号3幢2单元501室", "油城五路12号3栋"),
    ("油城五路12#附近", "油城五路12号"),
    ("荔园花园3号楼5楼", "荔园花园3栋"),
    ("A路12号3-2-501", "A路12号3栋"),
    ("油城五路 12 号 门口", "油城五路12号"),
    ("油城五路一百零五号", "油城五路105号"),
])
def test_fold(text, folded):
    assert at.fold(text) == folded


def test_prefixes_and_short_names():
    assert at.strip_prefixes("中国广东省茂名市茂南区", ("中国", "广东省", "广东", "茂名市", "茂名")) == "茂南区"
    assert at.strip_prefixes("茂名", ("茂名",)) == "茂名"  # never strip a text down to nothing
    assert [at.short_name(n) for n in ("茂南区", "高州市", "金山街道", "荔园社区", "石源镇", "礼门村")] == \
        ["茂南", "高州", "金山", "荔园", "石源", "礼门"]
    assert at.split_tail("12号3栋") == at.Tail("12", "3", "")
