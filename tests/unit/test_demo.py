"""The demo generator: deterministic, consistent with its ground truth, realistic enough."""

from __future__ import annotations

import inspect
import io
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from sync import demo
from sync.demo import CONTACT_PURPOSES, DemoConfig, DemoGenerator, fold_accents
from sync.records import RecordKind, SourceRecord, canonical_json

SMALL = DemoConfig(customers=600, seed=7)

CUSTOMER_FIELDS = {
    "given_name",
    "family_name",
    "full_name",
    "birth_date",
    "email",
    "phone",
    "street",
    "postcode",
    "city",
    "country",
    "language",
    "loyalty_card",
    "loyalty_tier",
    "vip",
    "twitter",
    "instagram",
    "followers",
    "preferred_channel",
    "preferred_store",
    "interests",
    "customer_since",
}
INTERACTION_FIELDS = {
    "customer_ref",
    "channel",
    "kind",
    "direction",
    "occurred_at",
    "summary",
    "details",
    "status",
    "amount",
    "currency",
    "items",
}
# An order line: what the canonical ``items`` field lists.
LINE_FIELDS = {"sku", "name", "category", "quantity", "unit_price"}
CONSENT_FIELDS = {"customer_ref", "purpose", "status", "channel", "collected_at"}
ALLOWED_FIELDS = {
    RecordKind.CUSTOMER: CUSTOMER_FIELDS,
    RecordKind.INTERACTION: INTERACTION_FIELDS,
    RecordKind.CONSENT: CONSENT_FIELDS,
}


@pytest.fixture(scope="module")
def generator() -> DemoGenerator:
    return DemoGenerator(SMALL)


@pytest.fixture(scope="module")
def records(generator: DemoGenerator) -> list[SourceRecord]:
    return list(generator.records())


@pytest.fixture(scope="module")
def truth(generator: DemoGenerator) -> dict[tuple[str, str], int]:
    return {(source, source_id): person for source, source_id, person in generator.truth()}


@pytest.fixture(scope="module")
def customers_by_person(
    records: list[SourceRecord], truth: dict[tuple[str, str], int]
) -> dict[int, list[SourceRecord]]:
    persons: dict[int, list[SourceRecord]] = defaultdict(list)
    for record in records:
        if record.kind is RecordKind.CUSTOMER:
            persons[truth[record.source, record.source_id]].append(record)
    return persons


def _emails(record: SourceRecord) -> list[str]:
    value = record.fields.get("email", [])
    return [value] if isinstance(value, str) else list(value)


def _signature(generator: DemoGenerator) -> list[tuple[str, str, str, str, str]]:
    return [
        (
            r.source,
            r.source_id,
            r.kind.value,
            canonical_json(r.fields),
            r.updated_at.isoformat() if r.updated_at else "",
        )
        for r in generator.records()
    ]


def test_same_config_gives_identical_output() -> None:
    config = DemoConfig(customers=80, seed=3)
    first = DemoGenerator(config)
    expected = _signature(first)
    demo._pools.cache_clear()  # the name and street pools must come out the same too
    second = DemoGenerator(config)
    assert _signature(second) == expected
    assert list(first.truth()) == list(second.truth())


def test_another_seed_gives_other_persons() -> None:
    one = DemoGenerator(DemoConfig(customers=60, seed=1))
    two = DemoGenerator(DemoConfig(customers=60, seed=2))
    assert _signature(one) != _signature(two)


def test_records_and_truth_stream() -> None:
    generator = DemoGenerator(DemoConfig(customers=10))
    assert inspect.isgenerator(generator.records())
    assert inspect.isgenerator(generator.truth())


def test_customer_comes_before_what_refers_to_it(records: list[SourceRecord]) -> None:
    seen: set[tuple[str, str]] = set()
    for record in records:
        if record.kind is RecordKind.CUSTOMER:
            seen.add((record.source, record.source_id))
        else:
            assert (record.source, record.fields["customer_ref"]) in seen, record


