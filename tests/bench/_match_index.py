"""A large match index for the matching benchmarks, built in minutes instead of hours.

Ingest of a million customer records takes over an hour here (it builds contact points,
golden records, the search index and the history). Matching needs none of that: this helper
writes only the customer records (``source_record``), one golden customer per real person of
the demo generator's ground truth, and the match index (profiles, block keys, name counts),
through the store's own functions. The file is kept under ``.bench/`` and reused.

The customers are the ground truth, not what inline matching would have made: the first
``match run`` over the file merges what the model links across persons and makes its
suggestions; the runs after it find the cache as inline matching leaves it.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, bindparam, update

from customer_card.matching.blocking import block_keys
from customer_card.matching.extract import extract
from customer_card.matching.frequency import counted_keys
from customer_card.matching.profile import profile_of
from customer_card.services.matching import MatchService, Plan
from customer_card.store import migrate
from customer_card.store import models as m
from customer_card.store.cache import Unlock, open_cache
from customer_card.store.database import Database
from customer_card.store.ingest_store import IngestStore
from customer_card.store.keys import KdfCost
from customer_card.store.match_store import MatchStore
from sync.demo import DemoConfig, DemoGenerator
from sync.records import RecordKind, SourceRecord

log = logging.getLogger(__name__)

PASSPHRASE = "bench"
BENCH_DIR = Path(__file__).resolve().parents[2] / ".bench"
# Customer records the generator yields per person (measured: 22,777 for 10,000 persons).
RECORDS_PER_PERSON = 2.28
_COMMIT_EVERY = 20_000


@dataclass(frozen=True)
class BenchIndex:
    path: Path
    persons: int
    seed: int
    build_seconds: float  # 0 when the file was reused

    def open(self) -> Database:
        opened = open_cache(
            self.path, None, Unlock(passphrase=PASSPHRASE), create=False, kdf_cost=KdfCost.minimal()
        )
        return opened.database

    def truth(self) -> dict[tuple[str, str], int]:
        """(source, source id) -> person, for every customer record."""
        generator = DemoGenerator(self._config())
        return {(s, i): p for s, i, p in generator.truth()}

    def _config(self) -> DemoConfig:
        # One interaction per person on average: the history is not written, only generated.
        return DemoConfig(customers=self.persons, seed=self.seed, mean_interactions=1.0)


def persons_for(records: int) -> int:
    return max(10, round(records / RECORDS_PER_PERSON))


def bench_index(records: int, seed: int = 42, tag: str = "ms") -> BenchIndex:
    """The index of about ``records`` customer records, built unless already on disk."""
    persons = persons_for(records)
    path = BENCH_DIR / f"{tag}-index-{persons}-{seed}.db"
    done = path.with_name(path.name + ".done")
    index = BenchIndex(path, persons, seed, 0.0)
    if path.exists() and done.exists():
        return index
    for stale in (path, path.with_name(path.name + ".keys"), done):
        stale.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    opened = open_cache(
        path, None, Unlock(passphrase=PASSPHRASE), create=True, kdf_cost=KdfCost.minimal()
    )
    try:
        written = _fill(opened.database, index)
    finally:
        opened.database.dispose()
    seconds = time.perf_counter() - started
    done.write_text(json.dumps({"records": written, "build_s": round(seconds, 1)}))
    return BenchIndex(path, persons, seed, seconds)


def _customer_records(index: BenchIndex) -> Iterator[SourceRecord]:
    for record in DemoGenerator(index._config()).records():
        if record.kind == RecordKind.CUSTOMER:
            yield record


def _fill(database: Database, index: BenchIndex) -> int:
    truth = index.truth()
    customer_of_person: dict[int, int] = {}
    now = datetime(2026, 11, 1, tzinfo=UTC)
    written = 0
    records = _customer_records(index)
    while True:
        batch = [r for _, r in zip(range(_COMMIT_EVERY), records, strict=False)]
        if not batch:
            return written
        with database.write() as session:
            ingest, match = IngestStore(session), MatchStore(session)
            for record in batch:
                person = truth[(record.source, record.source_id)]
                customer = customer_of_person.get(person)
                if customer is None:
                    customer = customer_of_person[person] = ingest.new_customer(now)
                ingest.insert_source_record(
                    source=record.source,
                    source_id=record.source_id,
                    customer_id=customer,
                    fields=record.fields,
                    updated_at=record.updated_at,
                    content_hash=record.content_hash,
                    link_reason="ground truth (benchmark)",
                    now=now,
                )
                profile = profile_of(record.fields, "FR", extract(record.fields, "FR"))
                match.index_record(
                    record.source, record.source_id, profile.to_json(), block_keys(profile)
                )
                match.add_name_counts(counted_keys(profile))
        written += len(batch)
        log.info("bench index: %d records", written)


def up_to_date(path: Path) -> str:
    """Open a kept index once, so that a migration the code brings (profiles read again,
    keys added) runs here, not inside a timed run; returns the revision it is at."""
    opened = open_cache(path, None, Unlock(passphrase=PASSPHRASE), create=False)
    try:
        return str(migrate.current_revision(opened.database.engine))
    finally:
        opened.database.dispose()


def steady_index(index: BenchIndex, limit: int) -> tuple[Path, dict[str, Any]]:
    """A copy of the index whose customers are what inline matching would have made (the
    batch replay's clusters: it decides like inline matching), with its suggestions: the
    cache a routine ``match run`` meets. Returns the file and figures of the replay that
    made it (seconds, pairs per record, quality against the ground truth)."""
    path = index.path.with_name(f"{index.path.stem.replace('-index-', '-steady-')}-{limit}.db")
    done = path.with_name(path.name + ".done")
    revision = up_to_date(index.path)
    if path.exists() and done.exists():
        kept = dict(json.loads(done.read_text()))
        if kept.get("revision") == revision:  # (else made from profiles read another way)
            return path, kept
    for suffix in ("", ".keys", "-wal", "-shm", ".done"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    shutil.copyfile(index.path, path)
    shutil.copyfile(
        index.path.with_name(index.path.name + ".keys"), path.with_name(path.name + ".keys")
    )
    for copy in (path, path.with_name(path.name + ".keys")):
        copy.chmod(0o600)
    opened = open_cache(path, None, Unlock(passphrase=PASSPHRASE), create=False)
    database = opened.database
    try:
        service = MatchService(database, max_block_records=limit)
        started = time.perf_counter()
        plan = service.plan()
        seconds = time.perf_counter() - started
        figures: dict[str, Any] = {
            "replay_s": round(seconds, 1),
            "records": len(plan.cluster_of),
            "pairs_per_record": round(plan.pairs / max(len(plan.cluster_of), 1), 2),
            "redecided": plan.redecided,
            "revision": revision,
        }
        refs = _refs(database)
        figures.update(plan_quality(plan, refs, index.truth(), service.config.suggest_threshold))
        # One customer per cluster (its first record's, or a new one when another cluster
        # already has that customer), then the suggestions.
        with database.write() as session:
            ingest = IngestStore(session)
            customer_of_cluster: dict[int, int] = {}
            taken: set[int] = set()
            for root in sorted(set(plan.cluster_of.values())):
                customer = plan.customer_of[root]
                if customer in taken:
                    customer = ingest.new_customer(datetime(2026, 11, 1, tzinfo=UTC))
                taken.add(customer)
                customer_of_cluster[root] = customer
            sr = cast(Table, m.SourceRecord.__table__)
            moves = [
                {"s": refs[seq][0], "i": refs[seq][1], "c": customer_of_cluster[cluster]}
                for seq, cluster in plan.cluster_of.items()
                if plan.customer_of[seq] != customer_of_cluster[cluster]
            ]
            if moves:
                session.execute(
                    update(sr)
                    .where(sr.c.source == bindparam("s"))
                    .where(sr.c.source_id == bindparam("i"))
                    .values(customer_id=bindparam("c")),
                    moves,
                )
        for seq, cluster in plan.cluster_of.items():
            plan.customer_of[seq] = customer_of_cluster[cluster]
        report = service.apply(plan)
        figures["suggestions"] = report.suggestions
        assert report.merges == 0
    finally:
        database.dispose()
    done.write_text(json.dumps(figures))
    return path, figures


def _refs(database: Database) -> dict[int, tuple[str, str]]:
    with database.read() as session:
        store = MatchStore(session)
        return {r.seq: (r.source, r.source_id) for batch in store.iter_records() for r in batch}


def plan_quality(
    plan: Plan,
    refs: dict[int, tuple[str, str]],
    truth: dict[tuple[str, str], int],
    suggest_threshold: float,
) -> dict[str, float]:
    """Pairwise precision / recall / F1 of the plan's links, and of its links + the
    suggestions a supervisor would review, against the ground truth."""
    members: dict[int, list[int]] = defaultdict(list)
    for seq, cluster in plan.cluster_of.items():
        members[cluster].append(seq)
    persons: dict[int, list[int]] = defaultdict(list)
    for seq in plan.cluster_of:
        persons[truth[refs[seq]]].append(seq)
    true_pairs = {p for group in persons.values() for p in combinations(sorted(group), 2)}
    linked = {p for group in members.values() for p in combinations(sorted(group), 2)}
    found = set(linked)
    review = 0
    for seq, cluster, probability, *_ in plan.suggestions:
        if probability < suggest_threshold:
            continue
        review += 1
        for a in members[plan.cluster_of[seq]]:
            for b in members[cluster]:
                found.add((min(a, b), max(a, b)))

    def prf(pairs: set[tuple[int, int]]) -> tuple[float, float, float]:
        tp = len(pairs & true_pairs)
        p = tp / len(pairs) if pairs else 1.0
        r = tp / len(true_pairs) if true_pairs else 1.0
        return round(p, 4), round(r, 4), round(2 * p * r / (p + r) if p + r else 0.0, 4)

    (lp, lr, lf), (sp, sr, sf) = prf(linked), prf(found)
    return {
        "links_precision": lp,
        "links_recall": lr,
        "links_f1": lf,
        "with_suggestions_precision": sp,
        "with_suggestions_recall": sr,
        "with_suggestions_f1": sf,
        "suggestions_to_review": review,
    }
