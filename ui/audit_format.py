"""The audit log as an auditor reads it: actions by their Chinese names, and a row's detail as
"键：值" pairs in Chinese instead of a Python dict (`{'from': 'reported', 'to': 'registered'}` →
"原状态：待立案；新状态：待派遣").

In ui/ rather than auth/: the names of the other domains' actions and states (case workflow, resource
states, roles) live in those domains, above auth in the house, and only a screen may read them all.
Values are returned as plain text; the page shows them in table cells, which never interpret markup."""
from __future__ import annotations

import json
from typing import Any

from auth.roles import ROLE_NAMES
from auth.views import ACTION_NAMES as AUTH_ACTION_NAMES
from emergency import catalog
from events.statuses import STATUS_NAMES
from events.workflow import ACTIONS as CASE_ACTIONS
from events.workflow import REPORT_ACTION

# Actions written outside auth (the case workflow's are added from events.workflow below).
OTHER_ACTION_NAMES = {
    "event_report": "上报案件", "event_note": "案件备注", "event_import": "导入案件", "event_confirm_new": "确认非重复",
    "event_place": "补充案件位置", "event_supervise": "督办", "event_escalate": "超期升级",
    "emergency_open": "开设应急事件", "emergency_level": "调整响应级别", "emergency_close": "关闭应急事件",
    "emergency_note": "应急事件记录", "emergency_dispatch": "应急调派", "emergency_release": "释放调派资源",
    "emergency_status": "应急资源状态变更", "emergency_import": "导入应急资源",
    "import_stats": "导入统计数据", "address_import": "导入标准地址", "audit_archive": "审计日志归档",
    "login_blocked": "登录限速", "api_key_create": "新建接入密钥", "api_key_revoke": "吊销接入密钥",
    "api_rate_limited": "接口调用超限", "exchange_replay": "数据交换重放",
}
ACTION_NAMES = {**AUTH_ACTION_NAMES, **OTHER_ACTION_NAMES,
                **{f"event_{a.id}": f"案件{a.label}" for a in CASE_ACTIONS.values()},
                f"event_{REPORT_ACTION.id}": "上报案件"}

# Detail keys in Chinese; keys not listed are shown as written.
KEY_NAMES = {
    "from": "原状态", "to": "新状态", "comment": "意见", "reason": "原因", "summary": "小结", "what": "内容",
    "period": "统计期", "indicator": "指标", "format": "格式", "issues": "事项数", "bytes": "字节数", "rows": "行数",
    "inserted": "新增", "updated": "更新", "imported": "导入", "replaced": "替换", "file": "文件", "source": "来源",
    "crs": "坐标系", "kind": "类别", "category": "大类", "subcategory": "小类", "role": "角色",
    "zone_code": "管辖范围", "department_code": "部门", "display_name": "姓名", "method": "方式",
    "sessions_ended": "结束会话数", "recovery_codes": "恢复码数", "recovery_left": "剩余恢复码", "fields": "字段",
    "lon": "经度", "lat": "纬度", "grid": "网格", "grid_code": "网格", "level": "级别", "type": "类型",
    "incident_id": "应急事件", "unit": "单位", "suspects": "疑似重复", "duplicate_of": "重复于",
    "wait_minutes": "等待分钟", "via": "途径", "outcome": "结果", "task_id": "任务", "task_kind": "任务类型",
    "upper_task": "上级任务", "rule": "规则", "overdue": "超期", "placed": "已定位", "prefix": "密钥前缀",
    "categories": "类别", "rate": "每分钟上限", "deferred": "延迟创建", "calls": "调用次数", "refused": "拒绝次数",
    "window_start": "时间窗起点", "rankings": "排名对象", "geocoded": "地址定位", "pending": "待定位",
    "suspected_duplicates": "疑似重复", "count": "次数", "ids": "编号", "scope": "范围", "object": "对象",
    "page": "页面", "status": "状态", "version": "版本", "new_status": "新状态", "old_status": "原状态",
    "first_id": "起始记录号", "last_id": "截止记录号", "cutoff": "截止时间", "sha256": "SHA-256",
    "path": "文件", "users": "用户数", "failed": "失败次数",
}
_STATE_KEYS = {"from", "to", "status", "new_status", "old_status"}
_TRUE_FALSE = {True: "是", False: "否"}


def action_label(action: str | None) -> str:
    """The action's Chinese name ("event_register" → "案件立案"); an unknown action as written."""
    if not action:
        return ""
    return ACTION_NAMES.get(action, action)


def _state(value: Any) -> str:
    text = str(value)
    return STATUS_NAMES.get(text) or catalog.RESOURCE_STATUSES.get(text) or text


def _value(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _TRUE_FALSE[value]
    if key in _STATE_KEYS:
        return _state(value)
    if key == "role":
        return ROLE_NAMES.get(str(value), str(value))
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple, set)):
        return "、".join(_value(key, v) for v in value) or "—"
    if isinstance(value, dict):
        return "，".join(f"{KEY_NAMES.get(str(k), str(k))} {_value(str(k), v)}" for k, v in value.items())
    return str(value)


def format_audit_detail(detail: Any, *, max_chars: int = 2000) -> str:
    """A row's detail as "键：值；键：值" in Chinese (None → ""); a detail that is not a mapping (an old
    row's text) as its JSON text."""
    if detail is None or detail == {}:
        return ""
    if isinstance(detail, str):
        try:
            detail = json.loads(detail)
        except ValueError:
            return detail[:max_chars]
    if not isinstance(detail, dict):
        return json.dumps(detail, ensure_ascii=False)[:max_chars]
    parts = [f"{KEY_NAMES.get(str(k), str(k))}：{_value(str(k), v)}" for k, v in detail.items() if v not in (None, "", [])]
    return "；".join(parts)[:max_chars]
