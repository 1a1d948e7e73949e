"""Scoped reads for the 应急指挥 page. Every function takes the Viewer and a region code inside the
viewer's zone, and returns plain frames/dicts with Chinese labels and a `tip` text for map tooltips.
Times are shown in the configured local zone (Asia/Shanghai)."""
from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import settings
from emergency import catalog
from store.models import Alert, Dispatch, Event, Incident, IncidentLog, InventoryItem, Region, Resource
from store.scope import Viewer, apply_scope, ensure_region_visible, ensure_visible, in_region
from store.frames import rows_frame


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.get_settings()["app"]["timezone"])


def _local(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True).dt.tz_convert(_tz()).dt.strftime("%m-%d %H:%M")


def _scoped(stmt, model, viewer: Viewer, region: str | None):  # noqa: ANN001, ANN202
    stmt = apply_scope(stmt, model, viewer)
    if region and region != viewer.zone_code:
        ensure_region_visible(viewer, region)
        stmt = stmt.where(in_region(model, region))
    return stmt


def incidents(session: Session, viewer: Viewer, region: str | None = None, *, include_closed: bool = False,
              limit: int = 200) -> pd.DataFrame:
    """Incidents in scope, open ones first then newest first; with the number of active dispatches."""
    active = (select(Dispatch.incident_id, func.count().label("n")).where(Dispatch.status == "active")
              .group_by(Dispatch.incident_id).subquery())
    stmt = select(Incident.id, Incident.type, Incident.level, Incident.title, Incident.status, Incident.commander,
                  Incident.opened_at, Incident.closed_at, Incident.lon, Incident.lat, Incident.district_code,
                  Incident.source_alert_id, Incident.source_event_id, func.coalesce(active.c.n, 0).label("active"))\
        .outerjoin(active, active.c.incident_id == Incident.id)
    if not include_closed:
        stmt = stmt.where(Incident.status != "closed")
    stmt = _scoped(stmt, Incident, viewer, region).order_by((Incident.status == "closed"), Incident.opened_at.desc(),
                                                            Incident.id.desc()).limit(limit)
    frame = rows_frame(session.execute(stmt).all(),
                         columns=["id", "type", "level", "title", "status", "commander", "opened_at", "closed_at",
                                  "lon", "lat", "district_code", "source_alert_id", "source_event_id", "active"])
    if frame.empty:
        return frame.assign(status_label=[], opened=[], tip=[])
    frame["status_label"] = frame["status"].map(catalog.INCIDENT_STATUSES)
    frame["level_label"] = frame["level"].map(catalog.LEVEL_NAMES)
    frame["opened"] = _local(frame["opened_at"])
    frame["tip"] = [f"#{r.id} {r.title}\n{r.type} {r.level_label}\n{r.status_label}，开设于 {r.opened}"
                    for r in frame.itertuples()]
    return frame


def incident(session: Session, viewer: Viewer, incident_id: int) -> dict:
    row = session.get(Incident, incident_id)
    if row is None:
        raise ValueError(f"事件 #{incident_id} 不存在")
    ensure_visible(viewer, row)
    return {c: getattr(row, c) for c in ("id", "type", "level", "title", "status", "commander", "opened_at",
                                         "closed_at", "lon", "lat", "notes", "grid_code", "district_code",
                                         "source_alert_id", "source_event_id", "version")} | {
        "status_label": catalog.INCIDENT_STATUSES.get(row.status, row.status),
        "level_label": catalog.LEVEL_NAMES.get(row.level, row.level),
        "opened": row.opened_at.astimezone(_tz()).strftime("%Y-%m-%d %H:%M"),
    }


def incident_log(session: Session, viewer: Viewer, incident_id: int) -> pd.DataFrame:
    incident(session, viewer, incident_id)
    rows = session.execute(select(IncidentLog.at, IncidentLog.actor, IncidentLog.kind, IncidentLog.message)
                           .where(IncidentLog.incident_id == incident_id).order_by(IncidentLog.at, IncidentLog.id)).all()
    frame = rows_frame(rows, columns=["at", "actor", "kind", "message"])
    frame["time"] = _local(frame["at"]) if len(frame) else []
    return frame


