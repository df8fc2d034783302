"""A large first load, linked at its end.

Inline matching decides each new customer record against the cache as it arrives, in the
sync's writing process, one after the other: at 100,000 records that is most of a first
load's time. When a source's first load brings many records, ingest matches the first ones
so (``DEFER_MIN`` at least, and a fifth of the cache's records: deciding the rest at the end
replays the cache's windows), then files the rest unlinked, each on a *pending* customer of
its own (out of search and screen pops). At the end of the load, :func:`link_pending`
decides them all with ``match run``'s replay (worker processes decide ahead), in arrival
order and against the customers of the records before them: the decisions inline matching
would have made. Each record then joins the customer it links to, with its history and
details; the emptied pending customers go; golden fields, value figures and search rows are
built once per customer; probable matches become suggestions.

All of that is one transaction. A load killed before its end leaves its records pending:
every sync run, and ``match run``, links them first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from customer_card.matching import normalise
from customer_card.matching.config import MatchConfig
from customer_card.services.ingest import IngestService
from customer_card.services.matching import MatchService
from customer_card.store.database import Database
from customer_card.store.ingest_store import IngestStore
from customer_card.store.match_store import MatchStore

log = logging.getLogger(__name__)

#: New customer records a load matches one at a time before it files the rest unlinked.
DEFER_MIN = 5_000
#: ... and at least this share of the records already in the cache (the end of the load
#: reads the windows of every record in the cache: worth it for a load this large).
DEFER_SHARE = 0.2
_REBUILD_CHUNK = 2_000  # customers whose golden fields are built at a time


def defer_after(records_in_cache: int) -> int:
    """How many new customer records a first load matches one at a time."""
    return max(DEFER_MIN, int(records_in_cache * DEFER_SHARE))


@dataclass
class LinkReport:
    records: int = 0  # pending records decided
    linked: int = 0  # joined an earlier customer
    customers_created: int = 0  # were the first record of their customer
    suggestions: int = 0
    removed: int = 0  # pending customers emptied and removed
    redecided: int = 0  # decided again in order (a worker assumed other clusters)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "linked": self.linked,
            "customers_created": self.customers_created,
            "suggestions": self.suggestions,
            "removed": self.removed,
            "redecided": self.redecided,
            "seconds": round(self.seconds, 2),
        }


def has_pending(database: Database) -> bool:
    with database.read() as session:
        return bool(MatchStore(session).pending_seqs())


def link_pending(
    database: Database,
    *,
    config: MatchConfig | None = None,
    region: str = normalise.DEFAULT_REGION,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    workers: int | None = None,
) -> LinkReport | None:
    """Link every record a first load filed unlinked (see the module); None when there is
    none."""
    started = time.perf_counter()
    with database.read() as session:
        seqs = MatchStore(session).pending_seqs()
    if not seqs:
        return None
    matcher = MatchService(database, config=config, region=region, clock=clock)
    plan = matcher.plan(workers=workers, only=set(seqs))
    report = LinkReport(redecided=plan.redecided)
    seq_of = {ref: seq for seq, ref in plan.refs.items()}
    ingest = IngestService(database, region=region, clock=clock)
    now = clock()
    with database.write() as session:
        store = IngestStore(session)
        records: dict[int, list[tuple[int, str, str, bool]]] = {}
        for record_id, customer_id, source, source_id, deleted in store.pending_records():
            records.setdefault(customer_id, []).append((record_id, source, source_id, deleted))
        moves: list[tuple[int, int, int, str]] = []
        reasons: list[tuple[int, str]] = []
        emptied: dict[int, int] = {}  # pending customer -> where its records went
        rebuilt: set[int] = set()
        for customer_id, own in records.items():
            if any(not deleted and (s, i) not in seq_of for _, s, i, deleted in own):
                continue  # filed after the plan was read (another process): the next time
            kept = False
            for record_id, source, source_id, _ in own:
                seq = seq_of.get((source, source_id))
                if seq is None:  # (deleted: it stays, for the card who it was)
                    kept = True
                    continue
                target = plan.customer_of[plan.cluster_of[seq]]
                reason = plan.reasons.get(seq, "new customer")[:200]
                report.records += 1
                if target == customer_id:
                    report.customers_created += 1
                    reasons.append((record_id, reason))
                    kept = True
                else:
                    report.linked += 1
                    moves.append((record_id, customer_id, target, reason))
                    emptied[customer_id] = target
                    rebuilt.add(target)
            if kept:
                emptied.pop(customer_id, None)
                rebuilt.add(customer_id)
        store.relink(moves)
        store.set_link_reasons(reasons)
        report.removed = store.drop_emptied(emptied, now)
        ordered = sorted(rebuilt)
        for at in range(0, len(ordered), _REBUILD_CHUNK):
            ingest.rebuild(store, set(ordered[at : at + _REBUILD_CHUNK]))
        match_store = MatchStore(session)
        suggested = []
        for seq, cluster, probability, why, evidence in plan.suggestions:
            incoming = plan.refs[seq]
            if incoming not in seq_of:
                continue
            a = plan.customer_of[plan.cluster_of[seq]]
            b = plan.customer_of[cluster]
            if a != b and a not in emptied and b not in emptied:
                suggested.append((a, b, probability, why, evidence))
        report.suggestions = match_store.suggest_many(suggested)
        match_store.replace_name_counts(plan.counts.counts)
    report.seconds = time.perf_counter() - started
    log.info("first load linked: %s", report.as_dict())
    return report
