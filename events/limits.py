"""The longest text each case field takes, in characters: one table read by the domain checks (intake,
workflow) and by the forms (`max_chars`), so a widget and the rule behind it never disagree, and a
request that bypasses the widget is refused the same way. The sizes fit the columns (store.models.events)
and a case panel that still shows its action buttons without scrolling through pages of text."""
from __future__ import annotations

LIMITS = {
    "title": 200,
    "description": 2000,
    "address": 200,
    "reporter_name": 50,
    "reporter_phone": 20,
    "source_id": 64,
    "comment": 1000,  # every workflow step's comment, reason or note
}
LABELS = {"title": "标题", "description": "问题描述", "address": "地址", "reporter_name": "反映人姓名",
          "reporter_phone": "联系电话", "source_id": "来源编号", "comment": "意见"}


def too_long(field: str, value: object, label: str | None = None) -> str | None:
    """The Chinese refusal when `value` is longer than the field's limit, else None."""
    if value is None:
        return None
    n, limit = len(str(value)), LIMITS[field]
    if n <= limit:
        return None
    return f"{label or LABELS[field]}不能超过 {limit} 字（现有 {n} 字）"
