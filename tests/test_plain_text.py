"""Text from outside is data (DESIGN.md; issue #18 defect 1): a Markdown / HTML / formula payload put into
every kind of outside text of a demo city — a case's title, description, address, reporter and timeline
comments, a region's name, a department's, a sensor's, an alert's message, a resource's, an incident's
title and log, a user's display name, the URL's parameters — is shown as the characters it is on every
page as every role, on the map tooltips, in the wall ticker and the briefing, and is a value (never a
formula) in every Excel export.

What "shown as text" is checked against: every string Streamlit renders as Markdown (element bodies,
labels, help, tab and expander titles, radio/pills options, image captions) must not hold the payload's
Markdown, HTML or Streamlit directive unescaped, and must not parse (CommonMark) into a link, an image or
raw HTML; every st.html body must contain no tag or event attribute that came from data; every map
tooltip is a text template (deck.gl sets it with innerText)."""
from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

import pandas as pd
import pytest
from markdown_it import MarkdownIt
from openpyxl import load_workbook
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from auth import exports
from auth.roles import pages_for
from emergency import incidents
from events import intake, workflow
from situation.briefing import Tile, briefing_html, svg_map
from situation.workbook import indicator_workbook
from store.db import get_engine, session_scope
from store.models import Alert, Department, Event, Region, Resource, Sensor, User
from store.period import Period
from store.scope import Viewer
from tests.test_events_support import mg
from ui import plain

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = ("**粗体** [外链](http://198.51.100.7/x) ![图](http://198.51.100.8/t.png) "
           "<img src=x onerror=alert(1)> =1+1 :red[红] $x$")
NAME = "![图](http://198.51.100.8/n.png)<i>名</i>:red[红]"  # fits the 50-character name columns
# The payload's pieces as they must never reach a Markdown body unescaped.
RAW = ("**粗体**", "[外链](", "![图](", "](http", "<img", "<i>", "http://198.51.100", ":red[", "$x$")
MARKERS = ("外链", "名")  # some visible part of the payload, to prove it reached the page at all
PERIOD = "2026-11"


# -- the demo city with the payload everywhere ------------------------------------------------------------
def _viewer(s, username: str) -> Viewer:  # noqa: ANN001
    u = s.execute(select(User).where(User.username == username)).scalar_one()
    return Viewer(u.username, u.role, u.zone_code, department_code=u.department_code, display_name=NAME)


@pytest.fixture(scope="module")
def payload_city(demo_db_url, tmp_path_factory):
    """A copy of the demo city (the session's demo database is shared: never changed) with the payload
    in every kind of outside text. Returns (url, viewers by username, ids of the payload objects)."""
    path = tmp_path_factory.mktemp("payload") / "payload.db"
    shutil.copy(demo_db_url.removeprefix("sqlite:///"), path)
    url = f"sqlite:///{path}"
    engine = get_engine(url)
    now = datetime.now(timezone.utc)
    with session_scope(engine) as s:
        viewers = {n: _viewer(s, n) for n in ("zhiban", "lingdao", "chengguan", "wangge", "daping", "xitong",
                                              "anquan", "shenji")}
        grid = s.get(Region, viewers["wangge"].zone_code)
        duty, dept_code = viewers["zhiban"], viewers["chengguan"].department_code
        s.execute(update(Region).where(Region.code.in_([grid.code, grid.code[:6], "440900"])).values(name=NAME))
        s.execute(update(Department).where(Department.code == dept_code).values(name=NAME))
        s.execute(update(User).values(display_name=NAME))
        # A case through the loop to the department, with the payload in every text it carries.
        case = intake.create_event(
            s, source="12345", category="市容环境", subcategory="暴露垃圾", title=PAYLOAD,
            description=f"{PAYLOAD}\n    {PAYLOAD}\n# {PAYLOAD}", address=PAYLOAD, reporter_name=NAME,
            source_id=PAYLOAD[:60], lon=grid.centroid_lon, lat=grid.centroid_lat, now=now)
        workflow.transition(s, case.id, "register", duty, PAYLOAD, now=now)
        workflow.transition(s, case.id, "dispatch", duty, PAYLOAD, department_code=dept_code, reason=PAYLOAD,
                            now=now)
        workflow.add_note(s, case.id, PAYLOAD, actor=duty, at=now)
        s.execute(update(Event).where(Event.id == case.id)  # overdue: the urgent list and the ticker show it
                  .values(stage_deadline=now - timedelta(hours=3), stage_warn_at=now - timedelta(hours=6)))
        queued = intake.create_event(s, source="网格员", category="市容环境", subcategory="暴露垃圾",
                                     title=PAYLOAD, description=PAYLOAD, lon=grid.centroid_lon,
                                     lat=grid.centroid_lat, now=now, actor=viewers["wangge"])
        # A sensor, its open alert; a resource; an incident with a log note.
        sensor = s.execute(select(Sensor).where(Sensor.kind == "air").order_by(Sensor.id)).scalars().first()
        sensor.name = NAME
        alert = s.execute(select(Alert).where(Alert.status == "open").order_by(Alert.id)).scalars().first()
        if alert is None:
            alert = Alert(rule_id="payload", sensor_id=sensor.id, severity="严重", status="open", opened_at=now,
                          message=PAYLOAD, rule_name=NAME)
            alert.set_region({k: getattr(sensor, f"{k}_code") for k in ("city", "district", "street",
                                                                          "community", "grid")})
            s.add(alert)
        alert.message, alert.rule_name = PAYLOAD, NAME
        s.execute(update(Resource).values(name=NAME))
        incident = incidents.open_incident(s, incident_type="内涝", level="IV", lon=grid.centroid_lon,
                                           lat=grid.centroid_lat, actor=duty, title=PAYLOAD[:100])
        incidents.add_note(s, incident.id, duty, PAYLOAD)
        s.flush()
        ids = {"case": case.id, "queued": queued.id, "incident": incident.id, "sensor": sensor.id}
    return url, viewers, ids


