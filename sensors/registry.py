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
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from sensors.metrics import KIND_ALIASES, KIND_NAMES, KINDS, IOT_DEVICES, metrics_for
from sensors.tabular import ImportFailed, RowError, parse_float, read_rows
from store.models.sensors import Sensor

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

# Column headers accepted in import files (Chinese or English) → field.
COLUMN_ALIASES = {
    "编号": "id", "传感器编号": "id", "站点编号": "id", "类型": "kind", "名称": "name", "站点名称": "name",
    "经度": "lon", "纬度": "lat", "上报间隔秒": "expected_interval_s", "上报间隔": "expected_interval_s",
    "水体类型": "water_body", "目标水质": "target_class", "水质目标": "target_class", "总氮参评": "assess_tn",
    "功能区": "zone", "声环境功能区": "zone", "警戒水位": "warning_level", "保证水位": "guarantee_level",
    "设备类型": "device", "参数": "params", "启用": "active",
}
_TRUE = {"1", "true", "yes", "y", "是", "启用", "t"}
_FALSE = {"0", "false", "no", "n", "否", "停用", "f"}


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
        codes={lvl: getattr(sensor, f"{lvl}_code") for lvl in ("city", "district", "street", "community", "grid")},
        lon=sensor.lon, lat=sensor.lat, active=bool(sensor.active),
    )


def load_index(session: Session, city_code: str | None = None) -> SensorIndex:
    stmt = select(Sensor)
    if city_code:
        stmt = stmt.where(Sensor.city_code == city_code)
    return SensorIndex({s.id: info_of(s) for s in session.execute(stmt).scalars()})


# -- validating one definition ------------------------------------------------------------------

def _bool(text: str, default: bool | None) -> bool | None:
    t = (text or "").strip().lower()
    if not t:
        return default
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise ValueError(f"无法识别的是/否取值 {text!r}")


def validate_params(kind: str, raw: dict) -> tuple[dict, list[str]]:
    """Kind-specific params from a row's text fields. Returns (params, error messages)."""
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
        body = WATER_BODIES.get((raw.get("water_body") or params.get("water_body") or "").strip().lower())
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
        try:
            tn = _bool(str(raw.get("assess_tn") or ""), None)
        except ValueError as exc:
            errors.append(f"总氮参评：{exc}")
            tn = None
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
            text = str(raw.get(key) or params.get(key) or "").strip()
            if text:
                value = parse_float(text)
                if value is None:
                    errors.append(f"{label}应为数字（米）")
                else:
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


def validate_row(line: int, raw: dict) -> tuple[SensorRow | None, list[RowError]]:
    errs: list[str] = []
    sid = (raw.get("id") or "").strip()
    if not ID_PATTERN.match(sid):
        errs.append("编号应为 1～40 位字母、数字、下划线、点或连字符")
    kind = KIND_ALIASES.get((raw.get("kind") or "").strip().lower())
    if kind is None:
        errs.append(f"类型应为 {'/'.join(KINDS)}（{'/'.join(KIND_NAMES.values())}）")
    name = (raw.get("name") or "").strip()
    if not name or len(name) > 100:
        errs.append("名称不能为空且不超过 100 字")
    lon, lat = parse_float(raw.get("lon", "")), parse_float(raw.get("lat", ""))
    if lon is None or lat is None or not (-180 <= lon <= 180 and -90 <= lat <= 90):
        errs.append("经度、纬度应为有效数字")
    interval_text = (raw.get("expected_interval_s") or "").strip()
    interval = DEFAULT_INTERVAL_S.get(kind or "", 3600)
    if interval_text:
        value = parse_float(interval_text)
        if value is None or value < 10 or value > 7 * 86400:
            errs.append("上报间隔应为 10 秒～7 天之间的秒数")
        else:
            interval = int(value)
    try:
        active = _bool(raw.get("active", ""), True)
    except ValueError as exc:
        errs.append(f"启用：{exc}")
        active = True
    params: dict = {}
    if kind:
        params, perrs = validate_params(kind, raw)
        errs.extend(perrs)
    if errs:
        return None, [RowError(line, e) for e in errs]
    return SensorRow(line, sid, kind, name, lon, lat, params, interval, bool(active)), []


# -- importing a file -------------------------------------------------------------------------

@dataclass
class SensorImportResult:
    created: int
    updated: int
    crs: str


def import_sensors(session: Session, engine: Engine, path: str | Path, crs: str = "wgs84",
                   locator=None) -> SensorImportResult:  # noqa: ANN001
    """Validate every row, convert coordinates to WGS-84, locate each sensor in the hierarchy, then
    insert new sensors and update existing ones — all in the caller's transaction, or nothing
    (ImportFailed lists every bad row)."""
    from geo.crs import normalize_crs, to_wgs84

    try:
        crs = normalize_crs(crs)
    except ValueError as exc:
        raise ImportFailed([RowError(0, str(exc))], what="传感器导入") from exc
    _header, raw_rows = read_rows(path, COLUMN_ALIASES)
    errors: list[RowError] = []
    rows: list[SensorRow] = []
    seen: dict[str, int] = {}
    for line, raw in raw_rows:
        row, errs = validate_row(line, raw)
        errors.extend(errs)
        if row is None:
            continue
        if row.id in seen:
            errors.append(RowError(line, f"编号 {row.id} 与第 {seen[row.id]} 行重复"))
            continue
        seen[row.id] = line
        rows.append(row)
    if not raw_rows:
        errors.append(RowError(0, "文件中没有数据行"))
    located: list[tuple[SensorRow, dict]] = []
    if rows:
        if locator is None:
            from geo.locate import get_locator

            locator = get_locator(engine)
        for row in rows:
            lon, lat = to_wgs84(row.lon, row.lat, crs)
            row.lon, row.lat = float(lon), float(lat)
            codes = locator.locate(row.lon, row.lat)
            if not codes:
                errors.append(RowError(row.line, f"位置（{row.lon:.6f}, {row.lat:.6f}）不在本市范围内，请检查坐标系（当前按 {crs}）"))
                continue
            located.append((row, codes))
    if errors:
        raise ImportFailed(sorted(errors, key=lambda e: e.line), what="传感器导入")
    existing = {s.id: s for s in session.execute(select(Sensor).where(Sensor.id.in_([r.id for r, _ in located]))).scalars()}
    created = updated = 0
    for row, codes in located:
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
    return SensorImportResult(created, updated, crs)
