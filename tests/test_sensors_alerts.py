"""Alert rules on both backends: durations, de-duplication, the case opened through events.intake,
escalation into the same case with an incident proposal, clearing with a note on the case."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from sensors.alerts import RuleError, evaluate_sensors, load_rules, parse_rules
from sensors.ingest import ingest
from sensors.readings import Reading
from store.db import session_scope
from store.models import Event, EventTransition
from store.models.sensors import Alert
from tests.test_sensors_common import UTC, add_sensors, index_of

T0 = datetime(2026, 11, 24, 0, tzinfo=UTC)
OTHERS = dict(SO2=8, NO2=30, CO=0.7, O3=60, PM10=60)


@pytest.fixture
def engine(city_engine):
    add_sensors(city_engine)
    return city_engine


def put_air(engine, sensor, hours, pm25):  # noqa: ANN001
    idx = index_of(engine)
    readings = []
    for h in hours:
        ts = T0 + timedelta(hours=h)
        readings.append(Reading(sensor, ts, "PM2.5", float(pm25)))
        readings += [Reading(sensor, ts, m, float(v)) for m, v in OTHERS.items()]
    with session_scope(engine) as s:
        ingest(s, readings, idx)


def evaluate(engine, at_hour, sensors=("A1",)):  # noqa: ANN001, ANN202
    idx = index_of(engine)
    with session_scope(engine) as s:
        return evaluate_sensors(s, set(sensors), idx, T0 + timedelta(hours=at_hour, minutes=30))


def alerts(engine):  # noqa: ANN001, ANN202
    with session_scope(engine, readonly=True) as s:
        return list(s.execute(select(Alert).order_by(Alert.id)).scalars())


def notes(engine, event_id):  # noqa: ANN001, ANN202
    with session_scope(engine, readonly=True) as s:
        return [t.comment for t in s.execute(select(EventTransition).where(
            EventTransition.event_id == event_id).order_by(EventTransition.id)).scalars()]


def test_aqi_rule_duration_dedup_escalation_and_clearing(engine):
    put_air(engine, "A1", range(0, 10), 40)
    put_air(engine, "A1", [10], 200)  # IAQI(PM2.5 200) = 250 under 2026: one hour only
    assert evaluate(engine, 10) == (0, 0) and alerts(engine) == []
    put_air(engine, "A1", [11], 200)  # second consecutive hour above 200
    assert evaluate(engine, 11) == (1, 0)
    assert evaluate(engine, 11) == (0, 0)  # still open: no second alert, no second case
    (heavy,) = alerts(engine)
    assert (heavy.rule_id, heavy.status, heavy.open_key, heavy.value) == ("air_aqi_heavy", "open", "air_aqi_heavy|A1", 250)
    assert heavy.proposal is None and heavy.district_code == "440902"
    with session_scope(engine, readonly=True) as s:
        case = s.get(Event, heavy.event_id)
        assert (case.source, case.category, case.subcategory, case.status) == ("传感器", "其他设施", "工业污染源", "reported")
        assert case.source_id == f"alert-{heavy.id}" and case.grid_code == heavy.grid_code
        assert "市生态环境局" in case.description
    put_air(engine, "A1", [12, 13], 300)  # IAQI 350: the severe rule fires and joins the case
    assert evaluate(engine, 13) == (1, 0)
    heavy, severe = alerts(engine)
    assert severe.rule_id == "air_aqi_severe" and severe.event_id == heavy.event_id
    assert severe.proposal["incident_type"] == "大气污染" and severe.proposal["level"] == "IV"
    assert severe.proposal_status == "proposed" and severe.proposal["sensor_id"] == "A1"
    assert any("告警升级" in c for c in notes(engine, heavy.event_id))
    put_air(engine, "A1", [14], 30)  # clears both
    assert evaluate(engine, 14) == (0, 2)
    heavy, severe = alerts(engine)
    assert heavy.status == severe.status == "closed" and heavy.open_key is None
    assert heavy.closed_at == T0 + timedelta(hours=14) and severe.proposal_status == "dismissed"
    assert sum("告警解除" in c for c in notes(engine, heavy.event_id)) == 2
    put_air(engine, "A1", [15, 16], 200)  # a new episode: a new alert and a new case
    assert evaluate(engine, 16) == (1, 0)
    assert alerts(engine)[-1].event_id not in (None, heavy.event_id)


def test_water_level_warning_then_guarantee(engine):
    idx = index_of(engine)
    with session_scope(engine) as s:
        ingest(s, [Reading("H1", T0 + timedelta(hours=h), "water_level", lv)
                   for h, lv in enumerate([9.0, 9.5, 10.4, 11.3])], idx)
    assert evaluate(engine, 2, ["H1"]) == (1, 0)  # hour 3 (11.3) not yet visible at 02:30
    assert evaluate(engine, 3, ["H1"]) == (1, 0)
    warn, guar = alerts(engine)
    assert (warn.rule_id, guar.rule_id) == ("water_level_warning", "water_level_guarantee")
    assert guar.event_id == warn.event_id and guar.proposal["incident_type"] == "洪涝灾害"


def test_noise_three_nights_running(engine):
    idx = index_of(engine)

    def nights(first_hour: int, hours: int) -> None:
        readings = []
        for h in range(first_hour, first_hour + hours):
            ts = T0 - timedelta(hours=2) + timedelta(hours=h)  # h=0 is 11-24 06:00 local
            local_hour = (ts + timedelta(hours=8)).hour
            readings.append(Reading("N1", ts, "Leq", 56.0 if 6 <= local_hour < 22 else 54.0))
        with session_scope(engine) as s:
            ingest(s, readings, idx)

    nights(0, 48)  # the nights of 11-24 and 11-25, above the 2类 night limit 50
    assert evaluate(engine, 46, ["N1"]) == (0, 0)
    nights(48, 24)  # the night of 11-26: three nights running
    assert evaluate(engine, 70, ["N1"]) == (1, 0)
    (a,) = alerts(engine)
    assert a.rule_id == "noise_night_exceed" and "连续 3 天" in a.message and a.value == pytest.approx(54.0)


def test_rules_file_is_valid_and_errors_are_named():
    ids = [r.id for r in load_rules()]
    assert ids.index("air_aqi_heavy") < ids.index("air_aqi_severe")
    with pytest.raises(RuleError, match="comparator"):
        parse_rules({"rules": [{"id": "x", "kind": "air", "signal": "aqi_hourly", "comparator": "~", "threshold": 1,
                                "severity": "一般", "event": {"category": "a", "subcategory": "b"}}]})
    with pytest.raises(RuleError, match="same_case_as"):
        parse_rules({"rules": [{"id": "x", "kind": "air", "signal": "aqi_hourly", "comparator": ">", "threshold": 1,
                                "severity": "一般", "event": {"category": "a", "subcategory": "b"},
                                "same_case_as": "nope"}]})
