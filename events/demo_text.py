"""Wording for generated demo cases: reporter names, phone numbers, addresses, titles and comments.

Everything here is generated and looks it: phone numbers use the 10x prefix, which no Chinese mobile
or fixed line has, and ID numbers the region code 000000, which no resident ID has — so a demo record
can never be a real person's data, while masking still has realistic values to work on.
"""
from __future__ import annotations

import numpy as np

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高梁郑谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程苏魏吕丁任沈"
                "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬斌宇浩凯健俊帆帅旭宁琳晨辉鹏欣婷"
             "建国志明海波文斌小红春梅秋菊冬梅振华德胜家豪嘉怡子涵梓轩雨桐思远")
ROADS = ["人民路", "油城路", "站前路", "光华路", "文明路", "官渡路", "迎宾路", "双山路", "新湖路", "河西路", "建设路",
         "解放路", "中山路", "红旗路", "环市路", "高凉路", "民主路", "新华路", "健康路", "和平路", "兴华路", "德政路"]
PLACES = ["市场", "学校", "小区", "公交站", "公园", "医院", "广场", "商场", "菜市场", "工地", "村口", "桥头"]

REPORT_TEXT = {
    "市容环境": "现场发现{sub}，影响市容环境卫生，请尽快处理。",
    "宣传广告": "{sub}，影响街面观瞻，请相关部门清理整治。",
    "施工管理": "附近工地{sub}，周边居民反映强烈。",
    "突发事件": "{sub}，存在安全隐患，请立即派人处置！",
    "街面秩序": "{sub}，占用人行道，影响行人通行。",
    "其他事件": "{sub}，请相关部门核实处理。",
    "公用设施": "{sub}损坏/缺失，存在安全隐患。",
    "道路交通": "{sub}损坏，影响交通安全。",
    "园林绿化": "{sub}受损，需修剪或补种。",
    "房屋土地": "{sub}存在安全隐患，请核查。",
    "其他设施": "{sub}异常，请核查处理。",
}
HOTLINE_PREFIX = ["市民来电反映：", "市民反映：", "来电人称：", "群众反映："]

COMMENTS = {
    "reject": ["经核实不属于城市管理问题，已告知反映人", "重复上报，已并入原案卷", "现场核实无此问题", "属于私人产权纠纷，建议通过司法途径解决"],
    "return": ["不属于本单位职责范围，请重新派遣", "该路段设施产权不属本单位", "经核实应由属地街道处置"],
    "feedback": ["已现场处置完毕，恢复原状", "已清理完毕，现场整洁", "已对当事人批评教育并责令整改，现已整改到位",
                 "已安排维修班组更换修复", "已联合执法中队现场处置，问题已解决"],
    "request_extension": ["需协调产权单位，申请延期", "材料需采购，申请延期处理", "受天气影响无法施工，申请延期"],
    "reject_extension": ["延期理由不充分，请按时处置"],
    "request_hang": ["涉及规划调整，需纳入年度计划解决", "需财政专项资金，短期无法解决", "历史遗留问题，需多部门联合研究"],
    "verify_fail": ["现场复核问题仍然存在", "整改不彻底，仍有残留", "复核发现问题反弹"],
    "rework": ["核查未通过，请返工处置并重新反馈"],
}


def names(rng: np.random.Generator, n: int) -> np.ndarray:
    s = np.array(SURNAMES, dtype=object)[rng.integers(len(SURNAMES), size=n)]
    g1 = np.array(GIVEN, dtype=object)[rng.integers(len(GIVEN), size=n)]
    g2 = np.array(GIVEN, dtype=object)[rng.integers(len(GIVEN), size=n)]
    two = rng.random(n) < 0.6
    return np.where(two, s + g1 + g2, s + g1)


def phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """11-digit numbers starting 10x: shaped like mobiles, assigned to nobody."""
    digits = rng.integers(0, 10**9, size=n)
    return np.array([f"10{d:09d}" for d in digits], dtype=object)


_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = "10X98765432"


def id_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """18-character IDs with a valid check digit but region 000000 (no such region exists)."""
    years = rng.integers(1950, 2005, size=n)
    months = rng.integers(1, 13, size=n)
    days = rng.integers(1, 29, size=n)
    seq = rng.integers(0, 1000, size=n)
    out = []
    for y, m, d, s in zip(years, months, days, seq):
        body = f"000000{y:04d}{m:02d}{d:02d}{s:03d}"
        check = _ID_CHECK[int(np.dot(_ID_WEIGHTS, [int(c) for c in body])) % 11]
        out.append(body + check)
    return np.array(out, dtype=object)


def addresses(rng: np.random.Generator, street_names: np.ndarray) -> np.ndarray:
    roads = np.array(ROADS, dtype=object)[rng.integers(len(ROADS), size=len(street_names))]
    numbers = rng.integers(1, 300, size=len(street_names))
    places = np.array(PLACES, dtype=object)[rng.integers(len(PLACES), size=len(street_names))]
    near = rng.random(len(street_names)) < 0.4
    base = street_names.astype(object) + roads + np.array([f"{k}号" for k in numbers], dtype=object)
    return np.where(near, street_names.astype(object) + roads + places + "附近", base)


def pick(rng: np.random.Generator, action: str, n: int) -> np.ndarray:
    options = np.array(COMMENTS[action], dtype=object)
    return options[rng.integers(len(options), size=n)]
