"""Manual survivorship overrides: a pinned golden field wins over the rules, through re-syncs,
merges and unmerges, until it is cleared; every change is audited."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from customer_card import cli
from customer_card.matching.survivorship import (
    OVERRIDABLE,
    Golden,
    LinkedRecord,
    apply_overrides,
    override_value,
    survive,
)
from customer_card.services.cards import CardService
from customer_card.services.ingest import IngestService
from customer_card.services.merge import MergeService
from customer_card.services.overrides import (
    CLEAR_ACTION,
    SET_ACTION,
    OverrideError,
    OverrideService,
    UnknownCustomerError,
)
from customer_card.store import models as m
from customer_card.store.database import Database
from customer_card.store.overrides_store import OverrideStore
from sync.records import RecordKind, SourceRecord
from tests.unit.merge_people import ESHOP, LOYALTY, T0, Clock, customer


@pytest.fixture
def overrides(database: Database, clock: Clock) -> OverrideService:
    return OverrideService(database, clock=clock)


def ids_of(database: Database) -> dict[str, int]:
    """Customer of each source's record (one record per source in these tests)."""
    with database.read() as session:
        rows = session.execute(select(m.SourceRecord.source, m.SourceRecord.customer_id)).all()
    return {str(source): int(cid) for source, cid in rows}


def ids(database: Database) -> tuple[int, int]:
    found = ids_of(database)
    return found["loyalty"], found["eshop"]


def golden(database: Database, customer_id: int) -> m.Customer:
    with database.read() as session:
        row = session.get(m.Customer, customer_id)
        assert row is not None
        session.expunge(row)
        return row


def pins(database: Database, customer_id: int) -> dict[str, str]:
    with database.read() as session:
        return {p.field: p.value for p in OverrideStore(session).pinned(customer_id)}


def audit(database: Database, customer_id: int) -> list[tuple[str, dict[str, Any]]]:
    with database.read() as session:
        trail = OverrideStore(session).audit_trail(customer_id)
    return [(entry["action"], entry["details"]) for entry in trail]


# --- the pure part ---------------------------------------------------------------------------


def test_a_pinned_value_wins_over_every_rule() -> None:
    records = [
        LinkedRecord("crm", T0, {"given_name": "Jocelyne", "family_name": "Michu", "vip": True}),
        LinkedRecord("social", T0, {"full_name": "Jo Michu", "city": "Lyon"}),
    ]
    by_rules = survive(records)
    assert (by_rules.given_name, by_rules.vip, by_rules.city) == ("Jocelyne", True, "Lyon")

    pinned = survive(
        records, {"given_name": "Josie", "vip": "false", "birth_date": "1961-04-03", "city": ""}
    )
    assert (pinned.given_name, pinned.family_name) == ("Josie", "Michu")
    assert pinned.vip is False
    assert pinned.birth_date == date(1961, 4, 3)
    assert pinned.city is None  # pinned blank
    assert survive(records, {}) == by_rules


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("given_name", "  Jocelyne ", "Jocelyne"),
        ("birth_date", "03/04/1961", "1961-04-03"),
        ("vip", "Oui", "true"),
        ("vip", "no", "false"),
        ("loyalty_tier", "GOLD", "gold"),
        ("city", "", ""),
    ],
)
def test_values_are_checked_and_stored_in_canonical_form(
    field: str, value: str, stored: str
) -> None:
    assert override_value(field, value) == stored


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("display_name", "Jo", "'display_name' is not a golden field that can be pinned"),
        ("followers", "1000000", "'followers' is not a golden field"),
        ("vip", "maybe", "vip must be yes or no"),
        ("birth_date", "31/02/1961", "not a birth date"),
        ("birth_date", "2999-01-01", "not a birth date"),
        ("loyalty_tier", "diamond", "not a loyalty tier"),
        ("given_name", "  ", "cannot be pinned to an empty value"),
        ("postcode", "6" * 40, "postcode holds at most 16 characters"),
    ],
)
def test_bad_fields_and_values_get_one_clear_message(field: str, value: str, message: str) -> None:
    with pytest.raises(OverrideError, match=message):
        override_value(field, value)


def test_every_pinnable_field_exists_on_the_golden_record() -> None:
    assert set(OVERRIDABLE) <= set(Golden.__dataclass_fields__)
    base = survive([LinkedRecord("crm", T0, {"given_name": "A", "family_name": "B"})])
    assert apply_overrides(base, {"not_a_field": "x"}) == base


