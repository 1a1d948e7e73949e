"""Demo emergency data (演示数据): resources across the demo city's districts, warehouse stock, a year of
closed incidents with their dispatches and logs, and two open incidents (one responding, one new).

Placement follows where people live: fire stations and medical points favour dense (urban) grids,
shelters follow population, every district gets a warehouse before the rest are spread by population.
Positions are jittered around the chosen grid's centroid and located with geo.locate. History is
written as rows with historical timestamps (no audit rows: nobody acted; the audit log records real
actions only). All draws come from the generator's own rng, so a seed gives the same data.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

import settings
from store.demo_scale import ScaleSpec
from emergency import catalog
from emergency.dispatch import propose
from emergency.plans import get_plan
from geo.locate import get_locator
from store.models import Alert, Dispatch, Incident, IncidentLog, InventoryItem, Region, Resource
from store.region_codes import ancestor_at, is_within

# Share of all resources per kind (sums to 1).
KIND_SHARE = {
    "消防站": 0.10, "医疗救护": 0.12, "应急避难场所": 0.22, "物资储备库": 0.06, "综合救援队": 0.10,
    "排涝抢险队": 0.12, "排涝泵车": 0.10, "危化品处置队": 0.05, "应急车辆": 0.13,
}
HEADCOUNT = {"消防站": (25, 45), "医疗救护": (4, 10), "综合救援队": (20, 40), "排涝抢险队": (10, 25),
             "危化品处置队": (12, 20), "排涝泵车": (2, 4), "应急车辆": (2, 4)}
EQUIPMENT = {
    "消防站": {"水罐消防车": (2, 4), "抢险救援车": (1, 2), "登高平台车": (0, 1)},
    "医疗救护": {"救护车": (1, 3)},
    "综合救援队": {"冲锋舟": (1, 3), "破拆工具组": (1, 3), "生命探测仪": (1, 2)},
    "排涝抢险队": {"冲锋舟": (1, 3), "移动排涝泵": (2, 6)},
    "排涝泵车": {"大流量排涝泵车（3000m³/h）": (1, 1)},
    "危化品处置队": {"重型防化服": (10, 20), "堵漏器材组": (2, 4), "气体侦检仪": (2, 3)},
    "应急车辆": {"应急通信保障车": (0, 1), "物资运输车": (1, 1)},
}
# Warehouse stock per item: (low, high) quantity, and the chance a warehouse holds the item at all.
STOCK = {
    "沙袋": (2000, 10000, 1.0), "帐篷": (50, 300, 0.9), "救生衣": (100, 600, 0.9), "饮用水": (200, 1200, 1.0),
    "折叠床": (100, 600, 0.8), "发电机": (5, 20, 0.8), "棉被": (200, 1000, 0.7), "方便食品": (200, 1000, 0.8),
    "防护服": (200, 1200, 0.8), "吸附棉": (50, 400, 0.6), "口罩": (5000, 30000, 0.9), "消毒液": (50, 300, 0.8),
}
# Incident types by season: flood and typhoon in the rainy season (May–October).
WET_TYPES = (("内涝", 0.35), ("台风", 0.25), ("火灾", 0.2), ("地质灾害", 0.1), ("危化品泄漏", 0.05), ("公共卫生", 0.05))
DRY_TYPES = (("火灾", 0.45), ("危化品泄漏", 0.15), ("公共卫生", 0.15), ("地质灾害", 0.1), ("大气污染", 0.1), ("水污染", 0.05))
CN_NUM = "一二三四五六七八九十"
ACTOR = "演示值班员"


def _label(n: int) -> str:
    return CN_NUM[n - 1] if 1 <= n <= 10 else str(n)


def _allocate(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Largest-remainder split of `total` by `shares`, at least one of each kind when total allows."""
    raw = {k: total * v for k, v in shares.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - out[k], reverse=True)[: total - sum(out.values())]:
        out[k] += 1
    for k in out:
        if out[k] == 0 and total >= len(shares):
            donor = max(out, key=out.get)
            out[donor] -= 1
            out[k] = 1
    return out