def incident_dispatches(session: Session, viewer: Viewer, incident_id: int) -> pd.DataFrame:
    """Dispatch rows of an incident with each unit's live status (active rows first)."""
    incident(session, viewer, incident_id)
    rows = session.execute(
        select(Dispatch.id, Dispatch.resource_id, Resource.name, Resource.kind, Dispatch.item, Dispatch.unit,
               Dispatch.quantity, Dispatch.used, Dispatch.status, Resource.status.label("unit_status"),
               Resource.incident_id, Resource.version, Resource.lon, Resource.lat, Dispatch.distance_km,
               Dispatch.eta_minutes, Dispatch.created_at)
        .join(Resource, Resource.id == Dispatch.resource_id)
        .where(Dispatch.incident_id == incident_id)
        .order_by(Dispatch.status, Dispatch.item.is_not(None), Dispatch.id)).all()
    frame = rows_frame(rows, columns=["dispatch_id", "resource_id", "name", "kind", "item", "unit", "quantity", "used",
                                        "status", "unit_status", "unit_incident_id", "version", "lon", "lat",
                                        "distance_km", "eta_minutes", "created_at"])
    if frame.empty:
        return frame.assign(unit_status_label=[], tip=[])
    # A unit's live status belongs to this incident only while it still serves it.
    mine = frame["unit_incident_id"] == incident_id
    is_stock = frame["item"].notna()
    frame["unit_status_label"] = [
        ("物资" if stock else catalog.status_label(st) if m else "已归建")
        for stock, st, m in zip(is_stock, frame["unit_status"], mine)]
    frame["tip"] = [f"{r.name}（{r.kind}）\n" + (f"{r.item} {int(r.quantity)}{r.unit or ''}" if stock else r.unit_status_label)
                    + f"\n距离 {r.distance_km:.1f} km，预计 {r.eta_minutes:.0f} 分钟"
                    for r, stock in zip(frame.itertuples(), is_stock)]
    return frame


def resources(session: Session, viewer: Viewer, region: str | None = None, kinds=None) -> pd.DataFrame:  # noqa: ANN001
    stmt = select(Resource.id, Resource.kind, Resource.name, Resource.status, Resource.lon, Resource.lat,
                  Resource.headcount, Resource.capacity, Resource.occupancy, Resource.incident_id, Resource.version,
                  Resource.district_code, Resource.equipment)
    if kinds:
        stmt = stmt.where(Resource.kind.in_(list(kinds)))
    stmt = _scoped(stmt, Resource, viewer, region).order_by(Resource.id)
    frame = rows_frame(session.execute(stmt).all(),
                         columns=["id", "kind", "name", "status", "lon", "lat", "headcount", "capacity", "occupancy",
                                  "incident_id", "version", "district_code", "equipment"])
    frame["status_label"] = frame["status"].map(catalog.RESOURCE_STATUSES)

    def tip(r) -> str:  # noqa: ANN001
        extra = f"，{int(r.headcount)} 人" if pd.notna(r.headcount) else ""
        if pd.notna(r.capacity):
            extra = f"，可容纳 {int(r.capacity)} 人"
        equip = "、".join(f"{k}×{v}" for k, v in (r.equipment or {}).items())
        return f"{r.name}\n{r.kind}：{r.status_label}{extra}" + (f"\n{equip}" if equip else "")

    frame["tip"] = [tip(r) for r in frame.itertuples()] if len(frame) else []
    return frame.drop(columns=["equipment"])


def inventory(session: Session, viewer: Viewer, region: str | None = None) -> pd.DataFrame:
    """Warehouse stock in scope: one row per warehouse and item, with free = quantity − reserved."""
    stmt = (select(Resource.id, Resource.name, InventoryItem.item, InventoryItem.unit, InventoryItem.quantity,
                   InventoryItem.reserved).join(InventoryItem, InventoryItem.resource_id == Resource.id))
    stmt = _scoped(stmt, Resource, viewer, region).order_by(Resource.id, InventoryItem.item)
    frame = rows_frame(session.execute(stmt).all(),
                         columns=["warehouse_id", "warehouse", "item", "unit", "quantity", "reserved"])
    frame["free"] = frame["quantity"] - frame["reserved"]
    return frame


def alert_proposals(session: Session, viewer: Viewer, region: str | None = None) -> pd.DataFrame:
    """Open sensor alerts that propose an incident and have none yet (sensors/ writes the proposal)."""
    stmt = select(Alert.id, Alert.message, Alert.opened_at, Alert.proposal, Alert.severity)\
        .where(Alert.status == "open", Alert.proposal_status == "proposed", Alert.incident_id.is_(None))
    stmt = _scoped(stmt, Alert, viewer, region).order_by(Alert.opened_at.desc()).limit(100)
    rows = session.execute(stmt).all()
    out = []
    for r in rows:
        p = r.proposal or {}
        out.append({"id": r.id, "message": r.message, "opened": r.opened_at, "severity": r.severity,
                    "proposed_type": p.get("incident_type"), "type": catalog.canonical_type(p.get("incident_type")),
                    "level": p.get("level"), "title": p.get("title")})
    frame = pd.DataFrame(out, columns=["id", "message", "opened", "severity", "proposed_type", "type", "level", "title"])
    if len(frame):
        frame["opened"] = _local(frame["opened"])
    return frame


