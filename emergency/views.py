"""The emergency read face: every read the 应急指挥 page, the overview map and the urgent list make.

`EmergencyViews(session, viewer)` (or `EmergencyViews.open(engine, viewer)` in a page) starts each read
from `self.scoped(...)`, a SELECT already restricted to the viewer's zone; `region` narrows further to a
region inside the zone (None = the whole zone). Frames carry Chinese labels and a `tip` text for map
tooltips; times are shown in the configured local zone (Asia/Shanghai).
"""
from __future__ import annotations

import json

import pandas as pd
from sqlalchemy import func, select

from emergency import catalog
from emergency.coverage import grid_coverage, region_coverage
from emergency.dispatch import Proposal, propose
from emergency.plans import load_plans
from geo.views import RegionViews
from store.frames import rows_frame
from store.models import Dispatch, Incident, IncidentLog, InventoryItem, Region, Resource
from store.period import local_tz
from store.region_codes import ancestor_at, code_inside, is_within, level_of, subtree_prefix
from store.scope import ReadFace, ensure_visible

INCIDENT_FIELDS = ("id", "type", "level", "title", "status", "commander", "opened_at", "closed_at", "lon", "lat",
                   "notes", "grid_code", "district_code", "source_alert_id", "source_event_id", "version")


def _local(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True).dt.tz_convert(local_tz()).dt.strftime("%m-%d %H:%M")


def _km(v: float) -> str:
    return "无" if v == float("inf") else f"{v:.1f} km"


