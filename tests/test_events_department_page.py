"""部门处置 as a department user (issue #18 defects 2 and 8): after 签收, 处置反馈, 退回 and 延期申请 the page
stays on the case acted on — the list switches to the stage the case is in now, the message sits directly
above that case's panel and the buttons are that case's; a case that has left the department's lists is
named in a message of its own and no other case is opened in its place. The sidebar's district picker
(the `region` in the URL) narrows the figures and the list."""
from __future__ import annotations

import re

from sqlalchemy import select

from events import workflow
from events.statuses import stage_of
from store.db import session_scope
from store.models import Event
from tests.test_events_pages import _app, _click, _ok, _status, app_db  # noqa: F401 - app_db is a fixture
from tests.test_events_support import CITY_CGJ, DUTY, OTHER_POINT, dept, drive, new_case


def _flat(node):  # noqa: ANN001, ANN202
    """Every element of the page in the order it is drawn."""
    for child in getattr(node, "children", {}).values():
        yield child
        yield from _flat(child)


def _shown(markdown: str) -> str:
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def _panels(at) -> list[int]:  # noqa: ANN001
    """Ids of the case panels drawn (each starts with a "#### #<id> <title>" heading)."""
    return [int(m.group(1)) for m in (re.match(r"#### #(\d+) ", e.value) for e in at.markdown) if m]


def _message_then_panel(at) -> tuple[str, int | None]:  # noqa: ANN001
    """The first success/warning message and the id of the first case panel drawn after it."""
    message, panel = None, None
    for el in _flat(at.main):
        if message is None and el.type in ("alert", "success", "warning") and hasattr(el, "value"):
            message = _shown(str(el.value))
        elif message is not None and el.type == "markdown":
            m = re.match(r"#### #(\d+) ", str(el.value))
            if m:
                panel = int(m.group(1))
                break
    return message or "", panel


def _cases(engine, n: int, status: str) -> list[int]:  # noqa: ANN001
    with session_scope(engine) as s:
        ids = [new_case(s, title=f"测试案件{i}").id for i in range(n)]
        for i in ids:
            drive(s, i, status)
    return ids


def test_signing_a_case_stays_on_that_case(app_db):
    first, second = _cases(app_db, 2, "dispatched")
    staff = dept()
    at = _app("department.py", staff)
    _ok(at)
    assert _panels(at) == [first]  # the tab's first case is open
    at.selectbox(key="dept_pick_待签收").set_value(second).run()
    assert _panels(at) == [second]
    at = _click(_click(at, "签收"), "确认签收")
    _ok(at)
    assert _status(app_db, second) == "handling"
    assert at.button_group(key="dept_tab").value == stage_of("handling").label
    message, panel = _message_then_panel(at)
    assert f"案件 #{second} 已签收" in message and panel == second
    assert _panels(at) == [second] and at.selectbox(key="dept_pick_处置中").value == second
    assert "处置反馈" in [b.label for b in at.button]  # the buttons are this case's (in hand now)

    # 处置反馈: the case moves on to 待核查/结案, and so does the page.
    at = _click(at, "处置反馈")
    at.text_area[0].input("已清理完毕")
    at = _click(at, "确认处置反馈")
    _ok(at)
    assert _status(app_db, second) == "handled"
    assert at.button_group(key="dept_tab").value == stage_of("handled").label
    message, panel = _message_then_panel(at)
    assert f"案件 #{second} 已处置反馈" in message and panel == second
    # The other case never became the open one.
    assert first not in _panels(at)


def test_a_refused_action_keeps_its_message_on_its_case(app_db):
    _other, case = _cases(app_db, 2, "handling")
    at = _app("department.py", dept())
    at.button_group(key="dept_tab").set_value("处置中").run()
    at.selectbox(key="dept_pick_处置中").set_value(case).run()
    at = _click(at, "处置反馈")
    at = _click(at, "确认处置反馈")  # without the required 处置情况
    message, panel = _message_then_panel(at)
    assert "须填写处置情况" in message and panel == case
    assert _status(app_db, case) == "handling"


def test_an_extension_request_stays_on_the_case(app_db):
    _other, case = _cases(app_db, 2, "handling")
    at = _app("department.py", dept())
    at.button_group(key="dept_tab").set_value("处置中").run()
    at.selectbox(key="dept_pick_处置中").set_value(case).run()
    at = _click(at, "延期申请")
    at.text_area[0].input("需采购配件")
    at = _click(at, "确认延期申请")
    _ok(at)
    assert _status(app_db, case) == "extension_requested"
    message, panel = _message_then_panel(at)
    assert f"案件 #{case} 已延期申请" in message and panel == case
    assert at.selectbox(key="dept_pick_处置中").value == case


def test_a_returned_case_leaves_and_no_other_case_takes_its_place(app_db):
    first, second = _cases(app_db, 2, "dispatched")
    at = _app("department.py", dept())
    at.selectbox(key="dept_pick_待签收").set_value(second).run()
    at = _click(at, "退回")
    at.text_area[0].input("不属于本部门职责")
    at = _click(at, "确认退回")
    _ok(at)
    assert _status(app_db, second) != "dispatched"
    message, panel = _message_then_panel(at)
    assert f"案件 #{second} 已退回" in message and panel is None
    assert _panels(at) == [] and at.selectbox(key="dept_pick_待签收").value is None
    # The user picks the next case themselves.
    at.selectbox(key="dept_pick_待签收").set_value(first).run()
    assert _panels(at) == [first]


def test_the_district_picker_narrows_the_list_and_the_figures(app_db):
    with session_scope(app_db) as s:
        west = new_case(s, title="茂南的案件").id
        east = new_case(s, point=OTHER_POINT, title="电白的案件").id
        for eid in (west, east):
            drive(s, eid, "registered")
            workflow.transition(s, eid, "dispatch", DUTY, department_code=CITY_CGJ, reason="城管执法")
    staff = dept(CITY_CGJ)
    at = _app("department.py", staff)
    _ok(at)
    listed = set(at.dataframe[0].value["编号"])
    assert listed == {west, east}
    assert next(m for m in at.metric if m.label == "在办").value == "2"
    at = _app("department.py", staff)
    at.query_params["region"] = "440904"
    at.run()
    _ok(at)
    assert set(at.dataframe[0].value["编号"]) == {east}
    assert next(m for m in at.metric if m.label == "在办").value == "1"
    assert any("电白区" in _shown(m.value) for m in at.markdown)  # the heading names the district
    with session_scope(app_db, readonly=True) as s:
        assert s.execute(select(Event.district_code).where(Event.id == east)).scalar_one() == "440904"
