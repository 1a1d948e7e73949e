"""Roles, what each may do, and which pages each sees.

The single table of role capabilities. Workflow transitions (events.workflow) and emergency actions
check capabilities here; app.py registers only the pages a role may use (a page left out of the menu
but registered would still open by URL).

Separation of duties (三权分立, GB/T 22239-2019 level 3): administration is split over three roles
whose capabilities do not overlap, and none of which touches business data:
- sys_admin (系统管理员): accounts — create business accounts, reset passwords, deactivate/activate;
- sec_admin (安全管理员): authorisation — grant and change roles (including the three administrator
  roles), unlock accounts, reset a second factor, end sessions, read the security policy;
- audit_admin (审计管理员): reads and exports the audit log, nothing else.
An account has exactly one role (users.role), so no account can hold two of them. A takeover needs two
people: sys_admin can reset a password but not the second factor, sec_admin the reverse.
"""
from __future__ import annotations

from dataclasses import dataclass

ROLE_NAMES = {
    "duty_officer": "指挥中心值班员",
    "leader": "领导",
    "department": "部门处置人员",
    "grid_officer": "网格员",
    "wall_display": "大屏展示账号",
    "sys_admin": "系统管理员",
    "sec_admin": "安全管理员",
    "audit_admin": "审计管理员",
}

# The separated administrators (三权分立), in the order their tabs appear on 系统管理.
ADMIN_ROLES: tuple[str, ...] = ("sys_admin", "sec_admin", "audit_admin")
# Roles that work with the city's data (everything that is not an administrator).
BUSINESS_ROLES: tuple[str, ...] = tuple(r for r in ROLE_NAMES if r not in ADMIN_ROLES)

# capability → roles that hold it
CAPABILITIES: dict[str, frozenset[str]] = {
    "view_personal": frozenset({"duty_officer", "department"}),  # reporter names, phones, ID numbers
    # api_client: a client system filing through the open intake API (open311/), as its key's viewer.
    "report_event": frozenset({"duty_officer", "grid_officer", "api_client"}),
    "register_event": frozenset({"duty_officer"}),               # 立案 / 不予立案
    "dispatch_event": frozenset({"duty_officer"}),               # 派遣 / 重新派遣
    "handle_event": frozenset({"department"}),                   # 处置 / 反馈 / 退回 / 延期申请
    "verify_event": frozenset({"grid_officer", "duty_officer"}), # 核查
    "close_event": frozenset({"duty_officer"}),                  # 结案 / 返工
    "approve_extension": frozenset({"leader", "duty_officer"}),
    "approve_hang": frozenset({"leader"}),                       # 挂账
    "supervise": frozenset({"leader", "duty_officer"}),          # 挂牌督办（案件或部门超期清单）
    "emergency_command": frozenset({"duty_officer"}),            # 开设事件、一键调派、释放
    "view_all_pages": frozenset({"duty_officer", "leader"}),
    # Excel and briefing downloads; the audit administrator exports the audit log (and nothing else
    # is shown to that role). The wall's display account is read-only: no exports.
    "export": frozenset({"duty_officer", "leader", "department", "grid_officer", "audit_admin"}),
    "import_data": frozenset({"duty_officer"}),                  # import and ingest status (sensors.views)
    # 数据导入, one capability per kind of file. Business data, so none of the administrators (who touch
    # none, 三权分立); one line each to give a kind to another role.
    "import_cases": frozenset({"duty_officer"}),                 # 12345 / 巡查 cases
    "import_readings": frozenset({"duty_officer"}),              # sensor readings
    "import_resources": frozenset({"duty_officer"}),             # emergency resources and warehouse stock
    "import_boundaries": frozenset({"duty_officer"}),            # 行政区划边界
    "import_statistics": frozenset({"duty_officer"}),            # 外部统计数据
    "import_sensors": frozenset({"duty_officer"}),               # the sensor registry
    # 系统管理员
    "manage_accounts": frozenset({"sys_admin"}),   # create / reset password / deactivate / activate
    # 安全管理员
    "manage_roles": frozenset({"sec_admin"}),      # grant or change a role (incl. administrator roles)
    "unlock_accounts": frozenset({"sec_admin"}),   # lift a lockout, reset a second factor, end sessions
    "view_policy": frozenset({"sec_admin"}),       # read the security policy in force
    # 审计管理员
    "view_audit": frozenset({"audit_admin"}),      # read and export the audit log
    "manage_api_keys": frozenset({"sys_admin"}),   # create / list / revoke the open intake API's keys
    "manage_exchange": frozenset({"sys_admin"}),   # 数据交换: backlog, failures and replay (exchange/)
}

