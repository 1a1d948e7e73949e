"""House rules that keep the code base navigable, checked mechanically."""
from __future__ import annotations

import re
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
    domain = ["store", "geo", "events", "sensors", "emergency", "auth", "indicators", "situation", "demo"]
    offenders = []
    for pkg in domain:
        for f in (ROOT / pkg).rglob("*.py"):
            if re.search(r"^\s*(import streamlit|from streamlit)", f.read_text(encoding="utf-8"), re.M):
                offenders.append(str(f.relative_to(ROOT)))
    assert not offenders, offenders