def _regions(session: Session, city_code: str):  # noqa: ANN202
    rows = session.execute(select(Region.code, Region.name, Region.level, Region.centroid_lon, Region.centroid_lat,
                                  Region.population, Region.area_km2, Region.bbox)
                           .where(Region.city_code == city_code).order_by(Region.code)).all()
    grids = [r for r in rows if r.level == "grid"]
    if not grids:
        raise ValueError("没有网格数据：请先生成行政区划（geo.demo_city）")
    names = {r.code: r.name for r in rows}
    return grids, names


def _place(rng: np.random.Generator, grids, weights: np.ndarray, n: int, locator):  # noqa: ANN001
    """n points in grids drawn by weight, jittered inside the grid's box; located."""
    if n == 0:
        return []
    p = weights / weights.sum()
    picks = rng.choice(len(grids), size=n, p=p)
    lons, lats = [], []
    for i in picks:
        g = grids[i]
        minx, miny, maxx, maxy = (float(v) for v in g.bbox.split(","))
        lons.append(g.centroid_lon + rng.uniform(-0.25, 0.25) * (maxx - minx))
        lats.append(g.centroid_lat + rng.uniform(-0.25, 0.25) * (maxy - miny))
    codes = locator.locate_many(np.array(lons), np.array(lats))
    out = []
    for i, lon, lat, c in zip(picks, lons, lats, codes):
        g = grids[i]
        if c is None or c.get("grid") is None:  # jitter left the city (coast): use the centroid
            lon, lat, c = g.centroid_lon, g.centroid_lat, locator.locate(g.centroid_lon, g.centroid_lat)
        out.append((round(float(lon), 7), round(float(lat), 7), c, g))
    return out


def _resources(session: Session, rng: np.random.Generator, scale: ScaleSpec, grids, names, locator, now) -> dict:  # noqa: ANN001
    pop = np.array([max(g.population or 0, 1) for g in grids], dtype=float)
    area = np.array([max(g.area_km2 or 0.01, 0.01) for g in grids], dtype=float)
    density = pop / area
    weight = {"消防站": density ** 1.5, "医疗救护": density ** 1.5, "应急避难场所": pop}
    counts = _allocate(max(scale.resources, len(KIND_SHARE)), KIND_SHARE)
    districts = sorted({ancestor_at(g.code, "district") for g in grids})
    rows, seq = [], {}
    # Numbered on from the resources already stored (the cities of a generated province share the table).
    first = int(session.scalar(select(func.count()).select_from(Resource)) or 0)
    for kind in catalog.resource_kinds():
        n = counts.get(kind, 0)
        if kind == catalog.WAREHOUSE:
            # One per district first (at its most populous grid), the rest by population.
            anchors = [max((i for i, g in enumerate(grids) if is_within(g.code, d)), key=lambda i: pop[i])
                       for d in districts][:n]
            w = np.zeros(len(grids))
            w[anchors] = 1.0
            spots = _place(rng, grids, w, len(anchors), locator) if anchors else []
            spots += _place(rng, grids, pop, n - len(spots), locator)
        else:
            spots = _place(rng, grids, weight.get(kind, pop), n, locator)
        for lon, lat, codes, g in spots:
            district = names.get(codes["district"], "")
            street = names.get(codes.get("street") or "", "")
            key = (kind, codes["district"])
            seq[key] = seq.get(key, 0) + 1
            k = seq[key]
            name = {
                "消防站": f"{street}消防救援站",
                "医疗救护": f"{street}急救站",
                "应急避难场所": f"{names.get(codes.get('community') or '', street)}应急避难场所",
                "物资储备库": f"{district}应急物资储备库" + ("" if k == 1 else f"（{_label(k)}号库）"),
                "综合救援队": f"{district}综合应急救援{_label(k)}队",
                "排涝抢险队": f"{district}排涝抢险{_label(k)}队",
                "排涝泵车": f"{district}排涝泵车{k:02d}号",
                "危化品处置队": f"{district}危化品处置{_label(k)}队",
                "应急车辆": f"{district}应急保障车{k:02d}号",
            }.get(kind, f"{district}{kind}{k}")
            row = {"id": f"ER{first + len(rows) + 1:05d}", "kind": kind, "name": name, "lon": lon, "lat": lat,
                   "status": "out_of_service" if kind != catalog.WAREHOUSE and rng.random() < 0.04 else "available",
                   "headcount": None, "capacity": None, "occupancy": None, "area_m2": None, "equipment": None,
                   "address": None, "contact": "值班室", "phone": f"0668-{int(rng.integers(2000000, 2999999))}",
                   "incident_id": None, "version": 1, "updated_at": now,
                   **{f"{lv}_code": codes.get(lv) for lv in ("city", "district", "street", "community", "grid")}}
            if kind in HEADCOUNT:
                lo, hi = HEADCOUNT[kind]
                row["headcount"] = int(rng.integers(lo, hi + 1))
            if kind in EQUIPMENT:
                eq = {item: int(rng.integers(lo, hi + 1)) for item, (lo, hi) in EQUIPMENT[kind].items()}
                row["equipment"] = {k2: v for k2, v in eq.items() if v > 0}
            if kind == catalog.SHELTER:
                cap = int(np.clip(round(float(g.population or 0) * rng.uniform(0.2, 0.6) / 50) * 50, 300, 8000))
                row["capacity"], row["occupancy"] = cap, 0
                row["area_m2"] = cap * catalog.shelter_m2_per_person()
            rows.append(row)
    session.execute(insert(Resource), rows)
    stock = []
    for row in rows:
        if row["kind"] != catalog.WAREHOUSE:
            continue
        for item, (lo, hi, chance) in STOCK.items():
            if rng.random() < chance:
                q = int(rng.integers(lo, hi + 1))
                stock.append({"resource_id": row["id"], "item": item, "unit": catalog.ITEM_UNITS[item],
                              "quantity": q - q % 10 if q > 100 else q, "reserved": 0})
    if stock:
        session.execute(insert(InventoryItem), stock)
    return {"resources": len(rows), "by_kind": {k: v for k, v in counts.items() if v}, "inventory_rows": len(stock)}


