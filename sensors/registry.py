"""The sensor registry: what a valid sensor definition is, importing definitions from CSV/Excel,
and the in-memory index the ingesters validate readings against.

Kinds and their params (stored in `Sensor.params`):
- air    — none; metrics SO2, NO2, PM10, PM2.5, CO, O3.
- water  — water_body: river / lake / reservoir; target_class: I..V; assess_tn: whether TN counts in
           the class (default: no for rivers, yes for lakes and reservoirs — the national practice).
- noise  — zone: GB 3096 functional zone 0 / 1 / 2 / 3 / 4a / 4b.
- hydro  — warning_level, guarantee_level (m; 警戒水位 ≤ 保证水位), optional; a rain gauge has none.
- iot    — device: manhole (智慧井盖: tilt, cover_open) or streetlight (智慧路灯: lamp_on, power).
Any sensor may carry `ranges` ({metric: [lo, hi]}) to add or narrow its accepted metrics.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from geo.crs import normalize_crs, to_wgs84
from sensors.metrics import KIND_ALIASES, KIND_NAMES, KINDS, IOT_DEVICES, metrics_for
from store.models.sensors import Sensor
from store.region_codes import KEYED_LEVELS
from tabular import (YES_NO, BadValue, CellError, Choice, Column, Contract, Float, Int, Row, TabularError, Text,
                     read_table, stages)

ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,40}$")  # goes into an MQTT topic: no '/', '+', '#'
DEFAULT_INTERVAL_S = {"air": 3600, "water": 14400, "noise": 3600, "hydro": 3600, "iot": 3600}
WATER_BODIES = {"river": "river", "河流": "river", "河": "river", "lake": "lake", "湖泊": "lake", "湖": "lake",
                "reservoir": "reservoir", "水库": "reservoir"}
WATER_BODY_NAMES = {"river": "河流", "lake": "湖泊", "reservoir": "水库"}
CLASSES = ("I", "II", "III", "IV", "V")
_CLASS_ALIASES = {**{c: c for c in CLASSES}, "1": "I", "2": "II", "3": "III", "4": "IV", "5": "V",
                  "Ⅰ": "I", "Ⅱ": "II", "Ⅲ": "III", "Ⅳ": "IV", "Ⅴ": "V"}
NOISE_ZONES = ("0", "1", "2", "3", "4a", "4b")
IOT_ALIASES = {"manhole": "manhole", "井盖": "manhole", "智慧井盖": "manhole",
               "streetlight": "streetlight", "路灯": "streetlight", "智慧路灯": "streetlight"}

# The columns of a sensor registry file (Chinese or English headers); kind-specific ones are checked
# against the kind in validate_params.
SENSORS = Contract("传感器导入", (
    Column("id", "编号", Text(), required=True, aliases=("传感器编号", "站点编号")),
    Column("kind", "类型", Choice(KIND_ALIASES, f"{'/'.join(KINDS)}（{'/'.join(KIND_NAMES.values())}）"), required=True),
    Column("name", "名称", Text(max_length=100), required=True, aliases=("站点名称",)),
    Column("lon", "经度", Float(-180, 180), required=True),
    Column("lat", "纬度", Float(-90, 90), required=True),
    Column("expected_interval_s", "上报间隔秒", Int(10, 7 * 86400), aliases=("上报间隔",)),
    Column("water_body", "水体类型"),
    Column("target_class", "目标水质", aliases=("水质目标",)),
    Column("assess_tn", "总氮参评", YES_NO),
    Column("zone", "功能区", aliases=("声环境功能区",)),
    Column("warning_level", "警戒水位", Float()),
    Column("guarantee_level", "保证水位", Float()),
    Column("device", "设备类型"),
    Column("params", "参数"),
    Column("active", "启用", YES_NO),
))
_LEVEL = Float()


@dataclass(frozen=True)
class SensorInfo:
    """What validation and rollups need to know about a sensor, without touching the database."""

    id: str
    kind: str
    params: dict
    ranges: dict[str, tuple[float, float]]
    codes: dict[str, str | None]
    lon: float
    lat: float
    active: bool = True


@dataclass
class SensorIndex:
    sensors: dict[str, SensorInfo] = field(default_factory=dict)

    def get(self, sensor_id: str) -> SensorInfo | None:
        return self.sensors.get(sensor_id)


def info_of(sensor: Sensor) -> SensorInfo:
    params = dict(sensor.params or {})
    return SensorInfo(
        id=sensor.id, kind=sensor.kind, params=params, ranges=metrics_for(sensor.kind, params),
        codes={lvl: getattr(sensor, f"{lvl}_code") for lvl in KEYED_LEVELS},
        lon=sensor.lon, lat=sensor.lat, active=bool(sensor.active),
    )


def load_index(session: Session, city_code: str | None = None) -> SensorIndex:
    stmt = select(Sensor)
    if city_code:
        stmt = stmt.where(Sensor.city_code == city_code)
    return SensorIndex({s.id: info_of(s) for s in session.execute(stmt).scalars()})


# -- validating one definition ------------------------------------------------------------------

def validate_params(kind: str, raw: dict) -> tuple[dict, list[str]]:
    """Kind-specific params from a row's cells (typed by SENSORS) and its JSON 参数 column.
    Returns (params, error messages)."""
    errors: list[str] = []
    params: dict = {}
    extra = (raw.get("params") or "").strip()
    if extra:
        try:
            loaded = json.loads(extra)
            if not isinstance(loaded, dict):
                raise ValueError
            params.update(loaded)
        except ValueError:
            errors.append("参数列应为 JSON 对象，例如 {\"ranges\": {\"power\": [0, 400]}}")
    if kind == "water":
        body = WATER_BODIES.get(str(raw.get("water_body") or params.get("water_body") or "").strip().lower())
        if body is None:
            errors.append("水体类型应为 河流/湖泊/水库（river/lake/reservoir）")
        else:
            params["water_body"] = body
        target = _CLASS_ALIASES.get(str(raw.get("target_class") or params.get("target_class") or "").strip().upper()
                                    .replace("类", ""))
        if target is None:
            errors.append("目标水质应为 I～V 类")
        else:
            params["target_class"] = target
        tn = raw.get("assess_tn")
        if tn is None:
            tn = params.get("assess_tn", body in ("lake", "reservoir"))
        params["assess_tn"] = bool(tn)
    elif kind == "noise":
        zone = str(raw.get("zone") or params.get("zone") or "").strip().lower().replace("类", "")
        if zone not in NOISE_ZONES:
            errors.append("声环境功能区应为 0、1、2、3、4a、4b 之一")
        else:
            params["zone"] = zone
    elif kind == "hydro":
        levels = {}
        for key, label in (("warning_level", "警戒水位"), ("guarantee_level", "保证水位")):
            value = raw.get(key)
            if value is None and params.get(key) not in (None, ""):
                try:
                    value = _LEVEL.parse(params[key])
                except BadValue:
                    errors.append(f"{label}应为数字（米）")
            if value is not None:
                levels[key] = value
        if "warning_level" in levels and "guarantee_level" in levels \
                and levels["guarantee_level"] < levels["warning_level"]:
            errors.append("保证水位不应低于警戒水位")
        params.update(levels)
    elif kind == "iot":
        device = IOT_ALIASES.get(str(raw.get("device") or params.get("device") or "").strip().lower())
        if device is None:
            errors.append(f"设备类型应为 {'/'.join(IOT_DEVICES)}（井盖/路灯）")
        else:
            params["device"] = device
    ranges = params.get("ranges")
    if ranges is not None:
        ok = isinstance(ranges, dict) and all(
            isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v) and v[0] <= v[1]
            for v in ranges.values())
        if not ok:
            errors.append("ranges 应为 {指标: [下限, 上限]}")
    return params, errors


@dataclass
class SensorRow:
    line: int
    id: str
    kind: str
    name: str
    lon: float
    lat: float
    params: dict
    expected_interval_s: int
    active: bool


def validate_row(row: Row) -> tuple[SensorRow | None, list[CellError]]:
    """The sensor a row defines, or its problems beyond the cell types SENSORS already checked."""
    v = row.values
    errs: list[CellError] = []
    if v["id"] is not None and not ID_PATTERN.match(v["id"]):
        errs.append(CellError(row.line, "应为 1～40 位字母、数字、下划线、点或连字符", SENSORS.label("id")))
    params: dict = {}
    if v["kind"]:
        params, perrs = validate_params(v["kind"], v)
        errs += [CellError(row.line, e) for e in perrs]
    if errs or not row.ok:
        return None, errs
    interval = v["expected_interval_s"] or DEFAULT_INTERVAL_S.get(v["kind"], 3600)
    active = True if v["active"] is None else v["active"]
    return SensorRow(row.line, v["id"], v["kind"], v["name"], v["lon"], v["lat"], params, interval, active), []


# -- importing a file -------------------------------------------------------------------------

@dataclass
class SensorImportResult:
    created: int
    updated: int
    crs: str
    file: str = ""  # how the file was read, e.g. "CSV，编码 GBK"
    rows: int = 0


def import_sensors(session: Session, engine: Engine, path: str | Path, crs: str = "wgs84",  # noqa: ANN001
                   locator=None, name: str | None = None, check_only: bool = False,  # noqa: ANN001
                   progress: Callable[[int, int], None] | None = None) -> SensorImportResult:
    """Validate every row, convert coordinates to WGS-84, locate each sensor in the hierarchy, then
    insert new sensors and update existing ones — all in the caller's transaction, or nothing
    (TabularError lists every bad row). `path` may also be bytes or an upload, named by `name`.
    `check_only`: every check and the counts an import would have, nothing written.
    `progress(done, total)` follows the reading, the rows located, then (importing) written."""
    try:
        crs = normalize_crs(crs)
    except ValueError as exc:
        raise TabularError([CellError(0, str(exc))], SENSORS.what) from exc
    reading, checking, writing = stages(progress, 1, 1, 0 if check_only else 1)
    table = read_table(path, SENSORS, name=name, progress=reading)
    errors: list[CellError] = []
    rows: list[SensorRow] = []
    seen: dict[str, int] = {}
    for raw in table.rows:
        row, errs = validate_row(raw)
        errors.extend(errs)
        if row is None:
            continue
        if row.id in seen:
            errors.append(CellError(row.line, f"编号 {row.id} 与第 {seen[row.id]} 行重复", SENSORS.label("id")))
            continue
        seen[row.id] = row.line
        rows.append(row)
    located: list[tuple[SensorRow, dict]] = []
    if rows:
        if locator is None:
            # Only an import locates: the MQTT ingester, which uses this module's index, need not load shapely.
            from geo.locate import get_locator

            locator = get_locator(engine)
        for done, row in enumerate(rows, start=1):
            if checking is not None:
                checking(done, len(rows))
            lon, lat = to_wgs84(row.lon, row.lat, crs)
            row.lon, row.lat = float(lon), float(lat)
            codes = locator.locate(row.lon, row.lat)
            if not codes:
                errors.append(CellError(row.line, f"位置（{row.lon:.6f}, {row.lat:.6f}）不在本市范围内，"
                                                  f"请检查坐标系（当前按 {crs}）"))
                continue
            located.append((row, codes))
    table.raise_if_any(errors)
    existing = {s.id: s for s in session.execute(select(Sensor).where(Sensor.id.in_([r.id for r, _ in located]))).scalars()}
    if check_only:
        updated = sum(1 for row, _ in located if row.id in existing)
        return SensorImportResult(len(located) - updated, updated, crs, table.describe(), len(table.rows))
    created = updated = 0
    for done, (row, codes) in enumerate(located, start=1):
        if writing is not None:
            writing(done, len(located))
        sensor = existing.get(row.id)
        if sensor is None:
            sensor = Sensor(id=row.id)
            session.add(sensor)
            created += 1
        else:
            updated += 1
        sensor.kind, sensor.name, sensor.lon, sensor.lat = row.kind, row.name, row.lon, row.lat
        sensor.params, sensor.expected_interval_s, sensor.active = row.params, row.expected_interval_s, row.active
        sensor.set_region(codes)
    session.flush()
    return SensorImportResult(created, updated, crs, table.describe(), len(table.rows))
