"""Alert rules (sensors/alert_rules.yaml) → alerts → cases.

After every ingest batch, `evaluate_sensors` checks each rule for each sensor that changed:
- a rule fires when its signal breaches the threshold for `duration` consecutive periods (hours or
  days, with no gap) ending at the latest period with data;
- firing with no open alert for (rule, sensor) opens one: an Alert row (unique open_key, so two
  ingesters cannot both open it), a grid case through events.intake.create_event (source 传感器) —
  or, with `same_case_as`, the open case of the related rule — and, for rules with `incident`, an
  emergency incident proposal stored on the alert (Alert.proposal / proposal_status = "proposed");
- an open alert closes once the latest `clear_after` periods no longer breach; the case gets a note.
"""
from __future__ import annotations

import logging
import operator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

import settings
from standards import aqi as aqi_std
from standards import noise as noise_std
from standards import water as water_std
from sensors import assessment as A
from sensors.daily import local_midnight
from sensors.metrics import metric_label
from sensors.registry import SensorIndex, SensorInfo
from store import outbox
from store.models.sensors import Alert, Sensor, SensorDaily, SensorHourly
from store.frames import rows_frame
from store.region_codes import KEYED_LEVELS

log = logging.getLogger("sensors.alerts")
RULES_PATH = Path(__file__).resolve().parent / "alert_rules.yaml"
COMPARATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq}
SEVERITIES = ("一般", "较重", "严重")
SEVERITY_PRIORITY = {"一般": "normal", "较重": "urgent", "严重": "urgent"}


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    kind: str
    signal: str            # aqi_hourly / hourly / daily
    metric: str | None
    stat: str
    comparator: str
    threshold: object
    duration: int
    clear_after: int
    severity: str
    event: dict
    incident: dict | None = None
    device: str | None = None
    same_case_as: str | None = None

    @property
    def step(self) -> timedelta:
        return timedelta(days=1) if self.signal == "daily" else timedelta(hours=1)

    def unit_label(self) -> str:
        return "天" if self.signal == "daily" else "小时"


class RuleError(ValueError):
    pass


def parse_rules(doc: dict) -> list[Rule]:
    """Validate the YAML; RuleError names the offending rule (Chinese)."""
    rules: list[Rule] = []
    seen: set[str] = set()
    for raw in (doc or {}).get("rules") or []:
        rid = str(raw.get("id", "")).strip()
        where = f"告警规则 {rid or '（无 id）'}"
        if not rid or rid in seen:
            raise RuleError(f"{where}：id 为空或重复")
        seen.add(rid)
        signal = raw.get("signal")
        metric, stat = None, "mean"
        if signal == "aqi_hourly":
            kind_signal = "aqi_hourly"
        elif isinstance(signal, dict) and len(signal) == 1 and next(iter(signal)) in ("hourly", "daily"):
            kind_signal = next(iter(signal))
            spec = signal[kind_signal] or {}
            metric = spec.get("metric")
            stat = spec.get("stat", "mean")
            if not metric or stat not in ("mean", "max", "min"):
                raise RuleError(f"{where}：signal 需要 metric，stat 为 mean/max/min")
        else:
            raise RuleError(f"{where}：signal 应为 aqi_hourly、{{hourly: {{metric}}}} 或 {{daily: {{metric}}}}")
        if raw.get("comparator") not in COMPARATORS:
            raise RuleError(f"{where}：comparator 应为 {' '.join(COMPARATORS)}")
        threshold = raw.get("threshold")
        if not (isinstance(threshold, (int, float)) or (isinstance(threshold, dict) and len(threshold) == 1
                                                      and next(iter(threshold)) in ("param", "noise_limit", "target_class"))):
            raise RuleError(f"{where}：threshold 应为数字或 {{param|noise_limit|target_class: …}}")
        duration, clear_after = int(raw.get("duration", 1)), int(raw.get("clear_after", 1))
        if duration < 1 or clear_after < 1:
            raise RuleError(f"{where}：duration、clear_after 至少为 1")
        severity = raw.get("severity")
        if severity not in SEVERITIES:
            raise RuleError(f"{where}：severity 应为 {'/'.join(SEVERITIES)}")
        event = dict(raw.get("event") or {})
        if not event.get("category") or not event.get("subcategory"):
            raise RuleError(f"{where}：event 需要 category 和 subcategory")
        incident = raw.get("incident")
        if incident is not None and not (isinstance(incident, dict) and incident.get("type") and incident.get("level")):
            raise RuleError(f"{where}：incident 需要 type 和 level")
        rules.append(Rule(rid, str(raw.get("name") or rid), str(raw.get("kind")), kind_signal, metric, stat,
                          raw["comparator"], threshold, duration, clear_after, severity, event, incident,
                          raw.get("device"), raw.get("same_case_as")))
    ids = {r.id for r in rules}
    for r in rules:
        if r.same_case_as and r.same_case_as not in ids:
            raise RuleError(f"告警规则 {r.id}：same_case_as 指向不存在的规则 {r.same_case_as}")
    # Rules that others join first, so their case exists when the joining rule fires in the same pass.
    return sorted(rules, key=lambda r: r.same_case_as is not None)