@pytest.fixture
def city(payload_city, use_database):
    use_database(payload_city[0])
    return payload_city


# -- what the browser would render ---------------------------------------------------------------------
_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
PLAIN_TYPES = {"text", "code", "json", "html", "exception", "dataframe", "arrow_data_frame", "table",
               "deck_gl_json_chart", "plotly_chart"}


def _walk(node):  # noqa: ANN001, ANN202
    for child in getattr(node, "children", {}).values():
        yield child
        yield from _walk(child)


def _strings(message, names: set[str]):  # noqa: ANN001, ANN202
    """String values of fields called one of `names`, anywhere inside a protobuf message."""
    for field, value in message.ListFields():
        items = [value] if isinstance(value, (str, bytes, int, float)) or hasattr(value, "ListFields") else list(value)
        for item in items:
            if isinstance(item, str):
                if field.name in names:
                    yield item
            elif hasattr(item, "ListFields"):
                yield from _strings(item, names)


def markdown_sources(at: AppTest) -> list[tuple[str, str]]:
    """(element type, text) for every string the page hands Streamlit's Markdown renderer."""
    out = []
    for node in _walk(at._tree):  # noqa: SLF001
        proto = getattr(node, "proto", None)
        if proto is None or not hasattr(proto, "ListFields") or node.type in PLAIN_TYPES:
            continue
        names = {"body", "label", "help", "caption", "content"}
        if node.type == "radio":
            names.add("options")
        out += [(node.type, text) for text in _strings(proto, names)]
    return out


def _tokens(tokens):  # noqa: ANN001, ANN202
    for t in tokens:
        yield t
        if t.children:
            yield from _tokens(t.children)


def markdown_problems(text: str) -> list[str]:
    # Backslash-escaped punctuation is literal text: take those pairs out before looking for the payload.
    bare = re.sub(r"\\[!-/:-@\[-`{-~]", "\x00", text)
    problems = [f"unescaped {raw!r}" for raw in RAW if raw in bare]
    for t in _tokens(_MD.parse(text)):
        if t.type == "image":
            problems.append(f"image {t.attrs}")
        elif t.type == "link_open" and "198.51.100" in str(t.attrs.get("href", "")):
            problems.append(f"link {t.attrs}")
        elif t.type in ("html_inline", "html_block") and re.search(r"<(img|a|i)\b|onerror", t.content):
            problems.append(f"html {t.content!r}")
    return problems


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list]] = []

    def handle_starttag(self, tag, attrs) -> None:  # noqa: ANN001
        self.tags.append((tag, attrs))


def html_problems(body: str, allowed: set[str] | None = None) -> list[str]:
    parser = _Tags()
    parser.feed(body)
    # The payload's own tags (the page's own markup may have others: styles, a script of the wall).
    problems = [f"<{tag}>" for tag, _ in parser.tags if tag in {"img", "a", "i"}
                or (allowed is not None and tag not in allowed)]
    problems += [f"{tag} {name}=" for tag, attrs in parser.tags for name, _ in attrs if name.startswith("on")]
    if "<img" in body or "onerror=alert" in body and "&lt;img" not in body:
        problems.append("raw payload")
    return problems


