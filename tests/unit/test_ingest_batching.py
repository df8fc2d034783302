"""Ingest matches the new customer records of a batch together: the cache it builds is the one
records ingested one at a time build (same customers, links, suggestions and search rows)."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from customer_card.services import ingest as ingest_module
from customer_card.services.forking import can_fork
from customer_card.services.ingest import IngestService
from customer_card.store import models as m
from customer_card.store.cache import open_cache
from customer_card.store.database import Database
from customer_card.store.keys import KdfCost, Keychain
from sync.demo import DemoConfig, DemoGenerator
from sync.records import RecordKind, SourceRecord


@pytest.fixture
def open_new(profile: Path, keychain: Keychain) -> Iterator[Any]:
    opened: list[Database] = []

    def new(name: str) -> Database:
        path = profile / "data" / f"{name}.db"
        database = open_cache(path, keychain, create=True, kdf_cost=KdfCost.minimal()).database
        opened.append(database)
        return database

    yield new
    for database in opened:
        database.dispose()


def records() -> list[SourceRecord]:
    """Demo customers (people with several accounts, households sharing an e-mail), some of
    them changed or deleted later in the same stream, and one new record sent twice."""
    people = [
        r
        for r in DemoGenerator(DemoConfig(customers=120, seed=11)).records()
        if r.kind == RecordKind.CUSTOMER
    ]
    out = list(people)
    for i, record in enumerate(people[:60]):
        if i % 7 == 0:
            out.insert(
                len(out) // 2 + i, replace(record, fields={**record.fields, "city": "Brest"})
            )
        elif i % 11 == 0:
            out.insert(len(out) // 2 + i, replace(record, deleted=True))
    out.insert(30, replace(people[25], fields={**people[25].fields, "street": "1 rue Neuve"}))
    return out


def snapshot(database: Database) -> dict[str, Any]:
    with database.read() as session:
        owner = dict(
            session.execute(
                select(m.SourceRecord.id, m.SourceRecord.customer_id).order_by(m.SourceRecord.id)
            ).all()
        )
        by_record = {
            (r.source, r.source_id): (owner[r.id], r.link_reason, r.deleted)
            for r in session.scalars(select(m.SourceRecord))
        }
        # Customers by the records they hold (ids are given in the same order either way).
        groups: dict[int, list[tuple[str, str]]] = {}
        for key, (cid, _, _) in sorted(by_record.items()):
            groups.setdefault(cid, []).append(key)
        golden = {
            tuple(groups.get(c.id, ())): (c.given_name, c.family_name, c.birth_date, c.city)
            for c in session.scalars(select(m.Customer))
        }
        suggestions = sorted(
            (tuple(groups[s.customer_a]), tuple(groups[s.customer_b]), round(s.probability, 9))
            for s in session.scalars(select(m.MergeSuggestion))
        )
        # The fields as stored, to the byte (the second process serialises them).
        fields = dict(
            session.connection()
            .exec_driver_sql("SELECT source || '/' || source_id, fields FROM source_record")
            .all()
        )
        # Without the public ids, drawn at random.
        search = sorted(
            (names, emails, phones, cards.split(" ", 1)[1:], handles, city)
            for names, emails, phones, cards, handles, city in session.connection().exec_driver_sql(
                "SELECT names, emails, phones, cards, handles, city FROM customer_search"
            )
        )
    return {
        "records": by_record,
        "golden": golden,
        "suggestions": suggestions,
        "search": search,
        "fields": fields,
    }


def test_a_batch_of_new_customers_is_linked_like_one_record_at_a_time(open_new: Any) -> None:
    one_at_a_time = open_new("one")
    batched = open_new("batched")
    stream = records()

    # One record a batch: each is extracted in the second process (with its profile, block
    # keys, fields' JSON and search row part) while the one before it is matched and written;
    # the single batch of 10,000 extracts everything here.
    first = IngestService(one_at_a_time, customer_batch_size=1).ingest(stream)
    second = IngestService(batched, customer_batch_size=10_000).ingest(stream)

    assert second.as_dict() == first.as_dict()
    # The data had real linking to do.
    assert first.linked > 20
    assert first.suggestions > 0
    assert snapshot(batched) == snapshot(one_at_a_time)


class Unreadable(dict[str, Any]):
    """Fields that fail whoever reads them."""

    def get(self, key: str, default: Any = None) -> Any:
        raise RuntimeError("unreadable")


@pytest.mark.skipif(not can_fork(), reason="no second process here (no fork, or one core)")
def test_a_big_stream_is_extracted_ahead_from_its_second_batch_to_its_last(
    open_new: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first full batch is matched and committed at once (a source pausing after it
    leaves it saved); the second process starts with the second and, once there, also takes
    the short batch that ends the stream; a stream smaller than a batch is extracted where it
    is matched."""
    ahead: list[bool] = []
    start = ingest_module._Extractor.start

    def observed(self: Any, batch: list[Any]) -> Any:
        extraction = start(self, batch)
        ahead.append(extraction is not None)
        return extraction

    monkeypatch.setattr(ingest_module._Extractor, "start", observed)
    people = [r for r in records() if not r.deleted]
    IngestService(open_new("big"), customer_batch_size=10).ingest(people[:25])
    assert ahead == [False, True, True]

    ahead.clear()
    IngestService(open_new("small"), customer_batch_size=10).ingest(people[:9])
    assert ahead == [False]


