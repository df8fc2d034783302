"""The csv connector on broken exports: one clear message or a quarantined row, never a record
silently changed, lost or marked deleted."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from customer_card.services.sync_runner import PassSummary
from customer_card.store import models as m
from customer_card.store.database import Database
from sync.connector import Cancelled, CancelToken, Rejected
from sync.csv_source import detect_encoding
from sync.records import Checkpoint, SourceRecord
from tests.helpers.xlsx import edit_sheet_xml
from tests.sync.conftest import make_runner, write_sources
from tests.sync.test_csv_source import quarantine

SOURCES = """
[sources.shop]
type = "csv"
checkpoint_every = 1

[sources.shop.streams.customers]
kind = "customer"
file = "clients.csv"
id = "id"
full_extract = true
[sources.shop.streams.customers.fields]
given_name = "prenom"
family_name = "nom"
email = "email"
birth_date = { column = "naissance", date = "%d/%m/%Y" }
note = "remarque"
"""
HEADER = "id;prenom;nom;email;naissance;remarque\n"
GOOD = [
    "1;Ana;Leroy;ana@x.fr;01/02/1990;\n",
    "2;Leo;Petit;leo@x.fr;03/04/1991;\n",
    "3;Max;Roux;max@x.fr;05/06/1992;\n",
    "4;Eva;Blanc;eva@x.fr;07/08/1993;\n",
]


def sync(
    database: Database, directory: Path, data: bytes | str, batch_size: int = 500
) -> PassSummary:
    """Write clients.csv, run a sync of it and return the customers pass."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    (directory / "clients.csv").write_bytes(data)
    runner = make_runner(database, batch_size=batch_size)
    summary = runner.run(write_sources(directory, SOURCES).select(None))
    (only,) = summary.passes
    return only


def records(database: Database) -> dict[str, tuple[dict[str, Any], bool]]:
    """Each customer record of the cache: its fields, and whether it is marked deleted."""
    with database.read() as session:
        rows = session.execute(
            select(m.SourceRecord.source_id, m.SourceRecord.fields, m.SourceRecord.deleted)
        )
        return {sid: (fields, deleted) for sid, fields, deleted in rows}


def one_line_error(summary: PassSummary) -> str:
    assert summary.error is not None, "the stream should have failed"
    assert "\n" not in summary.error
    return summary.error


def test_a_quote_never_closed_fails_the_stream_and_deletes_nothing(
    database: Database, tmp_path: Path
) -> None:
    assert sync(database, tmp_path, HEADER + "".join(GOOD)).inserted == 4

    # Row 2's given name opens a quote the row never closes: read leniently, rows 3 and 4
    # would become part of that name, and the full extract would mark them deleted.
    broken = [
        GOOD[0].replace("ana@x.fr", "ana@y.fr"),
        '2;"Leo;Petit;leo@x.fr;03/04/1991;\n',
        *GOOD[2:],
    ]
    failed = sync(database, tmp_path, HEADER + "".join(broken), batch_size=1)
    assert one_line_error(failed) == (
        "shop/customers: clients.csv line 3: a quote opened here is never closed; the rest of "
        "the file would read as one value"
    )
    cache = records(database)
    assert not any(deleted for _, deleted in cache.values())
    assert {sid: fields["given_name"] for sid, (fields, _) in cache.items()} == {
        "1": "Ana",
        "2": "Leo",
        "3": "Max",
        "4": "Eva",
    }
    # What the pass committed before the broken row (row 1, in a batch of its own) stays.
    assert cache["1"][0]["email"] == "ana@y.fr"
    assert quarantine(database) == []

    # A quote opened on the file's last line is found as well.
    last_line_open = HEADER + GOOD[0] + '2;Leo;Petit;"leo@x.fr;03/04/1991;'
    assert "clients.csv line 3: a quote opened here" in one_line_error(
        sync(database, tmp_path, last_line_open)
    )
    assert not any(deleted for _, deleted in records(database).values())


def test_a_few_bytes_that_are_not_utf8_do_not_turn_a_utf8_file_into_mojibake(
    database: Database, tmp_path: Path
) -> None:
    rows = [f"{n};Léa;Petit;lea{n}@x.fr;03/04/1991;\n" for n in range(1, 501)]
    data = (HEADER + "".join(rows)).encode("utf-8")
    data += "501;Léo;Pétit;leo@x.fr;03/04/1991;\n".encode("cp1252")
    summary = sync(database, tmp_path, data)

    assert (summary.inserted, summary.quarantined) == (500, 1)
    names = {fields["given_name"] for fields, _ in records(database).values()}
    assert names == {"Léa"}
    assert quarantine(database) == [("501", "bad encoding: bytes that are not utf-8 text")]
    # Bytes beyond ASCII none of which is UTF-8 still read as Windows-1252.
    assert detect_encoding("Léa;Pétit\n".encode("cp1252")) == "cp1252"
    assert detect_encoding(b"\xef\xbb\xbfid\n") == "utf-8-sig"


