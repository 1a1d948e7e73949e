"""The leaders' indicator workbook: one sheet per government function, each row an indicator with its
value, status, comparison and definition. Exported through the audit log like every download; every
cell goes through auth.exports.write_cell, so no name or text in it can become a formula."""
from __future__ import annotations

from datetime import datetime
from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from auth import audit
from auth.exports import write_cell
from auth.roles import can
from indicators.status import STATUS_COLORS, status_label
from situation.briefing import Tile
from store.db import get_engine, session_scope
from store.period import Period, local_tz
from store.scope import PermissionDenied, Viewer, ensure_region_visible

HEADER = ["指标", "数值", "单位", "状态", "环比/同比", "目标", "口径说明", "责任部门", "指标编号"]


def _fill(hex_color: str, share: float = 0.35) -> str:
    """The status colour mixed with white: a pale cell background that keeps black text readable."""
    rgb = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return "".join(f"{round(255 - (255 - c) * share):02X}" for c in rgb)


FILL = {status: _fill(color) for status, color in STATUS_COLORS.items()}


def _append(ws, values: list) -> None:  # noqa: ANN001 - an openpyxl sheet
    """ws.append, but each cell written as auth.exports.write_cell writes it."""
    row = ws.max_row + 1 if ws.max_row > 1 or ws.cell(1, 1).value is not None else 1
    for col, value in enumerate(values, start=1):
        write_cell(ws, row, col, value)


def indicator_workbook(viewer: Viewer, code: str, period: Period, tiles: list[Tile], library: dict,
                       engine=None) -> bytes:  # noqa: ANN001
    if not can(viewer.role, "export"):
        raise PermissionDenied("无权导出数据")
    ensure_region_visible(viewer, code)
    by_name = {(i.domain, i.name): i for i in library.values()}
    wb = Workbook()
    wb.remove(wb.active)
    for domain in dict.fromkeys(t.domain for t in tiles):
        ws = wb.create_sheet(domain[:31])
        _append(ws, HEADER)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for t in (t for t in tiles if t.domain == domain):
            ind = by_name.get((t.domain, t.name))
            _append(ws, [t.name, t.value_text, t.unit, status_label(t.status), t.delta_text,
                         None if ind is None else ind.target, "" if ind is None else ind.description,
                         "" if ind is None else ind.owner, "" if ind is None else ind.id])
            if t.status in FILL:
                ws.cell(row=ws.max_row, column=4).fill = PatternFill("solid", fgColor=FILL[t.status])
        for col, width in enumerate([22, 14, 10, 8, 24, 10, 60, 14, 24], start=1):
            ws.column_dimensions[get_column_letter(col)].width = width
        ws.freeze_panes = "A2"
    info = wb.create_sheet("说明")
    for row in [("范围", code), ("统计期", period.label), ("导出人", viewer.display_name or viewer.username),
                ("导出时间", datetime.now(local_tz()).strftime("%Y-%m-%d %H:%M")),
                ("说明", "数值由指标库按统一口径计算；“无数据”表示缺少数据，不等于零。")]:
        _append(info, list(row))
    buf = BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    with session_scope(engine or get_engine()) as s:
        audit.record(s, viewer, "export", object_type="指标工作簿", scope=code,
                     detail={"what": "指标工作簿", "period": period.key, "rows": len(tiles), "bytes": len(data)})
    return data