def test_source_ids_are_unique_per_source(records: list[SourceRecord]) -> None:
    keys = Counter((r.source, r.source_id) for r in records)
    assert [key for key, n in keys.items() if n > 1] == []


def test_truth_names_every_customer_record_once(
    generator: DemoGenerator, records: list[SourceRecord]
) -> None:
    rows = list(generator.truth())
    customers = [(r.source, r.source_id) for r in records if r.kind is RecordKind.CUSTOMER]
    assert sorted((source, source_id) for source, source_id, _ in rows) == sorted(customers)
    assert len(rows) == len(set(customers))
    assert {person for _, _, person in rows} == set(range(1, SMALL.customers + 1))


def test_truth_csv(generator: DemoGenerator, truth: dict[tuple[str, str], int]) -> None:
    out = io.StringIO()
    assert generator.write_truth_csv(out) == len(truth)
    lines = out.getvalue().splitlines()
    assert lines[0] == "source,source_id,person"
    source, source_id, person = lines[1].split(",")
    assert truth[source, source_id] == int(person)


def test_fields_use_canonical_names_and_json_values(records: list[SourceRecord]) -> None:
    for record in records:
        assert set(record.fields) <= ALLOWED_FIELDS[record.kind], record
        for name, value in record.fields.items():
            if name == "items":
                assert all(set(line) == LINE_FIELDS for line in value), record
            elif isinstance(value, list):
                assert all(isinstance(item, str) for item in value), record
            else:
                assert isinstance(value, str | int | float | bool), record


def test_datetimes_are_aware_and_not_after_now(records: list[SourceRecord]) -> None:
    now = SMALL.now
    for record in records:
        assert record.updated_at is not None
        assert record.updated_at.tzinfo is not None
        assert record.updated_at <= now
        for name in ("occurred_at", "collected_at"):
            if name in record.fields:
                moment = datetime.fromisoformat(record.fields[name])
                assert moment.tzinfo is not None
                assert moment <= now, record
        for name in ("customer_since", "birth_date"):
            if name in record.fields:
                assert date.fromisoformat(record.fields[name]) <= now.date()


def test_nothing_after_an_unusual_now() -> None:
    now = datetime(2025, 3, 30, 0, 30, tzinfo=timezone(timedelta(hours=14)))
    for record in DemoGenerator(DemoConfig(customers=40, now=now)).records():
        assert record.updated_at is not None
        assert record.updated_at <= now


def test_interaction_vocabulary(records: list[SourceRecord]) -> None:
    interactions = [r.fields for r in records if r.kind is RecordKind.INTERACTION]
    assert {f["channel"] for f in interactions} == {
        "phone",
        "email",
        "chat",
        "store",
        "web",
        "social",
    }
    assert {f["kind"] for f in interactions} == {
        "call",
        "email",
        "chat",
        "visit",
        "order",
        "ticket",
        "post",
    }
    assert {f.get("direction") for f in interactions} == {"inbound", "outbound", None}
    for fields in interactions:
        if fields["kind"] == "order":
            assert fields["status"] in ("open", "closed", "cancelled", "returned")
        elif fields["kind"] == "ticket":
            assert fields["status"] in ("open", "closed")
        else:
            assert "status" not in fields
        if fields["kind"] in ("order", "visit"):
            assert re.fullmatch(r"\d+\.\d\d", fields["amount"])
            assert Decimal(fields["amount"]) > 0
            assert fields["currency"] == "EUR"
        assert fields["summary"]


def test_consents(records: list[SourceRecord]) -> None:
    consents = [r for r in records if r.kind is RecordKind.CONSENT]
    assert {r.fields["status"] for r in consents} == {"granted", "withdrawn", "denied"}
    assert {r.fields["purpose"] for r in consents} == {
        "contact_email",
        "contact_sms",
        "contact_phone",
        "marketing_email",
        "profiling",
    }
    for record in consents:
        assert record.source_id == f"{record.fields['customer_ref']}:{record.fields['purpose']}"


