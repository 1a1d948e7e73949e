"""Walking a working day through the real app in Chromium: one `Journey` per role and screen size, whose
steps are timed as the user feels them and recorded for `python -m bench` (bench/journeys.py).

A step is a click (or typing) followed by `wait_quiet`: the run the click started has finished on the
server — read from Streamlit's own lifecycle messages on the websocket (`new_session` starts a run,
`script_finished` ends it; a run ended early for `st.rerun()` is followed by another) — and the page has
then been quiet for QUIET_MS: no DOM change and no long animation frame (a WebGL map drawn in software
blocks the page without touching the DOM). Streamlit's own status widget is no measure: it only appears
after 500 ms. The step's time is click → the last of (run finished, last DOM change, end of the last long
frame); `send_ms` is click → the first websocket message to the server (a click must never wait for the
browser); `gl_new` is the number of WebGL contexts the step created (a map torn down and built again
makes new ones, and compiles its shaders again).

Every journey also records every request: any host other than the live server's is a failure; and an
exception box (stException) on any screenshot is a failure. Screenshots go to tests/artifacts/journeys/.

Two run modes, chosen by the environment: WebGL on (default) and off (JOURNEY_NO_WEBGL=1 launches
Chromium with --disable-3d-apis; maps then draw nothing). Times are written per mode to
tests/artifacts/journey_times.json.
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from tests.browser.conftest import ARTIFACTS, login, open_sign_in_form, second_factor

SHOTS = ARTIFACTS / "journeys"
PASSWORD = "Demo@2026!"  # auth.demo.DEMO_PASSWORD, as README lists the demo accounts
TIMES_PATH = ARTIFACTS / "journey_times.json"
NO_WEBGL = os.environ.get("JOURNEY_NO_WEBGL") == "1"
MODE = "no_webgl" if NO_WEBGL else "webgl"
QUIET_MS = 400
STEP_TIMEOUT_S = 120
# How often a wait reads the page's clock. The figures come from the page's own timestamps, so a slower poll
# only notices the end later (≤ 0.1 s a step); every read is a round trip through the driver and the
# renderer: polling at 25 ms cost 1.6 CPU-s per 10 s of waiting (Chromium, driver and test process
# together), at 100 ms 0.25 — on a 2-core machine that the full suite already saturates.
POLL_MS = 100
# As tests/browser/conftest.py launches Chromium, plus --disable-3d-apis in the no-WebGL mode.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic", "--use-gl=swiftshader",
                 "--enable-unsafe-swiftshader", *(["--disable-3d-apis"] if NO_WEBGL else [])]

# In every page before its own scripts: the time of the last user input, of the last DOM change and the
# end of the last long animation frame (epoch ms, the clock Python's time.time() reads).
_PROBE = """
(() => {
  const j = window.__journey = {input: 0, mutation: Date.now(), busy: 0, gl: 0};
  // WebGL contexts created: a map torn down and built again makes a new one (and compiles its shaders).
  const getContext = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
    const had = this.__journeyGl;
    const ctx = getContext.call(this, type, ...rest);
    if (ctx && !had && /webgl/.test(String(type))) { this.__journeyGl = true; j.gl += 1; }
    return ctx;
  };
  for (const type of ['pointerdown', 'keydown']) {
    window.addEventListener(type, () => { j.input = Date.now(); }, true);
  }
  new MutationObserver(() => { j.mutation = Date.now(); })
    .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  for (const type of ['long-animation-frame', 'longtask']) {
    try {
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          j.busy = Math.max(j.busy, performance.timeOrigin + e.startTime + e.duration);
        }
      }).observe({type, buffered: true});
    } catch (e) { /* not supported: DOM changes alone */ }
  }
})();
"""


class Runs:
    """Streamlit's run lifecycle as seen on the page's websockets, with Python timestamps."""

    def __init__(self, page) -> None:  # noqa: ANN001
        self.events: list[tuple[str, float, int | None]] = []  # ("send"|"start"|"finish", time, status)
        page.on("websocket", self._socket)

    def _socket(self, ws) -> None:  # noqa: ANN001
        ws.on("framereceived", self._received)
        ws.on("framesent", lambda _payload: self.events.append(("send", time.time(), None)))

    def _received(self, payload) -> None:  # noqa: ANN001
        if isinstance(payload, str):
            return
        msg = ForwardMsg()
        try:
            msg.ParseFromString(payload)
        except Exception:  # noqa: BLE001 - not a ForwardMsg: not a lifecycle event either
            return
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.events.append(("start", time.time(), None))
        elif kind == "script_finished":
            self.events.append(("finish", time.time(), msg.script_finished))

    def first_send_after(self, t0: float) -> float | None:
        return next((t for kind, t, _ in self.events if kind == "send" and t >= t0), None)

    def settled_after(self, t0: float) -> float | None:
        """When the run chain the user started at t0 finished: a message was sent after t0, a run started
        after that, and the latest lifecycle message is a finish that is not an early stop for a rerun.
        None while that has not happened."""
        sent = self.first_send_after(t0)
        if sent is None:
            return None
        later = [(kind, t, status) for kind, t, status in self.events if t >= sent and kind != "send"]
        if not any(kind == "start" for kind, _, _ in later):
            return None
        kind, t, status = later[-1]
        if kind == "finish" and status != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
            return t
        return None


_RUNS: dict[int, Runs] = {}


def attach(page) -> Runs:  # noqa: ANN001
    """Install the probe and the websocket listener on a page before it loads anything."""
    page.add_init_script(_PROBE)
    runs = _RUNS[id(page)] = Runs(page)
    return runs


def _page_clock(page) -> dict:  # noqa: ANN001
    return page.evaluate("() => window.__journey ? {...window.__journey, now: Date.now()} : null") or {}


def wait_quiet(page, since: float | None = None, *, run: bool = True, timeout: float = STEP_TIMEOUT_S,  # noqa: ANN001
               quiet_ms: int = QUIET_MS) -> dict:
    """Wait until the run started by the user's action at `since` (time.time(); default: the last input
    the page saw) has finished and the page has then been quiet for `quiet_ms`. `run=False` for actions
    that start no run (a tab, an expander): only the page must be quiet. Returns the step's figures:
    ms (action → last of run finished / DOM change / long frame) and send_ms (action → first message to
    the server, None when none was sent)."""
    runs = _RUNS[id(page)]
    t_action = since if since is not None else time.time()
    clock = _page_clock(page)
    if clock.get("input", 0) / 1000 >= t_action:  # the click itself, read in the page (Playwright's
        t_action = clock["input"] / 1000          # actionability checks before it are not the user's wait)
    deadline = time.time() + timeout
    finished = None
    while True:
        if run and finished is None:
            finished = runs.settled_after(t_action)
        clock = _page_clock(page)
        last_change = max(clock.get("mutation", 0), clock.get("busy", 0)) / 1000
        now = clock.get("now", time.time() * 1000) / 1000
        if (finished is not None or not run) and now - last_change >= quiet_ms / 1000:
            # A run that started again after the finish we saw (a fragment, a late rerun) is waited for too.
            again = runs.settled_after(t_action) if run else finished
            if again is not None or not run:
                finished = again
                break
        if time.time() > deadline:
            state = "run not finished" if finished is None and run else "page never quiet"
            raise TimeoutError(f"wait_quiet: {state} after {timeout:.0f}s")
        page.wait_for_timeout(POLL_MS)
    end = max(last_change, finished or 0.0)
    sent = runs.first_send_after(t_action)
    return {"ms": round(max(0.0, end - t_action) * 1000, 1),
            "send_ms": None if sent is None else round(max(0.0, sent - t_action) * 1000, 1)}


class Journey:
    """One role's working day in one browser context: steps, screenshots and the checks every journey
    makes (nothing fetched from another host, no exception box). Use as a context manager: on leaving,
    the checks run (unless the journey already failed) and the step times are saved either way."""

    def __init__(self, browser, base_url: str, name: str, viewport: tuple[int, int], **context_options) -> None:  # noqa: ANN001, ANN003
        self.base_url = base_url
        self.name = name
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN",
                                           timezone_id="Asia/Shanghai", **context_options)
        self.page = self.context.new_page()
        self.runs = attach(self.page)
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.steps: list[dict] = []
        self.shots: list[Path] = []
        self.misses: list[str] = []
        for old in SHOTS.glob(f"{name}-*.png"):  # an earlier run's pictures of this journey, in this mode
            if old.stem.endswith("-nowebgl") == NO_WEBGL:
                old.unlink()

    def __enter__(self) -> Journey:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        try:
            if exc_type is None:
                self.assert_no_exception("结束")
                outside = self.external_requests()
                assert outside == [], f"{self.name}: requests left the server: {outside[:5]}"
                assert not self.misses, f"{self.name}: " + "; ".join(self.misses)
            else:
                self.shot("失败时")
        finally:
            save_times(self.name, self.steps)
            self.context.close()

    # -- steps -------------------------------------------------------------------------------------------
    def _gl(self) -> int:
        return int(_page_clock(self.page).get("gl", 0))

    @contextmanager
    def step(self, name: str, *, kind: str = "action", run: bool = True, timeout: float = STEP_TIMEOUT_S):
        """`with j.step("立案"): page.click(...)` — the action inside, then wait_quiet and record.
        `kind` says which target applies (bench/journeys.py): "action" (a workflow action), "page" (a page
        switch or drill-down) or "input" (filling in a form, a tab, a filter). `gl_new` is the number of
        WebGL contexts the step created (maps built from scratch)."""
        gl = self._gl()
        t0 = time.time()
        yield
        figures = wait_quiet(self.page, t0, run=run, timeout=timeout)
        self.steps.append({"step": name, "kind": kind, **figures, "gl_new": self._gl() - gl})
        self.assert_no_exception(name)

    def sign_in(self, username: str, *, at: str | None = None) -> None:
        """Through the form: user name, password, and the authenticator code when the role asks for one
        (conftest.second_factor); then wait for the first page to settle. `at`: a link opened before
        signing in (the sign-in then returns to it)."""
        t0 = time.time()
        if at is None:
            login(self.page, self.base_url, username)
        else:
            open_sign_in_form(self.page, at, self.base_url)
            self.page.fill("input[name=username]", username)
            self.page.fill("input[name=password]", PASSWORD)
            self.page.click("button[type=submit], input[type=submit]")
            self.page.wait_for_selector("[data-testid=stMain]")
            second_factor(self.page, self.base_url, username)
        figures = wait_quiet(self.page, t0, run=False)
        self.steps.append({"step": "登录", "kind": "sign_in", **figures, "send_ms": None, "gl_new": self._gl()})
        self.assert_no_exception("登录")

    def goto(self, url: str, name: str) -> None:
        """Open a URL typed into the address bar (a shared link)."""
        t0 = time.time()
        self.page.goto(url)
        figures = wait_quiet(self.page, t0, run=False)
        self.steps.append({"step": name, "kind": "page", **figures, "send_ms": None, "gl_new": self._gl()})

    def menu(self, title: str) -> None:
        """Open a page from the sidebar menu."""
        with self.step(f"打开「{title}」", kind="page"):
            self.page.locator("[data-testid=stSidebarNav]").get_by_role("link", name=title).click()
        self.page.get_by_role("heading", name=re.compile(re.escape(title))).first.wait_for()

    def map_click(self, name: str, x: float, y: float, *, kind: str = "input", tries: int = 4) -> int:
        """Tap a point of a deck.gl map, as a user taps again when nothing happens: deck.gl picks the
        object under the pointer synchronously at pointer-down, and its tap recogniser drops a tap whose
        down and up are more than 250 ms apart — which a pick drawn by software WebGL on a loaded machine
        can take. The step's time runs from the first tap; returns the number of taps it took."""
        gl = self._gl()
        t0 = time.time()
        for n in range(1, tries + 1):
            t_tap = time.time()
            self.page.mouse.click(x, y)
            # Lost only if nothing was sent once the page has gone quiet (a pick still drawing is busy).
            deadline = time.time() + STEP_TIMEOUT_S
            while time.time() < deadline and self.runs.first_send_after(t_tap) is None:
                clock = _page_clock(self.page)
                quiet = clock["now"] - max(clock["mutation"], clock["busy"]) > 2 * QUIET_MS
                if quiet and time.time() - t_tap > 2:  # a long frame's report arrives after the frame
                    break
                self.page.wait_for_timeout(POLL_MS)
            if self.runs.first_send_after(t_tap) is not None:
                break
        else:
            raise AssertionError(f"{self.name} · {name}: {tries} taps on the map at ({x:.0f}, {y:.0f}) selected nothing")
        figures = wait_quiet(self.page, t0)
        self.steps.append({"step": name, "kind": kind, **figures, "gl_new": self._gl() - gl, "taps": n})
        self.assert_no_exception(name)
        return n

    # -- widgets, as a user works them -------------------------------------------------------------------
    @property
    def main(self):  # noqa: ANN201
        return self.page.locator("[data-testid=stMain]")

    def choose(self, label: str, option: str, *, scope=None, exact: bool = True) -> None:  # noqa: ANN001
        """Open the select box `label` and click `option`. When the list did not open (a click that landed
        while the page moved) the arrow key opens it; when the list is long and the option is not in view,
        the user types it (the box filters its list)."""
        where = scope or self.page
        box = where.get_by_role("combobox", name=label, exact=True).first
        box.click()
        item = self.page.get_by_role("option", name=option, exact=exact).first
        for fallback in (lambda: box.press("ArrowDown"), lambda: box.fill(option)):
            try:
                item.wait_for(timeout=3_000)
                break
            except PlaywrightTimeout:
                fallback()
        item.click()

    def chosen(self, label: str, *, scope=None) -> str:  # noqa: ANN001
        """What the select box `label` shows (the text in its combo box)."""
        return (scope or self.main).get_by_role("combobox", name=label, exact=True).first.input_value()

    def button(self, name: str, *, scope=None) -> None:  # noqa: ANN001
        (scope or self.main).get_by_role("button", name=name, exact=True).first.click()

    def table_rows(self, nth: int = 0, *, scope=None) -> list[list[str]]:  # noqa: ANN001
        """The cells of the rows a data frame shows (its accessible grid; the header row excluded)."""
        frames = (scope or self.main).locator("[data-testid=stDataFrame]")
        if frames.count() <= nth:  # no table on screen (an empty list says so in words instead)
            return []
        frame = frames.nth(nth)
        frame.locator("[role=row]").first.wait_for(state="attached")
        return frame.evaluate("""f => [...f.querySelectorAll('[role=row]')].slice(1).map(
            r => [...r.querySelectorAll('[role=gridcell]')].map(c => c.innerText.trim()))""")

    def row_of(self, value: str, nth: int = 0, *, scope=None) -> int | None:  # noqa: ANN001
        """Index of the first row with a cell equal to `value`."""
        return next((i for i, cells in enumerate(self.table_rows(nth, scope=scope)) if value in cells), None)

    def tick_row(self, index: int, nth: int = 0, *, scope=None) -> None:  # noqa: ANN001
        """Click a row's selection box (the grid is drawn on a canvas: by position, 35-px rows)."""
        box = (scope or self.main).locator("[data-testid=stDataFrame]").nth(nth).bounding_box()
        self.page.mouse.click(box["x"] + 16, box["y"] + 35 * (index + 1) + 17)

    def upload(self, scope, name: str, data: bytes, mime: str = "image/png") -> None:  # noqa: ANN001
        scope.locator("[data-testid=stFileUploader] input[type=file]").first.set_input_files(
            {"name": name, "mimeType": mime, "buffer": data})
        scope.get_by_text(name).first.wait_for()

    # -- what the user sees ------------------------------------------------------------------------------
    def expect(self, ok: bool, message: str) -> None:
        """A check whose failure does not stop the day (the user could go on working): recorded with a
        screenshot, and the journey fails at its end with every such miss listed."""
        if not ok:
            path = self.shot(f"未达预期-{len(self.misses) + 1}")
            self.misses.append(f"{message} ({path.name})")

    def text(self) -> str:
        return self.main.inner_text()

    def see(self, *texts: str, timeout: float | None = None) -> None:
        """Each text is on screen (in the main area); `timeout` defaults to the context's."""
        for t in texts:
            self.main.get_by_text(t, exact=False).filter(visible=True).first.wait_for(timeout=timeout)

    def assert_no_exception(self, where: str) -> None:
        boxes = self.page.locator("[data-testid=stException]")
        if boxes.count():
            path = self.shot(f"exception-{where}")
            raise AssertionError(f"{self.name} · {where}: exception box on screen ({path}):\n"
                                 + boxes.first.inner_text()[:2000])

    def shot(self, label: str, *, full_page: bool = False) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        n = len(self.shots) + 1
        safe = re.sub(r"[^\w一-鿿-]+", "-", label).strip("-")
        path = SHOTS / f"{self.name}-{n:02d}-{safe}{'-nowebgl' if NO_WEBGL else ''}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        self.shots.append(path)
        return path

    def external_requests(self) -> list[str]:
        own = urlsplit(self.base_url).netloc
        return [u for u in self.requests
                if urlsplit(u).scheme not in ("data", "blob", "about") and urlsplit(u).netloc != own]


def save_times(journey: str, steps: list[dict], path: Path = TIMES_PATH) -> None:
    """Replace this journey's steps in this mode's section of the times file (other journeys and the other
    mode are kept, so the two modes can be run one after the other)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    section = data.setdefault(MODE, {"journeys": {}})
    section["recorded_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    section["journeys"][journey] = steps
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1))


def map_point(lon: float, lat: float, view, box: dict) -> tuple[float, float]:  # noqa: ANN001
    """Page coordinates of (lon, lat) on a deck.gl map drawn with `view` (a pydeck ViewState, Web Mercator,
    512-px world at zoom 0) in the element box `box` (centred on the view's centre)."""
    scale = 512 * 2 ** view.zoom

    def merc(lo: float, la: float) -> tuple[float, float]:
        return ((lo + 180) / 360 * scale,
                (1 - math.log(math.tan(math.pi / 4 + math.radians(la) / 2)) / math.pi) / 2 * scale)

    cx, cy = merc(view.longitude, view.latitude)
    px, py = merc(lon, lat)
    return box["x"] + box["width"] / 2 + (px - cx), box["y"] + box["height"] / 2 + (py - cy)