def _pick_type(rng: np.random.Generator, when: datetime) -> str:
    table = WET_TYPES if 5 <= when.month <= 10 else DRY_TYPES
    kinds, p = zip(*table)
    return str(rng.choice(kinds, p=np.array(p) / sum(p)))


def _incident(session: Session, rng, grids, pop, locator, itype: str, level: str, opened: datetime,  # noqa: ANN001
              status: str, names) -> Incident:
    g = grids[int(rng.choice(len(grids), p=pop / pop.sum()))]
    lon, lat = round(float(g.centroid_lon), 6), round(float(g.centroid_lat), 6)
    codes = locator.locate(lon, lat)
    place = names.get(codes.get("street") or "", "")
    inc = Incident(type=itype, level=level, title=f"{place}{itype}", lon=lon, lat=lat, status=status,
                   commander=ACTOR, opened_at=opened, notes="演示数据")
    inc.set_region(codes)
    session.add(inc)
    session.flush()
    session.add(IncidentLog(incident_id=inc.id, actor=ACTOR, kind="open", at=opened,
                            message=f"开设{itype}{catalog.LEVEL_NAMES[level]}事件（演示数据）"))
    return inc


def _dispatch(session: Session, inc: Incident, at: datetime, *, released_at: datetime | None,
              unit_states: list[str] | None = None) -> int:
    """Dispatch the incident's plan (nearest available units and stock). Closed history: rows released.
    Live: units take `unit_states` in turn and stock is reserved. Returns the number of dispatch rows."""
    prop = propose(session, inc, get_plan(inc.type, inc.level))
    units = prop.units[prop.units["selected"]]
    stock = prop.stock[prop.stock["selected"]]
    rows = []
    speeds = catalog.speeds_kmh()
    for i, u in enumerate(units.itertuples()):
        rows.append(Dispatch(incident_id=inc.id, resource_id=u.resource_id, distance_km=round(u.distance_km, 3),
                             eta_minutes=round(u.distance_km / speeds[u.kind] * 60, 1), created_by=ACTOR, created_at=at,
                             status="released" if released_at else "active", released_at=released_at))
        if released_at is None:
            state = unit_states[i % len(unit_states)]
            res = session.get(Resource, u.resource_id)
            res.status, res.incident_id, res.version = state, inc.id, res.version + 1
            if state != "dispatched":
                session.add(IncidentLog(incident_id=inc.id, actor=ACTOR, kind="status",
                                        at=at + timedelta(minutes=5 + 10 * (state == "on_site")),
                                        message=f"{u.name}：{catalog.status_label(state)}"))
    for s in stock.itertuples():
        take = int(s.take)
        used = int(take * 0.7) if released_at else None
        rows.append(Dispatch(incident_id=inc.id, resource_id=s.resource_id, inventory_id=int(s.inventory_id),
                             item=s.item, unit=s.unit, quantity=take, used=used, distance_km=round(s.distance_km, 3),
                             eta_minutes=round(s.eta_min, 1), created_by=ACTOR, created_at=at,
                             status="released" if released_at else "active", released_at=released_at))
        if released_at is None:
            session.get(InventoryItem, int(s.inventory_id)).reserved += take
    session.add_all(rows)
    names = "、".join(list(units["name"]) + [f"{s.item} {int(s.take)}{s.unit}" for s in stock.itertuples()])
    session.add(IncidentLog(incident_id=inc.id, actor=ACTOR, kind="dispatch", at=at, message=f"确认调派：{names}"))
    if released_at:
        session.add(IncidentLog(incident_id=inc.id, actor=ACTOR, kind="release", at=released_at,
                                message="释放全部调派资源，物资按实际消耗核销"))
    session.flush()
    return len(rows)


