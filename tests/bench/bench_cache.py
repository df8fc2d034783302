"""Cache benchmark: build a demo cache of N customers through ingest, then measure search and
card loading. Prints one JSON line of figures.

    python tests/bench/bench_cache.py --customers 100000

The cache is kept (``--db``, default ``.bench/cache-N.db``) and reused by later runs unless
``--rebuild`` is given. Run it on an idle machine; it is not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from customer_card.matching import normalise
from customer_card.services.cards import CardService
from customer_card.services.demo import build_demo
from customer_card.services.search import SearchService
from customer_card.store import models as m
from customer_card.store.cache import Unlock, open_cache
from customer_card.store.database import Database

PASSPHRASE = "benchmark"
TIMELINE_PAGE = 200


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def typo(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def sample_queries(db: Database, rng: random.Random, n: int) -> list[tuple[str, str]]:
    """(kind, query) triples built from real rows: typo'd names, phone fragments, e-mails."""
    with db.read() as session:
        top = session.execute(select(func.max(m.Customer.id))).scalar_one() or 0
        ids = [rng.randint(1, top) for _ in range(n * 2)]
        names = session.execute(
            select(m.Customer.given_name, m.Customer.family_name).where(m.Customer.id.in_(ids))
        ).all()
        phones = (
            session.execute(
                select(m.ContactPoint.normalised)
                .where(m.ContactPoint.kind == "phone")
                .where(m.ContactPoint.customer_id.in_(ids))
            )
            .scalars()
            .all()
        )
        emails = (
            session.execute(
                select(m.ContactPoint.value)
                .where(m.ContactPoint.kind == "email")
                .where(m.ContactPoint.customer_id.in_(ids))
            )
            .scalars()
            .all()
        )
    queries: list[tuple[str, str]] = []
    for i in range(n):
        kind = ("name", "phone", "email")[i % 3]
        if kind == "name" and names:
            given, family = rng.choice(names)
            words = [w for w in (given, typo(rng, family)) if w]
            rng.shuffle(words)
            queries.append(("name", " ".join(words)))
        elif kind == "phone" and phones:
            number = rng.choice(phones)
            national = normalise.national_digits(number)
            form = rng.choice(("last4", "spaced", "e164"))
            if form == "last4":
                queries.append(("phone", national[-4:]))
            elif form == "spaced":
                queries.append(
                    ("phone", " ".join(national[j : j + 2] for j in range(0, len(national), 2)))
                )
            else:
                queries.append(("phone", number))
        elif emails:
            queries.append(("email", rng.choice(emails)))
    return queries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--cards", type=int, default=300)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    path = args.db or Path(".bench") / f"cache-{args.customers}.db"
    if args.rebuild:
        for leftover in path.parent.glob(path.name + "*"):
            leftover.unlink()
    figures: dict[str, object] = {"customers": args.customers, "seed": args.seed}
    opened = open_cache(path, None, Unlock(passphrase=PASSPHRASE), create=True)
    db = opened.database
    if opened.created:
        started = time.perf_counter()
        report = build_demo(db, customers=args.customers, seed=args.seed)
        elapsed = time.perf_counter() - started
        figures.update(
            build_s=round(elapsed, 1),
            records=report.read,
            records_per_s=round(report.read / elapsed),
            golden_customers=report.customers_created,
            suggestions=report.suggestions,
            quarantined=report.total("quarantined"),
        )
    figures["file_mb"] = round(path.stat().st_size / 1e6, 1)

    rng = random.Random(args.seed)
    search = SearchService(db)
    search.search("warm up")  # loads the vocabulary once, as the window does at start
    latencies: dict[str, list[float]] = {}
    for kind, query in sample_queries(db, rng, args.queries):
        t0 = time.perf_counter()
        search.search(query, limit=20)
        latencies.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
    every = [v for values in latencies.values() for v in values]
    figures["search_ms"] = {
        "p50": round(statistics.median(every), 2),
        "p95": round(percentile(every, 95), 2),
        **{
            kind: {"p50": round(statistics.median(v), 2), "p95": round(percentile(v, 95), 2)}
            for kind, v in latencies.items()
        },
    }

    cards = CardService(db)
    with db.read() as session:
        top = session.execute(select(func.max(m.Customer.id))).scalar_one()
        heaviest = session.execute(
            select(m.Interaction.customer_id)
            .group_by(m.Interaction.customer_id)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar_one_or_none()
    card_ms: list[float] = []
    for _ in range(args.cards):
        customer_id = rng.randint(1, top)
        t0 = time.perf_counter()
        card = cards.load(customer_id)
        if card is not None:
            cards.timeline(card.customer.id, None, TIMELINE_PAGE)
        card_ms.append((time.perf_counter() - t0) * 1000)
    figures["card_ms"] = {
        "p50": round(statistics.median(card_ms), 2),
        "p95": round(percentile(card_ms, 95), 2),
    }
    if heaviest is not None:
        heavy_ms = []
        for _ in range(20):
            t0 = time.perf_counter()
            cards.load(heaviest)
            cards.timeline(heaviest, None, TIMELINE_PAGE)
            heavy_ms.append((time.perf_counter() - t0) * 1000)
        card = cards.load(heaviest)
        figures["heaviest_card"] = {
            "interactions": card.interaction_count if card else 0,
            "p50_ms": round(statistics.median(heavy_ms), 2),
            "p95_ms": round(percentile(heavy_ms, 95), 2),
        }
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    db.dispose()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
