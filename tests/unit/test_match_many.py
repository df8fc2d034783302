"""``MatchIndex.match_many`` reads the candidate windows of a whole batch at once and writes
the batch's index rows at its end: it must decide exactly like ``match`` one record at a time
(and leave the same index), including where a window is not simply "the newest records":
keys capped partway through the batch, strong keys with windows longer than the batch, phones
becoming too common inside it, deleted records and profiles without a source record."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Executable, select, update
from sqlalchemy.orm import Session

from customer_card.matching.blocking import block_keys, is_strong
from customer_card.matching.config import MatchConfig
from customer_card.matching.decide import Decision, Matcher
from customer_card.matching.extract import Extracted, extract
from customer_card.matching.profile import profile_of
from customer_card.services.matching import MatchIndex, default_config
from customer_card.store import models as m
from customer_card.store.database import Database
from customer_card.store.ingest_store import IngestStore
from customer_card.store.match_store import MatchStore

NOW = datetime(2026, 11, 2, tzinfo=UTC)
Record = tuple[str, str, Mapping[str, Any], Extracted]

GIVEN = ("Jean", "Jeanne", "Marie", "Luc")
FAMILY = ("Martin", "Durand", "Le Goff")
PHONES = ("06 12 34 56 70", "06 12 34 56 71", "06 12 34 56 72", "")
EMAILS = ("jean.martin@example.fr", "jm@example.org", "marie@example.com", "")
BIRTHS = ("1980-05-04", "1980-05-14", "")
POSTCODES = ("75011", "29200", "")
SWITCHBOARD = "07 81 22 33 44"


def people(source: str, count: int, seed: int) -> list[Record]:
    """Records drawn from a few values each: most keys are shared by several of them."""
    rng = random.Random(seed)
    out: list[Record] = []
    for i in range(count):
        fields: dict[str, Any] = {
            "given_name": rng.choice(GIVEN),
            "family_name": rng.choice(FAMILY),
            "email": rng.choice(EMAILS),
            "phone": rng.choice(PHONES),
            "birth_date": rng.choice(BIRTHS),
            "postcode": rng.choice(POSTCODES),
        }
        out.append((source, f"{source}{i}", fields, extract(fields)))
    return out


def sharing_a_phone(source: str, start: int, count: int) -> list[Record]:
    """Different people on one line (a shop's switchboard)."""
    out: list[Record] = []
    for i in range(count):
        fields = {"given_name": GIVEN[i % 4], "family_name": "Bernard", "phone": SWITCHBOARD}
        out.append((source, f"{source}{start + i}", fields, extract(fields)))
    return out


def place_with(session: Session, records: list[Record]) -> Any:
    ingest = IngestStore(session)

    def place(i: int, decision: Decision[int]) -> int:
        source, source_id, fields, _ = records[i]
        customer = decision.link.cluster if decision.link else ingest.new_customer(NOW)
        ingest.insert_source_record(
            source=source,
            source_id=source_id,
            customer_id=customer,
            fields=fields,
            updated_at=None,
            content_hash=source_id,
            link_reason="test",
            now=NOW,
        )
        return customer

    return place


def index_of(session: Session, config: MatchConfig, limit: int) -> MatchIndex:
    return MatchIndex(MatchStore(session), Matcher(config), "FR", max_block_records=limit)


@dataclass(frozen=True)
class Outcome:
    decisions: list[Decision[int]]
    records: list[tuple[Any, ...]]
    keys: list[tuple[Any, ...]]
    names: list[tuple[Any, ...]]
    customers: list[tuple[Any, ...]]
    next_seq: int


def outcome(
    database: Database,
    config: MatchConfig,
    limit: int,
    batch: list[Record],
    run: Callable[[MatchIndex, Any], list[Decision[int]]],
) -> Outcome:
    """Match ``batch`` with ``run`` and read what it left, then roll it back (the next call
    starts from the same cache)."""
    with database.read() as session:
        try:
            index = index_of(session, config, limit)
            decisions = run(index, place_with(session, batch))
            return Outcome(
                decisions,
                rows(session, select(m.MatchRecord.__table__).order_by("seq")),
                rows(session, select(m.MatchKey.__table__).order_by("key", "seq")),
                rows(session, select(m.NameFrequency.__table__).order_by("key")),
                rows(
                    session,
                    select(m.SourceRecord.source_id, m.SourceRecord.customer_id).order_by(
                        m.SourceRecord.id
                    ),
                ),
                index.store.next_seq(),
            )
        finally:
            session.rollback()


def rows(session: Session, query: Executable) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in session.execute(query)]


