"""Audited Excel export: every download of data leaves the building through here.

`audited_export` masks personal columns for roles without `view_personal` (same rule as pages and
tooltips, auth.masking), writes the workbook with openpyxl, and records who exported what, for which
scope, when and how many rows — in the caller's transaction.
"""
from __future__ import annotations

from datetime import datetime
from io import BytesIO
from typing import Mapping
from zoneinfo import ZoneInfo

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session

import settings
from auth import audit
from auth.masking import PERSONAL_FIELDS, mask_frame, may_view_personal
from auth.roles import ROLE_NAMES, can
from auth.uploads import sanitize_filename
from store.db import session_scope
from store.models import utcnow
from store.scope import PermissionDenied, Viewer, ensure_region_visible

MAX_ROWS = 1_000_000  # Excel's sheet limit is 1,048,576 rows
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# What a spreadsheet may take for the start of a formula (OWASP "CSV injection"): = + - @, and a leading
# tab or carriage return in front of one.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _local_tz() -> ZoneInfo:
    return ZoneInfo(settings.get_settings()["app"]["timezone"])


def _cell_value(value, tz: ZoneInfo):  # noqa: ANN001, ANN202 - any cell value
    """A value openpyxl can write: local naive datetimes (Excel has no zones), no NaN, no control
    characters; strings that a spreadsheet would run as a formula are kept as text (see write_cell)."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.astimezone(tz).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, (dict, list, tuple, set)):
        value = str(value)
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def write_cell(ws, row: int, col: int, value):  # noqa: ANN001, ANN201 - an openpyxl sheet; returns the cell
    """Write one value into an openpyxl sheet, the way every export must (DESIGN.md "Text from outside
    is data"): a string that a spreadsheet would run as a formula is stored as text and marked with
    the quote prefix, so it stays text even when someone edits the cell later."""
    cell = ws.cell(row=row, column=col, value=value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        # Data typed by citizens must never become a live formula in an officer's spreadsheet.
        cell.data_type = "s"
        cell.quotePrefix = True
    elif isinstance(value, datetime):
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
    return cell


def build_workbook(frame: pd.DataFrame, info: list[tuple[str, str]], sheet_title: str = "数据") -> bytes:
    tz = _local_tz()
    wb = Workbook()
    ws = wb.active
    ws.title = sheet_title[:31]
    for c, name in enumerate(frame.columns, start=1):
        write_cell(ws, 1, c, _cell_value(str(name), tz))
    for r, values in enumerate(frame.itertuples(index=False, name=None), start=2):
        for c, value in enumerate(values, start=1):
            write_cell(ws, r, c, _cell_value(value, tz))
    for c, name in enumerate(frame.columns, start=1):
        ws.column_dimensions[get_column_letter(c)].width = min(40, max(10, len(str(name)) * 2 + 2))
    ws.freeze_panes = "A2"
    meta = wb.create_sheet("导出信息")
    for r, (key, value) in enumerate(info, start=1):
        write_cell(meta, r, 1, key)
        write_cell(meta, r, 2, _cell_value(value, tz))
    meta.column_dimensions["A"].width = 14
    meta.column_dimensions["B"].width = 48
    buf = BytesIO()
    wb.save(buf)
    return buf.getvalue()


def audited_export(session: Session, viewer: Viewer, what: str, scope: str, frame: pd.DataFrame, *,
                   personal_fields: Mapping[str, str] | None = None, client: str | None = None,
                   now: datetime | None = None) -> bytes:
    """Excel bytes of `frame` for `viewer`, masked as the role requires, with an audit row.

    what: a short label of the content ("事件列表", "空气质量日报"...); scope: the region code the
    rows were read for (checked against the viewer's zone). `personal_fields` names extra columns to
    mask ({"报案人": "name"}), on top of auth.masking.PERSONAL_FIELDS.
    """
    if not can(viewer.role, "export"):
        raise PermissionDenied("无权导出数据")
    ensure_region_visible(viewer, scope)
    if len(frame) > MAX_ROWS:
        raise ValueError(f"导出行数 {len(frame)} 超过上限 {MAX_ROWS}，请缩小范围或时段")
    now = now or utcnow()
    masked = mask_frame(frame, viewer, personal_fields)
    kinds = {**PERSONAL_FIELDS, **(personal_fields or {})}
    personal_columns = [str(c) for c in frame.columns if c in kinds]
    unmasked = may_view_personal(viewer)
    info = [
        ("导出内容", what), ("数据范围", scope), ("行数", str(len(frame))),
        ("导出人", f"{viewer.display_name or viewer.username}（{viewer.username}）"),
        ("角色", ROLE_NAMES.get(viewer.role, viewer.role)),
        ("导出时间", now.astimezone(_local_tz()).strftime("%Y-%m-%d %H:%M:%S")),
        ("个人信息", ("未脱敏（角色有权查看）" if unmasked else "已脱敏") if personal_columns else "不含个人信息"),
        ("说明", "本文件含政务数据，仅限工作使用，导出行为已记录审计日志。"),
    ]
    data = build_workbook(masked, info)
    audit.record(session, viewer, "export", object_type=what[:30], scope=scope, client=client,
                 detail={"what": what, "rows": int(len(frame)), "columns": [str(c) for c in frame.columns],
                         "personal_columns": personal_columns, "masked": bool(personal_columns and not unmasked),
                         "bytes": len(data)})
    return data


def deferred_export(engine, viewer: Viewer, what: str, scope: str, frame_fn, *,  # noqa: ANN001
                    personal_fields: Mapping[str, str] | None = None, client: str | None = None):
    """A no-argument callable for `st.download_button(data=...)`: Streamlit calls it only when the
    user clicks, so the audit row records an actual download, not every rerun of the page.
    `frame_fn` returns the frame (called at click time, so it can read fresh data)."""
    def build() -> bytes:
        frame = frame_fn() if callable(frame_fn) else frame_fn
        with session_scope(engine) as session:
            return audited_export(session, viewer, what, scope, frame, personal_fields=personal_fields,
                                  client=client)

    return build


def export_file_name(what: str, scope: str, now: datetime | None = None) -> str:
    """e.g. "事件列表_440902_20261005-0930.xlsx" (local time)."""
    stamp = (now or utcnow()).astimezone(_local_tz()).strftime("%Y%m%d-%H%M")
    return sanitize_filename(f"{what}_{scope}_{stamp}.xlsx", fallback="export.xlsx")