# Capabilities that only administrators hold, one administrator role each.
ADMIN_CAPABILITIES = ("manage_accounts", "manage_roles", "unlock_accounts", "view_policy", "view_audit",
                      "manage_api_keys", "manage_exchange")

# Roles that no account can hold: the viewer an open intake API key files and reads as (open311.keys).
SYSTEM_ROLE_NAMES = {"api_client": "接入系统"}


def can(role: str, capability: str) -> bool:
    if capability not in CAPABILITIES:
        raise KeyError(f"unknown capability {capability!r}")
    return role in CAPABILITIES[capability]


def is_admin_role(role: str) -> bool:
    return role in ADMIN_ROLES


def role_label(role: str | None) -> str:
    return ROLE_NAMES.get(role or "") or SYSTEM_ROLE_NAMES.get(role or "", role or "")


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    roles: frozenset[str]
    url_path: str
    default_for: frozenset[str] = frozenset()


_LEAD = frozenset({"duty_officer", "leader"})
_ADMINS = frozenset(ADMIN_ROLES)
# The capabilities of the 数据导入 screen; a role holding any of them sees it.
IMPORT_CAPABILITIES = ("import_boundaries", "import_cases", "import_statistics", "import_sensors",
                       "import_readings", "import_resources")
_IMPORTERS = frozenset().union(*(CAPABILITIES[c] for c in IMPORT_CAPABILITIES))

# Every screen of the product. Order = menu order. Administrators see only 系统管理 (their own tab of
# it) and 我的账号: least privilege, no business data for account managers.
PAGES: tuple[PageSpec, ...] = (
    PageSpec("pages/overview.py", "态势总览", ":material/map:", _LEAD, "overview",
             default_for=frozenset({"duty_officer", "leader"})),
    PageSpec("pages/wall.py", "指挥大屏", ":material/tv:", _LEAD | {"wall_display"}, "wall",
             default_for=frozenset({"wall_display"})),
    PageSpec("pages/dispatch.py", "指挥调度", ":material/assignment:", _LEAD, "dispatch"),
    PageSpec("pages/department.py", "部门处置", ":material/engineering:", frozenset({"department"}), "department", default_for=frozenset({"department"})),
    PageSpec("pages/my_grid.py", "我的网格", ":material/grid_view:", frozenset({"grid_officer"}), "my-grid", default_for=frozenset({"grid_officer"})),
    PageSpec("pages/environment.py", "生态环境", ":material/eco:", _LEAD, "environment"),
    PageSpec("pages/emergency_command.py", "应急指挥", ":material/emergency:", _LEAD, "emergency"),
    PageSpec("pages/indicator_catalog.py", "指标库", ":material/query_stats:", _LEAD, "indicators"),
    PageSpec("pages/supervision_desk.py", "督办研判", ":material/gavel:", _LEAD, "supervision"),
    PageSpec("pages/assessment.py", "考核评价", ":material/leaderboard:",
             _LEAD | {"department", "grid_officer"}, "assessment"),
    PageSpec("pages/data_import.py", "数据导入", ":material/upload_file:", _IMPORTERS, "data-import"),
    PageSpec("pages/admin.py", "系统管理", ":material/admin_panel_settings:", _ADMINS, "admin",
             default_for=_ADMINS),
    # 消息中心: every business role reads the messages addressed to it (exchange/, the message rules); not
    # the wall's display account, which only shows the wall.
    PageSpec("pages/messages.py", "消息中心", ":material/notifications:",
             frozenset(BUSINESS_ROLES) - {"wall_display"}, "messages"),
    PageSpec("pages/account.py", "我的账号", ":material/manage_accounts:", frozenset(ROLE_NAMES), "account"),
)


def pages_for(role: str) -> list[PageSpec]:
    return [p for p in PAGES if role in p.roles]
