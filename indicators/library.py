"""Load and validate the indicator library (YAML files under indicators/library/).

`load_library()` returns the validated definitions by id, cached until a file changes; on any problem
it raises `LibraryError` listing every problem (the app refuses to start and shows them).
`validate_library(path)` returns the problems as a list of Chinese messages (empty = valid).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import yaml

from indicators.schema import Indicator, parse_block

# libyaml's safe loader when PyYAML was built with it: the library loads about 10× faster (a cold page).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
LIBRARY_DIR = Path(__file__).resolve().parent / "library"

_lock = threading.Lock()
_cache: dict[tuple, dict[str, Indicator]] = {}


class LibraryError(Exception):
    """The library is invalid; `problems` holds every message (Chinese, with file, indicator and field)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("指标库定义有误，共 {} 处：\n".format(len(problems)) + "\n".join(f"- {p}" for p in problems))


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(list(path.glob("*.yaml")) + list(path.glob("*.yml")))  # README.md beside them is ignored


def _load(path: Path) -> tuple[dict[str, Indicator], list[str]]:
    problems: list[str] = []
    found: dict[str, Indicator] = {}
    seen_in: dict[str, str] = {}
    if not path.exists():
        return {}, [f"{path}：指标库路径不存在"]
    files = _files(path)
    if not files:
        problems.append(f"{path}：没有找到指标定义文件（*.yaml）")
    for file in files:
        label = file.name
        try:
            with open(file, encoding="utf-8") as fh:
                data = yaml.load(fh, Loader=_LOADER)
        except yaml.YAMLError as exc:
            problems.append(f"{label}：YAML 格式错误：{exc}")
            continue
        except UnicodeDecodeError:
            problems.append(f"{label}：文件不是 UTF-8 编码")
            continue
        if data is None:
            continue
        if not isinstance(data, list):
            problems.append(f"{label}：文件内容应为指标定义的列表（每项以 “- id: …” 开头）")
            continue
        for index, raw in enumerate(data):
            ind, errs = parse_block(raw, label, index)
            problems.extend(errs)
            ident = raw.get("id") if isinstance(raw, dict) else None
            if isinstance(ident, str):
                if ident in seen_in:
                    name = raw.get("name") or ""
                    problems.append(f"{label}：指标「{ident}」（{name}）字段 id（编号）：编号重复，"
                                    f"已在 {seen_in[ident]} 中定义")
                    found.pop(ident, None)
                    continue
                seen_in[ident] = label
            if ind is not None:
                found[ind.id] = ind
    return found, problems


def validate_library(path: str | Path | None = None) -> list[str]:
    """Every problem in the library at `path` (a directory of YAML files or one file)."""
    return _load(Path(path) if path else LIBRARY_DIR)[1]


def _signature(path: Path) -> tuple:
    files = _files(path) if path.exists() else []
    return (str(path), *((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files))


# The product's own library is read hundreds of times in a rerun (every tile asks for its definition):
# its files are looked at again at most this often, so an edit shows within a second without each call
# paying for a directory listing and two stat() calls per file. Other paths are checked on every call.
RECHECK_S = 1.0
_checked: dict[Path, tuple[float, tuple]] = {}


def _current_signature(path: Path) -> tuple:
    if path != LIBRARY_DIR:
        return _signature(path)
    now = time.monotonic()
    seen = _checked.get(path)
    if seen is not None and now - seen[0] < RECHECK_S:
        return seen[1]
    sig = _signature(path)
    _checked[path] = (now, sig)
    return sig


def load_library(path: str | Path | None = None) -> dict[str, Indicator]:
    """The validated definitions by id, in file order. Raises LibraryError listing all problems."""
    path = Path(path) if path else LIBRARY_DIR
    sig = _current_signature(path)
    with _lock:
        if sig in _cache:
            return _cache[sig]
    found, problems = _load(path)
    if problems:
        raise LibraryError(problems)
    with _lock:
        _cache.clear() if len(_cache) > 8 else None
        _cache[sig] = found
    return found


def get_indicator(indicator_id: str, path: str | Path | None = None) -> Indicator:
    lib = load_library(path)
    try:
        return lib[indicator_id]
    except KeyError:
        raise KeyError(f"指标库中没有指标「{indicator_id}」") from None
