"""The rules of the 考核 (assessment.yaml): which indicators each kind of subject is assessed on with what
weight, how a figure becomes a score, the weighted score, the ranking and its 环比.

Plain functions over plain values (the figures come from the indicator engine, which the caller runs):
the situation read model composes them, tests check them by hand.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

WEIGHTS_FILE = Path(__file__).with_name("assessment.yaml")
SUBJECTS = ("department", "district", "officer")


class ScoringError(ValueError):
    """assessment.yaml is wrong; the message says where (Chinese)."""


@dataclass(frozen=True)
class Weighted:
    indicator_id: str
    weight: float


@dataclass(frozen=True)
class Scheme:
    subject: str  # department / district / officer
    title: str
    subject_label: str
    indicators: tuple[Weighted, ...]

    @property
    def ids(self) -> list[str]:
        return [w.indicator_id for w in self.indicators]

    @property
    def scored(self) -> list[Weighted]:
        return [w for w in self.indicators if w.weight > 0]


def parse_schemes(data: object, known_ids: set[str] | None = None, where: str = "assessment.yaml") -> dict[str, Scheme]:
    if not isinstance(data, dict):
        raise ScoringError(f"{where}：应为 department / district / officer 三节")
    out: dict[str, Scheme] = {}
    for subject in SUBJECTS:
        section = data.get(subject)
        if not isinstance(section, dict) or not isinstance(section.get("indicators"), list):
            raise ScoringError(f"{where}：缺少 {subject}.indicators 列表")
        items = []
        for i, item in enumerate(section["indicators"], start=1):
            if not isinstance(item, dict) or "id" not in item:
                raise ScoringError(f"{where} {subject} 第 {i} 项：应为 {{id, weight}}")
            weight = item.get("weight", 0)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                raise ScoringError(f"{where} {subject} 第 {i} 项（{item['id']}）：weight 应为非负数")
            if known_ids is not None and item["id"] not in known_ids:
                raise ScoringError(f"{where} {subject} 第 {i} 项：指标库中没有指标「{item['id']}」")
            items.append(Weighted(str(item["id"]), float(weight)))
        if not any(w.weight > 0 for w in items):
            raise ScoringError(f"{where} {subject}：至少要有一个权重大于 0 的指标")
        if len({w.indicator_id for w in items}) != len(items):
            raise ScoringError(f"{where} {subject}：指标重复")
        out[subject] = Scheme(subject, str(section.get("title") or subject), str(section.get("subject") or subject),
                              tuple(items))
    return out


@lru_cache(maxsize=2)
def load_schemes(path: Path = WEIGHTS_FILE) -> dict[str, Scheme]:
    with open(path, encoding="utf-8") as fh:
        return parse_schemes(yaml.safe_load(fh), where=path.name)


def indicator_score(value: float | None, lower_better: bool) -> float | None:
    """A rate (%) as a score out of 100: itself when higher is better, 100 − it when lower is better."""
    if value is None:
        return None
    score = 100.0 - value if lower_better else value
    return max(0.0, min(100.0, score))


def weighted_score(values: dict[str, float | None], scheme: Scheme, lower_better: dict[str, bool]) -> float | None:
    """The weighted mean of the scored indicators that have a value (their weights renormalised); None
    when none has."""
    total = weight = 0.0
    for w in scheme.scored:
        s = indicator_score(values.get(w.indicator_id), lower_better.get(w.indicator_id, False))
        if s is not None:
            total += w.weight * s
            weight += w.weight
    return round(total / weight, 2) if weight else None


def rank(scores: pd.Series) -> pd.Series:
    """1 for the highest score, ties sharing the better rank; None for no score."""
    ranked = pd.to_numeric(scores, errors="coerce").rank(method="min", ascending=False)
    return pd.Series([None if pd.isna(r) else int(r) for r in ranked], index=scores.index, dtype=object)


def scores(frame: pd.DataFrame, scheme: Scheme, lower_better: dict[str, bool]) -> pd.Series:
    """`weighted_score` of every row of a wide frame (one column per indicator id), vectorised: a
    ranking of ten thousand grid officers is one pass per indicator."""
    total = np.zeros(len(frame))
    weight = np.zeros(len(frame))
    for w in scheme.scored:
        if w.indicator_id not in frame:
            continue
        value = pd.to_numeric(frame[w.indicator_id], errors="coerce").to_numpy(dtype=float)
        score = np.clip(100.0 - value if lower_better.get(w.indicator_id, False) else value, 0.0, 100.0)
        have = ~np.isnan(score)
        total += np.where(have, w.weight * np.nan_to_num(score), 0.0)
        weight += np.where(have, w.weight, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.round(total / weight, 2)
    return pd.Series([None if wt == 0 else float(v) for v, wt in zip(out, weight)], index=frame.index, dtype=object)


def ranking(current: pd.DataFrame, previous: pd.DataFrame, scheme: Scheme, lower_better: dict[str, bool]) -> pd.DataFrame:
    """Score, rank and 环比 per subject. `current` and `previous` are wide frames indexed by the subject's
    key with one column per indicator id. Adds score, rank, prev_score, prev_rank, score_change and
    rank_change (positive = moved up), sorted by rank (unranked last, then by key)."""
    out = current.copy()
    out["score"] = scores(current, scheme, lower_better)
    out["rank"] = rank(out["score"])
    prev = scores(previous, scheme, lower_better)
    out["prev_score"] = prev.reindex(out.index).astype(object).where(prev.reindex(out.index).notna(), None)
    prev_rank = rank(prev).reindex(out.index)
    out["prev_rank"] = prev_rank.astype(object).where(prev_rank.notna(), None)
    # Object columns: a missing change stays None (a numeric column would turn it into NaN).
    out["score_change"] = pd.Series([round(s - p, 2) if _value(s) is not None and _value(p) is not None else None
                                     for s, p in zip(out["score"], out["prev_score"])], index=out.index, dtype=object)
    out["rank_change"] = pd.Series([int(p - r) if r is not None and _value(p) is not None else None
                                    for r, p in zip(out["rank"], out["prev_rank"])], index=out.index, dtype=object)
    keys = list(out.index)
    ranks = list(out["rank"])
    order = sorted(range(len(keys)), key=lambda i: (ranks[i] is None, ranks[i] or 0, str(keys[i])))
    return out.iloc[order]


def _value(v):  # noqa: ANN001, ANN202
    return None if v is None or (isinstance(v, float) and v != v) else float(v)