def test_an_excel_unicode_text_export_reads_as_utf16(database: Database, tmp_path: Path) -> None:
    # Excel's "Unicode text": UTF-16 with a BOM, which otherwise looks like binary data.
    text = HEADER + "1;Léa;Petit;lea@x.fr;03/04/1991;\n"
    summary = sync(database, tmp_path, text.replace(";", "\t").encode("utf-16"))
    assert summary.error is None
    assert records(database)["1"][0]["given_name"] == "Léa"


def test_rows_with_a_wrong_number_of_cells_go_to_quarantine(
    database: Database, tmp_path: Path
) -> None:
    rows = [
        '1;Ana;"Le\nroy";ana@x.fr;01/02/1990;\n',  # one row on lines 2 and 3
        "2;Leo;Le;Petit;leo@x.fr;03/04/1991;fidèle\n",  # a cell too many shifts the email
        "3;Max\n",
        "4;Eva;Blanc;eva@x.fr;07/08/1993;;\n",  # a delimiter at the end: nothing lost
        "5;Zoé;Roux;zoe@x.fr\n",  # the cells left out would have been read
    ]
    summary = sync(database, tmp_path, HEADER + "".join(rows))

    assert (summary.inserted, summary.quarantined) == (2, 3)
    assert quarantine(database) == [
        ("2", "line 4 has 7 cells, the header has 6"),
        ("3", "line 5 has 2 cells, the header has 6"),
        ("5", "line 7 has 4 cells, the header has 6"),
    ]
    cache = records(database)
    assert sorted(cache) == ["1", "4"]
    assert cache["4"][0]["email"] == "eva@x.fr"


def test_a_row_without_the_empty_cells_that_end_it_reads_when_nothing_read_is_missing(
    database: Database, tmp_path: Path
) -> None:
    # Some exports leave out the empty cells that end a row; "origine" is read by nothing.
    header = HEADER.replace("remarque", "remarque;origine")
    summary = sync(database, tmp_path, header + "1;Ana;Leroy;ana@x.fr;01/02/1990;vip\n")
    assert (summary.inserted, summary.quarantined) == (1, 0)


def test_a_mapped_column_named_twice_fails_the_stream(database: Database, tmp_path: Path) -> None:
    header = "id;prenom;nom;email;email;naissance;remarque\n"
    failed = sync(database, tmp_path, header + "1;Ana;Leroy;ana@x.fr;;01/02/1990;\n")
    assert one_line_error(failed) == (
        "shop/customers: clients.csv has the column 'email' twice (columns 4 and 5) and the "
        "mapping reads it: rename or remove one of them"
    )
    assert records(database) == {}

    # A column named twice that nothing reads is no one's concern.
    header = "id;prenom;nom;email;naissance;remarque;vide;vide\n"
    summary = sync(database, tmp_path, header + "1;Ana;Leroy;ana@x.fr;01/02/1990;;;\n")
    assert (summary.error, summary.inserted) == (None, 1)


def test_a_field_over_128_kib_is_read_and_csv_errors_name_file_and_line(
    database: Database, tmp_path: Path
) -> None:
    note = "x" * (200 << 10)
    rows = [GOOD[0], f"2;Leo;Petit;leo@x.fr;03/04/1991;{note}\n", GOOD[2]]
    summary = sync(database, tmp_path, HEADER + "".join(rows))
    assert (summary.error, summary.inserted) == (None, 3)
    assert records(database)["2"][0]["note"].startswith("xxx")

    # Whatever the csv module still cannot read fails the stream with the file and the line.
    limit = csv.field_size_limit()
    csv.field_size_limit(1 << 10)
    try:
        rows[1] = rows[1].replace("Leo", "Léo")  # a changed file, read again
        failed = sync(database, tmp_path, HEADER + "".join(rows))
    finally:
        csv.field_size_limit(limit)
    assert one_line_error(failed) == (
        "shop/customers: clients.csv line 3: field larger than field limit (1024)"
    )
    assert not any(deleted for _, deleted in records(database).values())


