"""The grid officer's report form (我的网格 · 上报事件, issue #18 defects 3–5) and the text limits behind every
case form: required fields each with a Chinese message and no case written; one case per form however
often it is submitted (the token is kept by the domain); the form emptied after success with the new
case number shown; every text field held to events.limits in the domain, not only by the widget; a
refused photo (not an image, too large, too many) says why in Chinese and no case is created."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

import settings
from emergency import incidents
from events import actions, intake, workflow
from events.limits import LIMITS
from store.db import session_scope
from store.models import Event
from tests.test_events_pages import _app, _click, _messages, _ok, app_db  # noqa: F401 - app_db is a fixture
from tests.test_events_support import DUTY, GRID_OFFICER, POINT, dept, drive, jpeg_bytes, mg, new_case


def _count(engine) -> int:  # noqa: ANN001
    with session_scope(engine, readonly=True) as s:
        return s.scalar(select(func.count(Event.id)))


def _fill(at, *, description: str = "桥头两侧垃圾堆积，有异味"):  # noqa: ANN001, ANN202
    at.selectbox(key=mg(at, "category")).set_value("市容环境").run()
    at.selectbox(key=mg(at, "subcategory")).set_value("暴露垃圾").run()
    at.text_area(key=mg(at, "description")).input(description)
    at.number_input(key=mg(at, "lon")).set_value(POINT[0])
    at.number_input(key=mg(at, "lat")).set_value(POINT[1])
    return at


def _shown(markdown: str) -> str:
    """What a Markdown body shows: ui.plain escapes every ASCII punctuation character of outside text."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def _errors(at) -> str:  # noqa: ANN001
    return _shown(" ".join(str(e.value) for e in at.error))


def test_an_empty_report_names_every_missing_field_and_writes_nothing(app_db):
    at = _app("my_grid.py", GRID_OFFICER)
    _ok(at)
    at = _click(at, "提交上报")
    _ok(at)
    errors = _errors(at)
    for expected in ("请选择问题大类", "请选择问题小类", "点选位置", "请填写问题描述"):
        assert expected in errors, errors
    assert _count(app_db) == 0
    # A description alone is still not a report: the location and the classification are missing.
    at.text_area(key=mg(at, "description")).input("有垃圾")
    at = _click(at, "提交上报")
    assert "请选择问题大类" in _errors(at) and "请填写问题描述" not in _errors(at)
    assert _count(app_db) == 0


def test_a_report_empties_the_form_and_shows_the_new_case_number(app_db):
    at = _fill(_app("my_grid.py", GRID_OFFICER))
    at.text_input(key=mg(at, "title")).input("桥头垃圾")
    at.text_input(key=mg(at, "address")).input("桥头路 1 号")
    at = _click(at, "提交上报")
    _ok(at)
    with session_scope(app_db, readonly=True) as s:
        event = s.execute(select(Event)).scalar_one()
        assert (event.title, event.address, event.description) == ("桥头垃圾", "桥头路 1 号", "桥头两侧垃圾堆积，有异味")
        assert event.client_token and event.reporter_user == GRID_OFFICER.username
    assert f"案件编号 #{event.id}" in _shown(_messages(at))
    assert at.text_input(key=mg(at, "title")).value == "" and at.text_area(key=mg(at, "description")).value == ""
    assert at.selectbox(key=mg(at, "category")).value is None and at.number_input(key=mg(at, "lon")).value is None
    # The new case is the one open in 我的案件.
    assert at.selectbox(key="mg_pick").value == event.id
    # Submitting the emptied form is refused as empty, not taken as a second report.
    at = _click(at, "提交上报")
    assert "请选择问题大类" in _errors(at) and _count(app_db) == 1


def test_the_same_form_submitted_twice_makes_one_case(app_db):
    token = "t" * 32
    kw = dict(category="市容环境", subcategory="暴露垃圾", lon=POINT[0], lat=POINT[1], description="垃圾",
              client_token=token)
    first = actions.report_case(app_db, GRID_OFFICER, **kw)
    again = actions.report_case(app_db, GRID_OFFICER, **kw)
    assert first.ok and again.ok and again.repeated and not first.repeated
    assert first.case_id == again.case_id and "未重复上报" in again.message
    assert _count(app_db) == 1
    # Another officer cannot use (or learn the case behind) someone else's token.
    other = actions.report_case(app_db, GRID_OFFICER.__class__("g9", "grid_officer", GRID_OFFICER.zone_code), **kw)
    assert not other.ok and "表单标识无效" in other.message
    assert _count(app_db) == 1


def test_two_submits_racing_past_the_lookup_still_make_one_case(app_db, monkeypatch):
    """Both submits look the token up before either has inserted: the unique column lets one insert
    through and the other answers with the case the first created."""
    token = "r" * 32
    kw = dict(category="市容环境", subcategory="暴露垃圾", lon=POINT[0], lat=POINT[1], description="垃圾",
              client_token=token)
    first = actions.report_case(app_db, GRID_OFFICER, **kw)
    real = intake.case_for_token
    calls = {"n": 0}

    def blind_first_lookup(session, tok, actor):  # noqa: ANN001, ANN202
        calls["n"] += 1
        return None if calls["n"] == 1 else real(session, tok, actor)

    monkeypatch.setattr(intake, "case_for_token", blind_first_lookup)
    late = actions.report_case(app_db, GRID_OFFICER, **kw)
    assert late.ok and late.repeated and late.case_id == first.case_id
    assert _count(app_db) == 1


