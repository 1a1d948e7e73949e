"""One reading and the checks every channel (MQTT, CSV/Excel) applies before it is stored.

Rejection reasons are stable codes (counted by the ingester, stored in quarantined_readings.reason as
"<code>: <Chinese explanation>").
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sensors.registry import SensorIndex

REASONS = {
    "malformed": "消息不是有效的 JSON 对象",
    "bad_payload": "消息缺少字段或字段类型错误",
    "topic_mismatch": "主题中的传感器编号与消息不一致",
    "unknown_sensor": "未登记的传感器",
    "inactive_sensor": "传感器已停用",
    "unknown_metric": "该传感器不报送此指标",
    "bad_value": "数值不是有效数字",
    "out_of_range": "数值超出有效范围",
    "bad_timestamp": "时间格式错误",
    "naive_timestamp": "时间缺少时区",
    "future_timestamp": "时间晚于当前时间过多",
    "db_error": "数据库拒绝写入",
}


@dataclass(frozen=True)
class Reading:
    sensor_id: str
    ts: datetime  # tz-aware, UTC
    metric: str
    value: float


class Rejected(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail

    @property
    def message(self) -> str:
        base = REASONS.get(self.code, self.code)
        return f"{base}：{self.detail}" if self.detail else base

    @property
    def reason(self) -> str:
        """Text for quarantined_readings.reason (≤ 200 chars)."""
        return f"{self.code}: {self.message}"[:200]


def parse_timestamp(text, now: datetime, future_tolerance_s: float) -> datetime:  # noqa: ANN001
    """ISO 8601 with an explicit zone ("2026-11-25T10:00:00+08:00" or "...Z") → aware UTC datetime.

    A timestamp without a zone is refused: guessing Beijing or UTC would put the reading in the wrong
    hour (and the wrong AQI day) for one of the two kinds of devices that send them."""
    if not isinstance(text, str) or not text.strip():
        raise Rejected("bad_timestamp", repr(text)[:60])
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError:
        raise Rejected("bad_timestamp", text[:60]) from None
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise Rejected("naive_timestamp", text[:60])
    ts = ts.astimezone(timezone.utc)
    if ts > now + timedelta(seconds=future_tolerance_s):
        raise Rejected("future_timestamp", text[:60])
    return ts


def check_value(index: SensorIndex, sensor_id: str, metric: str, value, ts: datetime) -> Reading:  # noqa: ANN001
    """A Reading, or Rejected with the reason."""
    info = index.get(sensor_id)
    if info is None:
        raise Rejected("unknown_sensor", sensor_id[:40])
    if not info.active:
        raise Rejected("inactive_sensor", sensor_id)
    bounds = info.ranges.get(metric)
    if bounds is None:
        raise Rejected("unknown_metric", f"{sensor_id} / {str(metric)[:30]}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise Rejected("bad_value", f"{metric}={value[:30]!r}") from None
        else:
            raise Rejected("bad_value", f"{metric}={str(value)[:30]!r}")
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise Rejected("bad_value", f"{metric}={value}")
    lo, hi = bounds
    if not lo <= value <= hi:
        raise Rejected("out_of_range", f"{metric}={value:g}，有效范围 {lo:g}～{hi:g}")
    return Reading(sensor_id, ts, metric, value)
