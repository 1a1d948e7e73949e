"""The shared import-file reader: encodings, headers, line numbers, column types, every bad row in one
report, and hostile files refused with a Chinese message instead of a traceback."""
from __future__ import annotations

import codecs
import io
import re
import struct
import zipfile
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook

import settings
from tabular import (YES_NO, CellError, Choice, Column, Contract, DateTime, Float, Int, Limits, TabularError, Text,
                     read_table)

SH = ZoneInfo("Asia/Shanghai")
C = Contract("测试导入", (
    Column("id", "编号", Text(max_length=8), required=True, aliases=("ID", "工单编号")),
    Column("n", "数量", Int(minimum=0)),
    Column("x", "经度", Float(-180, 180), required=True, aliases=("lon",)),
    Column("t", "时间", DateTime(SH)),
    Column("k", "类型", Choice({"甲": "a", "乙": "b", "A": "a"}, "甲/乙")),
    Column("on", "启用", YES_NO),
))
HEADER = "编号,数量,经度,时间,类型,启用\n"
GOOD = "A1,3,110.1,2026-11-20 09:30,甲,是\n"


def _xlsx(rows, edit=None) -> bytes:  # noqa: ANN001
    wb = Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    if edit:
        edit(ws)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _rewrite(data: bytes, part: str, change) -> bytes:  # noqa: ANN001
    """A copy of a zip with one member's text changed (to write what openpyxl will not: cached values)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            dst.writestr(info, change(body.decode()).encode() if info.filename == part else body)
    return out.getvalue()


def _fails(data, contract=C, **kw) -> TabularError:  # noqa: ANN001
    with pytest.raises(TabularError) as err:
        table = read_table(data, contract, **kw)
        table.raise_if_any()
    assert "Traceback" not in str(err.value)
    return err.value


# -- encodings ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("encode", "label"), [
    (lambda t: t.encode("utf-8"), "UTF-8"),
    (lambda t: codecs.BOM_UTF8 + t.encode("utf-8"), "UTF-8（带 BOM）"),
    (lambda t: t.encode("gbk"), "GBK"),
    (lambda t: t.replace(",", "\t").encode("utf-16"), "UTF-16"),  # Excel's "Unicode 文本": tab-separated
])
def test_encodings_are_detected_and_named(encode, label):
    table = read_table(encode(HEADER + "甲一,3,110.1,,乙,否\n"), C)
    assert table.encoding == label
    assert table.rows[0].values == {"id": "甲一", "n": 3, "x": 110.1, "t": None, "k": "b", "on": False}
    assert label in table.describe()


def test_gb18030_characters_outside_gbk():
    text = HEADER + "𠀀站,1,110.1,,,\n"
    with pytest.raises(UnicodeEncodeError):
        text.encode("gbk")
    table = read_table(text.encode("gb18030"), C)
    assert table.encoding == "GB18030" and table.rows[0].values["id"] == "𠀀站"


def test_undecodable_bytes_name_the_line():
    data = (HEADER + GOOD).encode() + b"B2,\x81\xff\xfe,110.1,,,\n"
    err = _fails(data)
    assert err.errors[0].line == 3 and "不是 UTF-8、GBK 或 GB18030" in str(err)


# -- headers, rows and line numbers ------------------------------------------------------------------------

def test_headers_are_normalised_and_unknown_ones_listed():
    data = "\ufeff ＩＤ ,数　量,LON,备注\nA1,2,110.5,随便\n".encode()
    table = read_table(data, C)
    assert table.columns == ["id", "n", "x"] and table.ignored == ["备注"]
    assert table.rows[0].values["x"] == 110.5


def test_missing_and_duplicate_columns_are_reported_together():
    err = _fails("工单编号,ID,数量\nA,B,1\n".encode())
    text = str(err)
    assert "列「工单编号」和「ID」都表示“编号”" in text and "表头缺少必需的列：经度" in text
    assert [e.line for e in err.errors] == [1, 1]


def test_line_numbers_are_what_the_person_sees():
    data = ("\n\n" + HEADER + GOOD + "\n" + 'B2,x,110.1,,"第一行\n第二行",\n' + "C3,1,abc,,,\n").encode()
    err = _fails(data)
    # header on line 3; the blank line 5 is skipped; the quoted field of line 6 spans two lines.
    assert [(e.line, e.column) for e in err.errors] == [(6, "数量"), (6, "类型"), (8, "经度")]


def test_excel_row_numbers_skip_nothing():
    def gaps(ws):  # noqa: ANN001, ANN202
        ws.insert_rows(1, 2)  # the header moves to row 3
        ws.insert_rows(5)     # a blank row 5 between the data rows
    data = _xlsx([["编号", "经度"], ["A1", "abc"], ["A2", 200]], gaps)
    err = _fails(data)
    assert [(e.line, e.column) for e in err.errors] == [(4, "经度"), (6, "经度")]
    assert err.source == "Excel，工作表「Sheet」"


def test_every_bad_row_in_one_report_with_the_importers_own_errors():
    data = (HEADER + GOOD
            + "TOO-LONG-ID,-1,181,昨天,丙,也许\n"   # line 3: six problems
            + ",,110.1,,,\n"                        # line 4: a required cell is blank
            + "D4,2,110.1,2026/1/5 9:30,A,1,多余\n"  # line 5: more fields than the header
            + "E5,1e3,110.1,,,\n").encode()        # line 6 is good (1e3 is an integer)
    table = read_table(data, C)
    assert {r.line: r.ok for r in table.rows} == {2: True, 3: False, 4: False, 5: False, 6: True}
    assert table.rows[3].values["t"] == datetime(2026, 1, 5, 9, 30, tzinfo=SH) and table.rows[4].values["n"] == 1000
    with pytest.raises(TabularError) as err:
        table.raise_if_any([CellError(2, "编号 A1 已存在"), CellError(6, "领域规则不允许")])
    lines = [e.line for e in err.value.errors]
    assert lines == sorted(lines) and lines.count(3) == 6 and set(lines) == {2, 3, 4, 5, 6}
    text = str(err.value)
    for expected in ("测试导入失败（CSV，编码 UTF-8）：5 行有错误，共 10 处，未写入任何数据",
                     "第 3 行「编号」：不能超过 8 个字符（实际 11 个）", "第 3 行「数量」：应为不小于 0 的整数，收到“-1”",
                     "第 3 行「经度」：应为 -180～180 之间的数，收到 181", "第 3 行「时间」：无法识别的时间「昨天」",
                     "第 3 行「类型」：应为甲/乙，收到“丙”", "第 3 行「启用」：应为是/否", "第 4 行「编号」：不能为空",
                     "第 5 行：比表头多出 1 个字段", "第 2 行：编号 A1 已存在", "第 6 行：领域规则不允许"):
        assert expected in text, expected


def test_report_prints_at_most_a_thousand_lines_but_carries_all():
    err = TabularError([CellError(n, "坏") for n in range(2, 1503)], "大导入")
    assert len(err.errors) == 1501 and "……另有 501 处错误未列出" in str(err)
    assert err.report(limit=None).count("\n") == 1501


# -- cell types ----------------------------------------------------------------------------------------------

def test_excel_cells_keep_their_meaning():
    data = _xlsx([["编号", "数量", "经度", "时间", "启用"],
                  [20261120, 5.0, 110, datetime(2026, 11, 20, 9, 30), True]])
    v = read_table(data, C).rows[0].values
    assert v == {"id": "20261120", "n": 5, "x": 110.0, "t": datetime(2026, 11, 20, 9, 30, tzinfo=SH),
                 "k": None, "on": True}


def test_times_with_and_without_a_zone():
    strict = Contract("读数导入", (Column("ts", "时间", DateTime(None, hint="可用 --assume-tz 指定时区"),
                                            required=True),))
    table = read_table("时间\n2026-11-25T10:00:00+08:00\n2026-11-25T02:00:00Z\n2026-11-25 10:00\n".encode(), strict)
    assert table.rows[0].values["ts"] == table.rows[1].values["ts"]
    assert table.rows[0].values["ts"].utcoffset() == timedelta(hours=8)
    assert str(table.errors[0]) == "第 4 行「时间」：时间「2026-11-25 10:00」没有时区（如 +08:00）：可用 --assume-tz 指定时区"
    local = read_table("时间\n2026年11月25日 10:00\n20261125\n".encode(),
                       Contract("x", (Column("ts", "时间", DateTime(SH)),)))
    assert [r.values["ts"] for r in local.rows] == [datetime(2026, 11, 25, 10, tzinfo=SH), datetime(2026, 11, 25, tzinfo=SH)]
    assert local.rows[0].values["ts"].astimezone(timezone.utc).hour == 2


def test_thousands_separators_only_where_declared():
    stats = Contract("x", (Column("v", "数值", Float(thousands=True)), Column("w", "面积", Float())))
    table = read_table('数值,面积\n"1,234.5","1,5"\n'.encode(), stats)
    assert table.rows[0].values["v"] == 1234.5 and str(table.errors[0]) == "第 2 行「面积」：「1,5」不是数字"
    assert "不是有效数字" in str(read_table("数值\nnan\n".encode(), stats).errors[0])


def test_a_contract_may_not_give_one_header_to_two_columns():
    with pytest.raises(ValueError, match="claimed by both"):
        Contract("x", (Column("a", "编号"), Column("b", "号码", aliases=("编号",))))


# -- hostile and wrong files -----------------------------------------------------------------------------------

def test_field_over_the_csv_limit_is_a_chinese_message():
    data = (HEADER + GOOD + 'B2,1,110.1,,"' + "长" * 140_000 + "\n" + GOOD).encode()
    err = _fails(data)
    assert err.errors[0].line == 3 and "超过 131072 个字符" in str(err) and "引号未配对" in str(err)


def test_nul_bytes_are_refused_by_line():
    err = _fails((HEADER + GOOD + "B\x002,1,110.1,,,\n" + GOOD + "C\x00,1,110.1,,,\n").encode())
    assert [e.line for e in err.errors] == [3, 5] and "空字符" in str(err)
    utf16_without_bom = (HEADER + GOOD).encode("utf-16-le")
    assert "UTF-16" in str(_fails(utf16_without_bom))


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"", None, "文件是空的"),
    (codecs.BOM_UTF8 + b"\r\n\r\n", None, "文件是空的"),
    (b"\n\n,,,\n", None, "没有表头和数据"),
    (HEADER.encode(), None, "只有表头，没有数据行"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", None, "PDF 文件"),
    (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", None, "PNG 图片"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, None, "旧版 .xls"),
    (b"{}", "data.json", "不支持的文件类型「.json」"),
    (b"a,b\n1,2\n", "data.xlsx", "内容不是 Excel 工作簿"),
    (b"PK\x03\x04 not really a zip", None, "已损坏"),
    (bytes(range(256)) * 4, None, "不是 UTF-8、GBK 或 GB18030"),
])
def test_files_that_are_not_tables(data, name, message):
    assert message in str(_fails(data, name=name))


def test_a_zip_that_is_not_a_workbook():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
    assert "不是 Excel 工作簿" in str(_fails(buf.getvalue()))


def test_zip_bomb_is_refused_before_decompressing():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"\0" * (4 * 2**20))
    data = buf.getvalue()
    assert len(data) < 20_000
    err = _fails(data, limits=Limits(max_unzipped_bytes=2**20))
    assert "超过上限 1 MB" in str(err) and "压缩炸弹" in str(err)
    # An archive that declares a harmless size but holds more never inflates past what it declared:
    # zipfile stops at the declared size and the CRC check fails, which reads as a damaged file.
    small = _xlsx([["编号", "经度"], ["A", 1]])
    with zipfile.ZipFile(io.BytesIO(small)) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    lying = bytearray(small)
    name_at = small.find(b"xl/worksheets/sheet1.xml", small.find(b"PK\x01\x02"))  # its central directory entry
    entry = name_at - 46  # the fixed part of a central directory header
    assert lying[entry:entry + 4] == b"PK\x01\x02"
    struct.pack_into("<I", lying, entry + 24, info.file_size // 2)  # the declared uncompressed size
    assert "已损坏" in str(_fails(bytes(lying)))


def test_row_and_column_caps():
    limits = Limits(max_rows=2, max_columns=6)
    assert read_table((HEADER + GOOD * 2 + "\n\n").encode(), C, limits=limits).rows[1].line == 3
    err = _fails((HEADER + GOOD * 3).encode(), limits=limits)
    assert err.errors[0].line == 4 and "超过 2 行" in str(err)
    err = _fails((HEADER.strip() + ",a,b\n" + GOOD).encode(), limits=limits)
    assert "有 8 列，超过上限 6 列" in str(err)
    err = _fails(_xlsx([["编号", "经度", *"abcdef"], ["A", 1]]), limits=limits)
    assert "超过 6 列" in str(err) and err.errors[0].line == 1


def test_caps_come_from_settings(monkeypatch):
    monkeypatch.setenv("CITYOPS_IMPORT_MAX_ROWS", "1")
    settings.reload_settings()
    try:
        assert Limits.from_settings().max_rows == 1
        assert "超过 1 行" in str(_fails((HEADER + GOOD * 2).encode()))
    finally:
        monkeypatch.delenv("CITYOPS_IMPORT_MAX_ROWS")
        settings.reload_settings()


def test_excel_formulas_are_read_as_their_saved_values():
    def formulas(ws):  # noqa: ANN001, ANN202
        ws["B2"] = "=100+10.5"         # saved below with its result
        ws["B3"] = "=1/0"              # saved below with an error result
        ws["B4"] = "=A4*2"             # never calculated: no saved result
        ws["A5"].value = "=1+1"
        ws["A5"].data_type = "s"       # text that only looks like a formula stays text
        ws["B5"] = 111

    data = _xlsx([["编号", "经度"], ["A2"], ["A3"], ["A4"], [None]], formulas)

    def cache(xml: str) -> str:
        xml = re.sub(r'(<c r="B2"[^>]*>)<f>(.*?)</f><v\s*/?>(</v>)?', r"\1<f>\2</f><v>110.5</v>", xml)
        return re.sub(r'<c r="B3"([^>]*)>(<f>.*?</f>)<v\s*/?>(</v>)?', r'<c r="B3" t="e"\1>\2<v>#DIV/0!</v>', xml)

    data = _rewrite(data, "xl/worksheets/sheet1.xml", cache)
    table = read_table(data, C)
    assert [r.values["x"] for r in table.rows] == [110.5, None, None, 111.0]
    assert table.rows[3].values["id"] == "=1+1"
    assert [(e.line, e.column) for e in table.errors] == [(3, "经度"), (4, "经度")]
    assert "错误值 #DIV/0!" in table.errors[0].message
    assert "没有保存计算结果" in table.errors[1].message and "=A4*2" in table.errors[1].message


def test_uploads_paths_and_names(tmp_path):
    upload = io.BytesIO((HEADER + GOOD).encode())
    upload.name = "上报.csv"
    table = read_table(upload, C)
    assert table.name == "上报.csv" and table.rows[0].values["id"] == "A1"
    path = tmp_path / "工单.xlsx"
    path.write_bytes(_xlsx([["编号", "经度"], ["A", 1]]))
    assert read_table(path, C).name == "工单.xlsx"
    assert "文件不存在" in str(_fails(tmp_path / "missing.csv"))
    assert "超过单次导入上限" in str(_fails(path, limits=Limits(max_bytes=100)))


def test_other_delimiters():
    for sep in ("\t", ";"):
        table = read_table((HEADER + GOOD).replace(",", sep).encode(), C)
        assert table.rows[0].values["x"] == 110.1 and table.delimiter == sep