def escalatable_events(session: Session, viewer: Viewer, region: str | None = None, limit: int = 50) -> pd.DataFrame:
    """Urgent grid events still open, newest first: the ones a commander may escalate to an incident."""
    linked = select(Incident.source_event_id).where(Incident.source_event_id.is_not(None))
    stmt = select(Event.id, Event.title, Event.category, Event.subcategory, Event.reported_at)\
        .where(Event.priority == "urgent", Event.status.not_in(["rejected", "closed"]), Event.id.not_in(linked))
    stmt = _scoped(stmt, Event, viewer, region).order_by(Event.reported_at.desc()).limit(limit)
    frame = rows_frame(session.execute(stmt).all(), columns=["id", "title", "category", "subcategory", "reported_at"])
    if len(frame):
        frame["reported"] = _local(frame["reported_at"])
    return frame


def click_regions(session: Session, viewer: Viewer, region: str, max_polygons: int = 1500) -> pd.DataFrame:
    """Polygons the map uses to turn a click into a location: the deepest level under `region` with at
    most `max_polygons` shapes (grids in a district, communities in a city…)."""
    ensure_region_visible(viewer, region)
    base = Region.code.startswith(region) if len(region) > 6 or not region.endswith("00") else \
        Region.city_code == region
    for level in ("grid", "community", "street", "district"):
        n = session.scalar(select(func.count()).select_from(Region).where(base, Region.level == level))
        if 0 < n <= max_polygons:
            rows = session.execute(select(Region.code, Region.name, Region.geometry, Region.centroid_lon,
                                          Region.centroid_lat).where(base, Region.level == level)
                                   .order_by(Region.code)).all()
            frame = rows_frame(rows, columns=["code", "name", "geometry", "lon", "lat"])
            frame["geometry"] = frame["geometry"].map(json.loads)
            frame["tip"] = frame["name"] + "\n点击在此开设事件"
            return frame
    return pd.DataFrame(columns=["code", "name", "geometry", "lon", "lat", "tip"])


def summary(session: Session, viewer: Viewer, region: str | None = None) -> dict:
    """Headline counts for the page: open incidents, units by status, free shelter places."""
    by_status = dict(session.execute(_scoped(select(Resource.status, func.count()), Resource, viewer, region)
                                     .where(Resource.kind != catalog.WAREHOUSE).group_by(Resource.status)).all())
    open_n = session.scalar(_scoped(select(func.count()).select_from(Incident), Incident, viewer, region)
                            .where(Incident.status != "closed"))
    shelter = session.execute(_scoped(select(func.coalesce(func.sum(Resource.capacity), 0),
                                             func.coalesce(func.sum(Resource.occupancy), 0)), Resource, viewer, region)
                              .where(Resource.kind == catalog.SHELTER, Resource.status != "out_of_service")).one()
    return {"open_incidents": open_n or 0, "units": by_status,
            "busy": sum(v for k, v in by_status.items() if k in ("dispatched", "en_route", "on_site", "returning")),
            "available": by_status.get("available", 0), "shelter_free": int(shelter[0]) - int(shelter[1])}


def region_bbox(session: Session, viewer: Viewer, code: str) -> tuple[float, float, float, float]:
    """The scope's bounding box (min lon, min lat, max lon, max lat) for the map's initial view."""
    from geo.hierarchy import get_region

    region = get_region(session, code, viewer)
    if region.bbox:
        return tuple(float(v) for v in region.bbox.split(","))  # type: ignore[return-value]
    return (region.centroid_lon - 0.2, region.centroid_lat - 0.2, region.centroid_lon + 0.2, region.centroid_lat + 0.2)


def coverage(session: Session, viewer: Viewer, code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-region aggregates one level below the scope, coverage-gap grids inside the scope)."""
    from emergency.coverage import grid_coverage, region_coverage

    ensure_region_visible(viewer, code)
    city = code[:4] + "00"
    level = "district" if len(code) == 6 and code.endswith("00") else "street"
    regions = region_coverage(session, city, level)
    grids = grid_coverage(session, city)
    if level == "street":  # the streets of a district, or the one street around a smaller scope
        regions = regions[[c.startswith(code) or code.startswith(c) for c in regions["region_code"]]]
    if not (len(code) == 6 and code.endswith("00")):
        grids = grids[grids["grid_code"].str.startswith(code)]
    gaps = grids[~grids["covered"]].copy()

    def km(v: float) -> str:
        return "无" if v == float("inf") else f"{v:.1f} km"

    gaps["tip"] = [f"{r.name}（覆盖缺口）\n常住人口 {r.population:,}\n最近消防站 {km(r.fire_km)}，医疗点 {km(r.medical_km)}，"
                   f"避难场所 {km(r.shelter_km)}" for r in gaps.itertuples()]
    return regions.reset_index(drop=True), gaps.reset_index(drop=True)
