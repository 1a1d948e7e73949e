"""The writes case screens trigger, each in its own transaction on the engine: report a case, move one
case along the workflow, move a batch of cases (one transaction per case, so one refused case never
blocks or undoes the others). They return plain outcomes with a Chinese message, so pages and ui/
neither open a session nor catch the workflow's exceptions themselves."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from events import duplicates, importer, intake, routing, workflow
from events.intake import IntakeError, create_event
from events.photos import PhotoError
from events.placement import place_event
from events.statuses import STATUS_NAMES
from store.db import session_scope
from store.models import Event
from store.scope import PermissionDenied, Viewer

# Refusals a user can cause and read; anything else is a bug and propagates.
REFUSALS = (workflow.WorkflowError, PermissionDenied, PhotoError)


@dataclass(frozen=True)
class Outcome:
    case_id: int | None
    ok: bool
    message: str
    stale: bool = False  # refused because someone changed the case after the viewer read it
    status: str | None = None  # the case's status after the action (None when refused)
    problems: dict[str, str] = field(default_factory=dict)  # per form field, when a report was refused
    repeated: bool = False  # the same form was submitted before: this is the case it created then


def default_title(subcategory: str, address: str | None) -> str:
    """The title of a report sent without one: what it is and where."""
    return f"{subcategory}（{(address or '').strip() or '现场'}）"


def report_case(engine: Engine, viewer: Viewer, *, category: str | None, subcategory: str | None,
                lon: float | None, lat: float | None, crs: str = "wgs84", title: str = "", description: str = "",
                urgent: bool = False, address: str | None = None, reporter_name: str | None = None,
                reporter_phone: str | None = None, photos=None, source: str = "网格员",  # noqa: ANN001
                client: str | None = None, client_token: str | None = None, duplicate_of: int | None = None,
                confirmed_new: bool = False) -> Outcome:
    """A grid officer's report (events.intake.create_event), checked first against what such a report
    must give (events.intake.report_problems: one message per field). On refusal nothing is written
    (a refused photo refuses the whole report) and the outcome says why. `client_token` is the form's
    one-time token: submitting the same form again returns the case created the first time.
    The reporter's answer to the duplicate candidates the form showed goes in the same transaction:
    `duplicate_of` links the report to that open case (closed as 重复), `confirmed_new` says it is a
    problem of its own (events.duplicates)."""
    problems = intake.report_problems(category=category, subcategory=subcategory, lon=lon, lat=lat,
                                      description=description, title=title, address=address,
                                      reporter_name=reporter_name, reporter_phone=reporter_phone)
    if problems:
        return Outcome(None, False, "；".join(problems.values()), problems=problems)
    try:
        try:
            with session_scope(engine) as session:
                earlier = intake.case_for_token(session, client_token, viewer)
                if earlier is not None:
                    return _reported(earlier.id, repeated=True)
                event = create_event(
                    session, source=source, category=category, subcategory=subcategory,
                    title=(title or "").strip() or default_title(subcategory, address), description=description,
                    lon=lon, lat=lat, crs=crs, priority="urgent" if urgent else "normal",
                    reporter_name=reporter_name or None, reporter_phone=reporter_phone or None, actor=viewer,
                    photos=photos or None, address=address or None, client=client, client_token=client_token)
                case_id = event.id
                if duplicate_of is not None:
                    duplicates.link(session, case_id, int(duplicate_of), viewer, client=client)
                elif confirmed_new and event.duplicate_suspects:
                    duplicates.confirm_new(session, case_id, viewer, client=client)
        except IntegrityError:
            # Two submits of one form at the same moment: the unique token let only one insert through.
            with session_scope(engine, readonly=True) as session:
                earlier = intake.case_for_token(session, client_token, viewer)
            if earlier is None:
                raise
            return _reported(earlier.id, repeated=True)
    except (IntakeError, PermissionDenied, PhotoError, workflow.WorkflowError) as exc:
        return Outcome(None, False, str(exc))
    if duplicate_of is not None:
        return Outcome(case_id, True, f"已上报并合并到在办案件 #{int(duplicate_of)}（重复上报），本次编号 #{case_id}",
                       status="duplicate")
    return _reported(case_id)


def _reported(case_id: int, repeated: bool = False) -> Outcome:
    message = f"已上报，案件编号 #{case_id}，等待指挥中心立案"
    if repeated:
        message = f"该表单已提交过，未重复上报。案件编号 #{case_id}，等待指挥中心立案"
    return Outcome(case_id, True, message, status="reported", repeated=repeated)


def transition(engine: Engine, viewer: Viewer, case_id: int, action: str, comment: str = "", *,
               version: int | None = None, client: str | None = None, **values) -> Outcome:
    """One workflow step against the version the viewer saw (events.workflow.transition). Empty form
    values are left out."""
    values = {k: v for k, v in values.items() if v not in (None, [], "")}
    try:
        with session_scope(engine) as session:
            event = workflow.transition(session, case_id, action, viewer, comment, expected_version=version,
                                        client=client, **values)
            new_status, status = event.status, STATUS_NAMES[event.status]
    except workflow.ConcurrentChange as exc:
        return Outcome(case_id, False, str(exc), stale=True)
    except REFUSALS as exc:
        return Outcome(case_id, False, f"操作未完成：{exc}")
    return Outcome(case_id, True, f"案件 #{case_id} 已{workflow.ACTIONS[action].label}，当前状态「{status}」",
                   status=new_status)


def batch_transition(engine: Engine, viewer: Viewer, items: list[tuple[int, int | None]], action: str, *,
                     department_code: str | None = None, reason: str = "", comment: str = "",
                     client: str | None = None) -> list[Outcome]:
    """Apply `action` to every (case id, expected version), each in its own transaction. For a dispatch
    without a department, each case goes to its routing suggestion."""
    out: list[Outcome] = []
    for case_id, version in items:
        try:
            with session_scope(engine) as session:
                kw = {}
                if action in ("dispatch", "redispatch"):
                    kw.update(department_code=department_code or _suggested(session, case_id), reason=reason)
                event = workflow.transition(session, case_id, action, viewer, comment, expected_version=version,
                                            client=client, **kw)
                done = STATUS_NAMES[event.status]
            out.append(Outcome(case_id, True, f"#{case_id} {workflow.ACTIONS[action].label}成功 → {done}"))
        except REFUSALS as exc:
            out.append(Outcome(case_id, False, f"#{case_id}：{exc}",
                               stale=isinstance(exc, workflow.ConcurrentChange)))
    return out


def import_cases(engine: Engine, viewer: Viewer, src, *, name: str, source: str, crs: str = "wgs84",  # noqa: ANN001
                 check_only: bool = False, progress: Callable[[int, int], None] | None = None,
                 client: str | None = None) -> importer.ImportReport:
    """Check (`check_only`: read-only, nothing written) or import a file of 12345 / 巡查 cases: every
    row or none (TabularError lists every bad row). The rows are checked and prepared outside the write
    lock; only the final write holds it (events.importer.import_file)."""
    return importer.import_file(engine, src, source, crs, actor=viewer, name=name, client=client,
                                check_only=check_only, progress=progress)


def place_case(engine: Engine, viewer: Viewer, case_id: int, lon: float, lat: float, *, crs: str = "wgs84",
               version: int | None = None, client: str | None = None) -> Outcome:
    """Put a 待定位 case on the map (events.placement.place_event), in its own transaction."""
    try:
        with session_scope(engine) as session:
            event = place_event(session, case_id, lon, lat, viewer, crs=crs, expected_version=version, client=client)
            grid = event.grid_code or event.community_code or event.street_code
    except workflow.ConcurrentChange:
        return Outcome(case_id, False, "案件已被他人修改，请刷新后再定位", stale=True)
    except (*REFUSALS, IntakeError) as exc:
        return Outcome(case_id, False, f"定位未完成：{exc}")
    return Outcome(case_id, True, f"案件 #{case_id} 已定位（{grid}）")


def merge_duplicates(engine: Engine, viewer: Viewer, items: list[tuple[int, int, int | None]], *,
                     comment: str = "", client: str | None = None) -> list[Outcome]:
    """Close each report (case id, the open case it repeats, the version the viewer saw) as 重复 of that
    case (events.duplicates.link), each in its own transaction: the bulk answer to an import's suspects."""
    out: list[Outcome] = []
    for case_id, target_id, version in items:
        try:
            with session_scope(engine) as session:
                duplicates.link(session, case_id, target_id, viewer, comment=comment, expected_version=version,
                                client=client)
            out.append(Outcome(case_id, True, f"#{case_id} 已合并到 #{target_id}（重复上报）", status="duplicate"))
        except REFUSALS as exc:
            out.append(Outcome(case_id, False, f"#{case_id}：{exc}",
                               stale=isinstance(exc, workflow.ConcurrentChange)))
    return out


def confirm_new_case(engine: Engine, viewer: Viewer, case_id: int, *, version: int | None = None,
                     comment: str = "", client: str | None = None) -> Outcome:
    """The operator's answer that a suspected duplicate is a problem of its own."""
    try:
        with session_scope(engine) as session:
            duplicates.confirm_new(session, case_id, viewer, comment=comment, expected_version=version,
                                   client=client)
    except workflow.ConcurrentChange as exc:
        return Outcome(case_id, False, str(exc), stale=True)
    except REFUSALS as exc:
        return Outcome(case_id, False, f"操作未完成：{exc}")
    return Outcome(case_id, True, f"案件 #{case_id} 已确认为新案件（非重复）", status="reported")


def _suggested(session, case_id: int) -> str:  # noqa: ANN001
    event = session.get(Event, case_id)
    suggestion = routing.suggest(session, event) if event is not None else None
    if suggestion is None:
        raise workflow.WorkflowError("没有可推荐的部门，请单独派遣并选择部门")
    return suggestion.department_code
