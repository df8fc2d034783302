"""Workbooks as exporters write them, with what openpyxl itself would not write: the first
sheet's XML edited after saving (a wrong stated range, a formula with its cached value)."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

SHEET = "xl/worksheets/sheet1.xml"


def edit_sheet_xml(path: Path, edit: Callable[[str], str]) -> None:
    """Rewrite the saved workbook at ``path`` with its first sheet's XML passed through
    ``edit``."""
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    parts[SHEET] = edit(parts[SHEET].decode()).encode()
    with zipfile.ZipFile(path, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)
