"""Browser-felt times: the journey tests (tests/browser/test_journeys.py, one working day per role in
Chromium) time every step from the click to the moment the run it started has finished and the page is
quiet (tests/browser/journey.py), and write them to tests/artifacts/journey_times.json, one section per
mode: WebGL on, and WebGL off (Chromium's --disable-3d-apis; headless Chromium draws WebGL in software
on the CPU, which would otherwise dominate every screen with a map).

`python -m bench --journeys` runs the journeys in both modes (pytest in a subprocess, once per mode) and
reports the median of each step beside the server-side figures; without --journeys the last recorded
file is reported. `python -m bench.journeys [--run]` does only this part.

Targets (issue 18, with WebGL off on the 2-core machine): a page switch or drill-down ≤ 1 s median,
each workflow action ≤ 1.5 s.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMES_PATH = ROOT / "tests" / "artifacts" / "journey_times.json"
BROWSER_TESTS = ROOT / "tests" / "browser"
MODES = {"webgl": {}, "no_webgl": {"JOURNEY_NO_WEBGL": "1"}}
MODE_NAMES = {"webgl": "WebGL", "no_webgl": "无 WebGL"}
TARGETS_MS = {"page": 1000, "action": 1500}  # by the step's kind; other kinds have none
KIND_NAMES = {"page": "page switch / drill-down", "action": "workflow action", "input": "form input",
              "sign_in": "sign-in"}


def journey_tests() -> list[str]:
    """The browser test modules that time their steps with the journey helper (tests/browser/journey.py):
    the working days, and any other screen's journey written with it (the wall, the import screen)."""
    return sorted(str(p.relative_to(ROOT)) for p in BROWSER_TESTS.glob("test_*.py")
                  if "tests.browser.journey import" in p.read_text(encoding="utf-8"))


def run(modes: tuple[str, ...] = tuple(MODES), timeout: float = 3600) -> dict[str, int]:
    """Run the journey tests once per mode; returns pytest's exit code per mode (the times of the steps
    that ran are written even when a journey fails)."""
    codes = {}
    for mode in modes:
        env = dict(os.environ, **MODES[mode])
        if mode != "no_webgl":
            env.pop("JOURNEY_NO_WEBGL", None)
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *journey_tests()],
                              cwd=ROOT, env=env, timeout=timeout)
        codes[mode] = proc.returncode
    return codes


def load(path: Path = TIMES_PATH) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def summary(data: dict) -> dict:
    """Medians per (journey, step) and per kind, for each mode present:
    {"steps": [{"journey", "step", "kind", "<mode>_ms", "<mode>_send_ms", "target_ms"}],
     "kinds": {kind: {"<mode>_ms": median, "target_ms"}}, "recorded_at": {mode: iso time}}."""
    rows: dict[tuple[str, str], dict] = {}
    kinds: dict[str, dict[str, list]] = {}
    for mode, section in data.items():
        for journey, steps in section.get("journeys", {}).items():
            for s in steps:
                kind = s.get("kind", "input")
                row = rows.setdefault((journey, s["step"]), {"journey": journey, "step": s["step"], "kind": kind,
                                                             "target_ms": TARGETS_MS.get(kind)})
                row.setdefault(f"_{mode}", []).append(s["ms"])
                row.setdefault(f"_{mode}_send", []).append(s.get("send_ms"))
                kinds.setdefault(kind, {}).setdefault(mode, []).append(s["ms"])
    out_rows = []
    for row in rows.values():
        for mode in MODES:
            row[f"{mode}_ms"] = _median(row.pop(f"_{mode}", []))
            row[f"{mode}_send_ms"] = _median(row.pop(f"_{mode}_send", []))
        out_rows.append(row)
    return {"steps": out_rows,
            "kinds": {k: {**{f"{m}_ms": _median(v.get(m, [])) for m in MODES}, "target_ms": TARGETS_MS.get(k)}
                      for k, v in kinds.items()},
            "recorded_at": {m: s.get("recorded_at") for m, s in data.items()}}


def _ms(value) -> str:  # noqa: ANN001
    return "—" if value is None else f"{value:,.0f}"


def table(summ: dict) -> str:
    """Markdown: each step's medians (ms) with WebGL and without, click→server send, and the target."""
    if not summ.get("steps"):
        return "browser-felt times: none recorded (run `python -m bench --journeys`)"
    lines = ["browser-felt times (click → run finished and page quiet, median ms; "
             + ", ".join(f"{MODE_NAMES[m]} recorded {t}" for m, t in summ["recorded_at"].items()) + ")",
             "| journey | step | kind | WebGL | 无 WebGL | click→send (无 WebGL) | target |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in summ["steps"]:
        mark = ""
        if r["target_ms"] is not None and r["no_webgl_ms"] is not None:
            mark = " ok" if r["no_webgl_ms"] <= r["target_ms"] else " MISSED"
        lines.append(f"| {r['journey']} | {r['step']} | {r['kind']} | {_ms(r['webgl_ms'])} | {_ms(r['no_webgl_ms'])} | "
                     f"{_ms(r['no_webgl_send_ms'])} | {_ms(r['target_ms'])}{mark} |")
    lines += ["", "| kind | WebGL | 无 WebGL | target |", "|---|---:|---:|---:|"]
    for kind, k in summ["kinds"].items():
        lines.append(f"| {KIND_NAMES.get(kind, kind)} | {_ms(k['webgl_ms'])} | {_ms(k['no_webgl_ms'])} | "
                     f"{_ms(k['target_ms'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.journeys", description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="run the journey tests in both modes first")
    args = parser.parse_args(argv)
    if args.run:
        run()
    print(table(summary(load())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
