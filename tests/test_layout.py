"""House rules that keep the code base navigable, checked mechanically."""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Top-level folders holding Python code are importable packages (some are namespace packages).
PACKAGES = {p.name for p in ROOT.iterdir()
            if p.is_dir() and p.name not in {"pages", "tests", ".venv"} and any(p.glob("*.py"))}


def test_page_files_do_not_shadow_packages():
    """A page run directly (AppTest.from_file, or Streamlit adding pages/ to sys.path) would import
    itself instead of the package of the same name."""
    pages = {p.stem for p in (ROOT / "pages").glob("*.py")}
    assert not pages & PACKAGES, f"rename these pages: {sorted(pages & PACKAGES)}"


def test_pages_hold_no_sql():
    pattern = re.compile(r"sqlalchemy|\.execute\(|(?<!\w)select\(|text\(\"|SELECT |INSERT |UPDATE ")
    offenders = [f"{p.name}:{i}" for p in (ROOT / "pages").glob("*.py")
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders


def test_every_registered_page_exists():
    from auth.roles import PAGES

    missing = [p.path for p in PAGES if not (ROOT / p.path).exists()]
    assert not missing, missing


def test_domain_modules_do_not_import_streamlit():
    domain = ["store", "geo", "events", "sensors", "emergency", "auth", "indicators", "situation", "demo",
              "supervision"]
    offenders = []
    for pkg in domain:
        for f in (ROOT / pkg).rglob("*.py"):
            if re.search(r"^\s*(import streamlit|from streamlit)", f.read_text(encoding="utf-8"), re.M):
                offenders.append(str(f.relative_to(ROOT)))
    assert not offenders, offenders


def test_import_contracts_hold():
    """The floors and the independence of side-by-side domains (.importlinter), checked by
    import-linter on every run: a new arrow across the house fails the suite."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), str(ROOT / ".importlinter")], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def _code_files():
    skip = {".venv", "tests", ".git"}
    return [f for f in ROOT.rglob("*.py") if not skip & set(f.relative_to(ROOT).parts)]


def test_project_imports_sit_at_module_top():
    """An import inside a function hides an arrow; the few that stay (a CLI command loading its
    module only when run) say why in a comment on the line or the line above."""
    projects = PACKAGES | {"settings"}
    offenders = []
    for f in _code_files():
        lines = f.read_text(encoding="utf-8").splitlines()
        for func in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                    said = "#" in lines[node.lineno - 1] or lines[node.lineno - 2].strip().startswith("#")
                    if module and module.split(".")[0] in projects and not said:
                        offenders.append(f"{f.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, sorted(set(offenders))


def test_region_codes_are_sliced_in_one_place():
    """Level, parent and subtree of a region code come from store.region_codes only; a hand-made
    slice elsewhere disagrees with it sooner or later (it did: 440000 was a city in one copy and a
    province in another)."""
    pattern = re.compile(r"len\(\w*code\w*\)\s*[=!<>]=?\s*\d|code\w*\[:\s*[2469]\s*\]|code\w*\.endswith\(\"0+\"\)")
    offenders = [f"{f.relative_to(ROOT)}:{i}" for f in _code_files() if f.name != "region_codes.py"
                 for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders
