"""The csv connector on exports as people really send them, and the demo data through files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select

from customer_card.services.demo import build_demo
from customer_card.services.demo_files import export_demo
from customer_card.store import models as m
from customer_card.store.cache import Unlock, open_cache
from customer_card.store.database import Database
from customer_card.store.keys import KdfCost
from customer_card.store.sync_store import SyncStore
from tests.sync.conftest import make_runner, write_sources

CLIENTS_HEADER = "Code client;Nom complet;Né(e) le;Téléphone;Remarque;Modifié le\r\n"
CLIENTS = [
    '1;MICHU Jocelyne;17/04/1961;06 71 42 58 13;"cliente fidèle\r\nappelle le matin";'
    "02/01/2026 10:00\r\n",
    "2;DUPONT Éric;03/11/1975;0478601234;;02/01/2026 10:00\r\n",
    "3;MARTIN Zoé;31/02/1980;0612345678;date impossible;02/01/2026 10:00\r\n",
    ";SANS Code;01/01/1990;0600000000;pas d'id;02/01/2026 10:00\r\n",
]
SOURCES = """
[sources.shop]
type = "csv"
checkpoint_every = 2

[sources.shop.streams.customers]
kind = "customer"
file = "clients.csv"
id = "Code client"
full_extract = true
updated_at = { column = "Modifié le", datetime = "%d/%m/%Y %H:%M", timezone = "Europe/Paris" }
[sources.shop.streams.customers.fields]
full_name = { column = "Nom complet", split_name = "family_given" }
birth_date = { column = "Né(e) le", date = "%d/%m/%Y" }
phone = { column = "Téléphone", phone_region = "FR" }
note = "Remarque"