# --- the service -------------------------------------------------------------------------------


def test_set_and_clear_are_applied_at_once_and_audited(
    database: Database, ingest: IngestService, overrides: OverrideService
) -> None:
    ingest.ingest([LOYALTY])
    cid = ids_of(database)["loyalty"]

    result = overrides.set(str(cid), "given_name", "Josie", actor="supervisor")
    assert [(p.field, p.value, p.set_by) for p in result.pinned] == [
        ("given_name", "Josie", "supervisor")
    ]
    card = CardService(database).load(cid)
    assert card is not None
    assert card.customer.display_name.startswith("Josie")
    assert overrides.list(result.public_id).pinned == result.pinned  # by public id too

    overrides.set(str(cid), "given_name", "Jocelyne-Marie", actor="supervisor")
    cleared = overrides.clear(str(cid), "given_name", actor="lead")
    assert cleared.pinned == ()
    assert golden(database, cid).given_name == "Jocelyne"  # the rules pick it again
    assert audit(database, cid) == [
        (SET_ACTION, {"field": "given_name", "value": "Josie", "previous": None}),
        (SET_ACTION, {"field": "given_name", "value": "Jocelyne-Marie", "previous": "Josie"}),
        (CLEAR_ACTION, {"field": "given_name", "previous": "Jocelyne-Marie"}),
    ]
    with pytest.raises(OverrideError, match="has no pinned given_name"):
        overrides.clear(str(cid), "given_name", actor="lead")


def test_a_customer_deleted_at_its_sources_takes_a_pin_and_stays_deleted(
    database: Database, ingest: IngestService, overrides: OverrideService
) -> None:
    ingest.ingest([LOYALTY])
    cid = ids_of(database)["loyalty"]
    ingest.ingest([SourceRecord("loyalty", "L1", RecordKind.CUSTOMER, {}, deleted=True)])
    assert golden(database, cid).status == "deleted"

    overrides.set(str(cid), "family_name", "Michu-Dupont", actor="supervisor")

    row = golden(database, cid)
    assert (row.status, row.family_name, row.given_name) == ("deleted", "Michu-Dupont", "Jocelyne")
    assert overrides.clear(str(cid), "family_name", actor="supervisor").pinned == ()
    assert golden(database, cid).status == "deleted"


def test_a_pin_survives_a_resync_that_changes_the_value(
    database: Database, ingest: IngestService, overrides: OverrideService
) -> None:
    ingest.ingest([LOYALTY])
    cid = ids_of(database)["loyalty"]
    overrides.set(str(cid), "family_name", "Michu-Dupont", actor="supervisor")
    overrides.set(str(cid), "loyalty_tier", "platinum", actor="supervisor")

    changed = customer(
        "loyalty", "L1", T0 + timedelta(days=3), given_name="Jocelyne", family_name="DURAND",
        loyalty_card="290410000035", city="Villeurbanne", postcode="69100", loyalty_tier="silver",
    )  # fmt: skip
    report = ingest.ingest([changed])
    assert report.total("updated") == 1

    row = golden(database, cid)
    assert (row.family_name, row.loyalty_tier) == ("Michu-Dupont", "platinum")
    assert (row.city, row.postcode) == ("Villeurbanne", "69100")  # not pinned: the rules
    assert pins(database, cid) == {"family_name": "Michu-Dupont", "loyalty_tier": "platinum"}


