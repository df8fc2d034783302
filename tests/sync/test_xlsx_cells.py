"""XLSX cells that read as empty where a person sees a value: a formula never calculated (a file
written by a library such as openpyxl, which stores no value for it) and the cells of a merged
range past its first."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from customer_card.store import models as m
from customer_card.store.database import Database
from sync.csv_source import _sheet_layout
from tests.helpers.xlsx import edit_sheet_xml
from tests.sync.conftest import make_runner, write_sources
from tests.sync.test_csv_bad_input import records
from tests.sync.test_csv_source import quarantine

SOURCES = """
[sources.shop]
type = "csv"

[sources.shop.streams.customers]
kind = "customer"
file = "clients.xlsx"
id = "id"
[sources.shop.streams.customers.fields]
given_name = "prenom"
family_name = "nom"
city = "ville"
"""
# "etiquette" is a column the mapping does not read.
HEADER = ["id", "prenom", "nom", "ville", "etiquette"]
FIX = "open and save the file in Excel or LibreOffice so its values are stored"


def _workbook(
    path: Path,
    rows: list[list[Any]],
    cells: Mapping[str, str] | None = None,
    merged: Iterable[str] = (),
) -> None:
    """Write the sheet as openpyxl does: its formulas with no value stored. ``cells`` replaces
    a cell's XML with the one given, such as a formula with the value Excel stores for it (the
    cell must hold something, "?", to be written at all)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [HEADER, *rows]:
        sheet.append(row)
    for ref in merged:
        sheet.merge_cells(ref)
    book.save(path)
    if not cells:
        return

    def replace_cells(sheet_xml: str) -> str:
        for coordinate, xml in cells.items():
            sheet_xml, replaced = re.subn(
                rf'<c r="{coordinate}"(?:[^>]*/>|[^>]*>.*?</c>)',
                xml.replace("\\", r"\\"),
                sheet_xml,
            )
            assert replaced == 1, coordinate
        return sheet_xml

    edit_sheet_xml(path, replace_cells)


def _sync(database: Database, directory: Path) -> dict[str, dict[str, Any]]:
    """Run a sync of clients.xlsx; the fields of each customer record it left in the cache."""
    summary = make_runner(database).run(write_sources(directory, SOURCES).select(None))
    assert summary.ok, summary.errors
    return {sid: fields for sid, (fields, _) in records(database).items()}


def test_a_formula_never_calculated_where_the_mapping_reads_keeps_its_row_aside(
    database: Database, tmp_path: Path
) -> None:
    # Written by openpyxl, C3 stores its formula and no value: the family name was left out
    # without a word. A formula in a column the mapping does not read (E2) changes nothing.
    _workbook(
        tmp_path / "clients.xlsx",
        [
            [1, "Ana", "Leroy", "Lyon", '=B2&" "&C2'],
            [2, "Leo", '=UPPER("petit")', "Nice", None],
            [3, "Max", "Roux", "Paris", None],
        ],
    )
    fields = _sync(database, tmp_path)
    assert sorted(fields) == ["1", "3"]
    assert fields["1"]["family_name"] == "Leroy"
    assert quarantine(database) == [
        (
            "2",
            'row 3 of clients.xlsx: cell C3 holds a formula never calculated (=UPPER("petit")): '
            + FIX,
        )
    ]


def test_a_shared_formula_never_calculated_is_named_as_each_cell_holds_it(
    database: Database, tmp_path: Path
) -> None:
    # One formula filled down C2:C3 is stored once, in C2; C3 only refers to it.
    _workbook(
        tmp_path / "clients.xlsx",
        [[1, "Ana", "?", "Lyon"], [2, "Leo", "?", "Nice"], [3, "Max", "Roux", "Paris"]],
        {
            "C2": '<c r="C2"><f t="shared" ref="C2:C3" si="0">UPPER(B2)</f><v/></c>',
            "C3": '<c r="C3"><f t="shared" si="0"/></c>',
        },
    )
    assert sorted(_sync(database, tmp_path)) == ["3"]
    assert sorted(quarantine(database)) == [
        (
            "1",
            f"row 2 of clients.xlsx: cell C2 holds a formula never calculated (=UPPER(B2)): {FIX}",
        ),
        (
            "2",
            f"row 3 of clients.xlsx: cell C3 holds a formula never calculated (=UPPER(B3)): {FIX}",
        ),
    ]


def test_formulas_a_spreadsheet_calculated_read_their_values(
    database: Database, tmp_path: Path
) -> None:
    # As Excel and LibreOffice save them: the formula and its value. An empty text (D2) is a
    # value too, not a formula never calculated. (A guard: the reader took these well before.)
    _workbook(
        tmp_path / "clients.xlsx",
        [[1, "Ana", "?", "?"], ["?", "Leo", "?", "Nice"], [3, "Max", "?", "Paris"]],
        {
            "C2": '<c r="C2" t="str"><f>UPPER("leroy")</f><v>LEROY</v></c>',
            "D2": '<c r="D2" t="str"><f>IF(E2="","",E2)</f><v></v></c>',
            "A3": '<c r="A3"><f>A2+1</f><v>2</v></c>',
            "C3": '<c r="C3" t="str"><f t="shared" ref="C3:C4" si="0">UPPER(B3)</f><v>LEO</v></c>',
            "C4": '<c r="C4" t="str"><f t="shared" si="0"/><v>MAX</v></c>',
        },
    )
    fields = _sync(database, tmp_path)
    assert {sid: (f["family_name"], f.get("city")) for sid, f in fields.items()} == {
        "1": ("LEROY", None),
        "2": ("LEO", "Nice"),
        "3": ("MAX", "Paris"),
    }
    assert quarantine(database) == []