def page_problems(at: AppTest) -> tuple[list[str], str]:
    """Every rendering problem of a page run, and all its Markdown text (to find the payload in)."""
    problems = [f"exception: {e.value} {''.join(e.stack_trace)[-1500:]}" for e in at.exception]
    sources = markdown_sources(at)
    for kind, text in sources:
        problems += [f"{kind}: {p} in {text[:120]!r}" for p in markdown_problems(text)]
    for node in _walk(at._tree):  # noqa: SLF001
        if node.type == "html":
            problems += [f"html: {p}" for p in html_problems(node.proto.body)]
        elif node.type == "deck_gl_json_chart":
            tooltip = json.loads(node.proto.tooltip or "{}")
            if "html" in tooltip or "text" not in tooltip:
                problems.append(f"map tooltip is not a text template: {tooltip}")
    return problems, " ".join(text for _, text in sources)


def _run(path: str, viewer: Viewer, **params) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=180)
    at.session_state["viewer"] = viewer
    at.query_params["period"] = PERIOD
    for k, v in params.items():
        at.query_params[k] = str(v)
    return at.run()


# -- every page as every role --------------------------------------------------------------------------
ROLE_USERS = {"duty_officer": "zhiban", "leader": "lingdao", "department": "chengguan", "grid_officer": "wangge",
              "wall_display": "daping", "sys_admin": "xitong", "sec_admin": "anquan", "audit_admin": "shenji"}
CASES = [(role, spec.path) for role in ROLE_USERS for spec in pages_for(role)]
# Pages that show some of the payload city's outside text as Markdown (the others may show it only in
# tables, or not at all): on these the payload must be found, escaped.
SHOWS_PAYLOAD = {"overview", "dispatch", "department", "my_grid", "emergency_command", "environment",
                 "indicator_catalog", "account"}


@pytest.mark.parametrize(("role", "page"), CASES, ids=[f"{r}-{Path(p).stem}" for r, p in CASES])
def test_every_page_shows_outside_text_as_text(city, role, page):
    if not (ROOT / page).exists():
        pytest.skip(f"{page} is not there yet")
    _url, viewers, ids = city
    at = _run(page, viewers[ROLE_USERS[role]], case=ids["case"], incident=ids["incident"])
    problems, text = page_problems(at)
    assert not problems, problems
    if Path(page).stem in SHOWS_PAYLOAD:
        assert any(m in text for m in MARKERS), f"the payload never reached {page}"


def test_the_case_pages_show_every_field_of_the_case_escaped(city):
    _url, viewers, ids = city
    for page, viewer in (("pages/dispatch.py", viewers["zhiban"]), ("pages/department.py", viewers["chengguan"])):
        at = _run(page, viewer, case=ids["case"])
        if page.endswith("department.py"):  # its list is by deadline: open the payload case
            at.selectbox(key="dept_pick_待签收").set_value(ids["case"]).run()
        problems, text = page_problems(at)
        assert not problems, (page, problems)
        # Title, address, description (all three lines), reporter, department: there as text.
        assert text.count(plain.md(PAYLOAD)) >= 4, page
        assert plain.md(NAME) in text
    # The grid officer's own case list: the queued report and its panel.
    at = _run("pages/my_grid.py", viewers["wangge"])
    at.toggle(key="mg_only_verify").set_value(False).run()
    at.selectbox(key="mg_pick").set_value(ids["queued"]).run()
    problems, text = page_problems(at)
    assert not problems, problems
    assert text.count(plain.md(PAYLOAD)) >= 2  # title and description