def test_pins_survive_a_merge_and_unmerge_gives_each_its_own_back(
    database: Database, ingest: IngestService, overrides: OverrideService, clock: Clock
) -> None:
    ingest.ingest([LOYALTY, ESHOP])
    survivor, merged = ids(database)
    overrides.set(str(survivor), "family_name", "Michu-Dupont", actor="supervisor")
    overrides.set(str(merged), "family_name", "Michou", actor="supervisor")  # conflict
    overrides.set(str(merged), "given_name", "Jo", actor="supervisor")
    before = {cid: (pins(database, cid), golden(database, cid)) for cid in (survivor, merged)}
    cards = CardService(database)
    cards_before = (cards.load(survivor), cards.load(merged))

    merging = MergeService(database, clock=clock)
    event = merging.merge(survivor, merged, actor="supervisor")

    # The survivor keeps its pin and wins the conflict; the other pin comes along.
    assert pins(database, survivor) == {"family_name": "Michu-Dupont", "given_name": "Jo"}
    assert pins(database, merged) == {}
    assert (golden(database, survivor).given_name, golden(database, survivor).family_name) == (
        "Jo",
        "Michu-Dupont",
    )
    with database.read() as session:
        recorded = session.get(m.MergeEvent, event)
        assert recorded is not None
        assert recorded.snapshot["overrides"]["conflicts"] == [
            {"field": "family_name", "kept": "Michu-Dupont", "dropped": "Michou"}
        ]
    # A pin set through the merged customer's id (a redirect) lands on the survivor.
    assert overrides.list(str(merged)).customer_id == survivor

    merging.unmerge(event, actor="supervisor")

    after = {cid: (pins(database, cid), golden(database, cid)) for cid in (survivor, merged)}
    for cid in (survivor, merged):
        assert after[cid][0] == before[cid][0]
        assert _golden_fields(after[cid][1]) == _golden_fields(before[cid][1])
    assert (cards.load(survivor), cards.load(merged)) == cards_before

    # And the pins still hold through a later re-sync of the merged side.
    ingest.ingest([customer("eshop", "E1", T0 + timedelta(days=1), given_name="Joséphine",
                            family_name="Michu", email="jo.m@free.fr")])  # fmt: skip
    assert golden(database, merged).given_name == "Jo"


def _golden_fields(row: m.Customer) -> dict[str, Any]:
    return {f: getattr(row, f) for f in OVERRIDABLE}


def test_a_pin_changed_on_the_survivor_after_the_merge_stays_there(
    database: Database, ingest: IngestService, overrides: OverrideService, clock: Clock
) -> None:
    ingest.ingest([LOYALTY, ESHOP])
    survivor, merged = ids(database)
    overrides.set(str(merged), "city", "Lyon 8e", actor="supervisor")
    merging = MergeService(database, clock=clock)
    event = merging.merge(survivor, merged, actor="supervisor")
    overrides.set(str(survivor), "city", "Lyon 3e", actor="supervisor")

    merging.unmerge(event, actor="supervisor")

    assert pins(database, survivor) == {"city": "Lyon 3e"}
    assert pins(database, merged) == {"city": "Lyon 8e"}


def test_unknown_customers_and_bad_fields_are_refused(
    database: Database, ingest: IngestService, overrides: OverrideService
) -> None:
    ingest.ingest([LOYALTY])
    cid = ids_of(database)["loyalty"]
    with pytest.raises(UnknownCustomerError, match="no customer with id 'C-NOPE'"):
        overrides.set("C-NOPE", "given_name", "Jo", actor="supervisor")
    with pytest.raises(OverrideError, match="'nickname' is not a golden field"):
        overrides.set(str(cid), "nickname", "Jo", actor="supervisor")
    with pytest.raises(OverrideError, match="'nickname' is not a golden field"):
        overrides.clear(str(cid), "nickname", actor="supervisor")
    assert pins(database, cid) == {}
    assert audit(database, cid) == []


# --- the command line --------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_override_commands(
    database: Database,
    ingest: IngestService,
    cache_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ingest.ingest([LOYALTY])
    cid = str(ids_of(database)["loyalty"])
    db = ("--db", str(cache_path))

    code, out, err = run(capsys, "override", "set", cid, "given_name", "Josie", *db)
    assert (code, err) == (0, "")
    assert "given_name pinned" in out
    assert "Josie  (by cli," in out

    code, out, _ = run(capsys, "override", "list", cid, "--json", *db)
    assert code == 0
    assert '"field": "given_name"' in out

    code, out, _ = run(capsys, "override", "clear", cid, "given_name", *db)
    assert code == 0
    assert "no pinned fields" in out

    code, out, err = run(capsys, "override", "set", cid, "shoe_size", "42", *db)
    assert code == 1
    assert out == ""
    assert err.startswith("customer-card: 'shoe_size' is not a golden field that can be pinned")
    assert err.count("\n") == 1

    code, _, err = run(capsys, "override", "list", "C-NOPE", *db)
    assert code == cli.EXIT_NOT_FOUND
    assert err == "customer-card: no customer with id 'C-NOPE'\n"
