"""Matching use cases: the inline matcher ingest runs for each new record, the batch re-run
(``customer-card match run``), weight estimation and the exports.

Inline and batch share one decision (:mod:`customer_card.matching.decide`) and one candidate
look-up (indexed block keys, newest first within a window): the batch replays the records in
arrival order, so both give the same customers and suggestions for the same data.
"""

from __future__ import annotations

import csv
import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

from customer_card import paths
from customer_card.matching import normalise
from customer_card.matching.blocking import block_keys, is_strong
from customer_card.matching.compare import compare
from customer_card.matching.config import MatchConfig, load_config
from customer_card.matching.decide import Candidate, Decision, Matcher
from customer_card.matching.extract import Extracted
from customer_card.matching.frequency import (
    POPULATION_KEY,
    Frequencies,
    NameCounts,
    counted_keys,
    lookup_keys,
)
from customer_card.matching.model import Estimate, estimate, u_from_random_pairs
from customer_card.matching.profile import Profile, profile_of
from customer_card.store.database import Database
from customer_card.store.match_store import IndexedRecord, MatchStore

log = logging.getLogger(__name__)

CONFIG_NAME = "matching.toml"
_NO_LIMIT = 1 << 62
# Starting share of true matches among candidate pairs, for EM.
CANDIDATE_PRIOR = 0.05


def config_path() -> Path:
    """The user's matching configuration if there is one, else the shipped default."""
    user = paths.config_dir() / CONFIG_NAME
    return user if user.exists() else paths.resources_dir() / CONFIG_NAME


@lru_cache(maxsize=8)
def _cached_config(path: Path, mtime: float) -> MatchConfig:
    return load_config(path)


def default_config() -> MatchConfig:
    path = config_path()
    return _cached_config(path, path.stat().st_mtime if path.exists() else 0.0)


@lru_cache(maxsize=200_000)
def _profile(text: str) -> Profile:
    return Profile.from_json(text)


class MatchIndex:
    """Candidate look-up and decision for one record, inside the caller's transaction."""

    def __init__(self, store: MatchStore, matcher: Matcher, region: str) -> None:
        self.store = store
        self.matcher = matcher
        self.region = region
        self.config = matcher.config

    def candidates(
        self, profile: Profile, before: int, cluster_of: Callable[[IndexedRecord], Any]
    ) -> tuple[list[Candidate[Any]], set[str]]:
        """Earlier records sharing a block key (newest first, within each key's window), and
        the phones shared by so many records that they no longer link on their own."""
        windows = [
            (key, self.config.strong_window if is_strong(key) else self.config.window)
            for key in block_keys(profile)
        ]
        records, hits = self.store.candidates(windows, before)
        weak = {
            key[2:]
            for key, n in hits.items()
            if key.startswith("p:") and n >= self.config.max_phone_records
        }
        return [
            Candidate(r.seq, cluster_of(r), _profile(r.profile), (r.source, r.source_id))
            for r in records
        ], weak

    def name_counts(self, profile: Profile, population: int) -> NameCounts | None:
        """The cache's counts of the names ``profile`` may agree on; None while the counts
        do not cover the index (a cache from before them: ``match run`` counts it)."""
        counts = self.store.name_counts(lookup_keys(profile))
        counted = counts.get(POPULATION_KEY, 0)
        if population and counted < 0.9 * population:
            return None
        return Frequencies(counts)

    def match(
        self, source: str, source_id: str, fields: Mapping[str, Any], extracted: Extracted
    ) -> Decision[int]:
        """Decide where a new record belongs (by customer id) and add it to the index."""
        profile = profile_of(fields, self.region, extracted)
        population = self.store.next_seq() - 1
        candidates, weak = self.candidates(profile, _NO_LIMIT, lambda r: r.customer_id)
        counts = self.name_counts(profile, population)
        decision = self.matcher.decide(profile, candidates, population, weak, counts)
        self.store.index_record(source, source_id, profile.to_json(), block_keys(profile))
        self.store.add_name_counts(counted_keys(profile))
        return decision

    def reindex(
        self, source: str, source_id: str, fields: Mapping[str, Any], extracted: Extracted
    ) -> None:
        """A changed record: its profile and keys follow (it keeps its customer; the name
        counts catch up at the next ``match run``)."""
        profile = profile_of(fields, self.region, extracted)
        self.store.index_record(source, source_id, profile.to_json(), block_keys(profile))