@lru_cache(maxsize=4)
def load_rules(path: str | None = None) -> tuple[Rule, ...]:
    with open(path or RULES_PATH, encoding="utf-8") as fh:
        return tuple(parse_rules(yaml.safe_load(fh)))


def applies(rule: Rule, info: SensorInfo) -> bool:
    if rule.kind != info.kind:
        return False
    if rule.device and info.params.get("device") != rule.device:
        return False
    if isinstance(rule.threshold, dict):
        (key, arg), = rule.threshold.items()
        if key == "param" and info.params.get(arg) is None:
            return False
        if key == "noise_limit" and not info.params.get("zone"):
            return False
        if key == "target_class" and not info.params.get("target_class"):
            return False
    return True


def threshold_of(rule: Rule, info: SensorInfo) -> float:
    if not isinstance(rule.threshold, dict):
        return float(rule.threshold)
    (key, arg), = rule.threshold.items()
    if key == "param":
        return float(info.params[arg])
    if key == "noise_limit":
        return float(noise_std.limit(info.params["zone"], arg))
    return float(water_std.class_rank(info.params["target_class"]))


# -- signals ---------------------------------------------------------------------------------------

class Signals:
    """Every signal the rules need for a set of sensors, read with one query per table and computed
    for all stations at once (an ingest batch touches hundreds of stations)."""

    def __init__(self, session: Session, infos: list[SensorInfo], rules: tuple[Rule, ...], now: datetime) -> None:
        self.now = now
        hourly_rules = [r for r in rules if r.signal != "daily"]
        daily_rules = [r for r in rules if r.signal == "daily"]
        self.hours = max((r.duration + r.clear_after + 1 for r in hourly_rules), default=1)
        days = max((r.duration + r.clear_after + 1 for r in daily_rules), default=1)
        ids = [i.id for i in infos]
        top = now.replace(minute=0, second=0, microsecond=0)
        self.h_start = top - timedelta(hours=self.hours + 24)
        h = SensorHourly
        rows = session.execute(select(h.sensor_id, h.hour, h.metric, h.n, h.total, h.vmin, h.vmax, h.etotal).where(
            h.sensor_id.in_(ids), h.hour >= self.h_start, h.hour <= now)).all()
        frame = rows_frame(rows, columns=["sensor_id", "hour", "metric", "n", "total", "vmin", "vmax", "etotal"])
        if not frame.empty:
            frame["hour"] = pd.to_datetime(frame["hour"], utc=True)
            frame["mean"] = frame["total"] / frame["n"]
            frame["value"] = frame["mean"]
        self.hourly = {sid: part for sid, part in frame.groupby("sensor_id")} if not frame.empty else {}
        d = SensorDaily
        metrics = sorted({r.metric for r in daily_rules})
        self.daily: dict[tuple[str, str], pd.Series] = {}
        if metrics:
            first = local_midnight((now - timedelta(days=days + 1)).astimezone(A.TZ).date())
            for sid, metric, day, value in session.execute(select(d.sensor_id, d.metric, d.day, d.value).where(
                    d.sensor_id.in_(ids), d.metric.in_(metrics), d.day >= first, d.day <= now).order_by(d.day)):
                if value is not None:
                    self.daily.setdefault((sid, metric), {})[pd.Timestamp(day)] = value
        air = [i.id for i in infos if i.kind == "air"] if any(r.signal == "aqi_hourly" for r in rules) else []
        self.aqi = self._aqi(frame, air, top) if air else {}

    def _aqi(self, frame: pd.DataFrame, ids: list[str], top: datetime) -> dict[str, pd.Series]:
        """Hourly AQI of the last hours per air station; where the AQI is NA (HJ 633-2026 §5.3.1: an item
        missing, AQI ≤ 100) the largest sub-index stands in, so an alert can clear at such a station."""
        n_hours = self.hours + 25
        start = pd.Timestamp(top - timedelta(hours=n_hours - 1)).tz_convert(A.TZ)
        f = frame[["sensor_id", "hour", "metric", "value"]] if not frame.empty else frame
        grid = A.hour_grid(f, ids, start, n_hours, A.AIR_POLLUTANTS)
        inputs = A.hourly_inputs_grid(grid)
        out: dict[str, pd.Series] = {}
        for i, sid in enumerate(ids):
            values: dict = {}
            for k in range(n_hours - self.hours - 1, n_hours):
                if np.isnan(grid[i, k]).all():
                    continue
                at = (start + pd.Timedelta(hours=k)).tz_convert("UTC")
                conc = {key: float(arr[i, k]) for key, arr in inputs.items() if not np.isnan(arr[i, k])}
                res = aqi_std.hourly_aqi(conc, aqi_std.edition_for(at.to_pydatetime()))
                value = res.aqi if res.aqi is not None else (max(res.iaqi.values()) if res.iaqi else None)
                if value is not None:
                    values[at] = float(value)
            out[sid] = pd.Series(values, dtype=float)
        return out

    def series(self, rule: Rule, info: SensorInfo) -> pd.Series:
        """Values per period (index: period start, UTC), oldest first."""
        if rule.signal == "daily":
            return pd.Series(self.daily.get((info.id, rule.metric), {}), dtype=float).sort_index()
        if rule.signal == "aqi_hourly":
            return self.aqi.get(info.id, pd.Series(dtype=float))
        part = self.hourly.get(info.id)
        if part is None:
            return pd.Series(dtype=float)
        part = part[part["metric"] == rule.metric]
        column = {"mean": "mean", "max": "vmax", "min": "vmin"}[rule.stat]
        return pd.Series(part[column].to_numpy(float), index=pd.DatetimeIndex(part["hour"]), dtype=float).sort_index()