class EmergencyViews(ReadFace):
    """Incidents, their log and dispatches, resources, stock, coverage and the map's click regions."""

    # ---------------------------------------------------------------- incidents
    def incidents(self, region: str | None = None, *, include_closed: bool = False, limit: int = 200) -> pd.DataFrame:
        """Incidents in scope, open ones first then newest first; with the number of active dispatches."""
        active = (select(Dispatch.incident_id, func.count().label("n")).where(Dispatch.status == "active")
                  .group_by(Dispatch.incident_id).subquery())
        stmt = self.scoped(Incident, Incident.id, Incident.type, Incident.level, Incident.title, Incident.status,
                           Incident.commander, Incident.opened_at, Incident.closed_at, Incident.lon, Incident.lat,
                           Incident.district_code, Incident.grid_code, Incident.source_alert_id,
                           Incident.source_event_id, func.coalesce(active.c.n, 0).label("active"))\
            .outerjoin(active, active.c.incident_id == Incident.id)
        if not include_closed:
            stmt = stmt.where(Incident.status != "closed")
        stmt = self.within(stmt, Incident, region).order_by(
            (Incident.status == "closed"), Incident.opened_at.desc(), Incident.id.desc()).limit(limit)
        frame = rows_frame(self.session.execute(stmt).all(),
                           columns=["id", "type", "level", "title", "status", "commander", "opened_at", "closed_at",
                                    "lon", "lat", "district_code", "grid_code", "source_alert_id", "source_event_id",
                                    "active"])
        if frame.empty:
            return frame.assign(status_label=[], level_label=[], opened=[], tip=[])
        frame["status_label"] = frame["status"].map(catalog.INCIDENT_STATUSES)
        frame["level_label"] = frame["level"].map(catalog.LEVEL_NAMES)
        frame["opened"] = _local(frame["opened_at"])
        frame["tip"] = [f"#{r.id} {r.title}\n{r.type} {r.level_label}\n{r.status_label}，开设于 {r.opened}"
                        for r in frame.itertuples()]
        return frame

    def incident(self, incident_id: int) -> dict:
        """One incident's fields with its Chinese labels; PermissionDenied outside the viewer's zone."""
        row = self.session.scalars(self.scoped(Incident).where(Incident.id == incident_id)).one_or_none()
        if row is None:
            self._missing(incident_id)
        return {c: getattr(row, c) for c in INCIDENT_FIELDS} | {
            "status_label": catalog.INCIDENT_STATUSES.get(row.status, row.status),
            "level_label": catalog.LEVEL_NAMES.get(row.level, row.level),
            "opened": row.opened_at.astimezone(local_tz()).strftime("%Y-%m-%d %H:%M"),
        }

    def _missing(self, incident_id: int) -> None:
        """Why a scoped read found no incident: not there (LookupError) or outside the zone (PermissionDenied)."""
        row = self.session.get(Incident, incident_id)
        if row is not None:
            ensure_visible(self.viewer, row)  # raises: the scoped read left it out
        raise LookupError(f"事件 #{incident_id} 不存在")

    def incident_log(self, incident_id: int) -> pd.DataFrame:
        """The incident's log, oldest first. Log rows carry no region codes: they are read only for an
        incident the viewer may see (`incident` checks)."""
        self.incident(incident_id)
        rows = self.session.execute(
            select(IncidentLog.at, IncidentLog.actor, IncidentLog.kind, IncidentLog.message)
            .where(IncidentLog.incident_id == incident_id).order_by(IncidentLog.at, IncidentLog.id)).all()
        frame = rows_frame(rows, columns=["at", "actor", "kind", "message"])
        frame["time"] = _local(frame["at"]) if len(frame) else []
        return frame

    def incident_dispatches(self, incident_id: int) -> pd.DataFrame:
        """Dispatch rows of an incident the viewer may see, with each unit's live status (active rows
        first). Only units and warehouses inside the viewer's zone are listed: a district sees its own
        part of an incident the city sent outside units to."""
        self.incident(incident_id)
        stmt = self.scoped(Resource, Dispatch.id, Dispatch.resource_id, Resource.name, Resource.kind, Dispatch.item,
                           Dispatch.unit, Dispatch.quantity, Dispatch.used, Dispatch.status,
                           Resource.status.label("unit_status"), Resource.incident_id, Resource.version,
                           Resource.lon, Resource.lat, Dispatch.distance_km, Dispatch.eta_minutes, Dispatch.created_at)
        rows = self.session.execute(
            stmt.join_from(Dispatch, Resource, Resource.id == Dispatch.resource_id)
            .where(Dispatch.incident_id == incident_id)
            .order_by(Dispatch.status, Dispatch.item.is_not(None), Dispatch.id)).all()
        frame = rows_frame(rows, columns=["dispatch_id", "resource_id", "name", "kind", "item", "unit", "quantity",
                                          "used", "status", "unit_status", "unit_incident_id", "version", "lon", "lat",
                                          "distance_km", "eta_minutes", "created_at"])
        if frame.empty:
            return frame.assign(unit_status_label=[], tip=[])
        # A unit's live status belongs to this incident only while it still serves it.
        mine = frame["unit_incident_id"] == incident_id
        is_stock = frame["item"].notna()
        frame["unit_status_label"] = [
            ("物资" if stock else catalog.status_label(st) if m else "已归建")
            for stock, st, m in zip(is_stock, frame["unit_status"], mine)]
        frame["tip"] = [f"{r.name}（{r.kind}）\n"
                        + (f"{r.item} {int(r.quantity)}{r.unit or ''}" if stock else r.unit_status_label)
                        + f"\n距离 {r.distance_km:.1f} km，预计 {r.eta_minutes:.0f} 分钟"
                        for r, stock in zip(frame.itertuples(), is_stock)]
        return frame

    def escalated_event_ids(self, region: str | None = None) -> set[int]:
        """Ids of grid events already escalated to an incident in scope (an event escalates once)."""
        stmt = self.scoped(Incident, Incident.source_event_id).where(Incident.source_event_id.is_not(None))
        return set(self.session.scalars(self.within(stmt, Incident, region)))

    def proposal(self, incident_id: int, *, plan_key: str | None = None) -> Proposal:
        """The one-click dispatch proposal for an incident in scope: the plan `plan_key` ("类型.级别"),
        else the incident's own type and level; units and stock searched inside the viewer's zone."""
        self.incident(incident_id)
        plan = None
        if plan_key is not None:
            plans = load_plans()
            if plan_key not in plans:
                raise ValueError(f"没有调派预案“{plan_key}”（config.toml [emergency.plans]）")
            plan = plans[plan_key]
        return propose(self.session, incident_id, plan, viewer=self.viewer)

    # ---------------------------------------------------------------- resources and stock
    def resources(self, region: str | None = None, *, kinds=None) -> pd.DataFrame:  # noqa: ANN001 - iterable of kinds
        """Resources in scope (optionally of `kinds`), by id, with status label and tooltip."""
        stmt = self.scoped(Resource, Resource.id, Resource.kind, Resource.name, Resource.status, Resource.lon,
                           Resource.lat, Resource.headcount, Resource.capacity, Resource.occupancy,
                           Resource.incident_id, Resource.version, Resource.district_code, Resource.grid_code,
                           Resource.equipment)
        if kinds:
            stmt = stmt.where(Resource.kind.in_(list(kinds)))
        stmt = self.within(stmt, Resource, region).order_by(Resource.id)
        frame = rows_frame(self.session.execute(stmt).all(),
                           columns=["id", "kind", "name", "status", "lon", "lat", "headcount", "capacity", "occupancy",
                                    "incident_id", "version", "district_code", "grid_code", "equipment"])
        frame["status_label"] = frame["status"].map(catalog.RESOURCE_STATUSES)
        # A unit inside the zone may serve an incident outside it (the city sent it): that one is not named.
        serving = [int(i) for i in frame["incident_id"].dropna().unique()]
        if serving:
            visible = set(self.session.scalars(self.scoped(Incident, Incident.id).where(Incident.id.in_(serving))))
            frame["incident_id"] = frame["incident_id"].where(frame["incident_id"].isin(visible))

        def tip(r) -> str:  # noqa: ANN001 - a frame row
            extra = f"，{int(r.headcount)} 人" if pd.notna(r.headcount) else ""
            if pd.notna(r.capacity):
                extra = f"，可容纳 {int(r.capacity)} 人"
            equip = "、".join(f"{k}×{v}" for k, v in (r.equipment or {}).items())
            return f"{r.name}\n{r.kind}：{r.status_label}{extra}" + (f"\n{equip}" if equip else "")

        frame["tip"] = [tip(r) for r in frame.itertuples()] if len(frame) else []
        return frame.drop(columns=["equipment"])

    def inventory(self, region: str | None = None) -> pd.DataFrame:
        """Warehouse stock in scope: one row per warehouse and item, with free = quantity − reserved."""
        stmt = self.scoped(Resource, Resource.id, Resource.name, InventoryItem.item, InventoryItem.unit,
                           InventoryItem.quantity, InventoryItem.reserved)\
            .join(InventoryItem, InventoryItem.resource_id == Resource.id)
        stmt = self.within(stmt, Resource, region).order_by(Resource.id, InventoryItem.item)
        frame = rows_frame(self.session.execute(stmt).all(),
                           columns=["warehouse_id", "warehouse", "item", "unit", "quantity", "reserved"])
        frame["free"] = frame["quantity"] - frame["reserved"]
        return frame

    def summary(self, region: str | None = None) -> dict:
        """Headline counts for the page: open incidents, units by status, free shelter places."""
        def res(*columns):  # noqa: ANN202 - a scoped, narrowed select on resources
            return self.within(self.scoped(Resource, *columns), Resource, region)

        by_status = dict(self.session.execute(res(Resource.status, func.count())
                                              .where(Resource.kind != catalog.WAREHOUSE)
                                              .group_by(Resource.status)).all())
        open_n = self.session.scalar(self.within(self.scoped(Incident, func.count(Incident.id)), Incident, region)
                                     .where(Incident.status != "closed"))
        shelter = self.session.execute(res(func.coalesce(func.sum(Resource.capacity), 0),
                                           func.coalesce(func.sum(Resource.occupancy), 0))
                                       .where(Resource.kind == catalog.SHELTER,
                                              Resource.status != "out_of_service")).one()
        return {"open_incidents": open_n or 0, "units": by_status,
                "busy": sum(v for k, v in by_status.items() if k in catalog.BUSY_STATUSES),
                "available": by_status.get("available", 0), "shelter_free": int(shelter[0]) - int(shelter[1])}

    # ---------------------------------------------------------------- the map's geography
    def region_bbox(self, region: str | None = None) -> tuple[float, float, float, float]:
        """The scope's bounding box (min lon, min lat, max lon, max lat) for the map's initial view."""
        row = RegionViews(self.session, self.viewer).get_region(region)
        if row.bbox:
            return tuple(float(v) for v in row.bbox.split(","))  # type: ignore[return-value]
        return (row.centroid_lon - 0.2, row.centroid_lat - 0.2, row.centroid_lon + 0.2, row.centroid_lat + 0.2)

    def click_regions(self, region: str | None = None, *, max_polygons: int = 1500) -> pd.DataFrame:
        """Polygons the map uses to turn a click into a location: the deepest level under the region with
        at most `max_polygons` shapes (grids in a district, communities in a city…). Regions are not
        fact rows; the restriction is the region itself, checked to lie inside the viewer's zone."""
        code = self.region(region)
        base = code_inside(Region.code, code)
        for level in ("grid", "community", "street", "district"):
            n = self.session.scalar(select(func.count()).select_from(Region).where(base, Region.level == level))
            if 0 < n <= max_polygons:
                rows = self.session.execute(
                    select(Region.code, Region.name, Region.geometry, Region.centroid_lon, Region.centroid_lat)
                    .where(base, Region.level == level).order_by(Region.code)).all()
                frame = rows_frame(rows, columns=["code", "name", "geometry", "lon", "lat"])
                frame["geometry"] = frame["geometry"].map(json.loads)
                frame["tip"] = frame["name"] + "\n点击在此开设事件"
                return frame
        return pd.DataFrame(columns=["code", "name", "geometry", "lon", "lat", "tip"])

    def coverage(self, region: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(per-region aggregates one level below a city or district, else of the region itself;
        coverage-gap grids inside the region). Coverage is a city's planning measure over its grids and
        facilities (emergency.coverage); the restriction is the region, checked to lie inside the
        viewer's zone, and nothing outside it is returned."""
        code = self.region(region)
        level = level_of(code)
        # Coverage is computed per city. A province is no city: no grid has it as its city code, so
        # its frames come back empty (with their columns), as the page expects.
        city = ancestor_at(code, "city") or code
        by = {"province": "district", "city": "district", "district": "street"}.get(level, level)
        regions = region_coverage(self.session, city, by)
        regions = regions[[is_within(c, code) for c in regions["region_code"]]]
        grids = grid_coverage(self.session, city)
        if level not in ("province", "city"):
            grids = grids[grids["grid_code"].str.startswith(subtree_prefix(code))]
        # The nearest facilities' ids may lie outside the zone; the distances say what the page needs.
        gaps = grids[~grids["covered"]].drop(columns=["fire_id", "medical_id", "shelter_id"], errors="ignore")
        gaps["tip"] = [f"{r.name}（覆盖缺口）\n常住人口 {r.population:,}\n最近消防站 {_km(r.fire_km)}，"
                       f"医疗点 {_km(r.medical_km)}，避难场所 {_km(r.shelter_km)}" for r in gaps.itertuples()]
        return regions.reset_index(drop=True), gaps.reset_index(drop=True)