@dataclass
class RunReport:
    records: int = 0
    indexed: int = 0  # records added to the match index by this run
    merges: int = 0
    suggestions: int = 0  # new suggestions
    kept_apart: int = 0  # merges not done: a supervisor rejected or undid that pair
    would_split: int = 0  # customers the model would now split (never done automatically)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "indexed": self.indexed,
            "merges": self.merges,
            "suggestions": self.suggestions,
            "kept_apart": self.kept_apart,
            "would_split": self.would_split,
            "seconds": round(self.seconds, 2),
        }


@dataclass
class Plan:
    """The batch result before it is applied: clusters of records and suggested pairs."""

    cluster_of: dict[int, int] = field(default_factory=dict)  # seq -> cluster (first seq)
    customer_of: dict[int, int] = field(default_factory=dict)  # seq -> current customer
    suggestions: list[tuple[int, int, float, str, dict[str, Any]]] = field(default_factory=list)
    # Name counts as they grow during the replay: each record meets the counts inline
    # matching had when it arrived; at the end, the counts of the whole cache.
    counts: Frequencies = field(default_factory=Frequencies)


class MatchService:
    def __init__(
        self,
        database: Database,
        *,
        config: MatchConfig | None = None,
        region: str = normalise.DEFAULT_REGION,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.config = config or default_config()
        self.matcher = Matcher(self.config)
        self.region = region
        self.clock = clock

    # --- batch ----------------------------------------------------------------------------

    def index_missing(self) -> int:
        """Profile the customer records ingested before the match index existed."""
        done = 0
        while True:
            with self.database.write() as session:
                store = MatchStore(session)
                rows = store.unindexed_records()
                for source, source_id, fields in rows:
                    profile = profile_of(fields, self.region)
                    store.index_record(source, source_id, profile.to_json(), block_keys(profile))
            done += len(rows)
            if not rows:
                return done

    def plan(self, progress: Callable[[int], None] | None = None) -> Plan:
        """Replay every record in arrival order through the inline decision."""
        plan = Plan()
        with self.database.read() as session:
            store = MatchStore(session)
            index = MatchIndex(store, self.matcher, self.region)
            for batch in store.iter_records():
                for record in batch:
                    plan.customer_of[record.seq] = record.customer_id
                    profile = _profile(record.profile)
                    candidates, weak = index.candidates(
                        profile, record.seq, lambda r: plan.cluster_of.get(r.seq, r.seq)
                    )
                    decision = self.matcher.decide(
                        profile, candidates, record.seq - 1, weak, plan.counts
                    )
                    plan.counts.add(profile)
                    cluster = decision.link.cluster if decision.link else record.seq
                    plan.cluster_of[record.seq] = cluster
                    for s in decision.suggestions:
                        evidence = {**s.evidence, "incoming": [record.source, record.source_id]}
                        plan.suggestions.append(
                            (record.seq, s.cluster, s.probability, s.reason, evidence)
                        )
                if progress:
                    progress(len(plan.cluster_of))
        return plan

    def run(self, progress: Callable[[int], None] | None = None) -> RunReport:
        started = datetime.now(UTC)
        report = RunReport(indexed=self.index_missing())
        plan = self.plan(progress)
        report.records = len(plan.cluster_of)
        now = self.clock()

        # Customers the replay puts together: union them (a customer in two replay clusters
        # joins both: automatic runs merge, they never split).
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            while parent.get(x, x) != x:
                parent[x] = parent.get(parent[x], parent[x])
                x = parent[x]
            return x

        members: dict[int, set[int]] = {}
        for seq, cluster in plan.cluster_of.items():
            members.setdefault(cluster, set()).add(plan.customer_of[seq])
        clusters_of_customer: dict[int, set[int]] = {}
        for cluster, customers in members.items():
            for c in customers:
                clusters_of_customer.setdefault(c, set()).add(cluster)
        report.would_split = sum(1 for cl in clusters_of_customer.values() if len(cl) > 1)

        from customer_card.services.merge import MergeService

        with self.database.write() as session:
            store = MatchStore(session)
            rejected = store.rejected_pairs()
            merger = MergeService(self.database, config=self.config, clock=self.clock)
            for cluster, customers in sorted(members.items()):
                ordered = sorted(customers)
                for other in ordered[1:]:
                    a, b = find(ordered[0]), find(other)
                    if a == b:
                        continue
                    survivor, loser = min(a, b), max(a, b)
                    if (min(ordered[0], other), max(ordered[0], other)) in rejected or (
                        survivor,
                        loser,
                    ) in rejected:
                        report.kept_apart += 1
                        continue
                    merger.merge_in(
                        session,
                        survivor,
                        loser,
                        actor="match run",
                        reason="records of one person by the match model",
                        evidence={"cluster": cluster},
                        now=now,
                    )
                    parent[loser] = survivor
                    report.merges += 1
            store.replace_name_counts(plan.counts.counts)
            for seq, cluster, probability, reason, evidence in plan.suggestions:
                a = find(plan.customer_of[seq])
                b = find(plan.customer_of.get(cluster, cluster))
                if a != b and store.suggest(a, b, probability, reason, evidence):
                    report.suggestions += 1
        report.seconds = (datetime.now(UTC) - started).total_seconds()
        return report

    # --- estimation -----------------------------------------------------------------------

    def estimate(self, sample: int = 100_000, seed: int = 1) -> Estimate:
        """u from random pairs of records (nearly all different persons); m by EM over the
        candidate pairs blocking brings together, u held fixed."""
        names = (self.config.fields[0], self.config.fields[1])
        profiles: list[Profile] = []
        vectors: list[tuple[int, ...]] = []
        with self.database.read() as session:
            store = MatchStore(session)
            index = MatchIndex(store, self.matcher, self.region)
            for batch in store.iter_records():
                for record in batch:
                    profile = _profile(record.profile)
                    profiles.append(profile)
                    if len(vectors) < sample:
                        candidates, _ = index.candidates(profile, record.seq, lambda r: r.seq)
                        vectors.extend(
                            compare(profile, c.profile, names).levels for c in candidates
                        )
                if len(profiles) >= sample:
                    break
        rng = random.Random(seed)
        random_vectors = (
            compare(rng.choice(profiles), rng.choice(profiles), names).levels
            for _ in range(sample if profiles else 0)
        )
        fields = u_from_random_pairs(random_vectors, self.config.fields)
        return estimate(vectors, fields, CANDIDATE_PRIOR, fixed_u=True)

    # --- exports --------------------------------------------------------------------------

    def export_links(self, target: TextIO) -> int:
        writer = csv.writer(target, lineterminator="\n")
        writer.writerow(("source", "source_id", "customer_id"))
        rows = 0
        with self.database.read() as session:
            for row in MatchStore(session).links():
                writer.writerow(row)
                rows += 1
        return rows

    def export_suggestions(self, target: TextIO, status: str | None = "pending") -> int:
        writer = csv.writer(target, lineterminator="\n")
        writer.writerow(
            (
                "suggestion",
                "customer_a",
                "customer_b",
                "probability",
                "status",
                "reason",
                "records_a",
                "records_b",
                "evidence",
            )
        )
        rows = 0
        with self.database.read() as session:
            store = MatchStore(session)
            suggestions = store.suggestions(status)
            refs = store.record_refs(
                {s.customer_a for s in suggestions} | {s.customer_b for s in suggestions}
            )
            for s in suggestions:
                writer.writerow(
                    (
                        s.id,
                        s.public_a,
                        s.public_b,
                        f"{s.probability:.6f}",
                        s.status,
                        s.reason,
                        " ".join(f"{src}:{sid}" for src, sid in refs.get(s.customer_a, [])),
                        " ".join(f"{src}:{sid}" for src, sid in refs.get(s.customer_b, [])),
                        json.dumps(s.evidence, ensure_ascii=False, sort_keys=True),
                    )
                )
                rows += 1
        return rows