def trailing_run(series: pd.Series, predicate, step: timedelta) -> int:  # noqa: ANN001
    """How many of the latest periods, contiguous in time, satisfy `predicate`."""
    run, prev = 0, None
    for ts, value in zip(reversed(series.index), reversed(series.values)):
        if prev is not None and prev - ts != step:
            break
        if not predicate(value):
            break
        run += 1
        prev = ts
    return run


@dataclass
class Decision:
    fire: bool
    clear: bool
    value: float | None
    at: datetime | None
    threshold: float
    run: int = 0
    notes: list[str] = field(default_factory=list)


def decide(rule: Rule, series: pd.Series, threshold: float) -> Decision:
    """Pure: does the rule fire, or clear, on this series?"""
    if series.empty:
        return Decision(False, False, None, None, threshold)
    cmp = COMPARATORS[rule.comparator]
    breach = lambda v: cmp(v, threshold)  # noqa: E731
    run = trailing_run(series, breach, rule.step)
    calm = trailing_run(series, lambda v: not breach(v), rule.step)
    latest_at = series.index[-1].to_pydatetime()
    return Decision(run >= rule.duration, calm >= rule.clear_after, float(series.iloc[-1]), latest_at, threshold, run)


# -- opening and closing -----------------------------------------------------------------------------

def _fmt(value: float | None, rule: Rule) -> str:
    if value is None:
        return "—"
    if rule.signal == "aqi_hourly":
        return f"AQI {value:.0f}"
    if rule.metric == "water_class":
        return f"{water_std.CLASSES[int(value) - 1]}类"
    return f"{metric_label(rule.metric or '')} {value:g}"


def _threshold_text(rule: Rule, d: Decision) -> str:
    if rule.metric == "water_class":
        return f"目标 {water_std.CLASSES[int(d.threshold) - 1]}类"
    return f"阈值 {d.threshold:g}"


def _actor() -> str:
    return str(settings.get_settings().get("sensors", {}).get("alert_actor", "sensor-alerts"))


def open_case(session: Session, rule: Rule, sensor: Sensor, alert: Alert, now: datetime) -> int | None:
    """Open the grid case for an alert through the events module (system channel, source 传感器)."""
    # The case side of an alert crosses into the events domain (see .importlinter); imported where it
    # is used, so reading and assessing sensors never loads the case workflow.
    from events import intake

    ev = rule.event
    description = (f"{alert.message}\n责任部门：{ev.get('department', '—')}\n"
                   f"告警规则：{rule.name}（{rule.id}），等级：{rule.severity}。本案件由传感器告警自动生成。")
    event = intake.create_event(
        session, source="传感器", category=ev["category"], subcategory=ev["subcategory"],
        title=f"【{rule.severity}告警】{sensor.name}：{rule.name}"[:200], description=description,
        lon=sensor.lon, lat=sensor.lat, crs="wgs84",
        priority=ev.get("priority") or SEVERITY_PRIORITY[rule.severity],
        source_id=f"alert-{alert.id}", reported_at=alert.opened_at, actor=None,
        codes={lv: getattr(sensor, f"{lv}_code") for lv in KEYED_LEVELS},
        now=max(now, alert.opened_at),
    )
    return event.id


