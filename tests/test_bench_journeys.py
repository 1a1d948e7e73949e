"""The browser-felt part of `python -m bench` (bench/journeys.py): the journey tests' step times, recorded
per mode by tests/browser/journey.py, come out as medians per step, side by side for WebGL and without,
with the issue's targets by kind of step."""
from __future__ import annotations

import json

from bench import journeys


def _steps(*rows: tuple[str, str, float]) -> list[dict]:
    return [{"step": step, "kind": kind, "ms": ms, "send_ms": 20.0} for step, kind, ms in rows]


def test_medians_per_step_and_kind_in_both_modes(tmp_path):
    path = tmp_path / "journey_times.json"
    path.write_text(json.dumps({
        "webgl": {"recorded_at": "t1", "journeys": {
            "2-值班员": _steps(("打开「指挥调度」", "page", 3000), ("确认立案", "action", 2000),
                            ("确认立案", "action", 4000), ("搜索", "input", 500))}},
        "no_webgl": {"recorded_at": "t2", "journeys": {
            "2-值班员": _steps(("打开「指挥调度」", "page", 800), ("确认立案", "action", 1000),
                            ("确认立案", "action", 1400), ("搜索", "input", 450))}},
    }, ensure_ascii=False))
    summ = journeys.summary(journeys.load(path))
    rows = {r["step"]: r for r in summ["steps"]}
    assert rows["确认立案"]["webgl_ms"] == 3000 and rows["确认立案"]["no_webgl_ms"] == 1200
    assert rows["确认立案"]["target_ms"] == 1500 and rows["打开「指挥调度」"]["target_ms"] == 1000
    assert rows["搜索"]["target_ms"] is None
    assert summ["kinds"]["action"] == {"webgl_ms": 3000, "no_webgl_ms": 1200, "target_ms": 1500}
    text = journeys.table(summ)
    assert "| 2-值班员 | 确认立案 | action | 3,000 | 1,200 | 20 | 1,500 ok |" in text
    assert "| 2-值班员 | 打开「指挥调度」 | page | 3,000 | 800 | 20 | 1,000 ok |" in text


def test_one_mode_only_and_nothing_recorded(tmp_path):
    path = tmp_path / "journey_times.json"
    path.write_text(json.dumps({"webgl": {"recorded_at": "t", "journeys": {
        "7-领导": _steps(("下钻到街道", "page", 2500))}}}))
    summ = journeys.summary(journeys.load(path))
    assert "| 7-领导 | 下钻到街道 | page | 2,500 | — | — | 1,000 |" in journeys.table(summ)
    assert "none recorded" in journeys.table(journeys.summary(journeys.load(tmp_path / "absent.json")))


def test_the_bench_runs_every_module_written_with_the_journey_helper():
    assert "tests/browser/test_journeys.py" in journeys.journey_tests()
