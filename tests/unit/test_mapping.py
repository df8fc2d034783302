"""The declarative field mapping: named transforms on nasty real-world values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sync.mapping import (
    ConfigError,
    FieldRule,
    MappingError,
    StreamMapping,
    _to_type,
    canonical_meant,
    split_full_name,
)
from sync.records import RecordKind, SourceRecord


def rule(spec: Any) -> FieldRule:
    return FieldRule.parse("x", spec, "fields.x")


@pytest.mark.parametrize(
    ("spec", "row", "expected"),
    [
        ("Nom", {"Nom": "  Michu "}, "Michu"),
        ("Nom", {"Nom": "   "}, None),
        ({"column": "Né le", "date": "%d/%m/%Y"}, {"Né le": "17/04/1961"}, "1961-04-17"),
        ({"column": "d", "date": ["%d/%m/%Y", "%Y-%m-%d"]}, {"d": "1961-04-17"}, "1961-04-17"),
        ({"column": "m", "decimal": ","}, {"m": "1 234,50 €"}, "1234.50"),
        ({"column": "m", "decimal": ","}, {"m": "12,5"}, "12.5"),
        ({"column": "m", "decimal": "."}, {"m": "1,234.50"}, "1234.50"),
        ({"column": "m", "decimal": ","}, {"m": "1.234,50"}, "1234.50"),
        ({"column": "m", "decimal": ","}, {"m": "-1.234.567"}, "-1234567"),
        ({"column": "m", "decimal": "."}, {"m": "12,500"}, "12500"),
        ({"column": "m", "decimal": "."}, {"m": "1,23,456.78"}, "123456.78"),  # lakhs
        ({"column": "n", "type": "int"}, {"n": "3,0"}, 3),
        ({"column": "v", "type": "bool"}, {"v": "Oui"}, True),
        ({"column": "v", "type": "bool"}, {"v": "0"}, False),
        ({"column": "n", "type": "int"}, {"n": "12 000"}, 12000),
        ({"column": "t", "phone_region": "FR"}, {"t": "06 71 42 58 13"}, "+33671425813"),
        ({"column": "t", "phone_region": "BE"}, {"t": "0470 12 34 56"}, "+32470123456"),
        ({"value": "store"}, {}, "store"),
        ({"column": "c", "default": "web"}, {"c": ""}, "web"),
        ({"column": "s", "map": {"O": "granted", "N": "denied"}}, {"s": "O"}, "granted"),
        ({"column": "e", "split": "|"}, {"e": "a@x.fr | b@y.fr"}, ["a@x.fr", "b@y.fr"]),
        ({"column": "c", "case": "lower"}, {"c": "JO@X.FR"}, "jo@x.fr"),
        (
            {"columns": ["a", "b"], "join": " "},
            {"a": "12", "b": "rue Paul Bert"},
            "12 rue Paul Bert",
        ),
        ("customer.email", {"customer": {"email": "a@x.fr"}}, "a@x.fr"),
        (
            {"column": "at", "datetime": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"},
            {"at": "01/07/2025 10:30"},
            "2025-07-01T10:30:00+02:00",
        ),
    ],
)
def test_transforms(spec: Any, row: dict[str, Any], expected: Any) -> None:
    assert rule(spec).extract(row) == expected


@pytest.mark.parametrize(
    ("spec", "row", "reason"),
    [
        ({"column": "d", "date": "%d/%m/%Y"}, {"d": "31/02/2020"}, "unparseable date"),
        ({"column": "m", "decimal": ","}, {"m": "douze"}, "unparseable number"),
        # The other convention's decimal point is not a thousands separator: "12.50" with
        # decimal "," was stored as 1250, "1,234.56" as 1.23456.
        ({"column": "m", "decimal": ","}, {"m": "12.50"}, "unparseable number '12.50'"),
        ({"column": "m", "decimal": ","}, {"m": "1,234.56"}, "only groups thousands"),
        ({"column": "m", "decimal": "."}, {"m": "12,50"}, "unparseable number '12,50'"),
        ({"column": "m", "decimal": ","}, {"m": "1.2.3"}, "unparseable number"),
        ({"column": "n", "type": "int"}, {"n": "1,5"}, "not a whole number"),
        ({"column": "v", "type": "bool"}, {"v": "peut-être"}, "not a yes/no"),
        ({"column": "n", "required": True}, {"n": ""}, "empty"),
    ],
)
def test_bad_values_raise_with_the_reason(spec: Any, row: dict[str, Any], reason: str) -> None:
    with pytest.raises(MappingError, match=reason):
        rule(spec).extract(row)


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"column": "a", "date": "%d", "decimal": ","}, "fields.x"),
        ({"column": "a", "colour": "red"}, "fields.x.colour"),
        ({"column": "a", "type": "money"}, "fields.x.type"),
        ({"column": "a", "phone_region": "XX"}, "fields.x.phone_region"),
        ({"column": "a", "timezone": "Mars/Olympus"}, "fields.x.timezone"),
        ({"value": 1, "column": "a"}, "fields.x"),
        (12, "fields.x"),
    ],
)
def test_bad_rules_name_their_key(spec: Any, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        rule(spec)
    assert error.value.key == key


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("MICHU Jocelyne", "given_family", ("Jocelyne", "Michu".upper())),
        ("Jocelyne MICHU", "family_given", ("Jocelyne", "MICHU")),
        ("Jocelyne Michu", "given_family", ("Jocelyne", "Michu")),
        ("Michu Jocelyne", "family_given", ("Jocelyne", "Michu")),
        ("Marie Claire DUPONT LAJOIE", "given_family", ("Marie Claire", "DUPONT LAJOIE")),
        ("Cher", "given_family", ("", "Cher")),
        # Particles stay with the family name they open.
        ("Anne de la Tour", "given_family", ("Anne", "de la Tour")),
        ("Gwenaëlle Le Goff", "given_family", ("Gwenaëlle", "Le Goff")),
        ("Maria Da Silva", "given_family", ("Maria", "Da Silva")),
        ("Ludwig van der Berg", "given_family", ("Ludwig", "van der Berg")),
        ("Le Goff", "given_family", ("", "Le Goff")),
        ("de la Tour Anne", "family_given", ("Anne", "de la Tour")),
        ("Le Goff Gwenaëlle", "family_given", ("Gwenaëlle", "Le Goff")),
        ("Anne de la TOUR", "given_family", ("Anne", "de la TOUR")),
        ("DE LA TOUR Anne", "family_given", ("Anne", "DE LA TOUR")),
        ("Anne Delatour", "given_family", ("Anne", "Delatour")),
        ("Ben Smith", "given_family", ("Ben", "Smith")),
        # An initial is a given name abbreviated, neither a particle nor a name in capitals.
        ("L. Boucher", "given_family", ("L.", "Boucher")),
        ("D. Martin", "given_family", ("D.", "Martin")),
        ("J. de la Tour", "given_family", ("J.", "de la Tour")),
        ("BOUCHER L.", "given_family", ("L.", "BOUCHER")),
        ("Marie L'Hermite", "given_family", ("Marie", "L'Hermite")),
        ("Jean St. Pierre", "given_family", ("Jean", "St. Pierre")),
    ],
)
def test_split_full_name(text: str, order: str, expected: tuple[str, str]) -> None:
    assert split_full_name(text, order) == expected


def test_stream_mapping_builds_a_record() -> None:
    mapping = StreamMapping.parse(
        {
            "id": "Code",
            "updated_at": {"column": "Modifié", "datetime": "%d/%m/%Y %H:%M"},
            "deleted": "Supprimé",
            "fields": {
                "full_name": {"column": "Client", "split_name": "family_given"},
                "birth_date": {"column": "Né", "date": "%d/%m/%Y"},
                "channel": {"value": "store"},
            },
        },
        "sources.shop.streams.customers",
    )
    row = {
        "Code": " 42 ",
        "Modifié": "02/01/2026 09:15",
        "Supprimé": "non",
        "Client": "MICHU Jo",
        "Né": "17/04/1961",
    }
    record = mapping.apply("shop", RecordKind.CUSTOMER, row)
    assert record.source_id == "42"
    assert record.fields == {
        "given_name": "Jo",
        "family_name": "MICHU",
        "birth_date": "1961-04-17",
        "channel": "store",
    }
    assert record.updated_at is not None
    assert record.updated_at.isoformat() == "2026-01-02T09:15:00+00:00"
    assert record.deleted is False


def test_a_row_without_id_or_with_a_bad_value_is_rejected_with_its_id() -> None:
    mapping = StreamMapping.parse(
        {"id": "Code", "fields": {"birth_date": {"column": "Né", "date": "%d/%m/%Y"}}}, "s"
    )
    with pytest.raises(MappingError, match="no id"):
        mapping.apply("shop", RecordKind.CUSTOMER, {"Code": "", "Né": "17/04/1961"})
    with pytest.raises(MappingError) as error:
        mapping.apply("shop", RecordKind.CUSTOMER, {"Code": "7", "Né": "hier"})
    assert error.value.source_id == "7"
    assert "birth_date" in str(error.value)


def test_a_mistyped_column_is_named_with_the_columns_the_row_has() -> None:
    """Every row of an export lands in quarantine: the reason says how to fix the mapping."""
    mapping = StreamMapping.parse(
        {"id": "Code client", "fields": {"email": {"column": "Mail", "required": True}}}, "s"
    )
    row = {"Code Client": "7", "Mail": "a@x.fr", "Nom": "Michu"}
    with pytest.raises(MappingError) as error:
        mapping.apply("shop", RecordKind.CUSTOMER, row)
    assert str(error.value) == (
        "no id (no column 'Code client' in the row (it has 'Code Client', 'Mail', 'Nom'))"
    )
    with pytest.raises(MappingError, match=r"^no id \(empty column 'Code client'\)$"):
        mapping.apply("shop", RecordKind.CUSTOMER, {"Code client": " ", "Mail": "a@x.fr"})
    with pytest.raises(MappingError) as error:
        mapping.apply("shop", RecordKind.CUSTOMER, {"Code client": "7", "email": "a@x.fr"})
    assert str(error.value) == "email: no column 'Mail' in the row (it has 'Code client', 'email')"
    assert error.value.source_id == "7"


def test_filter_keeps_one_store() -> None:
    mapping = StreamMapping.parse(
        {"id": "id", "fields": {"preferred_store": "store"}, "filter": {"preferred_store": "Lyon"}},
        "s",
    )
    keep = mapping.apply("crm", RecordKind.CUSTOMER, {"id": "1", "store": "Lyon"})
    drop = mapping.apply("crm", RecordKind.CUSTOMER, {"id": "2", "store": "Nice"})
    assert mapping.keeps(keep)
    assert not mapping.keeps(drop)


@pytest.mark.parametrize("value", ["1e1000000", "nan", "inf", "12345678901234567890123"])
def test_implausible_whole_numbers_are_refused_at_once(value: str) -> None:
    with pytest.raises(ValueError, match="not a plausible whole number"):
        _to_type(value, "int")


PARIS = ZoneInfo("Europe/Paris")
# Values as a database driver gives them (psycopg: aware datetimes in the session's zone).
DATABASE_VALUES: list[Any] = [
    None,
    datetime(2026, 3, 29, 3, 30, tzinfo=PARIS),
    datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=PARIS),  # the second 02:30 of the night
    datetime(2026, 1, 5, 9, 0, 0, 500, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2026, 1, 5, 9, 0),  # naive: in the rule's time zone
    datetime(1, 1, 1, 0, 5),
    date(2024, 2, 29),
    Decimal("0.12345678901234567890123456789"),
    Decimal("-0"),
    Decimal("1E+2"),
    Decimal("NaN"),
    0,
    -(2**62),
    True,
    False,
    0.1,
    1e16,
    "  text  ",
    "",
]


@pytest.mark.parametrize("value", DATABASE_VALUES)
@pytest.mark.parametrize("kind", list(RecordKind))
@pytest.mark.parametrize("spec", ["c", {"column": "c", "timezone": "America/New_York"}])
def test_a_column_rule_takes_a_databases_values_as_its_general_way_does(
    spec: Any, kind: RecordKind, value: Any
) -> None:
    """A rule naming one column takes a short way for text, empty and typed values (most
    fields of most rows): the record is the one the rules' general way (``extract``: a typed
    value as its JSON text; ``updated_at`` read back from that text) gives, to the type of
    every value; ``updated_at`` is the same time with the same ISO text."""
    mapping = StreamMapping.parse(
        {"id": "id", "updated_at": spec, "fields": {"occurred_at": spec, "amount": spec}}, "s"
    )
    assert mapping.updated_at is not None
    assert mapping.fields[0]._plain_column == "c"
    row = {"id": " 7 ", "c": value}
    general = mapping.fields[0].extract(row)
    fields = {} if general is None else {"occurred_at": general, "amount": general}
    stamp = mapping.updated_at.extract(row)
    try:
        updated_at = None if stamp is None else datetime.fromisoformat(str(stamp))
    except ValueError:
        with pytest.raises(MappingError, match=r"^updated_at: "):
            mapping.apply("crm", kind, row)
        return

    record = mapping.apply("crm", kind, row)

    assert (record.source_id, record.fields, record.deleted) == ("7", fields, False)
    assert [type(v) for v in record.fields.values()] == [type(v) for v in fields.values()]
    assert record.fields_json() == SourceRecord("crm", "7", kind, fields).fields_json()
    if updated_at is None:
        assert record.updated_at is None
    else:
        assert record.updated_at is not None
        assert record.updated_at.isoformat() == updated_at.isoformat()
        assert record.updated_at.astimezone(UTC) == updated_at.astimezone(UTC)


def test_a_column_rule_finds_a_dotted_path_whatever_its_value() -> None:
    mapping = StreamMapping.parse(
        {"id": "id", "updated_at": "meta.at", "fields": {"amount": "order.amount"}}, "s"
    )
    at = datetime(2026, 1, 5, 9, 0, tzinfo=PARIS)
    row = {"id": 7, "meta": {"at": at}, "order": {"amount": Decimal("12.50")}}
    record = mapping.apply("shop", RecordKind.INTERACTION, row)
    assert record.source_id == "7"
    assert record.fields == {"amount": "12.50"}
    assert record.updated_at is not None
    assert record.updated_at.isoformat() == "2026-01-05T09:00:00+01:00"


# --- JSON values that are not one value ----------------------------------------------------


def _people() -> StreamMapping:
    return StreamMapping.parse(
        {
            "id": "id",
            "fields": {"given_name": "first", "family_name": "last", "email": "emails"},
        },
        "streams.people",
    )


def test_a_one_value_list_is_that_value_and_lists_stay_lists_where_fields_hold_several() -> None:
    record = _people().apply(
        "api", RecordKind.CUSTOMER, {"id": [7], "first": ["Anne"], "emails": ["a@x.fr", "b@x.fr"]}
    )
    assert record.source_id == "7"
    assert record.fields == {"given_name": "Anne", "email": ["a@x.fr", "b@x.fr"]}


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        # An API's object or list where one value goes was stored as its text: a customer
        # named "['A'] {'X': 1}", a source id "{'x': 1}".
        ({"id": 6, "first": ["a", "b"]}, "given_name: a list of 2 values where one value goes"),
        ({"id": 6, "last": {"x": 1}}, "family_name: an object \\(keys 'x'\\) where one value goes"),
        ({"id": {"x": 1}, "first": "Obj"}, "no id \\(id: an object \\(keys 'x'\\)"),
        ({"id": [1, 2], "first": "Two"}, "no id \\(id: a list of 2 values"),
    ],
)
def test_objects_and_lists_where_one_value_goes_are_refused(
    row: dict[str, Any], reason: str
) -> None:
    with pytest.raises(MappingError, match=reason):
        _people().apply("api", RecordKind.CUSTOMER, row)


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("givn_name", "given_name"),
        ("birthdate", "birth_date"),
        ("twiter", "twitter"),
        ("note", None),
        ("street2", None),
        ("email_work", None),
        ("given_name", None),
    ],
)
def test_the_canonical_field_a_name_looks_like_a_typo_of(name: str, meant: str | None) -> None:
    assert canonical_meant(name) == meant


@pytest.mark.parametrize("name", ["note", "street2", "email_work", "segment"])
def test_fields_of_ones_own_are_kept(name: str) -> None:
    mapping = StreamMapping.parse({"id": "id", "fields": {name: "col"}}, "streams.people")
    record = mapping.apply("crm", RecordKind.CUSTOMER, {"id": "1", "col": "x"})
    assert record.fields == {name: "x"}
