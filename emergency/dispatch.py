"""One-click dispatch (一键调派): propose the nearest resources and stock for a plan, confirm all of it
in one transaction or none of it, release it afterwards.

Concurrency: `confirm` reserves with conditional UPDATEs (a unit: `WHERE status='available' AND
version=:seen`; stock: `WHERE quantity - reserved >= :n`) and checks each row count. On SQLite writers
are serialised by BEGIN IMMEDIATE; on PostgreSQL (READ COMMITTED) a second writer blocks on the row lock
and then re-evaluates the WHERE on the committed row, so the loser sees row count 0. Rows are always
locked in the same order (incident, resources by id, inventory by id), so two confirmations cannot
deadlock. All writes sit inside a SAVEPOINT: if anything was taken meanwhile, the savepoint is rolled
back and `DispatchConflict` lists every item that failed — even if the caller catches the error, nothing
is left half-reserved.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from auth import audit
from emergency import catalog
from emergency.nearest import haversine_km, nearest_available, stock_sources
from emergency.plans import Plan, get_plan
from emergency.resources import guarded_set_status, require_command
from store import outbox
from store.models import Dispatch, Incident, IncidentLog, InventoryItem, Resource, utcnow
from store.scope import Viewer, ensure_visible
from store.region_codes import is_within


class DispatchConflict(Exception):
    """Some selected items were taken (or changed) since the proposal. `items` lists each, in Chinese."""

    def __init__(self, items: list[str]):
        self.items = items
        super().__init__("调派未执行，以下资源已被占用或库存不足：\n" + "\n".join(f"· {i}" for i in items))


@dataclass(frozen=True)
class Shortfall:
    what: str  # a resource kind or a stock item
    kind: str  # "unit" / "stock"
    needed: int
    found: int
    unit: str = ""

    def describe(self) -> str:
        if self.kind == "unit":
            return f"{self.what}：需要 {self.needed} 支，可用 {self.found} 支，缺 {self.needed - self.found} 支"
        return f"{self.what}：需要 {self.needed}{self.unit}，可调 {self.found}{self.unit}，缺 {self.needed - self.found}{self.unit}"


@dataclass
class Proposal:
    incident_id: int
    plan: Plan
    units: pd.DataFrame  # selected, resource_id, kind, name, version, distance_km, eta_min, lon, lat
    stock: pd.DataFrame  # selected, inventory_id, resource_id, name, item, unit, take, free, distance_km, eta_min
    shortfalls: list[Shortfall] = field(default_factory=list)

    def selection(self) -> "Selection":
        return Selection.from_frames(self.units, self.stock)


@dataclass(frozen=True)
class Selection:
    """What the commander confirmed: units with the version they saw, stock rows with quantities."""

    units: tuple[tuple[str, int], ...] = ()
    stock: tuple[tuple[int, int], ...] = ()

    @classmethod
    def from_frames(cls, units: pd.DataFrame, stock: pd.DataFrame) -> "Selection":
        u = units[units["selected"].astype(bool)] if len(units) else units
        s = stock[stock["selected"].astype(bool) & (stock["take"] > 0)] if len(stock) else stock
        return cls(tuple((str(r.resource_id), int(r.version)) for r in u.itertuples()),
                   tuple((int(r.inventory_id), int(r.take)) for r in s.itertuples()))

    def problems(self) -> list[str]:
        out = []
        if not self.units and not self.stock:
            out.append("没有选择任何队伍或物资")
        ids = [u for u, _ in self.units]
        if len(ids) != len(set(ids)):
            out.append("同一支队伍被重复选择")
        inv = [i for i, _ in self.stock]
        if len(inv) != len(set(inv)):
            out.append("同一库存被重复选择")
        for inv_id, n in self.stock:
            if not isinstance(n, (int, np.integer)) or n <= 0:
                out.append(f"库存 #{inv_id} 的调用数量应为正整数")
        return out


def _incident(session: Session, incident) -> Incident:  # noqa: ANN001 - Incident or id
    if isinstance(incident, Incident):
        return incident
    row = session.get(Incident, int(incident))
    if row is None:
        raise ValueError(f"事件 #{incident} 不存在")
    return row


def propose(session: Session, incident, plan: Plan | None = None, *, viewer: Viewer | None = None,
            alternatives: int = 2) -> Proposal:  # noqa: ANN001
    """The nearest available units of each kind in the plan and the nearest free stock (split across
    warehouses, nearest first), with shortfalls. `alternatives` more candidates per kind / item are
    included unselected, so the commander can swap without another search."""
    inc = _incident(session, incident)
    if viewer is not None:
        ensure_visible(viewer, inc)
    plan = plan or get_plan(inc.type, inc.level)
    shortfalls: list[Shortfall] = []

    units = nearest_available(session, inc.lon, inc.lat, list(plan.units), viewer=viewer,
                              per_kind=max(plan.units.values(), default=0) + alternatives)
    if len(units):
        rank_in_kind = units.groupby("kind").cumcount()
        needed = units["kind"].map(plan.units)
        units = units[rank_in_kind < needed + alternatives].copy()
        units.insert(0, "selected", (rank_in_kind < needed)[units.index].to_numpy())
        units = units.reset_index(drop=True)
    else:
        units = units.assign(selected=pd.Series(dtype=bool))
    for kind, n in plan.units.items():
        found = int((units["kind"] == kind).sum()) if len(units) else 0
        if found < n:
            shortfalls.append(Shortfall(kind, "unit", n, found))

    sources = stock_sources(session, inc.lon, inc.lat, list(plan.stock), viewer=viewer)
    parts = []
    for item, n in plan.stock.items():
        rows = sources[sources["item"] == item].copy()
        remaining = n
        takes = []
        for free in rows["free"]:
            take = min(int(free), remaining)
            takes.append(take)
            remaining -= take
        rows["take"] = takes
        rows["selected"] = rows["take"] > 0
        used = int(rows["selected"].sum())
        parts.append(rows.head(used + alternatives))
        if remaining > 0:
            unit = rows["unit"].iloc[0] if len(rows) else catalog.ITEM_UNITS.get(item, "")
            shortfalls.append(Shortfall(item, "stock", n, n - remaining, unit))
    stock = pd.concat(parts, ignore_index=True) if parts else sources.assign(take=0, selected=False)
    cols = ["selected", "inventory_id", "resource_id", "name", "item", "unit", "take", "free", "distance_km", "eta_min",
            "lon", "lat"]
    stock = stock.reindex(columns=cols)
    return Proposal(inc.id, plan, units, stock, shortfalls)


def _describe_unit_failure(session: Session, resource_id: str, seen_version: int) -> str:
    row = session.execute(select(Resource.name, Resource.status, Resource.version, Resource.incident_id)
                          .where(Resource.id == resource_id)).one_or_none()
    if row is None:
        return f"{resource_id}：资源不存在"
    if row.status != "available":
        where = f"（事件 #{row.incident_id}）" if row.incident_id else ""
        return f"{row.name}：已{catalog.status_label(row.status)}{where}"
    return f"{row.name}：资料在方案生成后被修改（版本 {seen_version}→{row.version}），请重新生成方案"


def _describe_stock_failure(session: Session, inventory_id: int, n: int) -> str:
    row = session.execute(select(InventoryItem.item, InventoryItem.unit, InventoryItem.quantity,
                                 InventoryItem.reserved, Resource.name)
                          .join(Resource, Resource.id == InventoryItem.resource_id)
                          .where(InventoryItem.id == inventory_id)).one_or_none()
    if row is None:
        return f"库存 #{inventory_id}：不存在"
    return f"{row.item}（{row.name}）：需 {n}{row.unit}，现仅可用 {row.quantity - row.reserved}{row.unit}"


@dataclass(frozen=True)
class ConfirmResult:
    incident_id: int
    dispatch_ids: tuple[int, ...]
    units: int
    stock_rows: int


def confirm(session: Session, incident_id: int, selection: Selection, actor: Viewer) -> ConfirmResult:
    """Reserve every selected unit and stock quantity for the incident, or nothing (DispatchConflict)."""
    require_command(actor)
    problems = selection.problems()
    if problems:
        raise ValueError("；".join(problems))
    now = utcnow()
    with session.begin_nested():
        inc = session.get(Incident, incident_id)
        if inc is None:
            raise ValueError(f"事件 #{incident_id} 不存在")
        ensure_visible(actor, inc)
        moved = session.execute(update(Incident).where(Incident.id == incident_id, Incident.status != "closed")
                                .values(status="responding", version=Incident.version + 1)
                                .execution_options(synchronize_session=False)).rowcount
        if moved != 1:
            raise ValueError(f"事件 #{incident_id} 已关闭，不能再调派")
        session.expire(inc)
        failures: list[str] = []
        unit_rows = []
        for resource_id, version in sorted(selection.units):
            info = session.execute(select(Resource.id, Resource.name, Resource.kind, Resource.lon, Resource.lat,
                                          Resource.grid_code, Resource.city_code).where(Resource.id == resource_id)).one_or_none()
            if info is None:
                failures.append(f"{resource_id}：资源不存在")
                continue
            if not is_within(info.grid_code or info.city_code, actor.zone_code):
                failures.append(f"{info.name}：不在您的管辖范围内")
                continue
            if info.kind == catalog.WAREHOUSE:
                failures.append(f"{info.name}：物资储备库不能作为队伍调派，请调用其库存")
                continue
            if guarded_set_status(session, resource_id, "available", "dispatched", version=version,
                                  incident_id=incident_id, now=now):
                unit_rows.append(info)
            else:
                failures.append(_describe_unit_failure(session, resource_id, version))
        stock_rows = []
        for inventory_id, n in sorted(selection.stock):
            info = session.execute(select(InventoryItem.id, InventoryItem.item, InventoryItem.unit, Resource.id.label("rid"),
                                          Resource.name, Resource.lon, Resource.lat, Resource.grid_code, Resource.city_code)
                                   .join(Resource, Resource.id == InventoryItem.resource_id)
                                   .where(InventoryItem.id == inventory_id)).one_or_none()
            if info is None:
                failures.append(f"库存 #{inventory_id}：不存在")
                continue
            if not is_within(info.grid_code or info.city_code, actor.zone_code):
                failures.append(f"{info.item}（{info.name}）：不在您的管辖范围内")
                continue
            took = session.execute(update(InventoryItem)
                                   .where(InventoryItem.id == inventory_id,
                                          InventoryItem.quantity - InventoryItem.reserved >= int(n))
                                   .values(reserved=InventoryItem.reserved + int(n))
                                   .execution_options(synchronize_session=False)).rowcount
            if took == 1:
                stock_rows.append((info, int(n)))
            else:
                failures.append(_describe_stock_failure(session, inventory_id, int(n)))
        if failures:
            raise DispatchConflict(failures)  # leaving the block rolls the savepoint back

        dispatches = []
        speeds = catalog.speeds_kmh()
        for info in unit_rows:
            d = float(haversine_km(inc.lon, inc.lat, [info.lon], [info.lat])[0])
            dispatches.append(Dispatch(incident_id=incident_id, resource_id=info.id, distance_km=round(d, 3),
                                       eta_minutes=round(d / speeds[info.kind] * 60.0, 1), created_by=actor.username,
                                       created_at=now))
        for info, n in stock_rows:
            d = float(haversine_km(inc.lon, inc.lat, [info.lon], [info.lat])[0])
            dispatches.append(Dispatch(incident_id=incident_id, resource_id=info.rid, inventory_id=info.id,
                                       item=info.item, unit=info.unit, quantity=n, distance_km=round(d, 3),
                                       eta_minutes=round(d / speeds[catalog.WAREHOUSE] * 60.0, 1),
                                       created_by=actor.username, created_at=now))
        session.add_all(dispatches)
        session.flush()
        summary = "、".join([u.name for u in unit_rows] + [f"{i.item} {n}{i.unit}（{i.name}）" for i, n in stock_rows])
        session.add(IncidentLog(incident_id=incident_id, actor=actor.username, kind="dispatch", at=now,
                                message=f"确认调派：{summary}"))
        for d in dispatches:
            audit.record(session, actor, "emergency_dispatch", object_type="dispatch", object_id=d.id,
                         detail={"incident_id": incident_id, "resource_id": d.resource_id, "item": d.item,
                                 "quantity": d.quantity})
            # In order after the incident's own records; the commander is named for the message rules.
            outbox.record_object(session, "dispatch.confirm", d, actor=actor.username, region=inc, at=now,
                                 order_key=f"incident:{incident_id}",
                                 extra={"incident_title": inc.title, "commander": inc.commander})
    return ConfirmResult(incident_id, tuple(d.id for d in dispatches), len(unit_rows), len(stock_rows))


@dataclass(frozen=True)
class ReleaseResult:
    incident_id: int
    units_available: int
    units_returning: int
    stock_returned: int
    stock_used: int


def release(session: Session, incident_id: int, actor: Viewer, used: dict[int, int] | None = None,
            dispatch_ids=None) -> ReleaseResult:  # noqa: ANN001
    """Release the incident's active dispatches (all, or `dispatch_ids`). Units not yet departed go back
    to available; units out on the road start returning (they become available on 归队). Stock: unused
    quantity goes back to free stock, `used[dispatch_id]` is deducted from the warehouse quantity."""
    require_command(actor)
    used = {int(k): int(v) for k, v in (used or {}).items()}
    now = utcnow()
    with session.begin_nested():
        inc = session.get(Incident, incident_id)
        if inc is None:
            raise ValueError(f"事件 #{incident_id} 不存在")
        ensure_visible(actor, inc)
        stmt = select(Dispatch).where(Dispatch.incident_id == incident_id, Dispatch.status == "active")
        if dispatch_ids is not None:
            stmt = stmt.where(Dispatch.id.in_([int(i) for i in dispatch_ids]))
        active = list(session.scalars(stmt.order_by(Dispatch.id)))
        stock_ids = {d.id: d for d in active if d.item is not None}
        problems = [f"调派 #{k} 不是本事件未释放的物资" for k in used if k not in stock_ids]
        problems += [f"{stock_ids[k].item}：消耗量应在 0 到 {stock_ids[k].quantity} 之间"
                     for k, v in used.items() if k in stock_ids and not 0 <= v <= stock_ids[k].quantity]
        if problems:
            raise ValueError("；".join(problems))
        if not active:
            raise ValueError("该事件没有未释放的调派")
        failures: list[str] = []
        counts = {"available": 0, "returning": 0}
        names = {}
        for d in sorted((d for d in active if d.item is None), key=lambda d: d.resource_id):
            res = session.execute(select(Resource.name, Resource.status, Resource.incident_id)
                                  .where(Resource.id == d.resource_id)).one()
            names[d.resource_id] = res.name
            if res.incident_id != incident_id or res.status in ("available", "out_of_service"):
                continue  # already back (归队) — only the dispatch row is closed below
            if res.status == "returning":
                counts["returning"] += 1
                continue
            target = "available" if res.status == "dispatched" else "returning"
            if guarded_set_status(session, d.resource_id, res.status, target, now=now,
                                  clear_incident=target == "available"):
                counts[target] += 1
            else:
                failures.append(f"{res.name}：状态刚被他人更改，请刷新后重试")
        returned = consumed = 0
        for d in sorted((d for d in active if d.item is not None), key=lambda d: d.inventory_id):
            n_used = used.get(d.id, 0)
            ok = session.execute(update(InventoryItem)
                                 .where(InventoryItem.id == d.inventory_id, InventoryItem.reserved >= d.quantity,
                                        InventoryItem.quantity >= n_used)
                                 .values(reserved=InventoryItem.reserved - d.quantity,
                                         quantity=InventoryItem.quantity - n_used)
                                 .execution_options(synchronize_session=False)).rowcount
            if ok != 1:
                failures.append(f"{d.item}：库存预留数与调派记录不一致（库存 #{d.inventory_id}）")
            returned += d.quantity - n_used
            consumed += n_used
        if failures:
            raise DispatchConflict(failures)  # leaving the block rolls the savepoint back
        for d in active:
            d.status, d.released_at = "released", now
            if d.item is not None:
                d.used = used.get(d.id, 0)
        parts = [names.get(d.resource_id, d.resource_id) for d in active if d.item is None]
        parts += [f"{d.item} 消耗 {d.used}{d.unit}、归还 {d.quantity - d.used}{d.unit}" for d in active if d.item]
        session.add(IncidentLog(incident_id=incident_id, actor=actor.username, kind="release", at=now,
                                message="释放：" + "；".join(parts)))
        for d in active:
            audit.record(session, actor, "emergency_release", object_type="dispatch", object_id=d.id,
                         detail={"incident_id": incident_id, "resource_id": d.resource_id, "item": d.item,
                                 "quantity": d.quantity, "used": d.used})
            outbox.record_object(session, "dispatch.release", d, actor=actor.username, region=inc, at=now,
                                 order_key=f"incident:{incident_id}")  # same transaction
    return ReleaseResult(incident_id, counts["available"], counts["returning"], returned, consumed)
