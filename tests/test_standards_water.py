"""GB 3838-2002 surface water classes. Expected classes are read off the standard's table 1 by hand."""
from __future__ import annotations

import pytest

from standards.water import WaterResult, class_rank, classify, meets_target

# (item, value, class in a river, class in a lake); at each limit and just past it.
ITEM_CASES = [
    ("pH", 6, "I", "I"), ("pH", 9, "I", "I"), ("pH", 7.4, "I", "I"),
    ("pH", 5.99, "劣V", "劣V"), ("pH", 9.01, "劣V", "劣V"),
    # DO: at least the limit
    ("DO", 8.2, "I", "I"), ("DO", 7.5, "I", "I"), ("DO", 7.49, "II", "II"), ("DO", 6, "II", "II"),
    ("DO", 5.99, "III", "III"), ("DO", 5, "III", "III"), ("DO", 4.99, "IV", "IV"), ("DO", 3, "IV", "IV"),
    ("DO", 2.99, "V", "V"), ("DO", 2, "V", "V"), ("DO", 1.99, "劣V", "劣V"),
    ("CODMn", 2, "I", "I"), ("CODMn", 2.01, "II", "II"), ("CODMn", 4, "II", "II"),
    ("CODMn", 4.01, "III", "III"), ("CODMn", 6, "III", "III"), ("CODMn", 6.01, "IV", "IV"),
    ("CODMn", 10, "IV", "IV"), ("CODMn", 10.01, "V", "V"), ("CODMn", 15, "V", "V"),
    ("CODMn", 15.01, "劣V", "劣V"),
    # COD and BOD5 share their class I and II limits: the best class wins
    ("COD", 15, "I", "I"), ("COD", 15.1, "III", "III"), ("COD", 20, "III", "III"),
    ("COD", 20.1, "IV", "IV"), ("COD", 30, "IV", "IV"), ("COD", 30.1, "V", "V"), ("COD", 40, "V", "V"),
    ("COD", 40.1, "劣V", "劣V"),
    ("BOD5", 3, "I", "I"), ("BOD5", 3.1, "III", "III"), ("BOD5", 4, "III", "III"),
    ("BOD5", 4.1, "IV", "IV"), ("BOD5", 6, "IV", "IV"), ("BOD5", 6.1, "V", "V"), ("BOD5", 10, "V", "V"),
    ("BOD5", 10.1, "劣V", "劣V"),
    ("NH3-N", 0.15, "I", "I"), ("NH3-N", 0.16, "II", "II"), ("NH3-N", 0.5, "II", "II"),
    ("NH3-N", 0.51, "III", "III"), ("NH3-N", 1.0, "III", "III"), ("NH3-N", 1.01, "IV", "IV"),
    ("NH3-N", 1.5, "IV", "IV"), ("NH3-N", 1.51, "V", "V"), ("NH3-N", 2.0, "V", "V"),
    ("NH3-N", 2.01, "劣V", "劣V"),
    # TP: river limits 0.02/0.1/0.2/0.3/0.4, lake limits 0.01/0.025/0.05/0.1/0.2
    ("TP", 0.01, "I", "I"), ("TP", 0.011, "I", "II"), ("TP", 0.02, "I", "II"), ("TP", 0.021, "II", "II"),
    ("TP", 0.025, "II", "II"), ("TP", 0.026, "II", "III"), ("TP", 0.05, "II", "III"),
    ("TP", 0.051, "II", "IV"), ("TP", 0.1, "II", "IV"), ("TP", 0.11, "III", "V"), ("TP", 0.2, "III", "V"),
    ("TP", 0.21, "IV", "劣V"), ("TP", 0.3, "IV", "劣V"), ("TP", 0.31, "V", "劣V"), ("TP", 0.4, "V", "劣V"),
    ("TP", 0.41, "劣V", "劣V"),
    ("TN", 0.2, "I", "I"), ("TN", 0.21, "II", "II"), ("TN", 0.5, "II", "II"), ("TN", 0.51, "III", "III"),
    ("TN", 1.0, "III", "III"), ("TN", 1.01, "IV", "IV"), ("TN", 1.5, "IV", "IV"), ("TN", 1.51, "V", "V"),
    ("TN", 2.0, "V", "V"), ("TN", 2.01, "劣V", "劣V"),
]


@pytest.mark.parametrize("item,value,river,lake", ITEM_CASES)
def test_item_class(item, value, river, lake):
    assert classify({item: value}, "river").items == {item: river}
    assert classify({item: value}, "lake").items == {item: lake}
    assert classify({item: value}, "reservoir").items == {item: lake}


STATION = {"pH": 7.2, "DO": 6.5, "CODMn": 3.5, "COD": 18, "BOD5": 3.2, "NH3-N": 0.4, "TP": 0.12, "TN": 1.8}


def test_river_station_leaves_tn_out_by_default():
    r = classify(STATION)
    assert isinstance(r, WaterResult) and r.water_body == "river"
    assert r.items == {"pH": "I", "DO": "II", "CODMn": "II", "COD": "III", "BOD5": "III",
                       "NH3-N": "II", "TP": "III", "TN": "V"}
    assert r.overall == "III" and r.worst_items == ["COD", "BOD5", "TP"] and r.excluded == ["TN"]


def test_river_station_with_tn():
    r = classify(STATION, use_tn=True)
    assert r.overall == "V" and r.worst_items == ["TN"] and r.excluded == []


def test_lake_station_uses_lake_tp_and_tn():
    r = classify(STATION, "lake")
    assert r.items["TP"] == "V" and r.overall == "V" and r.worst_items == ["TP", "TN"]
    r = classify(STATION, "reservoir", use_tn=False)
    assert r.overall == "V" and r.worst_items == ["TP"] and r.excluded == ["TN"]


def test_worse_than_v():
    r = classify({**STATION, "NH3-N": 2.5})
    assert r.overall == "劣V" and r.worst_items == ["NH3-N"]


def test_missing_values_are_skipped():
    r = classify({"DO": 6.5, "COD": None, "TP": float("nan")})
    assert r.items == {"DO": "II"} and r.overall == "II"
    r = classify({})
    assert r.overall is None and r.items == {} and r.worst_items == []
    r = classify({"TN": 0.3})  # a river with only TN: nothing assessed
    assert r.overall is None and r.items == {"TN": "II"} and r.excluded == ["TN"]
    with pytest.raises(ValueError):
        meets_target(r, "III")


@pytest.mark.parametrize("cls,rank", [
    ("I", 1), ("II", 2), ("III", 3), ("IV", 4), ("V", 5), ("劣V", 6),
    ("Ⅲ", 3), ("III类", 3), ("Ⅳ类", 4), ("劣Ⅴ类", 6),
])
def test_class_rank(cls, rank):
    assert class_rank(cls) == rank


def test_meets_target():
    r = classify(STATION)  # III
    assert meets_target(r, "III") and meets_target(r, "IV") and meets_target(r, "Ⅲ类")
    assert not meets_target(r, "II")
    assert meets_target("I", "II") and meets_target("劣V", "劣V") and not meets_target("劣V", "V")


@pytest.mark.parametrize("call", [
    lambda: classify({"CODcr": 10}),
    lambda: classify({"DO": 6}, "sea"),
    lambda: classify({"COD": -1}),
    lambda: classify({"pH": 15}),
    lambda: classify({"COD": "abc"}),
    lambda: class_rank("VI"),
    lambda: meets_target("III", "3"),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
