"""The leaders' indicator workbook: one sheet per government function, each row an indicator with its
value, status, comparison and definition. Exported through the audit log like every download."""
from __future__ import annotations

from datetime import datetime
from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from auth import audit
from auth.roles import can
from situation.briefing import STATUS_ZH, Tile
from store.db import get_engine, session_scope
from store.period import Period, local_tz
from store.scope import PermissionDenied, Viewer, ensure_region_visible

HEADER = ["指标", "数值", "单位", "状态", "环比/同比", "目标", "口径说明", "责任部门", "指标编号"]
FILL = {"green": "C6EFCE", "yellow": "FFEB9C", "red": "FFC7CE"}


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
        ws.append(HEADER)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for t in (t for t in tiles if t.domain == domain):
            ind = by_name.get((t.domain, t.name))
            ws.append([t.name, t.value_text, t.unit, STATUS_ZH.get(t.status, ""), t.delta_text,
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
        info.append(list(row))
    buf = BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    with session_scope(engine or get_engine()) as s:
        audit.record(s, viewer, "export", object_type="指标工作簿", scope=code,
                     detail={"what": "指标工作簿", "period": period.key, "rows": len(tiles), "bytes": len(data)})
    return data