[sources.shop.streams.visits]
kind = "interaction"
file = "visites.csv"
id = "Ticket"
cursor = "Date"
cursor_format = "%d/%m/%Y %H:%M"
[sources.shop.streams.visits.fields]
customer_ref = "Client"
occurred_at = { column = "Date", datetime = "%d/%m/%Y %H:%M", timezone = "Europe/Paris" }
amount = { column = "Montant", decimal = "," }
channel = { value = "store" }
summary = "Magasin"
"""


def write_clients(directory: Path, rows: list[str], encoding: str) -> None:
    data = (CLIENTS_HEADER + "".join(rows)).encode(encoding)
    if encoding == "utf-8":
        data = b"\xef\xbb\xbf" + data
    (directory / "clients.csv").write_bytes(data)


def write_visits(directory: Path, rows: list[tuple[str, str, str, str, str]]) -> None:
    lines = ["Ticket,Client,Date,Montant,Magasin"]
    lines += [",".join(f'"{c}"' if "," in c else c for c in row) for row in rows]
    (directory / "visites.csv").write_text("\n".join(lines) + "\n", encoding="cp1252")


VISITS = [
    ("V1", "1", "05/01/2026 14:30", "1 234,50", "Lyon Part-Dieu"),
    ("V2", "2", "06/01/2026 11:00", "12,00", "Lyon, Part-Dieu"),
    ("V3", "1", "06/01/2026 11:00", "3,99", "Opéra"),
]


def quarantine(database: Database) -> list[tuple[str | None, str]]:
    with database.read() as session:
        return [(q.source_id, q.reason) for q in SyncStore(session).quarantined()]


def test_real_world_exports_load_quarantine_and_resync(database: Database, tmp_path: Path) -> None:
    write_clients(tmp_path, CLIENTS, "utf-8")
    write_visits(tmp_path, VISITS)
    sources = write_sources(tmp_path, SOURCES)
    runner = make_runner(database, batch_size=2)

    first = runner.run(sources.select(None))
    assert first.ok, first.errors
    by = {p.stream: p for p in first.passes}
    assert (by["customers"].inserted, by["customers"].quarantined) == (2, 2)
    assert by["visits"].inserted == 3
    reasons = dict(quarantine(database))
    assert "unparseable date '31/02/1980'" in reasons["3"]
    assert "no id" in reasons[None]
    with database.read() as session:
        fields = session.scalars(
            select(m.SourceRecord.fields).where(m.SourceRecord.source_id == "1")
        ).one()
        rows = session.execute(select(m.Interaction.source_id, m.Interaction.amount_cents))
        amounts = dict(rows.all())
    assert fields["given_name"] == "Jocelyne"
    assert fields["note"] == "cliente fidèle\r\nappelle le matin"
    assert fields["phone"] == "+33671425813"
    assert amounts == {"V1": 123450, "V2": 1200, "V3": 399}

    # The same files again: nothing read, nothing changed.
    second = runner.run(sources.select(None))
    assert second.ok
    assert second.total("read") == 0

    # Forced re-read of the same data: only unchanged records.
    with database.write() as session:
        SyncStore(session).reset("shop")
    again = runner.run(sources.select(None))
    assert again.total("inserted") == again.total("updated") == again.total("deleted") == 0
    assert again.total("unchanged") == 5

    # A new export in Windows-1252, ";" kept: customer 2 gone (marked deleted, never dropped),
    # customer 3 fixed (its quarantine is resolved), one visit changed, one newer visit.
    fixed = [CLIENTS[0], CLIENTS[2].replace("31/02/1980", "29/02/1980"), CLIENTS[3]]
    write_clients(tmp_path, fixed, "cp1252")
    write_visits(
        tmp_path,
        [
            *VISITS[:2],
            ("V3", "1", "06/01/2026 11:00", "4,99", "Opéra"),
            ("V4", "3", "07/01/2026 09:00", "1,00", "Opéra"),
        ],
    )
    third = runner.run(sources.select(None))
    by = {p.stream: p for p in third.passes}
    assert (by["customers"].inserted, by["customers"].deleted) == (1, 1)
    assert by["customers"].unchanged == 1
    # Only the visits at or after the newest date of the last run were read.
    assert by["visits"].read == 3
    assert (by["visits"].updated, by["visits"].inserted) == (1, 1)
    with database.read() as session:
        deleted = session.scalars(
            select(m.SourceRecord.deleted).where(m.SourceRecord.source_id == "2")
        ).one()
    assert deleted is True
    assert [sid for sid, _ in quarantine(database)] == [None]


def test_bad_bytes_are_quarantined_not_dropped(database: Database, tmp_path: Path) -> None:
    rows = [*CLIENTS[:2]]
    data = (CLIENTS_HEADER + "".join(rows)).encode("utf-8")
    data += b"5;LEROY Ana;01/01/1990;0600000001;" + b"caf\xe9 \xff;02/01/2026 10:00\r\n"
    (tmp_path / "clients.csv").write_bytes(data)
    write_visits(tmp_path, VISITS)
    sources = write_sources(
        tmp_path,
        SOURCES.replace("checkpoint_every = 2", 'checkpoint_every = 2\nencoding = "utf-8"'),
    )
    summary = make_runner(database).run(sources.select(None))
    # The visits file is Windows-1252, not the UTF-8 this source declares: its row with "é"
    # is kept aside too, with the reason.
    assert summary.total("inserted") == 2 + 2
    assert quarantine(database) == [
        ("5", "bad encoding: bytes that are not utf-8 text"),
        ("V3", "bad encoding: bytes that are not utf-8 text"),
    ]


def test_xlsx_export(database: Database, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "Clients"
    sheet.append(["Code", "Nom", "Prénom", "Naissance", "Points"])
    sheet.append([101, "Michu", "Jocelyne", "17/04/1961", 1234.0])
    sheet.append([102, "Dupont", "Éric", None, None])
    book.save(tmp_path / "clients.xlsx")
    text = """