def test_persons_appear_in_several_systems(
    customers_by_person: dict[int, list[SourceRecord]],
) -> None:
    systems = [len({r.source for r in recs}) for recs in customers_by_person.values()]
    assert sum(n >= 2 for n in systems) / len(systems) > 0.4
    assert sum(n >= 4 for n in systems) > 0


def test_within_system_duplicates_at_configured_rate(
    customers_by_person: dict[int, list[SourceRecord]],
) -> None:
    duplicated = [
        person
        for person, recs in customers_by_person.items()
        if max(Counter(r.source for r in recs).values()) > 1
    ]
    assert 0.06 <= len(duplicated) / len(customers_by_person) <= 0.14


def test_duplicate_rate_is_configurable() -> None:
    generator = DemoGenerator(DemoConfig(customers=300, seed=7, duplicate_rate=0.3))
    per_person: dict[int, Counter[str]] = defaultdict(Counter)
    for source, _, person in generator.truth():
        per_person[person][source] += 1
    duplicated = sum(max(c.values()) > 1 for c in per_person.values())
    assert 0.22 <= duplicated / 300 <= 0.38


def test_families_share_an_email_with_different_given_names(
    customers_by_person: dict[int, list[SourceRecord]],
) -> None:
    owners: dict[str, dict[int, SourceRecord]] = defaultdict(dict)
    for person, recs in customers_by_person.items():
        for record in recs:
            if "given_name" in record.fields:
                for email in _emails(record):
                    owners[email.lower()][person] = record
    shared = [by_person for by_person in owners.values() if len(by_person) > 1]
    assert len(shared) >= 5
    assert any(
        len({fold_accents(r.fields["given_name"]).lower() for r in by_person.values()}) > 1
        and len({r.fields.get("birth_date") for r in by_person.values()}) > 1
        for by_person in shared
    )


def _phone_style(phone: str) -> str:
    for prefix in ("+33 ", "+33", "0033", "+32"):
        if phone.startswith(prefix):
            return prefix
    return "." if "." in phone else " " if " " in phone else "-" if "-" in phone else "compact"


def test_the_same_person_is_written_differently(
    customers_by_person: dict[int, list[SourceRecord]],
) -> None:
    styles: Counter[str] = Counter()
    upper_family = accents_dropped = names_differ = 0
    for recs in customers_by_person.values():
        given_names = set()
        for record in recs:
            value = record.fields.get("phone")
            styles.update(
                _phone_style(p) for p in ([value] if isinstance(value, str) else value or [])
            )
            family = record.fields.get("family_name", "")
            upper_family += family.isupper()
            given = record.fields.get("given_name")
            if given:
                given_names.add(given.lower())
        folded = {fold_accents(g) for g in given_names}
        accents_dropped += len(folded) < len(given_names)
        names_differ += len(folded) > 1
    assert all(styles[s] > 0 for s in ("+33 ", "+33", "0033", ".", " ", "-", "compact"))
    assert upper_family > 50
    assert accents_dropped > 10
    assert names_differ > 10


