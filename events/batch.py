"""Batch actions from the dispatch console: each case in its own transaction, so one refused case
(changed by a colleague, no department to suggest) never blocks or undoes the others."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from events import routing, workflow
from events.photos import PhotoError
from store.db import session_scope
from store.models import Event
from store.scope import PermissionDenied, Viewer


@dataclass(frozen=True)
class BatchResult:
    event_id: int
    ok: bool
    message: str


def batch_transition(engine: Engine, viewer: Viewer, items: list[tuple[int, int | None]], action: str, *,
                     department_code: str | None = None, reason: str = "", comment: str = "",
                     client: str | None = None) -> list[BatchResult]:
    """Apply `action` to every (event id, expected version). For dispatch without a department, each
    case goes to its routing suggestion."""
    out: list[BatchResult] = []
    for event_id, version in items:
        try:
            with session_scope(engine) as session:
                kw = {}
                if action in ("dispatch", "redispatch"):
                    code = department_code
                    if not code:
                        event = session.get(Event, event_id)
                        suggestion = routing.suggest(session, event) if event is not None else None
                        if suggestion is None:
                            raise workflow.WorkflowError("没有可推荐的部门，请单独派遣并选择部门")
                        code = suggestion.department_code
                    kw.update(department_code=code, reason=reason)
                event = workflow.transition(session, event_id, action, viewer, comment, expected_version=version,
                                            client=client, **kw)
                done = workflow.STATUS_NAMES[event.status]
            out.append(BatchResult(event_id, True, f"#{event_id} {workflow.ACTIONS[action].label}成功 → {done}"))
        except (workflow.WorkflowError, PermissionDenied, PhotoError) as exc:
            out.append(BatchResult(event_id, False, f"#{event_id}：{exc}"))
    return out