[sources.fid]
type = "csv"
[sources.fid.streams.customers]
kind = "customer"
file = "clients.xlsx"
sheet = "Clients"
id = { column = "Code", type = "str" }
[sources.fid.streams.customers.fields]
family_name = "Nom"
given_name = "Prénom"
birth_date = { column = "Naissance", date = "%d/%m/%Y" }
followers = { column = "Points", type = "int" }
"""
    sources = write_sources(tmp_path, text)
    runner = make_runner(database)
    assert runner.run(sources.select(None)).total("inserted") == 2
    with database.write() as session:
        SyncStore(session).reset("fid")
    second = runner.run(sources.select(None))
    assert second.total("unchanged") == 2 == second.total("read")


def test_a_mapped_column_missing_from_the_file_fails_the_stream_not_the_field(
    database: Database, tmp_path: Path
) -> None:
    # The export's column was renamed ("Téléphone" -> "Tél."): every record would have lost
    # its phone without a word. The source stops at that stream, saying what is wrong.
    write_clients(tmp_path, CLIENTS[:2], "utf-8")
    (tmp_path / "clients.csv").write_bytes(
        (tmp_path / "clients.csv").read_bytes().replace("Téléphone".encode(), "Tél.".encode())
    )
    write_visits(tmp_path, VISITS)
    summary = make_runner(database).run(write_sources(tmp_path, SOURCES).select(None))
    by = {p.stream: p for p in summary.passes}
    assert by["customers"].error is not None
    assert "clients.csv has no column 'Téléphone' (mapped to phone)" in by["customers"].error
    assert "'Tél.'" in by["customers"].error  # the columns it has
    assert by["customers"].inserted == 0
    with database.read() as session:
        assert (
            session.scalar(select(m.SourceRecord.id).where(m.SourceRecord.source_id == "1")) is None
        )
    # Fixed mapping: everything arrives.
    fixed = SOURCES.replace('"Téléphone"', '"Tél."')
    again = make_runner(database).run(write_sources(tmp_path, fixed).select(None))
    assert again.ok, again.errors
    assert {p.stream: p.inserted for p in again.passes}["customers"] == 2


def test_columns_a_mapping_can_do_without_may_be_missing(
    database: Database, tmp_path: Path
) -> None:
    # A rule with a default stands in for a missing column; a rule joining several columns
    # needs one of them (an address complement the export left out).
    (tmp_path / "c.csv").write_text("id;nom;rue\n1;Michu;12 rue Paul Bert\n", encoding="utf-8")
    text = """
[sources.fid]
type = "csv"
[sources.fid.streams.customers]
kind = "customer"
file = "c.csv"
id = "id"
[sources.fid.streams.customers.fields]
family_name = "nom"
street = { columns = ["rue", "complement"], join = ", " }
language = { column = "langue", default = "fr" }
"""
    summary = make_runner(database).run(write_sources(tmp_path, text).select(None))
    assert summary.ok, summary.errors
    assert summary.total("inserted") == 1
    with database.read() as session:
        (fields,) = session.scalars(select(m.SourceRecord.fields)).all()
    assert (fields["street"], fields["language"]) == ("12 rue Paul Bert", "fr")
    with (tmp_path / "c.csv").open("a", encoding="utf-8") as export:
        export.write("2;Dupont;3 place Bellecour\n")  # a new export, read again
    broken = text.replace('["rue", "complement"]', '["rues", "complement"]')
    summary = make_runner(database).run(write_sources(tmp_path, broken).select(None))
    assert "has no column 'rues' (mapped to street); did you mean 'rue'?" in summary.errors["fid"]


def test_a_misspelt_xlsx_column_is_named_with_a_suggestion(
    database: Database, tmp_path: Path
) -> None:
    book = Workbook()
    book.active.append(["Code", "Nom", "Prénom"])
    book.active.append([101, "Michu", "Jocelyne"])
    book.save(tmp_path / "clients.xlsx")
    text = """
[sources.fid]
type = "csv"
[sources.fid.streams.customers]
kind = "customer"
file = "clients.xlsx"
id = { column = "Code", type = "str" }
[sources.fid.streams.customers.fields]
family_name = "Nom"
given_name = "Prenom"
"""
    summary = make_runner(database).run(write_sources(tmp_path, text).select(None))
    (only,) = summary.passes
    assert only.error is not None
    assert "no column 'Prenom' (mapped to given_name); did you mean 'Prénom'?" in only.error
    assert only.inserted == 0


def landed(database: Database) -> dict[str, set[tuple[str, str]]]:
    """Which records landed, by (source, source id), per table; and what was quarantined."""
    with database.read() as session:
        out = {
            name: {(s, i) for s, i in session.execute(select(model.source, model.source_id))}
            for name, model in (
                ("source_records", m.SourceRecord),
                ("interactions", m.Interaction),
                ("consents", m.Consent),
            )
        }
        out["quarantine"] = {
            (source, source_id or "")
            for source, source_id in session.execute(
                select(m.Quarantine.source, m.Quarantine.source_id)
            )
        }
        return out


def test_demo_exports_load_into_the_same_cache(database: Database, tmp_path: Path) -> None:
    export_demo(tmp_path / "exports", customers=150, seed=11)
    sources = write_sources(
        tmp_path / "exports", (tmp_path / "exports" / "sources.toml").read_text()
    )
    summary = make_runner(database, batch_size=1000).run(sources.select(None))
    assert summary.ok, summary.errors
    direct_db = open_cache(
        tmp_path / "direct.db",
        None,
        Unlock(passphrase="x"),
        create=True,
        kdf_cost=KdfCost.minimal(),
    ).database
    try:
        build_demo(direct_db, customers=150, seed=11)
        # The same records land either way. (How they group into golden customers may differ:
        # inline matching sees them in another order; `match run` reconciles both.)
        assert landed(database) == landed(direct_db)
        # And the same order lines, from the CSV's `items` column.
        assert _all_lines(database) == _all_lines(direct_db)
        assert len(_all_lines(database)) > 50
    finally:
        direct_db.dispose()


TWO_HISTORY_STREAMS = """
[sources.desk]
type = "csv"