def test_the_second_process_leaves_a_record_it_fails_on_to_the_batch() -> None:
    from customer_card.services.ingest import _prepare

    good, bad = _prepare([{"given_name": "Ana", "family_name": "Lopes"}, Unreadable()], "FR")

    assert good is not None
    assert good[0].family_name == "Lopes"
    assert bad is None  # the batch extracts it again, and fails there only if it is new or changed


def _die(fields: list[Any], region: str) -> list[Any]:
    os._exit(9)  # as an OOM kill would end the second process


def test_a_second_process_that_dies_leaves_the_work_to_this_one(
    open_new: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = open_new("reference")
    stream = records()
    expected = IngestService(reference, customer_batch_size=10_000).ingest(stream)

    survivor = open_new("survivor")
    monkeypatch.setattr(ingest_module, "_prepare", _die)
    report = IngestService(survivor, customer_batch_size=1).ingest(stream)

    # Nothing hangs, nothing is lost: every record is extracted here instead.
    assert report.as_dict() == expected.as_dict()
    assert snapshot(survivor) == snapshot(reference)


def test_no_second_process_from_another_thread() -> None:
    seen: list[bool] = []

    def run() -> None:
        with ingest_module._Extractor("FR", 1) as extractor:
            seen.append(extractor.broken)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert seen == [True]  # the window's sync thread extracts in its own process


class _Cycle:
    """Garbage only the cyclic collector frees."""

    made = 0
    freed = 0

    def __init__(self) -> None:
        self.me = self
        _Cycle.made += 1

    def __del__(self) -> None:
        _Cycle.freed += 1


def test_the_collector_runs_between_batches_and_is_back_after_an_error(
    open_new: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a sync ingests, the cyclic garbage collector runs once after each batch (a batch
    keeps many records alive, which the collector would otherwise scan again and again), and
    is on again afterwards, also when a batch fails; what a batch leaves is freed."""
    import gc

    database = open_new("collector")
    service = IngestService(database, customer_batch_size=10)
    seen: list[tuple[bool, int]] = []
    run = ingest_module._Batch.run

    def observed(self: Any, batch: list[Any]) -> None:
        seen.append((gc.isenabled(), _Cycle.made - _Cycle.freed))
        _Cycle()  # left behind by every batch
        run(self, batch)

    monkeypatch.setattr(ingest_module._Batch, "run", observed)
    people = [r for r in records() if not r.deleted][:40]
    assert gc.isenabled()
    service.ingest(people)
    assert gc.isenabled()
    assert len(seen) == 4
    assert all(not enabled for enabled, _ in seen)
    # Each batch finds the previous one's garbage already freed.
    assert all(alive == 0 for _, alive in seen)

    def failing(self: Any, batch: list[Any]) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ingest_module._Batch, "run", failing)
    with pytest.raises(RuntimeError):
        service.ingest(people)
    assert gc.isenabled()


def test_a_caller_that_turned_the_collector_off_keeps_it_off(open_new: Any) -> None:
    import gc

    database = open_new("collector-off")
    gc.disable()
    try:
        IngestService(database).ingest([r for r in records() if not r.deleted][:5])
        assert not gc.isenabled()
    finally:
        gc.enable()


# --- customer batches sized by how long they take ---------------------------------------------


def test_customer_batches_grow_while_their_transactions_are_short(
    open_new: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Left to the service, a customer batch starts at 500 records and at most doubles, up to
    2,000, while its transaction is short: fewer commits, each as costly as a small one's."""
    sizes: list[int] = []
    run_batch = IngestService._run_batch

    def observed(self: IngestService, batch: list[Any], *args: Any) -> None:
        sizes.append(sum(1 for item in batch if isinstance(item, SourceRecord)))
        run_batch(self, batch, *args)

    monkeypatch.setattr(IngestService, "_run_batch", observed)
    people = [
        SourceRecord(
            "crm", f"C{i}", RecordKind.CUSTOMER, {"given_name": "Anne", "family_name": f"N{i}"}
        )
        for i in range(5_000)
    ]
    service = IngestService(open_new("adaptive"))
    assert service.ingest(people).total("inserted") == 5_000
    # (Each is short enough on any machine. Where a second process extracts the next batch
    # while one is written, that batch was cut before the one written told its time: the
    # growth shows a batch later, [500, 1000, 1000, 2000, 500] against [500, 1000, 2000, 1500].)
    assert sizes[0] == 500
    assert max(sizes) == 2_000
    assert all(b <= 2 * a for a, b in itertools.pairwise(sizes))
    assert sizes[:-1] == sorted(sizes[:-1])
    assert sum(sizes) == 5_000

    sizes.clear()
    fixed = IngestService(open_new("fixed"), customer_batch_size=500)
    fixed.ingest(people[:1_500])
    assert sizes == [500, 500, 500], "a size the caller gives stays"


@pytest.mark.parametrize(
    ("size", "customers", "seconds", "next_size"),
    [
        (500, 500, 0.5, 1_000),  # at most doubles
        (1_000, 1_000, 0.2, 2_000),
        (2_000, 2_000, 0.2, 2_000),  # up to the largest
        (2_000, 2_000, 4.0, 1_500),  # over 3 s: what fits in 3 s
        (2_000, 2_000, 60.0, 500),  # never under the smallest
        (1_000, 100, 60.0, 1_000),  # a short batch (a source falling silent) tells little
    ],
)
def test_the_next_customer_batch_fits_in_three_seconds(
    open_new: Any, size: int, customers: int, seconds: float, next_size: int
) -> None:
    service = IngestService(open_new("sizing"))
    service.customer_batch_size = size
    service._size_customer_batches(customers, seconds)
    assert service.customer_batch_size == next_size
