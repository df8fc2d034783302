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
        # A csv export read incrementally lists only the changed rows: the sweep of a full
        # extract marked every other customer deleted.
        (
            'file = "clients.csv"',
            'file = "clients.csv"\ncursor = "Modifié"\nfull_extract = true',
            19,
            "full_extract reads everything; it cannot be combined with a cursor",
        ),
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


REST = """
[sources.api]
type = "rest"
base_url = "https://api.example.com/v1"
auth = { type = "api_key", header = "X-Api-Key", secret = "api-key" }
max_retries = 3
headers = { Accept-Language = "fr" }
enabled = true

[sources.api.streams.customers]
kind = "customer"
path = "/customers"
records = "data"
pagination = { type = "page", size = 100 }
since_param = "updated_since"
since_field = "updated_at"
id = "id"
[sources.api.streams.customers.fields]
email = { column = "email", required = true }
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # Each of these crashed with a traceback, or ran with the setting misread.
        ("max_retries = 3", 'max_retries = "three"', "max_retries is a whole number"),
        ('headers = { Accept-Language = "fr" }', 'headers = "Accept-Language: fr"', "headers is a"),
        ("size = 100", 'size = "100"', "size is a whole number, at least 1"),
        ("size = 100", "size = 0", "size is a whole number, at least 1"),
        ('base_url = "https://api.example.com/v1"', 'base_url = "https://"', "not a usable"),
        ('records = "data"', "records = 1", "records is text"),
        ('header = "X-Api-Key"', "header = 7", "header is text"),
        ("enabled = true", 'enabled = "false"', "enabled is true or false (without quotes)"),
        # A credential in clear: the file holds none.
        (
            'headers = { Accept-Language = "fr" }',
            'headers = { Authorization = "Bearer x" }',
            "secrets never",
        ),
        (
            'headers = { Accept-Language = "fr" }',
            'headers = { X-API-Key = "k-1" }',
            "secrets never",
        ),
        ('records = "data"', 'records = "data"\nparams = { access_token = "t" }', "secrets never"),
        ("api.example.com/v1", "me:pw@api.example.com/v1", "secrets never"),
        ("example.com/v1", "example.com/v1?apikey=k", "secrets never"),
        ("required = true", 'required = "no"', "required is true or false"),
        # An incremental read lists only what changed: the rest would be marked deleted.
        ('id = "id"', 'id = "id"\nfull_extract = true', "cannot be combined with since_param"),
        ('id = "id"', 'id = "id"\nfull_extract = "no"', "full_extract is true or false"),
    ],
)
def test_rest_settings_are_checked_when_the_file_loads(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in REST
    text = REST.replace(old, new, 1)
    line = text[: text.index(new)].count("\n") + 1 + new.count("\n")
    path = write(tmp_path, text)
    with pytest.raises(SourcesError) as error:
        load_sources(path)
    assert str(error.value).startswith(f"{path}:{line}:"), str(error.value)
    assert message in str(error.value)


def test_the_rest_example_loads(tmp_path: Path) -> None:
    (api,) = load_sources(write(tmp_path, REST)).select(None)
    assert api.streams[0].options["pagination"] == {"type": "page", "size": 100}


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourcesError, match="no sources file"):
        load_sources(tmp_path / "missing.toml")
    path = write(tmp_path, "[sources.a]\ntype = \n")
    with pytest.raises(SourcesError, match=r"not valid TOML.*line 2") as error:
        load_sources(path)
    assert str(error.value).startswith(f"{path}:2: ")


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