def test_interactions_are_heavy_tailed(records: list[SourceRecord]) -> None:
    per_customer = Counter(
        (r.source, r.fields["customer_ref"]) for r in records if r.kind is RecordKind.INTERACTION
    )
    counts = sorted(per_customer.values())
    assert counts[len(counts) // 2] < 10
    assert counts[-1] >= 1000


def _person_records(
    records: list[SourceRecord], truth: dict[tuple[str, str], int], person: int
) -> tuple[list[SourceRecord], list[SourceRecord], list[SourceRecord]]:
    accounts = {key for key, number in truth.items() if number == person}
    mine = [
        r
        for r in records
        if (r.source, r.source_id) in accounts
        or (r.source, r.fields.get("customer_ref")) in accounts
    ]
    return (
        [r for r in mine if r.kind is RecordKind.CUSTOMER],
        [r for r in mine if r.kind is RecordKind.INTERACTION],
        [r for r in mine if r.kind is RecordKind.CONSENT],
    )


def test_jocelyne_michu_has_a_rich_card(
    records: list[SourceRecord], truth: dict[tuple[str, str], int]
) -> None:
    customers, interactions, consents = _person_records(records, truth, 1)
    crm = next(r.fields for r in customers if r.source == "crm")
    assert (crm["given_name"], crm["family_name"], crm["city"]) == ("Jocelyne", "Michu", "Lyon")
    assert crm["loyalty_tier"] == "gold"
    assert {r.source for r in customers} == {"crm", "eshop", "loyalty", "support", "social"}
    assert any(r.fields.get("full_name") == "J. Michu" for r in customers)
    social = next(r.fields for r in customers if r.source == "social")
    assert (social["twitter"], social["followers"]) == ("@jocelynemichu", 1200)
    assert 280 <= len(interactions) <= 330
    moments = sorted(datetime.fromisoformat(r.fields["occurred_at"]) for r in interactions)
    assert moments[-1] - moments[0] > timedelta(days=5 * 365)
    assert any(r.fields["kind"] == "ticket" and r.fields["status"] == "open" for r in interactions)
    assert any(r.fields["kind"] == "order" and r.fields["status"] == "open" for r in interactions)
    withdrawn = [r.fields["purpose"] for r in consents if r.fields["status"] == "withdrawn"]
    assert set(withdrawn) == {"marketing_email"}


def test_vip_big_spender_with_few_followers(
    records: list[SourceRecord], truth: dict[tuple[str, str], int]
) -> None:
    customers, interactions, _ = _person_records(records, truth, 2)
    loyalty = next(r.fields for r in customers if r.source == "loyalty")
    assert loyalty["loyalty_tier"] == "platinum"
    assert loyalty["vip"] is True
    assert next(r.fields for r in customers if r.source == "social")["followers"] == 75
    orders = [Decimal(r.fields["amount"]) for r in interactions if r.fields["kind"] == "order"]
    assert len(orders) >= 100
    assert sorted(orders)[len(orders) // 2] > 300


def test_influencer_without_purchase(
    records: list[SourceRecord], truth: dict[tuple[str, str], int]
) -> None:
    customers, interactions, _ = _person_records(records, truth, 3)
    assert next(r.fields for r in customers if r.source == "social")["followers"] == 250_000
    assert not any(r.fields.get("amount") for r in interactions)
    assert not any(r.source in ("eshop", "loyalty") for r in customers)


def test_do_not_contact_customer(
    records: list[SourceRecord], truth: dict[tuple[str, str], int]
) -> None:
    _, _, consents = _person_records(records, truth, 5)
    status = {r.fields["purpose"]: r.fields["status"] for r in consents if r.source == "crm"}
    assert all(status[purpose] == "withdrawn" for purpose in CONTACT_PURPOSES)


def test_heavy_customer_is_scaled_to_the_population(
    records: list[SourceRecord], truth: dict[tuple[str, str], int]
) -> None:
    _, interactions, _ = _person_records(records, truth, 4)
    assert len(interactions) == SMALL.customers * 5


def test_heavy_customer_has_twenty_thousand_interactions_from_a_thousand_persons() -> None:
    generator = DemoGenerator(DemoConfig(customers=1000))
    owner = {(source, source_id): person for source, source_id, person in generator.truth()}
    count = 0
    for record in generator.records():  # persons come in order: stop at the fifth
        if record.kind is RecordKind.CUSTOMER and owner[record.source, record.source_id] == 5:
            break
        if record.kind is RecordKind.INTERACTION:
            count += owner[record.source, record.fields["customer_ref"]] == 4
    assert count == 20_000


def test_few_customers_get_only_the_first_notable_persons() -> None:
    assert list(DemoGenerator(DemoConfig(customers=0)).records()) == []
    persons = {person for _, _, person in DemoGenerator(DemoConfig(customers=2)).truth()}
    assert persons == {1, 2}


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="aware"):
        DemoConfig(now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="duplicate_rate"):
        DemoConfig(duplicate_rate=1.5)
