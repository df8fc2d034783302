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
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from itertools import accumulate
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
        """Replay every record in arrival order through the inline decision.

        The same candidates as inline matching (each block key's newest records before the
        record, within the key's window), found without a query per record: one ordered pass
        over the block keys lays out every record's windows, then one pass over the records
        in arrival order replays them, keeping each profile in memory only until the last
        window that holds it has been replayed."""
        plan = Plan()
        with self.database.read() as session:
            store = MatchStore(session)
            windows = _Windows.read(store, self.config)
            state = bytearray(windows.size)  # 0 unseen, _DELETED or _LIVE
            held: dict[int, tuple[Profile, tuple[str, str]]] = {}
            for seq, source, source_id, text, customer_id, deleted in store.arrivals():
                state[seq] = _DELETED if deleted else _LIVE
                profile = Profile.from_json(text) if not deleted else None
                if profile is not None and windows.last_use[seq] > seq:
                    held[seq] = (profile, (source, source_id))
                indexed, weak = windows.of(seq, state)
                if profile is not None:
                    found, weak = self._stale_keys(
                        store, windows, seq, profile, indexed, weak, state
                    )
                    candidates: list[Candidate[int]] = []
                    for c in sorted(found):
                        if state[c] != _LIVE:
                            continue
                        other = held.get(c) or _fetch(store, c)
                        candidates.append(
                            Candidate(c, plan.cluster_of.get(c, c), other[0], other[1])
                        )
                    plan.customer_of[seq] = customer_id
                    decision = self.matcher.decide(profile, candidates, seq - 1, weak, plan.counts)
                    plan.counts.add(profile)
                    cluster = decision.link.cluster if decision.link else seq
                    plan.cluster_of[seq] = cluster
                    for s in decision.suggestions:
                        evidence = {**s.evidence, "incoming": [source, source_id]}
                        plan.suggestions.append((seq, s.cluster, s.probability, s.reason, evidence))
                    if progress and len(plan.cluster_of) % _PROGRESS_EVERY == 0:
                        progress(len(plan.cluster_of))
                for c in indexed:
                    if windows.last_use[c] <= seq:
                        held.pop(c, None)
            if progress:
                progress(len(plan.cluster_of))
        return plan

    def _stale_keys(
        self,
        store: MatchStore,
        windows: _Windows,
        seq: int,
        profile: Profile,
        found: set[int],
        weak: set[str],
        state: bytearray,
    ) -> tuple[set[int], set[str]]:
        """The record's block keys as inline matching computes them from its profile: the
        index normally holds exactly those; keys it lacks (an index written by an older
        blocking) are looked up one by one, keys it has in excess are ignored."""
        wanted = block_keys(profile)
        if windows.holds(seq, wanted):
            return found, weak
        found, weak = set(), set()
        for key in wanted:
            size = self.config.strong_window if is_strong(key) else self.config.window
            window = store.window(key, seq, size)
            found.update(window)
            existing = sum(1 for c in window if state[c])
            if key.startswith("p:") and existing >= self.config.max_phone_records:
                weak.add(key[2:])
        return found, weak

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


_DELETED, _LIVE = 1, 2
_PROGRESS_EVERY = 2000


def _fetch(store: MatchStore, seq: int) -> tuple[Profile, tuple[str, str]]:
    """A candidate the windows did not foresee (stale block keys): read it from the index."""
    (record,) = store.records([seq])
    return _profile(record.profile), (record.source, record.source_id)


class _Windows:
    """Every record's block windows, laid out from one pass over the block keys in key
    order. Row ``r`` is one (key, record) pair of the index; rows of a key are consecutive
    and oldest first, so a row's window is the rows from ``start[r]`` to ``r`` (excluded):
    the key's newest earlier records, as many as the key's window size."""

    def __init__(self, size: int) -> None:
        self.size = size  # highest sequence number + 1
        self.seqs = array("i")  # row -> record
        self.start = array("i")  # row -> first row of its window
        self.key_hash = array("q")  # row -> hash of its key (to check the keys are current)
        self.phone_rows: dict[int, str] = {}  # rows of phone keys with a window that can weaken
        self.last_use = array("i", bytes(4 * size))  # record -> last record whose window holds it
        self.offsets = array("i")  # record -> its first entry in ``rows``
        self.rows = array("i")  # rows, grouped by record
        self.max_phone_records = 0

    @classmethod
    def read(cls, store: MatchStore, config: MatchConfig) -> _Windows:
        self = cls(store.last_seq() + 1)
        self.max_phone_records = config.max_phone_records
        seqs, start, key_hash, last_use = self.seqs, self.start, self.key_hash, self.last_use
        for key, group in store.block_groups():
            first = len(seqs)
            n = len(group)
            seqs.extend(group)
            key_hash.extend([hash(key)] * n)
            if n == 1:
                start.append(first)
                continue
            width = config.strong_window if is_strong(key) else config.window
            start.extend(first + max(0, i - width) for i in range(n))
            # A record is in the windows of the ``width`` records of its key after it.
            for i in range(n - 1):
                seq, last = group[i], group[min(i + width, n - 1)]
                if last_use[seq] < last:
                    last_use[seq] = last
            if key.startswith("p:") and n > config.max_phone_records:
                phone = key[2:]
                for i in range(config.max_phone_records, n):
                    self.phone_rows[first + i] = phone
        # Rows grouped by record (a counting sort: no list per record).
        counts = array("i", bytes(4 * (self.size + 1)))
        for seq in seqs:
            counts[seq + 1] += 1
        self.offsets = array("i", accumulate(counts))
        fill = array("i", self.offsets)
        rows = array("i", bytes(4 * len(seqs)))
        for row, seq in enumerate(seqs):
            rows[fill[seq]] = row
            fill[seq] += 1
        self.rows = rows
        return self

    def of(self, seq: int, state: bytearray) -> tuple[set[int], set[str]]:
        """The records in ``seq``'s windows, and its phones held by so many earlier
        records (with a source record, deleted or not) that they no longer link alone."""
        seqs, start = self.seqs, self.start
        found: set[int] = set()
        weak: set[str] = set()
        for row in self.rows[self.offsets[seq] : self.offsets[seq + 1]]:
            window = seqs[start[row] : row]
            found.update(window)
            phone = self.phone_rows.get(row)
            if phone is not None and sum(1 for c in window if state[c]) >= self.max_phone_records:
                weak.add(phone)
        return found, weak

    def holds(self, seq: int, keys: tuple[str, ...]) -> bool:
        """Whether the index holds exactly these block keys for ``seq``."""
        hashes = self.key_hash
        held = sorted(hashes[row] for row in self.rows[self.offsets[seq] : self.offsets[seq + 1]])
        return held == sorted(hash(key) for key in keys)
