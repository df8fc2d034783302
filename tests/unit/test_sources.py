"""The sources file: parsing, validation, and errors that name the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.sources import SourcesError, load_sources, locate

GOOD = """
[sources.shop]
type = "csv"
schedule = "15m"
encoding = "auto"

[sources.shop.streams.interactions]
kind = "interaction"
file = "visits.csv"
id = "Ticket"
[sources.shop.streams.interactions.fields]
customer_ref = "Carte"
occurred_at = { column = "Date", datetime = "%d/%m/%Y %H:%M", timezone = "Europe/Paris" }

[sources.shop.streams.customers]
kind = "customer"
file = "clients.csv"
id = "Carte"
filter = { preferred_store = "Lyon Part-Dieu" }
[sources.shop.streams.customers.fields]
full_name = { column = "Client", split_name = "family_given" }
loyalty_card = "Carte"
preferred_store = "Magasin"

[sources.crm]
type = "sql"
url = "postgresql+psycopg://reader@db.example.com/crm"
password_secret = "crm-db"
[sources.crm.streams.customers]
kind = "customer"
table = "customers"
cursor = "updated_at"
id = "id"
fields = { given_name = "first_name" }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    sources = load_sources(write(tmp_path, GOOD))
    shop = sources.sources["shop"]
    assert shop.type == "csv"
    assert shop.schedule_seconds == 900
    assert [s.name for s in shop.streams] == ["interactions", "customers"]
    assert [s.name for s in sources.select(None)] == ["shop", "crm"]
    # Customers are read first whatever the file's order.
    assert shop.connector(lambda name: "").passes() == ("customers", "interactions")


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ('type = "sql"', 'type = "ftp"', 26, "type is one of csv, sql, rest, singer"),
        ('password_secret = "crm-db"', 'password = "hunter2"', 28, "secrets never go in"),
        (
            'url = "postgresql+psycopg://reader@db.example.com/crm"',
            'url = "postgresql+psycopg://reader:hunter2@db.example.com/crm"',
            27,
            "the URL holds a password",
        ),
        ('schedule = "15m"', 'schedule = "often"', 4, "schedule is"),
        ('encoding = "auto"', 'encoding = "klingon"', 5, "unknown encoding"),
        ('split_name = "family_given"', 'split_name = "backwards"', 21, "split_name is"),
        (
            'datetime = "%d/%m/%Y %H:%M",',
            'datetime = "%d/%m/%Y %H:%M", colour = "red",',
            13,
            "unknown setting 'colour'",
        ),
        ('kind = "interaction"', 'kind = "visit"', 8, "kind is one of"),
        ('customer_ref = "Carte"\n', "", 11, "maps customer_ref"),
        ('table = "customers"', 'tabel = "customers"', 31, "unknown setting 'tabel'"),
    ],
)
def test_errors_name_file_line_and_key(
    tmp_path: Path, old: str, new: str, line: int, message: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(SourcesError) as error:
        load_sources(path)
    text = str(error.value)
    assert text.startswith(f"{path}:{line}:"), text
    assert message in text
    assert "\n" not in text
    assert "hunter2" not in text


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourcesError, match="no sources file"):
        load_sources(tmp_path / "missing.toml")
    with pytest.raises(SourcesError, match=r"not valid TOML.*line 2"):
        load_sources(write(tmp_path, "[sources.a]\ntype = \n"))


def test_unknown_source_name(tmp_path: Path) -> None:
    sources = load_sources(write(tmp_path, GOOD))
    with pytest.raises(SourcesError, match=r"no source named 'nope'.*shop, crm"):
        sources.select("nope")


def test_locate_finds_dotted_and_inline_keys() -> None:
    assert locate(GOOD, "sources.crm.url") == 27
    assert locate(GOOD, "sources.shop.streams.customers.fields.full_name.split_name") == 21
    assert locate(GOOD, "sources.shop.streams.customers") == 15


def test_one_customer_stream_per_source(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    stream = """
kind = "customer"
file = "{name}.csv"
id = "id"
[sources.crm.streams.{name}.fields]
full_name = "name"
"""
    path.write_text(
        '[sources.crm]\ntype = "csv"\n'
        + "".join(
            f"[sources.crm.streams.{name}]" + stream.format(name=name) for name in ("a", "b")
        ),
        encoding="utf-8",
    )
    with pytest.raises(SourcesError, match="both hold customers"):
        load_sources(path)