def test_an_empty_file_says_so_and_marks_nothing_deleted(
    database: Database, tmp_path: Path
) -> None:
    assert sync(database, tmp_path, HEADER + "".join(GOOD)).inserted == 4

    assert one_line_error(sync(database, tmp_path, b"")) == (
        "shop/customers: clients.csv is empty: no header line, no rows"
    )
    # A header and no rows reads as an extract listing nothing, which the runner refuses.
    assert "the full extract is empty" in one_line_error(sync(database, tmp_path, HEADER))
    cache = records(database)
    assert len(cache) == 4
    assert not any(deleted for _, deleted in cache.values())


def test_a_binary_file_named_csv_is_not_read_as_text(database: Database, tmp_path: Path) -> None:
    book = Workbook()
    book.active.append(["id", "prenom", "nom"])
    book.save(tmp_path / "workbook.xlsx")
    renamed = sync(database, tmp_path, (tmp_path / "workbook.xlsx").read_bytes())
    assert one_line_error(renamed) == (
        "shop/customers: clients.csv does not look like a CSV text file: it starts like a ZIP "
        "archive (an .xlsx workbook? name it .xlsx to read it as one)"
    )

    binary = sync(database, tmp_path, bytes(range(256)) * 8)
    assert one_line_error(binary).startswith(
        "shop/customers: clients.csv does not look like a CSV text file: its first line holds "
        "NUL bytes"
    )
    assert records(database) == {}


def test_a_second_row_with_an_id_goes_to_quarantine_and_the_first_stays(
    database: Database, tmp_path: Path
) -> None:
    # Two people under one id: the second replaced the first ("updated 1"), and Ana Leroy was
    # nowhere, neither in the cache nor in quarantine.
    twice = "1;Lea;Petit;lea@x.fr;03/04/1991;\n"
    summary = sync(database, tmp_path, HEADER + GOOD[0] + twice + "".join(GOOD[1:]))
    assert (summary.inserted, summary.updated, summary.quarantined) == (4, 0, 1)
    assert records(database)["1"][0]["given_name"] == "Ana"
    ((source_id, reason),) = quarantine(database)
    assert source_id == "1"
    assert reason == (
        "id '1' is on an earlier row of clients.csv too (this is its data row 2): "
        "the earlier one is kept"
    )
    # The export fixed, the run after brings nothing new and the quarantine is resolved.
    again = sync(database, tmp_path, HEADER + "".join(GOOD))
    assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    assert quarantine(database) == []


def test_a_row_holding_a_nul_goes_to_quarantine(database: Database, tmp_path: Path) -> None:
    # The NUL was stored inside the given name, where the card shows nothing of it.
    nul = "2;Le\x00o;Petit;leo@x.fr;03/04/1991;\n"
    summary = sync(database, tmp_path, HEADER + GOOD[0] + nul + "".join(GOOD[2:]))
    assert (summary.inserted, summary.quarantined) == (3, 1)
    assert quarantine(database) == [
        ("2", "line 3 holds NUL characters (binary data in a text export?)")
    ]


CHANGES = """
[sources.crm]
type = "csv"

[sources.crm.streams.customers]
kind = "customer"
file = "changes.csv"
id = "id"
updated_at = { column = "maj", datetime = "iso" }
[sources.crm.streams.customers.fields]
given_name = "prenom"
family_name = "nom"
"""


def test_an_export_of_changes_keeps_the_newest_version_of_a_customer(
    database: Database, tmp_path: Path
) -> None:
    """A row whose updated_at is newer is the same customer changed; one no newer is not."""
    (tmp_path / "changes.csv").write_text(
        "id;prenom;nom;maj\n"
        "1;Ana;Leroy;2026-01-01T10:00:00+00:00\n"
        "1;Ana;Leroy-Martin;2026-02-01T10:00:00+00:00\n"  # married: newer, kept
        "1;Léa;Petit;2026-01-15T10:00:00+00:00\n",  # someone else, older: set aside
        encoding="utf-8",
    )
    summary = make_runner(database).run(write_sources(tmp_path, CHANGES).select(None))
    ((only),) = summary.passes
    assert (only.read, only.quarantined) == (3, 1)
    assert records(database)["1"][0]["family_name"] == "Leroy-Martin"
    assert quarantine(database) == [
        (
            "1",
            "id '1' is on an earlier row of changes.csv too (this is its data row 3 and is not "
            "newer by updated_at): the earlier one is kept",
        )
    ]


