"""Matching quality and speed against the demo generator's ground truth.

    python tests/bench/bench_matching.py --records 10000 100000 [--order source] [--json]

For each size, builds (once, kept under ``.bench/``) a demo cache of about that many
customer records through the real ingest path (inline matching), then prints pairwise
precision, recall and F1 of the links alone and of links + suggestions, the number of
suggestions to review, ingest speed, inline match latency (p50/p95 of one record against
the cache, measured in a rolled-back transaction), and the time of a full ``match run``.

``--order source`` ingests system by system (all CRM records, then the web shop, …), as
successive syncs would, instead of person by person: block windows then matter.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from itertools import combinations
from pathlib import Path

from customer_card.matching.decide import Matcher
from customer_card.matching.extract import extract
from customer_card.services.ingest import IngestService
from customer_card.services.matching import MatchIndex, MatchService, default_config
from customer_card.store.cache import Unlock, open_cache
from customer_card.store.database import Database
from customer_card.store.keys import KdfCost
from customer_card.store.match_store import MatchStore, SuggestionRow
from sync.demo import DemoConfig, DemoGenerator
from sync.records import RecordKind, SourceRecord

PASSPHRASE = "bench"
RECORDS_PER_PERSON = 2.3  # customer records the generator yields per person, about
BENCH_DIR = Path(__file__).resolve().parents[2] / ".bench"


def persons_for(records: int) -> int:
    return max(10, round(records / RECORDS_PER_PERSON))


def by_source(records: Iterable[SourceRecord]) -> Iterator[SourceRecord]:
    """All records of one system before the next, each system in its own order."""
    buckets: dict[str, list[SourceRecord]] = defaultdict(list)
    for record in records:
        buckets[record.source].append(record)
    for source in ("crm", "eshop", "loyalty", "support", "social"):
        yield from buckets.pop(source, [])
    for rest in buckets.values():
        yield from rest


def build(path: Path, persons: int, seed: int, order: str) -> tuple[Database, dict[str, float]]:
    fresh = not path.exists()
    opened = open_cache(
        path, None, Unlock(passphrase=PASSPHRASE), create=True, kdf_cost=KdfCost.minimal()
    )
    figures: dict[str, float] = {}
    if fresh:
        generator = DemoGenerator(DemoConfig(customers=persons, seed=seed))
        records: Iterable[SourceRecord] = generator.records()
        if order == "source":
            records = by_source(records)
        started = time.perf_counter()
        report = IngestService(opened.database, batch_size=5000).ingest(records)
        seconds = time.perf_counter() - started
        figures = {
            "ingest_s": round(seconds, 1),
            "ingest_records_per_s": round(report.read / seconds),
        }
    return opened.database, figures


def truth_clusters(persons: int, seed: int) -> dict[tuple[str, str], int]:
    return {
        (s, i): p for s, i, p in DemoGenerator(DemoConfig(customers=persons, seed=seed)).truth()
    }


def pairs(groups: Iterable[Iterable[tuple[str, str]]]) -> set[tuple[tuple[str, str], ...]]:
    out: set[tuple[tuple[str, str], ...]] = set()
    for group in groups:
        out.update(combinations(sorted(group), 2))
    return out


def quality(database: Database, truth: dict[tuple[str, str], int]) -> dict[str, float]:
    with database.read() as session:
        store = MatchStore(session)
        customer_of = store.record_customers()
        suggestions = store.suggestions("pending")
    members: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for ref, cid in customer_of.items():
        members[cid].append(ref)
    true_groups: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for ref, person in truth.items():
        true_groups[person].append(ref)
    true_pairs = pairs(true_groups.values())
    linked = pairs(members.values())
    threshold = default_config().suggest_threshold
    review = [s for s in suggestions if s.probability >= threshold]

    def with_suggestions(chosen: list[SuggestionRow]) -> set[tuple[tuple[str, str], ...]]:
        found = set(linked)
        for s in chosen:
            for a in members.get(s.customer_a, []):
                for b in members.get(s.customer_b, []):
                    found.add((a, b) if a < b else (b, a))
        return found

    def prf(found: set[tuple[tuple[str, str], ...]]) -> tuple[float, float, float]:
        tp = len(found & true_pairs)
        precision = tp / len(found) if found else 1.0
        recall = tp / len(true_pairs) if true_pairs else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return round(precision, 4), round(recall, 4), round(f1, 4)

    p, r, f = prf(linked)
    sp, sr, sf = prf(with_suggestions(review))
    ap, ar, af = prf(with_suggestions(suggestions))
    return {
        "source_records": len(customer_of),
        "persons": len(true_groups),
        "customers": len(members),
        "true_pairs": len(true_pairs),
        "links_precision": p,
        "links_recall": r,
        "links_f1": f,
        "with_suggestions_precision": sp,
        "with_suggestions_recall": sr,
        "with_suggestions_f1": sf,
        "suggestions_to_review": len(review),
        "with_all_suggestions_precision": ap,
        "with_all_suggestions_recall": ar,
        "with_all_suggestions_f1": af,
        "suggestions_all": len(suggestions),
    }


def inline_latency(
    database: Database, persons: int, seed: int, samples: int = 500
) -> dict[str, float]:
    """One new record matched against the whole cache (rolled back: the cache is unchanged)."""
    rng = random.Random(seed)
    generator = DemoGenerator(DemoConfig(customers=min(persons, 5000), seed=seed + 1))
    records = [r for r in generator.records() if r.kind == RecordKind.CUSTOMER]
    chosen = rng.sample(records, min(samples, len(records)))
    matcher = Matcher(default_config())
    times: list[float] = []
    session_cm = database.read()
    session = session_cm.__enter__()
    try:
        index = MatchIndex(MatchStore(session), matcher, "FR")
        for i, record in enumerate(chosen):
            extracted = extract(record.fields)
            started = time.perf_counter()
            index.match("bench", f"B{i}", record.fields, extracted)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        session.rollback()
        session_cm.__exit__(None, None, None)
    times.sort()
    return {
        "inline_p50_ms": round(statistics.median(times), 2),
        "inline_p95_ms": round(times[int(len(times) * 0.95) - 1], 2),
    }


def match_run(database: Database) -> dict[str, float]:
    started = time.perf_counter()
    report = MatchService(database).run()
    seconds = time.perf_counter() - started
    return {
        "match_run_s": round(seconds, 1),
        # Per record: how the run grows with the cache (windows fill up as blocks grow).
        "match_run_ms_per_record": round(seconds * 1000 / max(report.records, 1), 3),
        "match_run_merges": report.merges,
        "match_run_new_suggestions": report.suggestions,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--order", choices=("person", "source"), default="person")
    parser.add_argument("--no-run", action="store_true", help="skip the match run timing")
    parser.add_argument(
        "--tag", default="", help="prefix of the cache files under .bench/ (parallel benchmarks)"
    )
    args = parser.parse_args()
    for size in args.records:
        persons = persons_for(size)
        prefix = f"{args.tag}-" if args.tag else ""
        path = BENCH_DIR / f"{prefix}match-{args.order}-{persons}-{args.seed}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        database, figures = build(path, persons, args.seed, args.order)
        try:
            result: dict[str, object] = {"records_asked": size, "order": args.order, **figures}
            result.update(quality(database, truth_clusters(persons, args.seed)))
            result.update(inline_latency(database, persons, args.seed))
            if not args.no_run:
                result.update(match_run(database))
            result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        finally:
            database.dispose()
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
