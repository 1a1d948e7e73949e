"""Roles, what each may do, and which pages each sees.

The single table of role capabilities. Workflow transitions (events.workflow) and emergency actions
check capabilities here; app.py registers only the pages a role may use (a page left out of the menu
but registered would still open by URL).
"""
from __future__ import annotations

from dataclasses import dataclass

ROLE_NAMES = {
    "duty_officer": "指挥中心值班员",
    "leader": "领导",
    "department": "部门处置人员",
    "grid_officer": "网格员",
    "admin": "管理员",
}

# capability → roles that hold it
CAPABILITIES: dict[str, frozenset[str]] = {
    "view_personal": frozenset({"duty_officer", "department"}),  # reporter names, phones, ID numbers
    "report_event": frozenset({"duty_officer", "grid_officer"}),
    "register_event": frozenset({"duty_officer"}),               # 立案 / 不予立案
    "dispatch_event": frozenset({"duty_officer"}),               # 派遣 / 重新派遣
    "handle_event": frozenset({"department"}),                   # 处置 / 反馈 / 退回 / 延期申请
    "verify_event": frozenset({"grid_officer", "duty_officer"}), # 核查
    "close_event": frozenset({"duty_officer"}),                  # 结案 / 返工
    "approve_extension": frozenset({"leader", "duty_officer"}),
    "approve_hang": frozenset({"leader"}),                       # 挂账
    "emergency_command": frozenset({"duty_officer"}),            # 开设事件、一键调派、释放
    "view_all_pages": frozenset({"duty_officer", "leader"}),
    "export": frozenset({"duty_officer", "leader", "department", "grid_officer", "admin"}),
    "manage_users": frozenset({"admin"}),
    "import_data": frozenset({"admin", "duty_officer"}),
    "view_audit": frozenset({"admin"}),
}


def can(role: str, capability: str) -> bool:
    if capability not in CAPABILITIES:
        raise KeyError(f"unknown capability {capability!r}")
    return role in CAPABILITIES[capability]


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    roles: frozenset[str]
    url_path: str
    default_for: frozenset[str] = frozenset()


_LEAD = frozenset({"duty_officer", "leader"})

# Every screen of the product. Order = menu order.
PAGES: tuple[PageSpec, ...] = (
    PageSpec("pages/overview.py", "态势总览", ":material/map:", _LEAD | {"admin"}, "overview",
             default_for=frozenset({"duty_officer", "leader", "admin"})),
    PageSpec("pages/wall.py", "指挥大屏", ":material/tv:", _LEAD, "wall"),
    PageSpec("pages/dispatch.py", "指挥调度", ":material/assignment:", _LEAD, "dispatch"),
    PageSpec("pages/department.py", "部门处置", ":material/engineering:", frozenset({"department"}), "department", default_for=frozenset({"department"})),
    PageSpec("pages/my_grid.py", "我的网格", ":material/grid_view:", frozenset({"grid_officer"}), "my-grid", default_for=frozenset({"grid_officer"})),
    PageSpec("pages/environment.py", "生态环境", ":material/eco:", _LEAD, "environment"),
    PageSpec("pages/emergency_command.py", "应急指挥", ":material/emergency:", _LEAD, "emergency"),
    PageSpec("pages/indicator_catalog.py", "指标库", ":material/query_stats:", _LEAD | {"admin"}, "indicators"),
    PageSpec("pages/admin.py", "系统管理", ":material/admin_panel_settings:", frozenset({"admin"}), "admin"),
)


def pages_for(role: str) -> list[PageSpec]:
    return [p for p in PAGES if role in p.roles]