def test_rows_skipped_on_a_resume_still_decide_by_updated_at(tmp_path: Path) -> None:
    """Resumed after some rows, the rows before the resume point are compared by their
    updated_at only when their id comes again: the same rows are kept as in one read."""
    (tmp_path / "changes.csv").write_text(
        "id;prenom;nom;maj\n"
        "1;Ana;Leroy;2026-01-01T10:00:00+00:00\n"
        "2;Leo;Petit;2026-03-01T10:00:00+00:00\n"
        "1;Ana;Leroy-Martin;2026-02-01T10:00:00+00:00\n"  # newer than row 1: kept
        "2;Leo;Petit-Roux;2026-03-01T10:00:00+00:00\n"  # no newer than row 2: set aside
        "1;Léa;Petit;2026-01-15T10:00:00+00:00\n",  # older than row 3: set aside
        encoding="utf-8",
    )
    every_row = CHANGES.replace('type = "csv"', 'type = "csv"\ncheckpoint_every = 1')
    connector = write_sources(tmp_path, every_row).sources["crm"].connector(lambda n: "x")
    whole = list(connector.read("customers", None))
    states = [None, *(i.state for i in whole if isinstance(i, Checkpoint))][:5]
    for state in states:
        kept = [
            (type(i).__name__, i.source_id)
            for i in connector.read("customers", state)
            if isinstance(i, SourceRecord | Rejected)
        ]
        rows_read = len(kept)
        expected = [
            ("SourceRecord", "1"),
            ("SourceRecord", "2"),
            ("SourceRecord", "1"),
            ("Rejected", "2"),
            ("Rejected", "1"),
        ]
        assert kept == expected[len(expected) - rows_read :], state


def test_mapping_again_leaves_rows_whose_fault_is_their_own(
    database: Database, tmp_path: Path
) -> None:
    """A second row with an id, a row with a cell too many, a row with a NUL: no mapping fixes
    them, so "Map again" keeps them where they are. (It stored all three: the second person
    replaced the first, an e-mail went under the family name, the NUL into the name.)"""
    rows = [
        GOOD[0],
        "1;Bob;Martin;bob@x.fr;09/09/1999;\n",  # the id of Ana
        "2;Leo;Le;Petit;leo@x.fr;03/04/1991;\n",  # a cell too many
        "3;Ma\x00x;Roux;max@x.fr;05/06/1992;\n",  # a NUL
    ]
    assert sync(database, tmp_path, HEADER + "".join(rows)).quarantined == 3
    runner = make_runner(database)
    report = runner.reingest_quarantine(write_sources(tmp_path, SOURCES).select(None))
    assert (report.read, report.total("quarantined")) == (3, 3)
    assert sorted(records(database)) == ["1"]
    assert records(database)["1"][0]["given_name"] == "Ana"
    assert len(quarantine(database)) == 3

    # Closing the window stops a re-ingest between two batches.
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        make_runner(database, batch_size=1).reingest_quarantine(
            write_sources(tmp_path, SOURCES).select(None), cancel=token
        )
    assert len(quarantine(database)) == 3


def test_a_typo_in_a_field_name_is_said_where_it_shows(database: Database, tmp_path: Path) -> None:
    """``givn_name`` is accepted (a field of one's own may be mapped: ``county`` is not a typo
    of ``country`` for everyone), but a record it leaves nameless says what it looks like."""
    text = SOURCES.replace('given_name = "prenom"', 'givn_name = "prenom"').replace(
        'family_name = "nom"', 'famly_name = "nom"'
    )
    text = text.replace('email = "email"\n', "").replace("full_extract = true\n", "")
    (tmp_path / "clients.csv").write_text(HEADER + GOOD[0], encoding="utf-8")
    summary = make_runner(database).run(write_sources(tmp_path, text).select(None))
    assert summary.ok, summary.errors
    assert quarantine(database) == [
        (
            "1",
            "no name, identifier or contact point; its field 'givn_name' is none the cache "
            "reads (did you mean 'given_name'?); its field 'famly_name' is none the cache reads "
            "(did you mean 'family_name'?)",
        )
    ]


SPACED = """
[sources.crm]
type = "csv"
delimiter = " "

[sources.crm.streams.customers]
kind = "customer"
file = "spaced.txt"
id = "id"
[sources.crm.streams.customers.fields]
given_name = "prenom"
family_name = "nom"
"""


def test_the_end_of_the_file_is_no_row_whatever_the_delimiter(
    database: Database, tmp_path: Path
) -> None:
    # The first end-of-file marker held spaces: with delimiter " " it read as a customer
    # "of file" with id "\ufdd0end".
    (tmp_path / "spaced.txt").write_text("id prenom nom\n1 Ana Leroy\n", encoding="utf-8")
    summary = make_runner(database).run(write_sources(tmp_path, SPACED).select(None))
    assert summary.ok, summary.errors
    assert sorted(records(database)) == ["1"]


