"""The geo sub-commands, driven through argparse as manage.py drives them."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from shapely.geometry import box, mapping

from geo import cli, crs
from geo.locate import clear_locator_cache

DATA = Path(__file__).parent / "data" / "geo"


def run(engine, *argv) -> int:  # noqa: ANN001
    parser = argparse.ArgumentParser(prog="manage.py")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    args.database_url = engine.url.render_as_string(hide_password=False)
    return args.func(args)


def test_import_ok_then_locate(db_engine, capsys):
    clear_locator_cache()
    assert run(db_engine, "import-boundaries", str(DATA / "own_format_sample.geojson"), "--crs", "wgs84") == 0
    out = capsys.readouterr().out
    assert out.startswith("导入成功") and "网格 新增 2" in out
    assert run(db_engine, "locate", "110.2", "21.9") == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["市：440900 茂名市", "区县：440902 茂南区", "街道/镇：440902001 示例街道",
                   "社区/村：440902001001 示例社区", "网格：440902001001001 示例社区第1网格"]


def test_import_errors_exit_1_with_numbered_lines(city_engine, tmp_path, capsys):
    bad = tmp_path / "bad.geojson"
    bowtie = {"type": "Polygon", "coordinates": [[[110.1, 21.6], [110.2, 21.7], [110.2, 21.6], [110.1, 21.7], [110.1, 21.6]]]}
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "440902001001009", "name": "好"},
         "geometry": mapping(box(110.05, 21.55, 110.1, 21.6))},
        {"type": "Feature", "properties": {"code": "440902001001010", "name": "坏"}, "geometry": bowtie},
        {"type": "Feature", "properties": {"name": "无码"}, "geometry": mapping(box(110.05, 21.55, 110.1, 21.6))},
    ]}, ensure_ascii=False), encoding="utf-8")
    assert run(city_engine, "import-boundaries", str(bad), "--crs", "wgs84") == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("导入失败") and "未写入任何数据" in lines[0]
    assert lines[1].startswith("第2个要素：边界自相交（位于 110.150000, 21.650000）：自动修复会使面积")
    assert "无法如实修复" in lines[1]
    assert lines[2] == "第3个要素：缺少区划代码（code 或 adcode）"


def test_import_unknown_crs_and_gbk(city_engine, tmp_path, capsys):
    assert run(city_engine, "import-boundaries", str(DATA / "own_format_sample.geojson"), "--crs", "huoxing") == 1
    assert "未知的坐标系" in capsys.readouterr().out
    gbk = tmp_path / "gbk.geojson"
    gbk.write_bytes((DATA / "own_format_sample.geojson").read_text(encoding="utf-8").encode("gbk"))
    assert run(city_engine, "import-boundaries", str(gbk), "--crs", "wgs84", "--check") == 0
    out = capsys.readouterr().out
    assert out.startswith("检查通过（未写入任何数据）") and "读取：文件不是 UTF-8 编码，已按 GBK/GB18030 读取" in out
    assert run(city_engine, "import-boundaries", str(gbk), "--crs", "wgs84", "--encoding", "gbk") == 0
    assert run(city_engine, "import-boundaries", str(tmp_path / "missing.geojson"), "--crs", "wgs84") == 1
    assert "找不到文件" in capsys.readouterr().out


def test_locate_outside_and_other_crs(city_engine, capsys):
    clear_locator_cache()
    assert run(city_engine, "locate", "113.3", "23.1") == 1
    assert capsys.readouterr().out.strip() == "该点不在本系统的任何城市范围内"
    lon, lat = crs.from_wgs84(111.9, 21.1, "bd09")
    assert run(city_engine, "locate", str(lon), str(lat), "--crs", "bd09") == 0
    out = capsys.readouterr().out
    assert out.startswith("WGS-84 坐标：111.9000000, 21.1000000") and "网格：440904002002002" in out
    assert run(city_engine, "locate", "111.9", "21.1", "--crs", "mars") == 2


def test_export(city_engine, tmp_path, capsys):
    out = tmp_path / "sub" / "export.geojson"
    assert run(city_engine, "export-boundaries", str(out), "--root", "440902") == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert len(doc["features"]) == 15 and "已导出 15 个区划" in capsys.readouterr().out
    assert run(city_engine, "export-boundaries", str(out)) == 0  # default root: [city].code
    assert len(json.loads(out.read_text(encoding="utf-8"))["features"]) == 31
    assert run(city_engine, "export-boundaries", str(out), "--root", "440906") == 1


@pytest.mark.parametrize("command", ["import-boundaries", "locate", "export-boundaries"])
def test_help_is_chinese(command, capsys):
    parser = argparse.ArgumentParser(prog="manage.py")
    cli.register(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args([command, "--help"])
    assert any("\u4e00" <= ch <= "\u9fff" for ch in capsys.readouterr().out)