def one_at_a_time(batch: list[Record]) -> Callable[[MatchIndex, Any], list[Decision[int]]]:
    def run(index: MatchIndex, place: Any) -> list[Decision[int]]:
        decisions = []
        for i, record in enumerate(batch):
            decisions.append(index.match(*record))
            place(i, decisions[-1])
        return decisions

    return run


def all_at_once(batch: list[Record]) -> Callable[[MatchIndex, Any], list[Decision[int]]]:
    def run(index: MatchIndex, place: Any) -> list[Decision[int]]:
        return index.match_many(batch, place)

    return run


# Small windows and limits, so that the batch crosses them; strong windows longer than the
# batch or shorter than what it holds; a phone limit the batch reaches.
# (window, strong window, phone limit, block limit)
CONFIGS = [(2, 60, 3, 4), (3, 2, 2, 6), (5, 4, 4, 3)]


@pytest.fixture
def stored(database: Database) -> Database:
    """A cache of records matched one at a time, one of them deleted since, and a profile
    without a source record (both share keys with the batches below)."""
    config = replace(default_config().with_thresholds(0.9, 0.3))
    records = people("old", 40, seed=1) + sharing_a_phone("old", 40, 1)
    with database.write() as session:
        index = index_of(session, config, 30)
        place = place_with(session, records)
        for i, record in enumerate(records):
            place(i, index.match(*record))
        session.execute(
            update(m.SourceRecord).where(m.SourceRecord.source_id == "old7").values(deleted=True)
        )
        lost = people("lost", 1, seed=2)[0]
        profile = profile_of(lost[2], "FR", lost[3])
        index.store.index_record("lost", "lost0", profile.to_json(), block_keys(profile))
    return database


@pytest.mark.parametrize(("window", "strong_window", "phones", "limit"), CONFIGS)
def test_a_batch_decides_and_indexes_like_one_record_at_a_time(
    stored: Database,
    window: int,
    strong_window: int,
    phones: int,
    limit: int,
) -> None:
    config = replace(
        default_config().with_thresholds(0.9, 0.3),
        window=window,
        strong_window=strong_window,
        max_phone_records=phones,
    )
    batch = people("new", 30, seed=3)
    for i, record in zip((3, 10, 17, 25), sharing_a_phone("new", 30, 4), strict=True):
        batch.insert(i, record)
    reference = outcome(stored, config, limit, batch, one_at_a_time(batch))
    batched = outcome(stored, config, limit, batch, all_at_once(batch))

    assert batched == reference
    assert any(d.link for d in reference.decisions)
    assert any(d.suggestions for d in reference.decisions)
    # The data does cross the limits inside the batch (what the comparison is about).
    stored_keys = Counter(key for key, _ in reference.keys)
    batch_keys: Counter[str] = Counter()
    for _, _, fields, extracted in batch:
        batch_keys.update(block_keys(profile_of(fields, "FR", extracted)))
    before = {key: stored_keys[key] - n for key, n in batch_keys.items()}
    assert any(
        before[key] < limit < before[key] + n for key, n in batch_keys.items() if not is_strong(key)
    )
    assert any(
        before[key] < phones < before[key] + n
        for key, n in batch_keys.items()
        if key.startswith("p:")
    )
    # Strong keys held before the batch and in it: windows longer than the batch, or cut.
    shared = {key: n for key, n in batch_keys.items() if is_strong(key) and before[key] > 0}
    assert shared
    if strong_window <= len(batch):
        assert any(before[key] + n > strong_window for key, n in shared.items())


def test_a_batch_with_a_record_already_in_the_index_decides_like_one_at_a_time(
    stored: Database,
) -> None:
    # The profile without a source record comes back: it keeps its place in the arrival
    # order, which the batch look-up does not model (matched one at a time instead).
    config = replace(default_config().with_thresholds(0.9, 0.3), window=2, max_phone_records=3)
    batch = people("new", 10, seed=4)
    batch.insert(5, people("lost", 1, seed=2)[0])
    reference = outcome(stored, config, 4, batch, one_at_a_time(batch))
    assert outcome(stored, config, 4, batch, all_at_once(batch)) == reference


def test_an_empty_batch_changes_nothing(stored: Database) -> None:
    config = default_config()
    reference = outcome(stored, config, 30, [], one_at_a_time([]))
    assert outcome(stored, config, 30, [], all_at_once([])) == reference