def test_which_of_two_rows_is_kept_does_not_depend_on_where_a_run_stopped(
    tmp_path: Path,
) -> None:
    # Resumed after Ana's row, Bob's row under her id went in as the record (Ana replaced).
    (tmp_path / "clients.csv").write_text(
        HEADER + GOOD[0] + GOOD[1] + "1;Bob;Martin;bob@x.fr;09/09/1999;\n", encoding="utf-8"
    )
    connector = write_sources(tmp_path, SOURCES).sources["shop"].connector(lambda n: "x")
    whole = list(connector.read("customers", None))
    checkpoints = [i for i in whole if isinstance(i, Checkpoint)]
    for state in (None, checkpoints[0].state, checkpoints[1].state):  # after no, one, two rows
        items = list(connector.read("customers", state))
        bobs = [i for i in items if isinstance(i, SourceRecord | Rejected) and i.source_id == "1"]
        assert [type(i).__name__ for i in bobs][-1] == "Rejected", state


def test_a_windows_1252_file_with_three_bytes_that_read_as_utf8_stays_windows_1252(
    database: Database, tmp_path: Path
) -> None:
    # "é", a no-break space and "»" are E9 A0 BB: one UTF-8 character. The file was read as
    # UTF-8 and every row with an accent went to quarantine.
    rows = [
        "1;Zoé;Lefèvre;zoe@x.fr;01/02/1990;réglé\u00a0»\n",
        "2;Léo;Hervé;leo@x.fr;03/04/1991;\n",
    ]
    summary = sync(database, tmp_path, (HEADER + "".join(rows)).encode("cp1252"))
    assert (summary.inserted, summary.quarantined) == (2, 0)
    assert records(database)["1"][0]["family_name"] == "Lefèvre"


XLSX = """
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


def _workbook(path: Path, rows: list[list[Any]], dimension: str | None = None) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [["id", "prenom", "nom", "ville"], *rows]:
        sheet.append(row)
    book.save(path)
    if dimension is None:
        return
    # The range the file says its sheet spans, written wrong as some exporters do.
    edit_sheet_xml(
        path, lambda xml: re.sub(r'<dimension ref="[^"]*"', f'<dimension ref="{dimension}"', xml)
    )


def test_a_sheet_is_read_as_far_as_its_rows_go_not_as_far_as_it_says(
    database: Database, tmp_path: Path
) -> None:
    # Said to span A1:D2, a sheet of two data rows lost the second without a word.
    _workbook(
        tmp_path / "clients.xlsx",
        [[1, "Ana", "Leroy", "Lyon"], [2, "Leo", "Petit", "Nice"]],
        "A1:D2",
    )
    summary = make_runner(database).run(write_sources(tmp_path, XLSX).select(None))
    assert summary.ok, summary.errors
    assert sorted(records(database)) == ["1", "2"]


def test_an_excel_error_where_a_value_goes_keeps_the_row_aside(
    database: Database, tmp_path: Path
) -> None:
    # "#N/A" became a customer's id, "#REF!" a town.
    _workbook(
        tmp_path / "clients.xlsx",
        [
            [1, "Ana", "Leroy", "Lyon"],
            ["#N/A", "Leo", "Petit", "Nice"],
            [3, "Max", "Roux", "#REF!"],
        ],
    )
    summary = make_runner(database).run(write_sources(tmp_path, XLSX).select(None))
    assert summary.ok, summary.errors
    assert sorted(records(database)) == ["1"]
    assert sorted(reason for _, reason in quarantine(database)) == [
        "row 3 of clients.xlsx holds an Excel error where a value goes: 'id' (#N/A)",
        "row 4 of clients.xlsx holds an Excel error where a value goes: 'ville' (#REF!)",
    ]


def test_numbers_shown_with_leading_zeros_keep_them(database: Database, tmp_path: Path) -> None:
    # A postcode typed as the number 1000 and shown 01000 (format "00000") was stored "1000",
    # which no other system writes; an id 7 shown 007 met no order's "007".
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["id", "prenom", "nom", "ville"])
    sheet.append([7, "Ana", "Leroy", 1000])
    sheet["A2"].number_format = "000"
    sheet["D2"].number_format = "00000"
    book.save(tmp_path / "clients.xlsx")
    summary = make_runner(database).run(write_sources(tmp_path, XLSX).select(None))
    assert summary.ok, summary.errors
    assert records(database)["007"][0]["city"] == "01000"
