"""AppTest of the situation screens (态势总览, 指挥大屏) on the demo city, as each role that may use them."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pathlib import Path

from store.scope import Viewer

ROOT = Path(__file__).resolve().parents[1]

LEADER = Viewer("lingdao", "leader", "440900", display_name="领导")
DUTY = Viewer("zhiban", "duty_officer", "440900", display_name="值班员")
DISTRICT_LEADER = Viewer("maonan_lingdao", "leader", "440902", display_name="茂南区领导")


@pytest.fixture
def demo_app(demo_db_url, use_database):
    use_database(demo_db_url)
    return demo_db_url


def run_page(path: str, viewer: Viewer, **params) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=120)
    at.session_state["viewer"] = viewer
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    return at


def kpi_tiles(at: AppTest) -> list[str]:
    """The KPI tiles' HTML (ui.kpi_tiles draws them with st.html)."""
    bodies = [e.proto.body for e in at.get("html")]
    return [part for body in bodies for part in body.split('data-testid="kpi-tile"')[1:]]


def text_of(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown) + " " + " ".join(str(m.label) for m in at.metric)


@pytest.mark.parametrize("viewer", [LEADER, DUTY])
def test_overview_city_scope_shows_real_tiles(demo_app, viewer):
    at = run_page("pages/overview.py", viewer, period="2026-10")
    assert not at.exception, at.exception
    assert "茂名市" in text_of(at)
    tiles = kpi_tiles(at)
    assert len(tiles) >= 20
    # Real computed numbers: at least most tiles have data (the demo fills every domain).
    assert sum(1 for t in tiles if 'class="kpi-v nodata"' not in t) >= len(tiles) * 0.7
    assert at.tabs and [t.label for t in at.tabs][:3] == ["经济调节", "市场监管", "社会管理"]
    # One tile renderer (ui.kpi_tiles): no st.metric with Streamlit's own delta arrow beside ours.
    assert not at.metric


def test_overview_drilled_to_district_by_url(demo_app):
    at = run_page("pages/overview.py", LEADER, region="440902", period="2026-10", indicator="event_reported")
    assert not at.exception, at.exception
    assert "茂南区" in text_of(at)


def _progress(at: AppTest):  # noqa: ANN202 - the 办理进度 table's frame
    return next(d.value for d in at.dataframe if "办结率" in d.value.columns)


def _reported_per_child(url: str, child_column: str, parent_code: str) -> dict:
    from sqlalchemy import func, select

    from store.db import get_engine, session_scope
    from store.models import Event, Region
    from store.period import Period

    start, end = Period.parse("2026-10").utc_bounds()
    col = getattr(Event, child_column)
    with session_scope(get_engine(url), readonly=True) as s:
        names = dict(s.execute(select(Region.code, Region.name).where(Region.parent_code == parent_code)).all())
        rows = s.execute(select(col, func.count()).where(Event.reported_at >= start, Event.reported_at < end,
                                                         col.in_(list(names))).group_by(col)).all()
    return {names[code]: n for code, n in rows}


def test_overview_shows_where_the_periods_reports_stand(demo_app):
    """The leader's 办理进度 table: every district of the city (from the status cohort) and every street of a
    district (counted case by case), each row's stages adding up to its reports, equal to a count of the
    cases themselves."""
    for region, child, parent in ((None, "district_code", "440900"), ("440902", "street_code", "440902")):
        at = run_page("pages/overview.py", LEADER, period="2026-10", **({"region": region} if region else {}))
        assert not at.exception, at.exception
        table = _progress(at)
        stages = [c for c in table.columns if c not in ("区域", "上报", "办结率")]
        assert len(stages) == 7 and (table[stages].sum(axis=1) == table["上报"]).all()
        expected = _reported_per_child(demo_app, child, parent)
        assert dict(zip(table["区域"], table["上报"])) == {name: expected.get(name, 0) for name in table["区域"]}
        assert table["上报"].sum() > 0 and table["办结率"].dropna().between(0, 100).all()


def test_overview_out_of_zone_region_is_refused_cleanly(demo_app):
    at = run_page("pages/overview.py", DISTRICT_LEADER, region="440904", period="2026-10")
    assert not at.exception, at.exception
    assert any("管辖范围" in e.value for e in at.error)
    assert "茂南区" in text_of(at)


def test_overview_unknown_region_and_bad_period(demo_app):
    at = run_page("pages/overview.py", LEADER, region="999999", period="2026-13")
    assert not at.exception, at.exception
    assert at.error and at.warning


def test_wall_renders_for_each_theme(demo_app):
    for theme in ("综合态势", "城市管理", "生态环境", "应急指挥"):
        at = run_page("pages/wall.py", DUTY, wall="1", theme=theme)
        assert not at.exception, (theme, at.exception)


def test_urgent_items_link_to_their_pages_inside_the_app(demo_app):
    """Run through app.py (real navigation), the duty officer's urgent items are links to the pages
    that handle them, carrying the object id."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["viewer"] = DUTY
    at.query_params["period"] = "2026-10"
    at.run()
    assert not at.exception, at.exception
    links = at.get("page_link")
    assert links, "no page links rendered"
    targets = " ".join(str(link.proto) for link in links)
    assert "case=" in targets or "incident=" in targets
