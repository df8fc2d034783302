"""Matching at scale: ``match run`` and inline matching against 100k to 1M customer records.

    python tests/bench/bench_match_scale.py --records 100000 1000000 [--limit N] [--workers N]

For each size, takes the match index built by ``_match_index.py`` (once, kept under
``.bench/ms-index-*.db``: minutes, not the hours of ingest; its customers are the ground
truth) and a copy whose customers are the batch replay's clusters, i.e. what inline matching
would have made (``.bench/ms-steady-*.db``, also kept), then prints one JSON line:

- ``replay``: the replay that made the copy — seconds, pairs scored per record, records
  the workers decided on other clusters than the replay's, and the pairwise precision /
  recall / F1 of its links and of links + suggestions to review against the ground truth;
- ``match_run``: a routine ``match run`` over the copy, in a child process as the CLI runs
  it: seconds, peak RSS of the child, pairs per record, merges and new suggestions (none
  expected: the replay decides as inline matching does);
- inline matching of new records (another seed of the generator) against the whole cache,
  each in a rolled-back transaction, in a fresh process as an ingest matches: p50 / p95 of the
  first 100 (cold) and of the rest.

``--limit`` overrides ``blocking.MAX_BLOCK_RECORDS`` to compare settings; ``--workers``
the number of replay processes of the timed run (default: the run's own choice).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _match_index import PASSPHRASE, bench_index, steady_index, up_to_date

from customer_card.matching.blocking import MAX_BLOCK_RECORDS
from customer_card.matching.decide import Matcher
from customer_card.matching.extract import extract
from customer_card.services.matching import MatchIndex, default_config
from customer_card.store.cache import Unlock, open_cache
from customer_card.store.database import Database
from customer_card.store.match_store import MatchStore
from sync.demo import DemoConfig, DemoGenerator
from sync.records import RecordKind

_COLD = 100

# Run in a child process: the cache opened as the CLI opens it, then ``match run``.
_RUN = """
import json, sys
from pathlib import Path
from customer_card.services.matching import MatchService
from customer_card.store.cache import Unlock, open_cache
opened = open_cache(Path(sys.argv[1]), None, Unlock(passphrase=sys.argv[2]), create=False)
service = MatchService(opened.database, max_block_records=int(sys.argv[3]))
workers = int(sys.argv[4]) or None
plan = service.plan
service.plan = lambda progress=None: plan(progress, workers)
print(json.dumps(service.run().as_dict()))
"""


def match_run(path: Path, limit: int, workers: int) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _RUN, str(path), PASSPHRASE, str(limit), str(workers)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    seconds = time.perf_counter() - started
    report = json.loads(done.stdout.strip().splitlines()[-1])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {
        "s": round(seconds, 1),
        # Processor time of the run and its workers: the wall time on an idle machine is
        # about this over the cores used; other jobs on the machine stretch ``s``, not this.
        "cpu_s": round(cpu, 1),
        # The largest child so far: the runs come one size after another, smallest first.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "pairs_per_record": round(report["pairs"] / max(report["records"], 1), 2),
        "redecided": report["redecided"],
        "merges": report["merges"],
        "new_suggestions": report["suggestions"],
        "would_split": report["would_split"],
    }


def inline_here(path: Path, limit: int, seed: int, samples: int) -> dict[str, float]:
    opened = open_cache(path, None, Unlock(passphrase=PASSPHRASE), create=False)
    try:
        return inline(opened.database, limit, seed, samples)
    finally:
        opened.database.dispose()


def inline(database: Database, limit: int, seed: int, samples: int) -> dict[str, float]:
    generator = DemoGenerator(DemoConfig(customers=2000, seed=seed + 1, mean_interactions=1.0))
    records = [r for r in generator.records() if r.kind == RecordKind.CUSTOMER]
    chosen = random.Random(seed).sample(records, min(samples, len(records)))
    times: list[float] = []
    with database.read() as session:
        try:
            index = MatchIndex(
                MatchStore(session), Matcher(default_config()), "FR", max_block_records=limit
            )
            for i, record in enumerate(chosen):
                extracted = extract(record.fields)
                started = time.perf_counter()
                index.match("bench", f"B{i}", record.fields, extracted)
                times.append((time.perf_counter() - started) * 1000)
        finally:
            session.rollback()
    cold, warm = sorted(times[:_COLD]), sorted(times[_COLD:])
    return {
        "inline_cold_p50_ms": round(statistics.median(cold), 2),
        "inline_cold_p95_ms": round(cold[int(len(cold) * 0.95) - 1], 2),
        "inline_p50_ms": round(statistics.median(warm), 2),
        "inline_p95_ms": round(warm[int(len(warm) * 0.95) - 1], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--limit", type=int, default=MAX_BLOCK_RECORDS)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--samples", type=int, default=1000, help="inline records to time")
    parser.add_argument(
        "--tag", default="ms", help="prefix of the files under .bench/ (one per engineer)"
    )
    parser.add_argument(
        "--no-run", action="store_true", help="inline timing only (no replay, no match run)"
    )
    parser.add_argument("--inline-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inline_child:
        print(json.dumps(inline_here(args.inline_child, args.limit, args.seed, args.samples)))
        return 0
    for size in args.records:
        index = bench_index(size, args.seed, args.tag)
        result: dict[str, object] = {"records_asked": size, "max_block_records": args.limit}
        if index.build_seconds:
            result["index_build_s"] = round(index.build_seconds, 1)
        path = index.path  # inline only: the customers do not change the work
        up_to_date(path)
        if not args.no_run:
            path, result["replay"] = steady_index(index, args.limit)
            result["match_run"] = match_run(path, args.limit, args.workers)
        # In a process of its own, as an ingest matches (this one holds the replay's objects).
        # Right after a run the file's pages are often out of the OS cache (the run's memory
        # pushed them out): the first pass then reads from disk; ``--inline-child PATH`` alone
        # measures it again, warm.
        child = subprocess.run(
            [
                *(sys.executable, __file__, "--inline-child", str(path)),
                *("--limit", str(args.limit), "--seed", str(args.seed)),
                *("--samples", str(args.samples)),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        result.update(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