[sources.desk.streams.customers]
kind = "customer"
file = "clients.csv"
id = "id"
[sources.desk.streams.customers.fields]
full_name = "name"

[sources.desk.streams.tickets]
kind = "interaction"
file = "tickets.csv"
id = "id"
[sources.desk.streams.tickets.fields]
customer_ref = "client"
occurred_at = { column = "at", datetime = "%Y-%m-%d" , timezone = "Europe/Paris" }
channel = { value = "email" }
kind = { value = "ticket" }
summary = "subject"

[sources.desk.streams.calls]
kind = "interaction"
file = "calls.csv"
id = "id"
full_extract = true
[sources.desk.streams.calls.fields]
customer_ref = "client"
occurred_at = { column = "at", datetime = "%Y-%m-%d", timezone = "Europe/Paris" }
channel = { value = "phone" }
kind = { value = "call" }
summary = "subject"
"""


def test_two_streams_of_one_kind_keep_their_records_apart(
    database: Database, tmp_path: Path
) -> None:
    """Ticket 1 and call 1 are two interactions; a full extract of calls leaves tickets alone."""
    (tmp_path / "clients.csv").write_text("id,name\n1,Jocelyne MICHU\n", encoding="utf-8")
    (tmp_path / "tickets.csv").write_text(
        "id,client,at,subject\n1,1,2026-01-02,Remboursement\n2,1,2026-01-03,Livraison\n",
        encoding="utf-8",
    )
    (tmp_path / "calls.csv").write_text(
        "id,client,at,subject\n1,1,2026-01-04,Appel entrant\n2,1,2026-01-05,Rappel\n",
        encoding="utf-8",
    )
    sources = write_sources(tmp_path, TWO_HISTORY_STREAMS)
    assert make_runner(database).run(sources.select(None)).ok

    (tmp_path / "calls.csv").write_text(
        "id,client,at,subject\n1,1,2026-01-04,Appel entrant\n", encoding="utf-8"
    )
    second = make_runner(database).run(write_sources(tmp_path, TWO_HISTORY_STREAMS).select(None))
    assert second.ok, second.errors
    (calls,) = [p for p in second.passes if p.stream == "calls"]
    # The file's one row was read; the row it no longer lists was marked deleted, not read
    # (the summary said "read 2" for a one-row file).
    assert (calls.read, calls.unchanged, calls.deleted) == (1, 1, 1)

    with database.read() as session:
        rows = {
            (source_id, deleted)
            for source_id, deleted in session.execute(
                select(m.Interaction.source_id, m.Interaction.deleted)
            )
        }
    assert rows == {
        ("tickets:1", False),
        ("tickets:2", False),
        ("calls:1", False),
        ("calls:2", True),  # gone from the full extract of calls: marked, kept
    }


def _all_lines(database: Database) -> list[tuple[Any, ...]]:
    ol, i = m.OrderLine, m.Interaction
    with database.read() as session:
        return sorted(
            tuple(row)
            for row in session.execute(
                select(
                    i.source_id,
                    i.status,
                    ol.line_no,
                    ol.sku,
                    ol.name,
                    ol.quantity,
                    ol.unit_price_cents,
                    ol.currency,
                    ol.category,
                ).join(i, i.id == ol.interaction_id)
            )
        )
