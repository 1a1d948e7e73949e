"""Case states as screens show them: each state's Chinese name, which states are open, and the groups
every screen counts, filters and colours by — defined here once, so "处置中" means the same cases on
the dispatch console, the department page and the grid officer's phone.

Which action is legal in which state is the workflow's table (events.workflow), not this module.
"""
from __future__ import annotations

from dataclasses import dataclass

STATUS_NAMES: dict[str, str] = {
    "reported": "待立案",
    "registered": "待派遣",
    "rejected": "不予立案",
    "dispatched": "待签收",
    "handling": "处置中",
    "extension_requested": "延期待批",
    "hang_requested": "挂账待批",
    "hung": "挂账",
    "handled": "待核查",
    "verified": "待结案",
    "verify_failed": "核查未通过",
    "closed": "已结案",
    "duplicate": "重复（已合并）",  # merged into an earlier open case (events.duplicates)
}
TERMINAL = frozenset({"rejected", "closed", "duplicate"})
OPEN_STATUSES = tuple(s for s in STATUS_NAMES if s not in TERMINAL)
# States in which the case sits with a department (the department's queue).
WITH_DEPARTMENT = ("dispatched", "handling", "extension_requested", "hang_requested", "hung")


@dataclass(frozen=True)
class StatusGroup:
    id: str
    label: str                 # Chinese, as screens show it
    statuses: tuple[str, ...]
    color: str                 # a Streamlit colour name (badges: ":<color>-badge[…]")


# Where a case stands in its loop: every state belongs to exactly one stage, in loop order.
STAGES: tuple[StatusGroup, ...] = (
    StatusGroup("to_register", "待立案", ("reported",), "blue"),
    StatusGroup("to_dispatch", "待派遣", ("registered",), "blue"),
    StatusGroup("to_accept", "待签收", ("dispatched",), "orange"),
    StatusGroup("handling", "处置中", ("handling", "extension_requested", "hang_requested"), "orange"),
    StatusGroup("hung", "挂账", ("hung",), "gray"),
    StatusGroup("to_verify", "待核查/结案", ("handled", "verified", "verify_failed"), "violet"),
    StatusGroup("done", "已办结", ("closed", "rejected", "duplicate"), "green"),
)
OPEN_STAGES = tuple(g for g in STAGES if not set(g.statuses) & TERMINAL)
_STAGE_OF = {s: g for g in STAGES for s in g.statuses}

# Cuts across the stages that screens filter by.
OPEN = StatusGroup("open", "全部在办", OPEN_STATUSES, "blue")
QUEUE = StatusGroup("queue", "待办（待立案 + 待派遣）", ("reported", "registered"), "blue")
AWAITING_APPROVAL = StatusGroup("approval", "待审批（延期 / 挂账）", ("extension_requested", "hang_requested"),
                                "orange")

# Deadline states (events.deadlines.deadline_state) as badge colours.
DEADLINE_COLORS = {"overdue": "red", "warning": "orange", "ok": "green"}
# What a case point on a map shows: closed, or open with its deadline state.
MAP_STATES = ("overdue", "warning", "open", "closed")


def stage(group_id: str) -> StatusGroup:
    return next(g for g in STAGES if g.id == group_id)


def stage_of(status: str) -> StatusGroup:
    return _STAGE_OF[status]


def count_in(counts: dict[str, int], group: StatusGroup) -> int:
    """Cases of a group from per-state counts (e.g. EventViews.status_counts)."""
    return sum(int(counts.get(s, 0)) for s in group.statuses)


def map_state(status: str, deadline_state: str | None) -> str:
    """One of MAP_STATES for a case in `status` whose stage deadline is in `deadline_state`."""
    if status not in OPEN_STATUSES:
        return "closed"
    return deadline_state if deadline_state in ("overdue", "warning") else "open"