def generate(session: Session, rng: np.random.Generator, scale: ScaleSpec, now: datetime) -> dict:
    city_code = settings.get_settings()["city"]["code"]
    grids, names = _regions(session, city_code)
    locator = get_locator(session)
    summary = _resources(session, rng, scale, grids, names, locator, now)
    session.flush()
    pop = np.array([max(g.population or 0, 1) for g in grids], dtype=float)

    n_closed = max(6, scale.resources // 20)
    days = np.sort(rng.uniform(3, 365, n_closed))[::-1]
    dispatch_rows = 0
    for d in days:
        opened = now - timedelta(days=float(d))
        itype = _pick_type(rng, opened)
        level = str(rng.choice(["IV", "III", "II"], p=[0.6, 0.3, 0.1]))
        inc = _incident(session, rng, grids, pop, locator, itype, level, opened, "closed", names)
        hours = float(rng.uniform(3, 48))
        dispatch_rows += _dispatch(session, inc, opened + timedelta(minutes=8), released_at=opened + timedelta(hours=hours))
        inc.closed_at = opened + timedelta(hours=hours + 1)
        session.add(IncidentLog(incident_id=inc.id, actor=ACTOR, kind="close", at=inc.closed_at, message="处置完毕，关闭事件"))

    # Live: a flood responding for three hours (linked to an open flood alert when sensors made one),
    # and a small fire opened twenty minutes ago awaiting its one-click dispatch.
    flood = _incident(session, rng, grids, pop ** 2, locator, "内涝", "III", now - timedelta(hours=3), "responding", names)
    alert = session.scalars(select(Alert).where(Alert.status == "open", Alert.proposal_status == "proposed",
                                                Alert.incident_id.is_(None)).order_by(Alert.id)).first()
    if alert is not None and catalog.canonical_type((alert.proposal or {}).get("incident_type")) == "内涝":
        alert.incident_id, alert.proposal_status = flood.id, "accepted"
        flood.source_alert_id = alert.id
    dispatch_rows += _dispatch(session, flood, now - timedelta(hours=2, minutes=45), released_at=None,
                               unit_states=["on_site", "en_route", "dispatched"])
    fire = _incident(session, rng, grids, pop, locator, "火灾", "IV", now - timedelta(minutes=20), "open", names)
    summary.update({"incidents_closed": n_closed, "incidents_open": 2, "dispatch_rows": dispatch_rows,
                    "open_incident_ids": [flood.id, fire.id]})
    return summary