def note_case(session: Session, event_id: int, text: str, at: datetime) -> None:
    """Add a note to an alert's case without changing its state or version (events.workflow.add_note,
    system channel, audited)."""
    # Imported where it is used, like open_case's intake: the same crossing into the events domain.
    from events import workflow

    workflow.add_note(session, event_id, text, actor=f"system:{_actor()}", at=at)


def _open(session: Session, rule: Rule, info: SensorInfo, d: Decision, now: datetime) -> Alert | None:
    sensor = session.get(Sensor, info.id)
    unit = rule.unit_label()
    message = (f"{sensor.name}：{rule.name}，{_fmt(d.value, rule)}（{_threshold_text(rule, d)}），"
               f"已连续 {d.run} {unit}")
    alert = Alert(rule_id=rule.id, rule_name=rule.name, sensor_id=info.id, severity=rule.severity, status="open",
                  opened_at=d.at or now, message=message, value=d.value, open_key=f"{rule.id}|{info.id}",
                  last_breach_at=d.at)
    alert.set_region(info.codes)
    if rule.incident:
        alert.proposal = {"incident_type": rule.incident["type"], "level": str(rule.incident["level"]),
                          "title": f"{sensor.name}{rule.name}", "lon": sensor.lon, "lat": sensor.lat,
                          "reason": message, "rule_id": rule.id, "sensor_id": info.id,
                          "district_code": info.codes.get("district")}
        alert.proposal_status = "proposed"
    try:
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except Exception:  # noqa: BLE001 - unique open_key: another writer opened it first
        log.info("告警已由其他进程开启：%s %s", rule.id, info.id)
        return None
    joined = None
    if rule.same_case_as:
        joined = session.execute(select(Alert.event_id).where(
            Alert.open_key == f"{rule.same_case_as}|{info.id}", Alert.event_id.is_not(None))).scalar_one_or_none()
    if joined is not None:
        alert.event_id = joined
        note_case(session, joined, f"告警升级：{message}（{rule.severity}）", alert.opened_at)
    else:
        alert.event_id = open_case(session, rule, sensor, alert, now)
    session.flush()
    outbox.record_object(session, "alert.open", alert, actor=f"system:{_actor()}", at=now)  # same transaction
    return alert


def _close(session: Session, alert: Alert, rule: Rule, d: Decision) -> None:
    at = d.at
    alert.status = "closed"
    alert.closed_at = at
    alert.open_key = None
    alert.close_message = f"{_fmt(d.value, rule)}，已恢复正常（{_threshold_text(rule, d)}），告警解除"
    if alert.proposal_status == "proposed":
        alert.proposal_status = "dismissed"
    session.flush()
    outbox.record_object(session, "alert.close", alert, actor=f"system:{_actor()}")  # same transaction
    if alert.event_id is not None:
        note_case(session, alert.event_id, f"传感器告警解除：{alert.close_message}", at)


def evaluate_sensors(session: Session, sensor_ids: set[str], index: SensorIndex, now: datetime,
                     rules: tuple[Rule, ...] | None = None) -> tuple[int, int]:
    """Evaluate every applicable rule for the given sensors. Returns (opened, closed)."""
    rules = rules if rules is not None else load_rules()
    opened = closed = 0
    if not sensor_ids:
        return 0, 0
    open_alerts = {(a.rule_id, a.sensor_id): a for a in session.execute(
        select(Alert).where(Alert.status == "open", Alert.sensor_id.in_(sorted(sensor_ids)))).scalars()}
    infos = [index.get(sid) for sid in sorted(sensor_ids) if index.get(sid) is not None]
    signals = Signals(session, infos, rules, now)
    for info in infos:
        sid = info.id
        for rule in rules:
            if not applies(rule, info):
                continue
            d = decide(rule, signals.series(rule, info), threshold_of(rule, info))
            current = open_alerts.get((rule.id, sid))
            if current is None and d.fire:
                alert = _open(session, rule, info, d, now)
                if alert is not None:
                    open_alerts[(rule.id, sid)] = alert
                    opened += 1
            elif current is not None and d.fire:
                current.value, current.last_breach_at = d.value, d.at
            elif current is not None and d.clear:
                _close(session, current, rule, d)
                del open_alerts[(rule.id, sid)]
                closed += 1
    return opened, closed