def test_case_actions_show_the_outside_text_they_quote_as_text(city):
    """Messages that quote what was typed (a refusal naming the bad phone number), or name things from
    outside (the dispatch suggestion), and the forms of the case panel."""
    _url, viewers, ids = city
    at = _run("pages/my_grid.py", viewers["wangge"])
    at.selectbox(key=mg(at, "category")).set_value("市容环境").run()
    at.selectbox(key=mg(at, "subcategory")).set_value("暴露垃圾").run()
    at.text_area(key=mg(at, "description")).input(PAYLOAD)
    at.number_input(key=mg(at, "lon")).set_value(110.9)
    at.number_input(key=mg(at, "lat")).set_value(21.6)
    at.text_input(key=mg(at, "rphone")).input(NAME[:20])
    next(b for b in at.button if b.label == "提交上报").click()
    at.run()
    problems, text = page_problems(at)
    assert not problems, problems
    assert "格式不正确" in text and plain.md(NAME[:20]) in text
    # The dispatch form of a queued case names the suggested department (an imported name).
    at = _run("pages/dispatch.py", viewers["zhiban"], case=ids["queued"])
    for label in ("立案", "确认立案", "派遣"):
        next(b for b in at.button if b.label == label).click()
        at.run()
    problems, _ = page_problems(at)
    assert not problems, problems


def test_the_sidebar_and_the_url_parameters_are_text(city):
    _url, viewers, _ids = city
    script = ("import streamlit as st\nfrom ui import chrome\nchrome.sidebar(st.session_state['viewer'])\n")
    at = AppTest.from_string(script, default_timeout=120)
    at.session_state["viewer"] = viewers["lingdao"]
    at.query_params["region"] = PAYLOAD
    at.run()
    problems, text = page_problems(at)
    assert not problems, problems
    assert plain.md(NAME) in text  # the city's name on its breadcrumb button, the viewer's name
    at = _run("pages/overview.py", viewers["lingdao"], region=PAYLOAD, indicator=PAYLOAD)
    at.query_params["period"] = PAYLOAD
    at.run()
    problems, text = page_problems(at)
    assert not problems, problems
    assert "外链" in text  # the refusals quote the URL, as text


def test_the_wall_ticker_and_header_are_text(city):
    _url, viewers, _ids = city
    at = _run("pages/wall.py", viewers["daping"], wall=1)
    problems, _ = page_problems(at)
    assert not problems, problems
    bodies = " ".join(n.proto.body for n in _walk(at._tree) if n.type == "html")  # noqa: SLF001
    assert "&lt;img src=x onerror=alert(1)&gt;" in bodies  # the case title, as the characters it is


def test_the_briefing_has_no_markup_from_data():
    shapes = pd.DataFrame([{"code": "440900", "name": PAYLOAD, "status": "red",
                            "geometry": {"type": "Polygon", "coordinates": [[[110, 21], [111, 21], [111, 22],
                                                                             [110, 21]]]}}])
    page = briefing_html(title=PAYLOAD, scope_name=NAME, period_label=PAYLOAD, indicator_name=PAYLOAD,
                         svg=svg_map(shapes), tiles=[Tile(PAYLOAD, NAME, PAYLOAD, PAYLOAD, "red", PAYLOAD)],
                         issues=[f"超期案件：{PAYLOAD}"], generated_at=PAYLOAD, demo=True)
    allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h3", "div", "span", "ul", "li", "svg",
               "path"}
    assert not html_problems(page, allowed)
    assert "<img" not in page and "<a " not in page and "<i>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # kept, as text


def test_excel_exports_write_values_never_formulas(city):
    _url, viewers, _ids = city
    risky = ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1+1", "\r=1+1", '=HYPERLINK("http://198.51.100.9")', PAYLOAD]
    frame = pd.DataFrame({"标题": risky, "描述": list(reversed(risky))})
    with session_scope(get_engine(city[0])) as s:
        data = exports.audited_export(s, viewers["shenji"], "审计日志", "440900", frame)
    cells = [c for ws in load_workbook(BytesIO(data)) for row in ws.iter_rows() for c in row if c.value is not None]
    for value in risky:  # (a carriage return comes back from the file as a line feed)
        cell = next(c for c in cells if c.value == value.replace("\r", "\n"))
        assert cell.data_type == "s", (value, cell.data_type)
        assert cell.quotePrefix or value == PAYLOAD, value  # the prefix marks what would start a formula
    assert not [c for c in cells if c.data_type == "f"]
    # The indicator workbook: names and the exporter's display name are values too.
    lead = Viewer("lingdao", "leader", "440900", display_name='=HYPERLINK("http://198.51.100.9","x")')
    data = indicator_workbook(lead, "440900", Period.parse(PERIOD), [Tile("经济", "=1+1", "-3", "@u", "red", "+1")],
                              {}, engine=get_engine(city[0]))
    cells = [c for ws in load_workbook(BytesIO(data)) for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [c for c in cells if c.data_type == "f"]
    assert next(c for c in cells if str(c.value).startswith("=HYPERLINK")).quotePrefix

