"""考核评价: the assessment of departments, districts and grid officers for a month, a quarter or a year —
their figures (the indicator engine, on the library's definitions), the weighted score and the ranking
with its 环比 (supervision.scoring, weights in supervision/assessment.yaml), the cases behind a figure
(indicators.drill) and the Excel 考核通报.

Who sees what. Leaders and the duty room see every department serving their zone, every district of it
and every grid officer in it. A department sees the published ranking of the departments of its zone
— figures of other departments, never their cases — with its own row marked; its drill-down stays on
its own cases (the engine and the drill apply the department restriction). So the ranking's figures
for department staff are computed as a leader of the same zone would see them (`published_viewer`):
aggregates only, the one place this read widens the department restriction, on purpose. A grid
officer sees the row of their own grid(s).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from io import BytesIO

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from auth import audit
from auth.roles import can
from indicators import engine as indicator_engine
from indicators.drill import CaseDrill
from indicators.library import load_library
from store import region_codes
from store.db import get_engine, session_scope
from store.models import Region
from store.period import Period, local_tz
from store.scope import PermissionDenied, Viewer, ensure_region_visible
from supervision.scoring import Scheme, load_schemes, ranking
from supervision.views import SupervisionViews

SUBJECT_NAMES = {"department": "部门", "district": "区县", "officer": "网格员"}
GRAINS = {"month": "月度", "quarter": "季度", "year": "年度"}
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_START = ("=", "+", "-", "@")


# -- periods ------------------------------------------------------------------------------------------------
def quarter(year: int, q: int) -> Period:
    if q not in (1, 2, 3, 4):
        raise ValueError("季度应为 1–4")
    start = date(year, 3 * q - 2, 1)
    end = Period.month(year, 3 * q).end
    return Period(start, end, "range")


def is_quarter(p: Period) -> bool:
    return p.grain == "range" and p.start.day == 1 and p.start.month in (1, 4, 7, 10) \
        and p.end == Period.month(p.start.year, p.start.month + 2).end


def previous(p: Period) -> Period:
    """The period of the same kind before (a quarter's is the quarter before)."""
    if is_quarter(p):
        q = (p.start.month - 1) // 3 + 1
        return quarter(p.start.year, q - 1) if q > 1 else quarter(p.start.year - 1, 4)
    return p.previous()


def period_label(p: Period) -> str:
    if is_quarter(p):
        return f"{p.start.year}年第{(p.start.month - 1) // 3 + 1}季度"
    return p.label


# -- who sees what ------------------------------------------------------------------------------------------
def subjects_for(viewer: Viewer) -> list[str]:
    """The rankings a viewer's role is shown."""
    if viewer.role in ("leader", "duty_officer"):
        return ["department", "district", "officer"]
    if viewer.role == "department":
        return ["department"]
    if viewer.role == "grid_officer":
        return ["officer"]
    return []


def published_viewer(viewer: Viewer) -> Viewer:
    """Whom the ranking's figures are computed for: the viewer, or for department staff a leader of the
    same zone (the published ranking of departments; see the module note)."""
    if viewer.role == "department":
        return Viewer(viewer.username, "leader", viewer.zone_code, None, viewer.display_name)
    return viewer


@dataclass
class Assessment:
    subject: str
    scheme: Scheme
    scope: str
    period: Period
    previous: Period
    table: pd.DataFrame  # key, name, one column per indicator id, score, rank, prev_*, *_change, own
    indicators: list[dict]  # id, name, unit, weight, lower_better, decimals
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{period_label(self.period)} {self.scheme.title}"


def _wide(frame: pd.DataFrame, key: str, name: str) -> pd.DataFrame:
    """Long engine frame → one row per subject, one column per indicator."""
    if frame.empty:
        return pd.DataFrame(columns=["name"]).rename_axis("key")
    wide = frame.pivot(index=[key, name], columns="indicator_id", values="value")
    wide = wide.reset_index().rename(columns={key: "key", name: "name"}).set_index("key")
    wide.columns.name = None
    return wide.astype(object).where(wide.notna(), None)


def _figures(subject: str, ids: list[str], scope: str, period: Period, viewer: Viewer, session: Session,
             now: datetime, library: dict) -> pd.DataFrame:
    if subject == "department":
        frame = indicator_engine.compute_departments_many(ids, scope, period, viewer, session=session, now=now,
                                                          library=library)
        return _wide(frame, "department_code", "department_name")
    level = "district" if subject == "district" else "grid"
    scope_level = region_codes.level_of(scope)
    if region_codes.depth(scope_level) >= region_codes.depth(level):
        # The scope is itself a district (or a grid): its one row.
        results = indicator_engine.compute_many(ids, scope, period, viewer, session=session, now=now, library=library)
        name = session.get(Region, scope)
        frame = pd.DataFrame([{"indicator_id": i, "region_code": scope, "region_name": name.name if name else scope,
                               "value": r.value} for i, r in results.items()])
        return _wide(frame, "region_code", "region_name")
    frame = indicator_engine.compute_children_many(ids, scope, period, viewer, session=session, now=now,
                                                   library=library, level=level)
    return _wide(frame, "region_code", "region_name")


def assess(viewer: Viewer, scope: str, period: Period, subject: str, *, engine: Engine | None = None,
           now: datetime | None = None) -> Assessment:
    """The ranking of `subject` (department / district / officer) in region `scope` for `period`."""
    if subject not in subjects_for(viewer):
        raise PermissionDenied(f"您的角色不能查看{SUBJECT_NAMES.get(subject, subject)}考核")
    ensure_region_visible(viewer, scope)
    now = now or datetime.now(timezone.utc)
    scheme = load_schemes()[subject]
    library = load_library()
    lower = {i: library[i].polarity == "lower_better" for i in scheme.ids}
    prev = previous(period)
    figures_for = published_viewer(viewer)
    notes: list[str] = []
    with session_scope(engine or get_engine(), readonly=True) as s:
        cur = _figures(subject, scheme.ids, scope, period, figures_for, s, now, library)
        before = _figures(subject, scheme.ids, scope, prev, figures_for, s, now, library)
        officers = SupervisionViews(s, viewer).officers(scope) if subject == "officer" else []
    if subject == "officer":
        by_grid: dict[str, list[str]] = {}
        for o in officers:
            for code in cur.index:
                if region_codes.is_within(code, o["zone_code"]):
                    by_grid.setdefault(code, []).append(o["name"])
        cur.insert(1, "officer", [("、".join(by_grid.get(k, [])) or "（未配置网格员）") for k in cur.index])
        if viewer.role == "grid_officer":
            cur = cur.loc[[k for k in cur.index if region_codes.is_within(k, viewer.zone_code)]]
        notes.append("网格员按网格评价：网格员只在本人网格内上报和核查，网格的数字即其网格员的数字。")
    table = ranking(cur, before, scheme, lower)
    own = viewer.department_code if viewer.role == "department" else None
    table["own"] = [k == own or (viewer.role == "grid_officer" and region_codes.is_within(str(k), viewer.zone_code))
                    for k in table.index]
    table = table.rename_axis("key").reset_index()
    if viewer.role == "department":
        notes.append("排名为本范围内各部门的公开考核数据；下钻只能查看本部门的案件。")
    indicators = [{"id": w.indicator_id, "name": library[w.indicator_id].name, "unit": library[w.indicator_id].unit,
                   "weight": w.weight, "lower_better": lower[w.indicator_id],
                   "decimals": library[w.indicator_id].decimals} for w in scheme.indicators]
    return Assessment(subject, scheme, scope, period, prev, table, indicators, notes)


def cases_behind(engine: Engine, viewer: Viewer, assessment: Assessment, key: str, indicator_id: str, *,
                 now: datetime | None = None, limit: int = 500) -> list[dict]:
    """The cases behind one figure of one row (a department, a district, a grid), as the viewer may see
    them (indicators.drill applies zone and department)."""
    if indicator_id not in assessment.scheme.ids:
        raise KeyError(f"该考核没有指标「{indicator_id}」")
    with CaseDrill.open(engine, viewer) as drill:
        if assessment.subject == "department":
            return drill.cases_behind(assessment.period, assessment.scope, indicator_id=indicator_id,
                                      department_code=key, now=now, limit=limit)
        return drill.cases_behind(assessment.period, key, indicator_id=indicator_id, now=now, limit=limit)


# -- the 考核通报 workbook ------------------------------------------------------------------------------------
def _cell(ws, row: int, col: int, value) -> None:  # noqa: ANN001
    """A value, never a formula: text that a spreadsheet would run is stored as text."""
    cell = ws.cell(row=row, column=col, value=value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        cell.data_type = "s"


def _fmt(v, decimals: int = 1):  # noqa: ANN001, ANN202
    return None if v is None or (isinstance(v, float) and v != v) else round(float(v), decimals)


def report_workbook(engine: Engine, viewer: Viewer, assessments: list[Assessment], *, scope_name: str = "",
                    client: str | None = None) -> bytes:
    """The 考核通报: one sheet per ranking, titled and dated, with what the viewer may see; audited."""
    if not can(viewer.role, "export"):
        raise PermissionDenied("无权导出数据")
    if not assessments:
        raise ValueError("没有可导出的考核")
    made = datetime.now(local_tz())
    wb = Workbook()
    wb.remove(wb.active)
    rows = 0
    for a in assessments:
        ws = wb.create_sheet(f"{SUBJECT_NAMES[a.subject]}排名"[:31])
        header = ["名次", "名次变化", a.scheme.subject_label] + (["网格员"] if a.subject == "officer" else []) + \
            [f"{i['name']}（{i['unit']}）" + (f"·权重{i['weight']:g}" if i["weight"] else "·列示")
             for i in a.indicators] + ["综合得分", "上期得分", "得分变化"]
        _cell(ws, 1, 1, f"{scope_name}{a.title}通报")
        ws.cell(row=1, column=1).font = Font(bold=True, size=14)
        _cell(ws, 2, 1, f"统计期：{period_label(a.period)}（{a.period.start:%Y-%m-%d} 至 {a.period.end:%Y-%m-%d}）；"
                        f"环比：{period_label(a.previous)}；生成：{made:%Y-%m-%d %H:%M}；"
                        f"导出人：{viewer.display_name or viewer.username}")
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
        ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(header))
        for c, name in enumerate(header, start=1):
            _cell(ws, 3, c, name)
            ws.cell(row=3, column=c).font = Font(bold=True)
            ws.cell(row=3, column=c).alignment = Alignment(wrap_text=True, vertical="center")
        for r, row in enumerate(a.table.to_dict("records"), start=4):
            values = [row.get("rank"), row.get("rank_change"), row.get("name")] + \
                ([row.get("officer")] if a.subject == "officer" else []) + \
                [_fmt(row.get(i["id"]), i["decimals"]) for i in a.indicators] + \
                [_fmt(row.get("score"), 2), _fmt(row.get("prev_score"), 2), _fmt(row.get("score_change"), 2)]
            for c, v in enumerate(values, start=1):
                _cell(ws, r, c, v)
            rows += 1
        for c in range(1, len(header) + 1):
            ws.column_dimensions[get_column_letter(c)].width = 26 if c == 3 else 14
        ws.freeze_panes = "D4"
        for note in a.notes:
            _cell(ws, ws.max_row + 2, 1, note)
    buf = BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    with session_scope(engine) as s:
        audit.record(s, viewer, "export", object_type="考核通报", scope=assessments[0].scope, client=client,
                     detail={"what": "考核通报", "period": assessments[0].period.key, "rankings":
                             [a.subject for a in assessments], "rows": rows, "bytes": len(data)})
    return data