def test_every_cell_of_a_merged_range_reads_the_value_a_person_sees(
    database: Database, tmp_path: Path
) -> None:
    # "Lyon" is shown on rows 2 to 4 but stored in D2 alone: Leo and Max had no city. Rows
    # that hold nothing but a merged range's cells (6 and 7) are no customers.
    _workbook(
        tmp_path / "clients.xlsx",
        [
            [1, "Ana", "Leroy", "Lyon"],
            [2, "Leo", "Petit", None],
            [3, "Max", "Roux", None],
            [4, "Eva", "Blanc", "Nice"],
        ],
        merged=["D2:D4", "D5:D7"],
    )
    fields = _sync(database, tmp_path)
    assert {sid: f["city"] for sid, f in fields.items()} == {
        "1": "Lyon",
        "2": "Lyon",
        "3": "Lyon",
        "4": "Nice",
    }
    assert quarantine(database) == []


def test_a_merged_range_holding_a_formula_never_calculated_keeps_its_rows_aside(
    database: Database, tmp_path: Path
) -> None:
    _workbook(
        tmp_path / "clients.xlsx",
        [
            [1, "Ana", "Leroy", '=UPPER("lyon")'],
            [2, "Leo", "Petit", None],
            [3, "Max", "Roux", "Nice"],
        ],
        merged=["D2:D3"],
    )
    assert sorted(_sync(database, tmp_path)) == ["3"]
    reason = f'cell D2 holds a formula never calculated (=UPPER("lyon")): {FIX}'
    assert sorted(quarantine(database)) == [
        ("1", f"row 2 of clients.xlsx: {reason}"),
        ("2", f"row 3 of clients.xlsx: {reason}"),
    ]


@pytest.mark.parametrize("prefix", ["", "x:"])
def test_the_sheet_is_scanned_in_pieces_that_cut_no_cell(tmp_path: Path, prefix: str) -> None:
    # The sheet's XML is read in pieces (a large one does not fit in memory at once); whatever
    # the pieces' size, and with the namespace prefix some writers use, the scan finds the same.
    path = tmp_path / "clients.xlsx"
    _workbook(
        path,
        [[1, "Ana", "=UPPER(B2)", "Lyon", "=A2*2"], [2, "Leo", "Petit", None]],
        {"E2": '<c r="E2"><f>A2*2</f><v>2</v></c>'},
        merged=["D2:D3"],
    )
    with zipfile.ZipFile(path) as book:
        xml = book.read("xl/worksheets/sheet1.xml")
    if prefix:
        xml = re.sub(rb"<(/?)(?=[A-Za-z])", rb"<\1x:", xml).replace(b"xmlns=", b"xmlns:x=")
    expected = _sheet_layout(io.BytesIO(xml))
    assert expected.uncalculated == {2: {3: "=UPPER(B2)"}}
    assert expected.merged == [(2, 3, 4, 4)]
    for size in range(1, 60):
        assert _sheet_layout(io.BytesIO(xml), size) == expected, size


ORDERS = """
[sources.shop]
type = "csv"
[sources.shop.streams.customers]
kind = "customer"
file = "clients.csv"
id = "id"
[sources.shop.streams.customers.fields]
given_name = "prenom"
[sources.shop.streams.orders]
kind = "interaction"
file = "orders.xlsx"
id = "order"
[sources.shop.streams.orders.fields]
customer_ref = "client"
occurred_at = { column = "date", datetime = "%Y-%m-%d" }
amount = "amount"
summary = "product"
"""


def test_an_id_cell_merged_over_several_rows_gives_its_id_to_the_first_alone(
    database: Database, tmp_path: Path
) -> None:
    # An order's lines under one merged order cell: given the id each, every line replaced the
    # one before (the order stored as its last line, "Hat", 20). The client and date cells
    # merged over them are what a person sees on each row.
    (tmp_path / "clients.csv").write_text("id,prenom\nc1,Ana\n", encoding="utf-8")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [
        ["order", "client", "date", "product", "amount"],
        ["o1", "c1", "2024-03-01", "Shoes", 50],
        [None, None, None, "Socks", 5],
        [None, None, None, "Hat", 20],
    ]:
        sheet.append(row)
    for ref in ("A2:A4", "B2:B4", "C2:C4"):
        sheet.merge_cells(ref)
    book.save(tmp_path / "orders.xlsx")

    summary = make_runner(database).run(write_sources(tmp_path, ORDERS).select(None))

    assert summary.ok, summary.errors
    with database.read() as session:
        stored = session.execute(
            select(m.Interaction.source_id, m.Interaction.summary, m.Interaction.amount_cents)
        ).all()
    assert [tuple(r) for r in stored] == [("o1", "Shoes", 5000)]
    reasons = [reason for _, reason in quarantine(database)]
    assert len(reasons) == 2
    assert all(reason.startswith("no id") for reason in reasons)
