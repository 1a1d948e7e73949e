"""The MQTT payload: parsing and validating one message into readings and rejections.

Topic:   city/<city_code>/sensors/<sensor_id>/readings
Payload: UTF-8 JSON object
    {"sensor_id": "AIR-440902-01",
     "ts": "2026-11-25T10:00:00+08:00",          # ISO 8601 WITH a zone (+08:00 or Z): the
                                                 # measurement time; for an hourly mean, the START of
                                                 # its hour (10:00 = the 10:00–11:00 mean)
     "metrics": {"PM2.5": 35.2, "PM10": 61, "NO2": 28.4, "SO2": 7, "CO": 0.6, "O3": 88}}
Units: µg/m³ (CO mg/m³); water mg/L (pH unitless); noise Leq dB(A); water_level m; rainfall mm in the
interval; IoT per device (sensors/metrics.py). One message may carry any subset of the sensor's metrics;
each valid metric is stored, each invalid one is quarantined on its own.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sensors.readings import Reading, Rejected, check_value, parse_timestamp
from sensors.registry import SensorIndex


@dataclass
class Parsed:
    readings: list[Reading] = field(default_factory=list)
    # (sensor id or None, Rejected) per problem; a message with a bad envelope yields one rejection
    rejections: list[tuple[str | None, Rejected]] = field(default_factory=list)


def topic_sensor(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) == 5 and parts[0] == "city" and parts[2] == "sensors" and parts[4] == "readings":
        return parts[3]
    return None


def parse_message(topic: str, payload: bytes, index: SensorIndex, now: datetime,
                  future_tolerance_s: float) -> Parsed:
    out = Parsed()
    try:
        doc = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        out.rejections.append((topic_sensor(topic), Rejected("malformed", payload[:60].decode("utf-8", "replace"))))
        return out
    if not isinstance(doc, dict):
        out.rejections.append((topic_sensor(topic), Rejected("malformed", type(doc).__name__)))
        return out
    sensor_id, metrics = doc.get("sensor_id"), doc.get("metrics")
    if not isinstance(sensor_id, str) or not sensor_id or not isinstance(metrics, dict) or not metrics:
        out.rejections.append((topic_sensor(topic), Rejected("bad_payload", "需要 sensor_id、ts、metrics")))
        return out
    from_topic = topic_sensor(topic)
    if from_topic is not None and from_topic != sensor_id:
        out.rejections.append((sensor_id[:40], Rejected("topic_mismatch", f"{from_topic} ≠ {sensor_id[:40]}")))
        return out
    try:
        ts = parse_timestamp(doc.get("ts"), now, future_tolerance_s)
    except Rejected as rej:
        out.rejections.append((sensor_id[:40], rej))
        return out
    for metric, value in metrics.items():
        try:
            out.readings.append(check_value(index, sensor_id, str(metric), value, ts))
        except Rejected as rej:
            out.rejections.append((sensor_id[:40], rej))
            if rej.code in ("unknown_sensor", "inactive_sensor"):
                break  # one rejection per message is enough for a sensor we do not accept
    return out