def test_a_bad_token_is_refused(app_db):
    out = actions.report_case(app_db, GRID_OFFICER, category="市容环境", subcategory="暴露垃圾", lon=POINT[0],
                              lat=POINT[1], description="垃圾", client_token="<script>")
    assert not out.ok and "表单标识无效" in out.message and _count(app_db) == 0


@pytest.mark.parametrize("field", ["title", "description", "address", "reporter_name"])
def test_every_report_text_has_a_limit_in_the_domain(app_db, field):
    too_long = "长" * (LIMITS[field] + 1)
    kw = dict(category="市容环境", subcategory="暴露垃圾", lon=POINT[0], lat=POINT[1], description="垃圾")
    kw[field] = too_long
    out = actions.report_case(app_db, GRID_OFFICER, **kw)
    assert not out.ok and f"不能超过 {LIMITS[field]} 字" in out.message, out.message
    # Imports and sensors go through create_event: the same limit, the same message.
    with pytest.raises(intake.IntakeError, match=f"不能超过 {LIMITS[field]} 字"):
        with session_scope(app_db) as s:
            new_case(s, **({"title": too_long} if field == "title" else {field: too_long}))
    assert _count(app_db) == 0


def test_a_30000_character_description_is_refused_and_the_widgets_state_their_limits(app_db):
    out = actions.report_case(app_db, GRID_OFFICER, category="市容环境", subcategory="暴露垃圾", lon=POINT[0],
                              lat=POINT[1], description="字" * 30_000)
    assert not out.ok and "问题描述不能超过 2000 字（现有 30000 字）" in out.message
    at = _app("my_grid.py", GRID_OFFICER)
    assert at.text_area(key=mg(at, "description")).proto.max_chars == LIMITS["description"]
    for key, field in (("title", "title"), ("address", "address"), ("rname", "reporter_name"),
                       ("rphone", "reporter_phone")):
        assert at.text_input(key=mg(at, key)).proto.max_chars == LIMITS[field], key


def test_workflow_comments_and_emergency_notes_have_limits(app_db):
    with session_scope(app_db) as s:
        eid = new_case(s).id
        drive(s, eid, "handling")
    out = actions.transition(app_db, dept(), eid, "feedback", "清" * (LIMITS["comment"] + 1))
    assert not out.ok and f"不能超过 {LIMITS['comment']} 字" in out.message
    with session_scope(app_db) as s:
        with pytest.raises(workflow.WorkflowError, match="备注不能超过"):
            workflow.add_note(s, eid, "记" * (LIMITS["comment"] + 1), actor=DUTY)
    with pytest.raises(ValueError, match="记录内容不能超过"):
        incidents.check_text("note", "记" * (incidents.TEXT_LIMITS["note"] + 1))
    # The case panel's comment box states the same limit.
    at = _app("department.py", dept())
    at.button_group(key="dept_tab").set_value("处置中").run()
    at = _click(at, "处置反馈")
    assert at.text_area[0].proto.max_chars == LIMITS["comment"]


def _pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def test_a_pdf_as_photo_is_refused_in_chinese_and_no_case_is_created(app_db):
    at = _fill(_app("my_grid.py", GRID_OFFICER))
    at.file_uploader(key=mg(at, "photos")).set_value(("现场.pdf", _pdf(), "application/pdf")).run()
    assert "照片「现场.pdf」不是 JPEG 或 PNG 图片" in _errors(at)  # said at once, before submitting
    at = _click(at, "提交上报")
    _ok(at)
    assert "上报未提交" in _errors(at) and "不是 JPEG 或 PNG 图片" in _errors(at)
    assert _count(app_db) == 0


def test_too_many_or_too_large_photos_are_refused_and_no_case_is_created(app_db, monkeypatch):
    base = dict(category="市容环境", subcategory="暴露垃圾", lon=POINT[0], lat=POINT[1], description="垃圾")
    four = [(f"{i}.jpg", jpeg_bytes()) for i in range(4)]
    out = actions.report_case(app_db, GRID_OFFICER, photos=four, **base)
    assert not out.ok and "最多上传 3 张照片" in out.message
    monkeypatch.setenv("CITYOPS_APP_UPLOAD_MAX_MB", "0.0001")
    settings.reload_settings()
    try:
        out = actions.report_case(app_db, GRID_OFFICER, photos=[("大.jpg", jpeg_bytes())], **base)
    finally:
        monkeypatch.delenv("CITYOPS_APP_UPLOAD_MAX_MB")
        settings.reload_settings()
    assert not out.ok and "超过上限" in out.message
    assert _count(app_db) == 0
    # A good photo still goes through with the case.
    out = actions.report_case(app_db, GRID_OFFICER, photos=[("好.jpg", jpeg_bytes())], **base)
    assert out.ok
    with session_scope(app_db, readonly=True) as s:
        assert len(s.get(Event, out.case_id).photos) == 1


def test_a_typed_location_is_not_overwritten_and_the_photo_rules_are_stated(app_db):
    at = _fill(_app("my_grid.py", GRID_OFFICER))
    labels = [u.proto.label for u in at.get("file_uploader")]
    assert any("JPEG/PNG" in label and "MB" in label and "最多 3 张" in label for label in labels), labels
    at.run()
    assert (at.number_input(key=mg(at, "lon")).value, at.number_input(key=mg(at, "lat")).value) == POINT
