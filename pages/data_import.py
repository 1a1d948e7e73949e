"""数据导入: upload a file of one kind (boundaries, cases, statistics, the sensor registry, readings,
resources, stock) → 检查 (a dry run: every bad row listed, nothing written) → 确认导入 (the real run,
all rows or none) → where the data now shows. A progress bar follows long files.

The kinds, who may import each and how each runs are in ui/import_kinds.py; the rules are in the
domains. Everything read from the file (names, cells, sheet titles) reaches the screen as plain text:
in tables, and through st.text, never through Markdown.
"""
from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from auth.roles import pages_for
from store.scope import PermissionDenied
from ui import import_kinds
from ui.audit_trail import refuse
from ui.data import app_engine
from ui.session import client_address, require_viewer

viewer = require_viewer()
kinds = import_kinds.kinds_for(viewer.role)
if not kinds:
    refuse(viewer, "您的角色无权导入数据", what="页面 数据导入", object_id="data-import")
engine = app_engine()
client = client_address()

_CHECK_KEY = "data_import_check"    # (fingerprint of file + kind + options, Outcome) of the last check
_DONE_KEY = "data_import_done"      # (kind key, file name, Outcome) of the import just committed
_NONCE_KEY = "data_import_nonce"    # bumped after an import: a fresh, empty file picker


def upload_limit_mb() -> int:
    """The picker's limit: the importers' cap ([import] max_bytes), within the server's own upload cap
    (server.maxUploadSize) — the server refuses anything larger before the page sees it."""
    return max(1, min(import_kinds.max_bytes() // 2**20, int(st.get_option("server.maxUploadSize"))))


def progress_bar(verb: str):  # noqa: ANN201
    """A bar and the `progress(done, total)` callback that moves it, redrawn only when the whole
    percentage changes (an update per row would flood the browser)."""
    bar = st.progress(0, text=f"正在{verb}：读取文件…")
    shown = [-1]

    def update(done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        if percent != shown[0]:
            shown[0] = percent
            bar.progress(min(percent, 100), text=f"正在{verb}：{percent}%")

    return bar, update


def summary_frame(outcome: import_kinds.Outcome, kind: import_kinds.Kind, file_name: str, check: bool) -> pd.DataFrame:
    would = "将" if check else "已"
    rows: list[tuple[str, object]] = [("文件", file_name), ("读取方式", outcome.read_as or "—")]
    if outcome.ok:
        rows += [(f"数据{kind.unit.lstrip('个')}数", outcome.rows), (f"{would}新增", outcome.inserted),
                 (f"{would}更新", outcome.updated)]
    rows += [("说明", note) for note in outcome.notes]
    return pd.DataFrame({"项目": [r[0] for r in rows], "内容": [str(r[1]) for r in rows]})


def problems_frame(outcome: import_kinds.Outcome) -> pd.DataFrame:
    return pd.DataFrame({"位置": [p.where for p in outcome.problems], "列": [p.column for p in outcome.problems],
                         "问题": [p.message for p in outcome.problems]})


def show_report(outcome: import_kinds.Outcome, kind: import_kinds.Kind, file_name: str, *, check: bool) -> None:
    if outcome.ok:
        st.success("检查通过，可以导入：没有发现问题（尚未写入任何数据）" if check else "导入完成")
    else:
        places = len({p.where for p in outcome.problems})
        st.error(f"{'检查' if check else '导入'}未通过：发现 {len(outcome.problems)} 个问题（涉及 {places} 处），"
                 "未写入任何数据。请按下表修正文件后重新上传。")
    st.dataframe(summary_frame(outcome, kind, file_name, check), hide_index=True, width="stretch")
    if outcome.problems:
        st.dataframe(problems_frame(outcome), hide_index=True, width="stretch",
                     height=min(38 + 35 * len(outcome.problems), 600))


def link_to_data(kind: import_kinds.Kind) -> None:
    path, title = kind.shows_at
    if path not in {p.path for p in pages_for(viewer.role)}:
        return
    try:
        st.page_link(path, label=f"前往“{title}”查看导入的数据", icon=":material/arrow_forward:")
    except StreamlitPageNotFoundError:  # the page runs outside app.py's navigation (tests, embedding)
        st.caption(f"导入的数据可在“{title}”页面查看")


st.markdown("### 数据导入")

done = st.session_state.pop(_DONE_KEY, None)
if done is not None:
    done_kind = next((k for k in kinds if k.key == done[0]), None)  # None: the role lost the kind meanwhile
    if done_kind is not None:
        show_report(done[2], done_kind, done[1], check=False)
        link_to_data(done_kind)
        st.divider()

by_key = {k.key: k for k in kinds}
kind = by_key[st.selectbox("导入类型", list(by_key), format_func=lambda key: by_key[key].label, key="data_import_kind")]
st.caption(kind.hint)
options = {opt.key: st.selectbox(opt.label, [v for v, _ in opt.choices], key=f"data_import_{kind.key}_{opt.key}",
                                 format_func=dict(opt.choices).get)
           for opt in kind.options}
nonce = st.session_state.setdefault(_NONCE_KEY, 0)
upload = st.file_uploader(f"选择文件（{' / '.join('.' + s for s in kind.suffixes)}，不超过 {upload_limit_mb()} MB）",
                          type=list(kind.suffixes), key=f"data_import_file_{kind.key}_{nonce}",
                          max_upload_size=upload_limit_mb())
if upload is None:
    st.info("请选择要导入的文件，然后点“检查”。检查只读取文件、不写入任何数据；检查通过后才能确认导入。")
    st.stop()

data = upload.getvalue()
file_name = upload.name
fingerprint = (kind.key, hashlib.sha256(data).hexdigest(), tuple(sorted(options.items())))
st.caption(f"文件大小：{len(data) / 1024:,.1f} KB")



def run_with_progress(label: str, check_only: bool):  # noqa: ANN201 - an import_kinds outcome
    """Run the check or the import with a progress bar; a refusal is shown and ends the run."""
    bar, update = progress_bar(label)
    try:
        return import_kinds.run(kind, engine, viewer, data, file_name, options, check_only=check_only,
                                progress=update, client=client)
    except PermissionDenied as exc:
        st.error(str(exc))
        st.stop()
    finally:
        bar.empty()


if st.button("检查", type="primary", key="data_import_check_button"):
    st.session_state[_CHECK_KEY] = (fingerprint, run_with_progress("检查", check_only=True))

checked = st.session_state.get(_CHECK_KEY)
if checked is None or checked[0] != fingerprint:
    st.stop()  # no check yet of this very file with these options: nothing to confirm

outcome = checked[1]
st.markdown("#### 检查结果")
show_report(outcome, kind, file_name, check=True)
if not outcome.ok:
    st.stop()

if st.button(f"确认导入（{outcome.rows} {kind.unit}）", type="primary", key="data_import_commit_button"):
    result = run_with_progress("导入", check_only=False)
    st.session_state.pop(_CHECK_KEY, None)
    if result.ok:
        # A fresh picker and no confirm button: a second click cannot import the file twice.
        st.session_state[_NONCE_KEY] = nonce + 1
        st.session_state[_DONE_KEY] = (kind.key, file_name, result)
        st.rerun()
    st.markdown("#### 导入结果")
    show_report(result, kind, file_name, check=False)
