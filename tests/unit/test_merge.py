"""Merge and unmerge: survivorship, redirects, conservative consents, and an unmerge that puts
both customers back exactly — including what arrived for either since the merge."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from customer_card.domain.model import ConsentStatus, CustomerCard
from customer_card.services.cards import CardService
from customer_card.services.ingest import IngestService
from customer_card.services.merge import MergeError, MergeService
from customer_card.store import models as m
from customer_card.store.database import Database
from sync.records import RecordKind, SourceRecord
from tests.unit.merge_people import ESHOP, LOYALTY, T0, Clock, customer


def interaction(source: str, source_id: str, ref: str, days: int, **fields: Any) -> SourceRecord:
    fields = {
        "customer_ref": ref,
        "channel": "store",
        "kind": "order",
        "occurred_at": (T0 + timedelta(days=days)).isoformat(),
        "summary": f"order {source_id}",
        "amount": "10.00",
        **fields,
    }
    return SourceRecord(source, source_id, RecordKind.INTERACTION, fields)


def consent(source: str, source_id: str, ref: str, status: str, days: int) -> SourceRecord:
    fields = {
        "customer_ref": ref,
        "purpose": "marketing_email",
        "status": status,
        "collected_at": (T0 + timedelta(days=days)).isoformat(),
    }
    return SourceRecord(source, source_id, RecordKind.CONSENT, fields)


@pytest.fixture
def merging(database: Database, clock: Clock) -> MergeService:
    return MergeService(database, clock=clock)


def ids(database: Database) -> tuple[int, int]:
    with database.read() as session:
        rows = dict(
            session.execute(select(m.SourceRecord.source, m.SourceRecord.customer_id)).all()
        )
    return rows["loyalty"], rows["eshop"]


def comparable(card: CustomerCard | None) -> dict[str, Any]:
    """A card as data, without what differs between two caches holding the same data."""
    assert card is not None
    data = dataclasses.asdict(card)
    for key in ("public_id", "created_at", "updated_at", "id"):
        data["customer"].pop(key)
    return data


def base_history() -> list[SourceRecord]:
    return [
        LOYALTY,
        ESHOP,
        interaction("loyalty", "V1", "L1", 1),
        interaction("eshop", "O1", "E1", 2),
        consent("loyalty", "K1", "L1", "withdrawn", 1),
        consent("eshop", "K2", "E1", "granted", 5),
    ]


def test_merge_moves_everything_and_keeps_a_redirect(
    database: Database, ingest: IngestService, merging: MergeService
) -> None:
    ingest.ingest(base_history())
    survivor, merged = ids(database)
    assert survivor != merged

    event = merging.merge(survivor, merged, actor="supervisor")

    cards = CardService(database)
    card = cards.load(merged)  # the merged id redirects
    assert card is not None
    assert card.customer.id == survivor
    assert {s.source for s in card.sources} == {"loyalty", "eshop"}
    assert card.interaction_count == 2
    assert card.customer.loyalty_tier == "gold"
    # A withdrawal in either customer wins over a later grant in the other.
    (marketing,) = [c for c in card.consents if c.purpose == "marketing_email"]
    assert marketing.status == ConsentStatus.WITHDRAWN
    with database.read() as session:
        row = session.get(m.Customer, merged)
        assert row is not None
        assert (row.status, row.merged_into) == ("merged", survivor)
        recorded = session.get(m.MergeEvent, event)
        assert recorded is not None
        assert recorded.actor == "supervisor"


def test_unmerge_restores_both_cards_exactly(
    database: Database, ingest: IngestService, merging: MergeService
) -> None:
    ingest.ingest(base_history())
    survivor, merged = ids(database)
    cards = CardService(database)
    before = (cards.load(survivor), cards.load(merged))
    timelines = [cards.timeline(c, None, 50) for c in (survivor, merged)]

    event = merging.merge(survivor, merged, actor="supervisor")
    assert merging.unmerge(event, actor="supervisor") == (survivor, merged)

    assert (cards.load(survivor), cards.load(merged)) == before
    assert [cards.timeline(c, None, 50) for c in (survivor, merged)] == timelines
    with database.read() as session:
        (pair,) = session.scalars(select(m.MergeSuggestion)).all()
    assert pair.status == "rejected"  # automatic matching will not merge them again
    with pytest.raises(MergeError, match="already undone"):
        merging.unmerge(event, actor="supervisor")


def test_unmerge_keeps_what_arrived_since_for_either_customer(
    database: Database,
    ingest: IngestService,
    merging: MergeService,
    profile: Any,
    keychain: Any,
    tmp_path: Any,
) -> None:
    later = [
        interaction("loyalty", "V2", "L1", 10),
        interaction("eshop", "O2", "E1", 11, status="open"),
        consent("eshop", "K3", "E1", "withdrawn", 12),
        customer(
            "loyalty",
            "L1",
            given_name="Jocelyne",
            family_name="MICHU",
            loyalty_card="290410000035",
            city="Lyon",
            postcode="69003",
            loyalty_tier="platinum",
        ),  # an update of a merged record
    ]
    ingest.ingest(base_history())
    survivor, merged = ids(database)
    event = merging.merge(survivor, merged, actor="supervisor")
    ingest.ingest(later)
    merging.unmerge(event, actor="supervisor")

    # The same records ingested into a cache that never saw the merge.
    from customer_card.store.cache import open_cache
    from customer_card.store.keys import KdfCost

    reference = open_cache(tmp_path / "ref.db", keychain, create=True, kdf_cost=KdfCost.minimal())
    try:
        IngestService(reference.database, clock=Clock()).ingest(base_history() + later)
        want = CardService(reference.database)
        got = CardService(database)
        for cid in (survivor, merged):
            assert comparable(got.load(cid)) == comparable(want.load(cid))
            assert got.timeline(cid, None, 50) == want.timeline(cid, None, 50)
    finally:
        reference.database.dispose()


def test_a_customer_deleted_at_its_sources_merges_and_unmerges(
    database: Database, ingest: IngestService, merging: MergeService
) -> None:
    # The e-shop merged its two accounts of one person: it deleted one. Its history still
    # belongs to that person, so a supervisor merges it into the other card.
    ingest.ingest(base_history())
    survivor, merged = ids(database)
    ingest.ingest([dataclasses.replace(ESHOP, fields={}, deleted=True)])
    cards = CardService(database)
    gone = cards.load(merged)
    assert gone is not None
    assert gone.customer.status == "deleted"

    # Either way round, the card that results is active with both histories.
    event = merging.merge(merged, survivor, actor="supervisor")

    card = cards.load(survivor)
    assert card is not None
    assert (card.customer.id, card.customer.status) == (merged, "active")
    assert card.interaction_count == 2
    merging.unmerge(event, actor="supervisor")
    assert [cards.load(c).customer.status for c in (merged, survivor)] == [  # type: ignore[union-attr]
        "deleted",
        "active",
    ]


def test_merge_refuses_bad_requests(
    database: Database, ingest: IngestService, merging: MergeService
) -> None:
    ingest.ingest(base_history())
    survivor, merged = ids(database)
    with pytest.raises(MergeError, match="itself"):
        merging.merge(survivor, survivor, actor="x")
    with pytest.raises(MergeError, match="no customer"):
        merging.merge(survivor, 999, actor="x")
    first = merging.merge(survivor, merged, actor="x")
    with pytest.raises(MergeError, match="merged, not active"):
        merging.merge(survivor, merged, actor="x")
    with pytest.raises(MergeError, match="no merge event"):
        merging.unmerge(first + 100, actor="x")
