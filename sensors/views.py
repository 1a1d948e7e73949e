"""The sensors read face: every read the 生态环境 page, the overview's sensor layer, the urgent list and
the wall make of stations, their readings, area air figures and alerts.

`SensorViews(session, viewer)` (or `SensorViews.open(engine, viewer)` in a page) starts each read from
`self.scoped(...)`, a SELECT already restricted to the viewer's zone; `region` narrows further to a region
inside the zone (None = the whole zone). Per-station tables without region columns (hourly and latest
values) are read only for the ids of stations such a scoped read returned.

Two reads are not of region-keyed rows and say their restriction explicitly:
- sensor_area_daily holds city and district rows keyed by `region_code` (area AQI is assessed at those
  two levels only, HJ 663 城市点位平均). `_areas` reads only rows of areas inside the viewer's zone: a
  viewer whose zone lies below a district has no area figures (a street inside a city or district
  viewer's zone shows its district's, and says so).
- the collectors' status and the system-wide station counts (`ingest_status_rows`,
  `sensor_counts_system`) belong to no region: they require the `import_data` capability (auth.roles;
  administrators and duty officers, who run the imports and watch the feeds).

Area (district/city) AQI: per hour, the mean of the area's stations' hourly means per pollutant, then
assessed like one station; daily area figures come from sensor_area_daily. Scopes below district level
use the figures of their district when the viewer's zone holds it (`area_code`).
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
from sqlalchemy import Select, func, select

from auth.roles import can
from geo.views import RegionViews
from sensors import assessment as A
from sensors import status as S
from sensors.daily import hourly_frame, local_midnight
from sensors.freshness import is_offline, offline_factor
from sensors.metrics import AIR_POLLUTANTS, KIND_NAMES, metric_label
from sensors.registry import WATER_BODY_NAMES
from standards import air_limits
from standards import aqi as aqi_std
from standards import noise as noise_std
from standards import water as water_std
from store import region_codes
from store.frames import rows_frame
from store.models import Event, Region
from store.models.sensors import Alert, IngestStatus, Sensor, SensorAreaDaily, SensorDaily, SensorHourly, SensorLatest
from store.period import Period
from store.scope import PermissionDenied, ReadFace, ensure_visible

SYSTEM_CAPABILITY = "import_data"
STATION_COLUMNS = ["id", "kind", "name", "lon", "lat", "color", "offline", "level", "value", "edition", "tip",
                   "district_code", "street_code", "community_code", "grid_code", "last_seen_at"]
ALERT_COLUMNS = ["id", "opened_at", "severity", "rule", "sensor", "sensor_id", "message", "event_id", "case_state",
                 "proposal", "proposal_status", "grid_code"]


def _area_of(code: str) -> str:
    """The area (sensor_area_daily region) whose figures stand for `code`: itself at city or district
    level, else its district."""
    if region_codes.level_of(code) in ("city", "district"):
        return code
    return region_codes.ancestor_at(code, "district") or code


def _utc_now(now: datetime | None) -> datetime:
    return now.astimezone(timezone.utc) if now else datetime.now(timezone.utc)


def _today(today: date | None) -> date:
    return today or datetime.now(A.TZ).date()


def _instant(value: date | datetime) -> datetime:
    """A datetime as given; a date as its local midnight."""
    return value if isinstance(value, datetime) else local_midnight(value)


def _day(value: date | datetime) -> date:
    """A date as given; a datetime as its local date (a naive one as written)."""
    if isinstance(value, datetime):
        return value.astimezone(A.TZ).date() if value.tzinfo else value.date()
    return value


class SensorViews(ReadFace):
    """Stations, their state and series, area air figures, water and noise compliance, open alerts."""

    # ---------------------------------------------------------------- restrictions
    def _sensors(self, region: str | None, kinds: tuple[str, ...] | None = None) -> list[Sensor]:
        """Active stations in `region` (default the zone), by id."""
        stmt = self.within(self.scoped(Sensor), Sensor, region).where(Sensor.active.is_(True))
        if kinds:
            stmt = stmt.where(Sensor.kind.in_(kinds))
        return list(self.session.scalars(stmt.order_by(Sensor.id)))

    def _areas(self, *columns) -> Select:  # noqa: ANN002 - mapped columns
        """SELECT on sensor_area_daily restricted to areas inside the viewer's zone (see the module
        docstring)."""
        d = SensorAreaDaily
        return select(*(columns or (d,))).where(region_codes.code_inside(d.region_code, self.viewer.zone_code))

    def area_code(self, region: str | None = None) -> str:
        """The region whose air figures (area AQI, the env_* indicators) stand for `region`: its district
        (itself at city or district level) when that lies in the viewer's zone, else `region` itself."""
        code = self.region(region)
        area = _area_of(code)
        return area if region_codes.is_within(area, self.viewer.zone_code) else code

    def _require_system(self) -> None:
        if not can(self.viewer.role, SYSTEM_CAPABILITY):
            raise PermissionDenied("无权查看采集系统状态（需要数据导入权限）")

    # ---------------------------------------------------------------- current state / map
    def _current_air(self, sensors: list[Sensor], now: datetime, edition: str | None) -> dict[str, dict]:
        """Latest hourly AQI per air station (its newest hour with data within the last 24 h), computed for
        all stations at once on an hour grid (the 2012 report's moving means need the 24 h before)."""
        ids = [s.id for s in sensors if s.kind == "air"]
        if not ids:
            return {}
        top = now.replace(minute=0, second=0, microsecond=0)
        n_hours = 48
        start = pd.Timestamp(top - timedelta(hours=n_hours - 1)).tz_convert(A.TZ)
        frame = hourly_frame(self.session, ids, start.to_pydatetime(), top + timedelta(hours=1), AIR_POLLUTANTS)
        grid = A.hour_grid(frame, ids, start, n_hours, AIR_POLLUTANTS)
        inputs = A.hourly_inputs_grid(grid)
        has = ~np.isnan(grid).all(axis=2)
        out: dict[str, dict] = {}
        for i, sid in enumerate(ids):
            hours = np.flatnonzero(has[i, 24:]) + 24  # the newest hour within the last 24
            if not len(hours):
                continue
            k = int(hours[-1])
            hour = start + pd.Timedelta(hours=k)
            conc = {key: float(arr[i, k]) for key, arr in inputs.items() if not np.isnan(arr[i, k])}
            ed = aqi_std.edition_for(hour.to_pydatetime(), edition)
            res = aqi_std.hourly_aqi(conc, ed)
            out[sid] = {"hour": hour, "aqi": res.aqi, "category": res.category, "color": res.color,
                        "primary": res.primary, "edition": ed, "values": {p: conc.get(p) for p in AIR_POLLUTANTS}}
        return out

    def _latest(self, ids: list[str]) -> dict[str, dict[str, tuple]]:
        """{sensor id: {metric: (ts, value)}} for stations a scoped read returned."""
        out: dict[str, dict[str, tuple]] = {}
        if not ids:
            return out
        for sid, metric, ts, value in self.session.execute(
                select(SensorLatest.sensor_id, SensorLatest.metric, SensorLatest.ts, SensorLatest.value)
                .where(SensorLatest.sensor_id.in_(ids))):
            out.setdefault(sid, {})[metric] = (ts, value)
        return out

    def latest_reading_time(self, metric: str, region: str | None = None, kind: str | None = None) -> datetime | None:
        """The newest reading time of `metric` among the active stations in `region` (default the zone), or
        None: the moment a 最新值 figure such as 实时PM2.5 stands for, so a screen can say how old it is."""
        stations = self.within(self.scoped(Sensor), Sensor, region).where(Sensor.active.is_(True))
        if kind:
            stations = stations.where(Sensor.kind == kind)
        ids = stations.with_only_columns(Sensor.id).scalar_subquery()
        return self.session.scalar(select(func.max(SensorLatest.ts))
                                   .where(SensorLatest.metric == metric, SensorLatest.sensor_id.in_(ids)))

    def station_map(self, region: str | None = None, now: datetime | None = None, *, edition: str | None = None,
                    kinds: tuple[str, ...] | None = None) -> pd.DataFrame:
        """One row per station in scope: id, kind, name, lon, lat, color (hex), offline, level (text),
        value, edition, tip, district_code, grid_code, last_seen_at — what sensors.layers.station_layer draws."""
        now = _utc_now(now)
        sensors = self._sensors(region, kinds)
        air = self._current_air(sensors, now, edition)
        latest = self._latest([s.id for s in sensors if s.kind != "air"])
        factor = offline_factor()
        rows = []
        for s in sensors:
            offline = is_offline(s.last_seen_at, s.expected_interval_s, now, factor)
            state = S.current_state(s.kind, s.params, latest.get(s.id, {}), air.get(s.id))
            rows.append({"id": s.id, "kind": s.kind, "name": s.name, "lon": s.lon, "lat": s.lat,
                         "color": S.OFFLINE_COLOR if offline else state.color, "offline": offline,
                         "level": state.level, "value": state.value, "edition": state.edition,
                         "tip": S.tip(s.name, s.kind, s.params, state, offline, s.last_seen_at),
                         "district_code": s.district_code, "street_code": s.street_code,
                         "community_code": s.community_code, "grid_code": s.grid_code,
                         "last_seen_at": s.last_seen_at})
        return pd.DataFrame(rows, columns=STATION_COLUMNS)

    def sensor_counts(self, region: str | None = None, now: datetime | None = None) -> dict[str, dict]:
        """{kind: {total, online, offline}} of the active stations in scope."""
        now = _utc_now(now)
        factor = offline_factor()
        out: dict[str, dict] = {}
        for s in self._sensors(region):
            c = out.setdefault(s.kind, {"total": 0, "online": 0, "offline": 0})
            c["total"] += 1
            c["offline" if is_offline(s.last_seen_at, s.expected_interval_s, now, factor) else "online"] += 1
        return out

    def sensor_counts_system(self, now: datetime | None = None) -> dict[str, dict]:
        """{kind: {total, online, offline}} over every active station of the system, whatever the zone
        (the operator's status display); requires the import_data capability."""
        self._require_system()
        now = _utc_now(now)
        factor = offline_factor()
        out: dict[str, dict] = {}
        for kind, seen, interval in self.session.execute(
                select(Sensor.kind, Sensor.last_seen_at, Sensor.expected_interval_s).where(Sensor.active.is_(True))):
            c = out.setdefault(kind, {"total": 0, "online": 0, "offline": 0})
            c["total"] += 1
            c["offline" if is_offline(seen, interval, now, factor) else "online"] += 1
        return out

    def ingest_status_rows(self) -> list[dict]:
        """The collectors' counters (one row per MQTT client); requires the import_data capability."""
        self._require_system()
        return [{"name": r.name, "connected": r.connected, "updated_at": r.updated_at, "started_at": r.started_at,
                 "counters": dict(r.counters or {})}
                for r in self.session.scalars(select(IngestStatus).order_by(IngestStatus.name))]

    # ---------------------------------------------------------------- area AQI
    def area_hourly_aqi(self, region: str | None = None, start: datetime | None = None,
                        end: datetime | None = None, *, edition: str | None = None) -> pd.DataFrame:
        """Hourly AQI over [start, end) (default the last 48 hours) of the area standing for `region`:
        its district when the viewer may read it, else `region` itself. Per hour, the mean of the stations'
        hourly concentrations per pollutant, assessed like one station."""
        code = self.area_code(region)
        end = _instant(end) if end is not None else _utc_now(None) + timedelta(hours=1)
        start = _instant(start) if start is not None else end - timedelta(hours=49)
        h = SensorHourly
        stmt = self.within(self.scoped(h, h.hour, h.metric, func.avg(h.total / h.n)), h, code).where(
            h.kind == "air", h.metric.in_(AIR_POLLUTANTS), h.hour >= start - timedelta(hours=24),
            h.hour < end).group_by(h.hour, h.metric)
        frame = rows_frame(self.session.execute(stmt).all(), columns=["hour", "metric", "value"])
        if frame.empty:
            return A.hourly_aqi(frame)
        return A.hourly_aqi(frame, edition, since=start)

    def area_daily(self, region: str | None = None, start: date | None = None, end: date | None = None, *,
                   same_basis: bool = False) -> pd.DataFrame:
        """Daily AQI of the area (city/district; deeper scopes: their district) with PM2.5 daily mean,
        start … end inclusive (default the last 30 days). Columns: day, aqi, edition, category, color,
        primary, pm25."""
        area = self.area_code(region)
        end = _day(end) if end is not None else _today(None)
        start = _day(start) if start is not None else end - timedelta(days=29)
        metric = "AQI_2026" if same_basis else "AQI"
        d = SensorAreaDaily
        rows = self.session.execute(self._areas(d.day, d.metric, d.value, d.edition, d.detail).where(
            d.region_code == area, d.metric.in_((metric, "PM2.5")), d.day >= local_midnight(start),
            d.day <= local_midnight(end)).order_by(d.day)).all()
        recs: dict = {}
        for day, m, value, ed, detail in rows:
            key = day.astimezone(A.TZ).date()
            rec = recs.setdefault(key, {"day": key, "aqi": None, "edition": None, "category": None, "color": None,
                                        "primary": [], "pm25": None})
            if m == "PM2.5":
                rec["pm25"] = value
            else:
                rec.update(aqi=None if value is None else int(value), edition=ed,
                           category=(detail or {}).get("category"), color=(detail or {}).get("color"),
                           primary=(detail or {}).get("primary") or [])
        return pd.DataFrame(list(recs.values()),
                            columns=["day", "aqi", "edition", "category", "color", "primary", "pm25"])

    def air_summary(self, region: str | None = None, period: Period | None = None, today: date | None = None, *,
                    same_basis: bool = False) -> dict:
        """The period up to today: good and valid AQI days (优良 = standards.aqi.is_good_day), the PM2.5
        annual limit in force (GB 3095) and `area_code`, the region the air figures refer to (also where
        the env_* indicators are computed for this scope)."""
        code = self.region(region)
        today = _today(today)
        p = (period or Period.current_month(today)).clipped_to(today)
        frame = self.area_daily(code, p.start, p.end, same_basis=same_basis)
        valid = frame["aqi"].dropna() if not frame.empty else pd.Series(dtype=float)
        good = int(aqi_std.is_good_day(valid).sum())
        editions = sorted({e for e in frame["edition"].dropna()}) if not frame.empty else []
        return {"period": p, "good": good, "valid": int(len(valid)),
                "pm25_target": air_limits.limit("PM2.5", "annual", p.end),
                "pm25_stage": air_limits.stage_of(p.end).get("standard"), "editions": editions,
                "area_code": self.area_code(code)}

    def district_ranking(self, region: str | None = None, period: Period | None = None, today: date | None = None,
                         *, same_basis: bool = False) -> pd.DataFrame:
        """The districts of the scope's city inside the viewer's zone, by mean AQI, good-day ratio and
        PM2.5 over the period up to today."""
        code = self.region(region)
        today = _today(today)
        p = (period or Period.current_month(today)).clipped_to(today)
        cols = ["code", "name", "aqi_mean", "good_ratio", "days", "pm25_mean", "editions"]
        city = region_codes.ancestor_at(code, "city")
        if city is None:
            return pd.DataFrame(columns=cols)
        metric = "AQI_2026" if same_basis else "AQI"
        d = SensorAreaDaily
        rows = self.session.execute(self._areas(d.region_code, d.metric, d.value, d.edition).where(
            d.city_code == city, d.level == "district", d.metric.in_((metric, "PM2.5")),
            d.day >= local_midnight(p.start), d.day <= local_midnight(p.end))).all()
        frame = rows_frame(rows, columns=["code", "metric", "value", "edition"])
        # Names of the districts just read (and only those: `_areas` restricted them to the zone).
        names = dict(self.session.execute(select(Region.code, Region.name).where(
            Region.code.in_(sorted(set(frame["code"]))))).all()) if not frame.empty else {}
        out = []
        for rc, part in frame.groupby("code"):
            aqi = part[part["metric"] == metric]["value"].dropna()
            pm = part[part["metric"] == "PM2.5"]["value"].dropna()
            out.append({"code": rc, "name": names.get(rc, rc),
                        "aqi_mean": float(aqi.mean()) if len(aqi) else None,
                        "good_ratio": float(aqi_std.is_good_day(aqi).mean()) if len(aqi) else None,
                        "days": int(len(aqi)), "pm25_mean": float(pm.mean()) if len(pm) else None,
                        "editions": "、".join(sorted(aqi_std.edition_name(e) for e in part["edition"].dropna().unique()))})
        # Districts of the city in the zone without any daily figure still belong in the ranking: listed
        # last, with no figures, rather than silently missing.
        listed = {r["code"] for r in out}
        for rc, name in self.session.execute(select(Region.code, Region.name).where(
                Region.level == "district", region_codes.code_inside(Region.code, city),
                region_codes.code_inside(Region.code, self.viewer.zone_code)).order_by(Region.code)).all():
            if rc not in listed:
                out.append({"code": rc, "name": name, "aqi_mean": None, "good_ratio": None, "days": 0,
                            "pm25_mean": None, "editions": ""})
        res = pd.DataFrame(out, columns=cols)
        return res.sort_values(["aqi_mean", "code"], na_position="last").reset_index(drop=True)

    # ---------------------------------------------------------------- water / noise
    def water_stations(self, region: str | None = None, period: Period | None = None,
                       today: date | None = None) -> pd.DataFrame:
        """Each water station's latest daily class in the period against its target class."""
        sensors = {s.id: s for s in self._sensors(region, ("water",))}
        if not sensors:
            return pd.DataFrame(columns=["id", "name", "water_body", "target", "class", "meets", "worst", "day"])
        today = _today(today)
        p = (period or Period.current_month(today)).clipped_to(today)
        d = SensorDaily
        rows = self.session.execute(self.scoped(d, d.sensor_id, d.day, d.value, d.detail).where(
            d.sensor_id.in_(list(sensors)), d.metric == "water_class", d.day >= local_midnight(p.start),
            d.day <= local_midnight(p.end)).order_by(d.sensor_id, d.day)).all()
        latest: dict[str, tuple] = {}
        for sid, day, value, detail in rows:
            latest[sid] = (day, value, detail or {})
        out = []
        for sid, s in sensors.items():
            p_ = s.params or {}
            day, _, detail = latest.get(sid, (None, None, {}))
            out.append({"id": sid, "name": s.name, "water_body": WATER_BODY_NAMES.get(p_.get("water_body"), "—"),
                        "target": p_.get("target_class"), "class": detail.get("overall"),
                        "meets": detail.get("meets_target"), "worst": "、".join(detail.get("worst_items") or []),
                        "day": day.astimezone(A.TZ).date() if day else None})
        return pd.DataFrame(out)

    def noise_compliance(self, region: str | None = None, period: Period | None = None,
                         today: date | None = None) -> pd.DataFrame:
        """Per noise station: zone, energy-mean day/night Leq, days assessed and compliance rates."""
        sensors = {s.id: s for s in self._sensors(region, ("noise",))}
        cols = ["id", "name", "zone", "limit_day", "limit_night", "leq_day", "leq_night", "day_rate", "night_rate",
                "days"]
        if not sensors:
            return pd.DataFrame(columns=cols)
        today = _today(today)
        p = (period or Period.current_month(today)).clipped_to(today)
        d = SensorDaily
        rows = self.session.execute(self.scoped(d, d.sensor_id, d.metric, d.value, d.detail).where(
            d.sensor_id.in_(list(sensors)), d.metric.in_(("Leq_day", "Leq_night")),
            d.day >= local_midnight(p.start), d.day <= local_midnight(p.end))).all()
        frame = rows_frame(rows, columns=["sid", "metric", "value", "detail"])
        out = []
        for sid, s in sensors.items():
            zone = (s.params or {}).get("zone", "2")
            rec = {"id": sid, "name": s.name, "zone": zone, "limit_day": noise_std.limit(zone, "day"),
                   "limit_night": noise_std.limit(zone, "night")}
            part = frame[frame["sid"] == sid]
            for which in ("day", "night"):
                sub = part[part["metric"] == f"Leq_{which}"]
                rec[f"leq_{which}"] = round(A.energy_mean(sub["value"]), 1) if len(sub) else None
                rec[f"{which}_rate"] = (float(np.mean([bool((x or {}).get("ok")) for x in sub["detail"]]))
                                        if len(sub) else None)
            rec["days"] = int((part["metric"] == "Leq_day").sum())
            out.append(rec)
        return pd.DataFrame(out, columns=cols)

    # ---------------------------------------------------------------- alerts
    def open_alerts(self, region: str | None = None, limit: int = 200) -> pd.DataFrame:
        """Open alerts in scope, newest first, with the emergency proposal they carry and their case
        (`event_id`, and `case_state`, the state code the events module names) when the viewer may see
        that case — department staff see only their department's."""
        cases = self.scoped(Event, Event.id, Event.status).subquery()
        stmt = (self.within(self.scoped(Alert, Alert, Sensor.name, cases.c.id, cases.c.status), Alert, region)
                .join(Sensor, Sensor.id == Alert.sensor_id).outerjoin(cases, cases.c.id == Alert.event_id)
                .where(Alert.status == "open").order_by(Alert.opened_at.desc()).limit(limit))
        out = []
        for alert, sname, event_id, estatus in self.session.execute(stmt).all():
            out.append({"id": alert.id, "opened_at": alert.opened_at.astimezone(A.TZ), "severity": alert.severity,
                        "rule": alert.rule_name or alert.rule_id, "sensor": sname, "sensor_id": alert.sensor_id,
                        "message": alert.message, "event_id": event_id, "case_state": estatus,
                        "proposal": (f"{alert.proposal['incident_type']}（{alert.proposal['level']}级）"
                                     if alert.proposal else None), "proposal_status": alert.proposal_status,
                        "grid_code": alert.grid_code})
        return pd.DataFrame(out, columns=ALERT_COLUMNS)

    def incident_proposals(self, region: str | None = None, limit: int = 100) -> list[dict]:
        """Open alerts whose rule proposes an emergency incident that has none yet, newest first, with the
        proposal's type, level and title as the alert rule wrote them."""
        stmt = self.scoped(Alert, Alert.id, Alert.message, Alert.opened_at, Alert.proposal, Alert.severity,
                           Alert.grid_code)\
            .where(Alert.status == "open", Alert.proposal_status == "proposed", Alert.incident_id.is_(None))
        stmt = self.within(stmt, Alert, region).order_by(Alert.opened_at.desc()).limit(limit)
        return [{"id": r.id, "message": r.message, "opened_at": r.opened_at, "severity": r.severity,
                 "incident_type": (r.proposal or {}).get("incident_type"), "level": (r.proposal or {}).get("level"),
                 "title": (r.proposal or {}).get("title"), "grid_code": r.grid_code}
                for r in self.session.execute(stmt).all()]

    # ---------------------------------------------------------------- one station
    def _station(self, sensor_id: str) -> Sensor:
        sensor = self.session.scalars(self.scoped(Sensor).where(Sensor.id == sensor_id)).one_or_none()
        if sensor is None:
            found = self.session.get(Sensor, sensor_id)
            if found is not None:
                ensure_visible(self.viewer, found)  # raises: the scoped read left it out
            raise LookupError(f"站点 {sensor_id} 不存在")
        return sensor

    def station_detail(self, sensor_id: str, start: datetime | None = None, end: datetime | None = None, *,
                       edition: str | None = None) -> dict:
        """A station's hourly series (and, for air, hourly AQI) over [start, end) (default the last 7 days)
        and its exceedance periods."""
        sensor = self._station(sensor_id)
        end = _instant(end) if end is not None else _utc_now(None) + timedelta(hours=1)
        start = _instant(start) if start is not None else end - timedelta(days=7, hours=1)
        p = sensor.params or {}
        pad = timedelta(hours=24) if sensor.kind == "air" else timedelta(0)
        frame = hourly_frame(self.session, [sensor_id], start - pad, end)
        series = frame[frame["hour"] >= pd.Timestamp(start)].copy()
        series["hour"] = pd.to_datetime(series["hour"], utc=True).dt.tz_convert(A.TZ)
        series["label"] = series["metric"].map(metric_label)
        out = {"sensor": sensor, "series": series, "aqi": None, "exceed": pd.DataFrame(), "editions": []}
        if sensor.kind == "air":
            aqi = A.hourly_aqi(frame, edition, since=start)
            out["aqi"] = aqi
            out["editions"] = sorted(aqi["edition"].dropna().unique()) if not aqi.empty else []
            if not aqi.empty:
                flags = ~aqi_std.is_good_day(aqi["aqi"].fillna(0))
                out["exceed"] = _runs(aqi["hour"], flags, aqi["aqi"], f"AQI>{aqi_std.GOOD_DAY_MAX_AQI}（超标）",
                                      timedelta(hours=1))
        elif sensor.kind == "noise" and not series.empty:
            zone = p.get("zone", "2")
            leq = series[series["metric"] == "Leq"]
            lim = [noise_std.limit(zone, noise_std.period_of(h.to_pydatetime())) for h in leq["hour"]]
            out["exceed"] = _runs(leq["hour"], leq["value"].to_numpy() > np.array(lim), leq["value"],
                                  "超过功能区限值", timedelta(hours=1))
        elif sensor.kind == "hydro" and p.get("warning_level") is not None and not series.empty:
            lvl = series[series["metric"] == "water_level"]
            out["exceed"] = _runs(lvl["hour"], lvl["value"] > p["warning_level"], lvl["value"], "超警戒水位",
                                  timedelta(hours=1))
        elif sensor.kind == "water":
            d = SensorDaily
            rows = self.session.execute(self.scoped(d, d.day, d.value, d.detail).where(
                d.sensor_id == sensor_id, d.metric == "water_class", d.day >= start, d.day < end)
                .order_by(d.day)).all()
            if rows and p.get("target_class"):
                days = pd.Series([pd.Timestamp(r[0]).tz_convert(A.TZ) for r in rows])
                vals = pd.Series([r[1] for r in rows], dtype=float)
                out["exceed"] = _runs(days, vals > water_std.class_rank(p["target_class"]), vals, "劣于目标类别",
                                      timedelta(days=1))
        return out

    # ---------------------------------------------------------------- map context, pickers
    def scope_outlines(self, region: str | None = None) -> list[dict]:
        """GeoJSON geometries of the scope's child regions (or the scope itself), for map context. Regions
        are not region-keyed rows: read through the geo face, which restricts them to the zone."""
        drawn = RegionViews(self.session, self.viewer).drawn_regions(self.region(region))
        return [json.loads(r.geometry) for r in drawn if r.geometry]

    def station_options(self, region: str | None = None) -> list[tuple[str, str]]:
        """(id, "name（kind）") of the active stations in scope, for a picker."""
        return [(s.id, f"{s.name}（{KIND_NAMES[s.kind]}）") for s in self._sensors(region)]


def _runs(times, flags, values, label: str, step: timedelta) -> pd.DataFrame:  # noqa: ANN001
    """Contiguous runs where `flags` holds: start, end (exclusive), periods, peak."""
    times = list(pd.Series(times).reset_index(drop=True))
    flags = list(pd.Series(flags).reset_index(drop=True))
    values = list(pd.Series(values).reset_index(drop=True))
    runs, cur = [], None
    for t, f, v in zip(times, flags, values):
        if f and cur is not None and t - cur["_last"] == step:
            cur["_last"], cur["periods"] = t, cur["periods"] + 1
            cur["peak"] = max(cur["peak"], float(v))
        elif f:
            cur = {"start": t, "_last": t, "periods": 1, "peak": float(v), "what": label}
            runs.append(cur)
        else:
            cur = None
    for r in runs:
        r["end"] = r.pop("_last") + step
    return pd.DataFrame(runs, columns=["start", "end", "periods", "peak", "what"])
