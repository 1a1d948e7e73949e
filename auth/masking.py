"""Masking of personal data (reporter names, phone numbers, ID numbers).

One place decides how a value is masked and whether a viewer sees it unmasked
(`auth.roles.can(role, "view_personal")`). Pages, map tooltips and Excel exports all call
`mask_record` / `mask_frame`, so the three can never disagree.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from auth.roles import can
from store.scope import Viewer

# Field name → masking function kind. Domain modules name their personal columns with these
# names (reporter_name, reporter_phone, reporter_id_no ...); any other key passes through.
PERSONAL_FIELDS: dict[str, str] = {
    "reporter_name": "name",
    "reporter_phone": "phone",
    "reporter_id_no": "id",
    "contact_name": "name",
    "contact_phone": "phone",
    "id_no": "id",
    "id_number": "id",
    # Chinese column headers used in exports and tables.
    "报告人": "name",
    "上报人": "name",
    "反映人": "name",
    "联系人": "name",
    "联系电话": "phone",
    "手机号": "phone",
    "身份证号": "id",
    "证件号码": "id",
}

_COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "夏侯", "轩辕", "令狐", "钟离", "端木", "独孤", "南宫", "西门", "澹台", "公冶", "宗政", "濮阳",
    "太叔", "申屠", "闻人", "赫连", "呼延", "万俟", "百里", "东郭", "拓跋", "完颜",
})


def mask_phone(value: str | None) -> str | None:
    """"13812341234" → "138****1234". Landlines and odd lengths keep at most the first 3 and the
    last 4 characters; anything too short to keep a prefix is fully starred."""
    if value is None:
        return None
    s = str(value).strip()
    if not s:
        return s
    if len(s) >= 8:
        return s[:3] + "*" * (len(s) - 7) + s[-4:]
    return "*" * len(s)


def mask_name(value: str | None) -> str | None:
    """"张三" → "张*", "欧阳娜娜" → "欧阳**" (compound surnames keep two characters), "李小明" → "李**".
    A single character is fully starred, since keeping it would reveal the whole name."""
    if value is None:
        return None
    s = str(value).strip()
    if not s:
        return s
    if len(s) == 1:
        return "*"
    keep = 2 if len(s) >= 4 or s[:2] in _COMPOUND_SURNAMES else 1
    if keep >= len(s):
        keep = 1
    return s[:keep] + "*" * (len(s) - keep)


def mask_id(value: str | None) -> str | None:
    """18-digit resident ID → first 6 (issuing region) + ******** + last 4. Other lengths keep
    at most a quarter at each end so a short number is not left readable."""
    if value is None:
        return None
    s = str(value).strip()
    if not s:
        return s
    if len(s) == 18:
        return s[:6] + "********" + s[-4:]
    keep = len(s) // 4
    return s[:keep] + "*" * (len(s) - 2 * keep) + (s[-keep:] if keep else "")



_MASKERS = {"name": mask_name, "phone": mask_phone, "id": mask_id}


def may_view_personal(viewer: Viewer | None) -> bool:
    return viewer is not None and can(viewer.role, "view_personal")


def mask_value(kind: str, value: Any) -> Any:
    """Mask one value of `kind` ("name" / "phone" / "id"); non-strings are stringified first so
    an ID number read as an int is masked too."""
    if value is None or (isinstance(value, float) and value != value):  # None / NaN
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a number column read from a spreadsheet: never "4.4e+17"
    return _MASKERS[kind](str(value))


def mask_record(record: Mapping[str, Any], viewer: Viewer | None,
                fields: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A copy of `record` with personal fields masked unless the viewer may see personal data.

    `fields` maps extra field names to a kind ("name"/"phone"/"id") on top of PERSONAL_FIELDS,
    for a caller whose columns are named differently (e.g. Chinese export headers).
    """
    out = dict(record)
    if may_view_personal(viewer):
        return out
    kinds = {**PERSONAL_FIELDS, **(fields or {})}
    for key, value in out.items():
        kind = kinds.get(key)
        if kind:
            out[key] = mask_value(kind, value)
    return out


def mask_records(records: Iterable[Mapping[str, Any]], viewer: Viewer | None,
                 fields: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    return [mask_record(r, viewer, fields) for r in records]


def mask_frame(frame, viewer: Viewer | None, fields: Mapping[str, str] | None = None):  # noqa: ANN001
    """A copy of a pandas DataFrame with personal columns masked (same rule as mask_record)."""
    out = frame.copy()
    if may_view_personal(viewer):
        return out
    kinds = {**PERSONAL_FIELDS, **(fields or {})}
    for column in out.columns:
        kind = kinds.get(column)
        if kind:
            out[column] = out[column].map(lambda v, k=kind: mask_value(k, v)).astype(object)
    return out
