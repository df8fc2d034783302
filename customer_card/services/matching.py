"""Matching use cases: the inline matcher ingest runs for each new record, the batch re-run
(``customer-card match run``), weight estimation and the exports.

Inline and batch share one decision (:mod:`customer_card.matching.decide`) and one candidate
look-up (indexed block keys, newest first within a window): the batch replays the records in
arrival order, so both give the same customers and suggestions for the same data.
"""

from __future__ import annotations

import csv
import gc
import json
import logging
import multiprocessing
import os
import random
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence, Set
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from itertools import accumulate, repeat
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from customer_card import paths
from customer_card.matching import normalise
from customer_card.matching.blocking import MAX_BLOCK_RECORDS, block_keys, is_strong, window_of
from customer_card.matching.compare import compare
from customer_card.matching.config import MatchConfig, load_config
from customer_card.matching.decide import Candidate, Decision, Matcher, another_person
from customer_card.matching.extract import Extracted
from customer_card.matching.frequency import (
    POPULATION_KEY,
    Frequencies,
    NameCounts,
    counted_keys,
    counted_name_keys,
    lookup_keys,
)
from customer_card.matching.model import Estimate, estimate, u_from_random_pairs
from customer_card.matching.profile import Profile, profile_of
from customer_card.services.forking import forking, start_child
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


@lru_cache(maxsize=50_000)  # ~0.9 KB each: about 45 MB at most
def _profile(text: str) -> Profile:
    return Profile.from_json(text)


def _customer(record: IndexedRecord) -> int:
    return record.customer_id


class Keyed(NamedTuple):
    """A new record's profile with what matching derives from it alone: its block keys, its
    text in the index and the name-count keys it reads. Computed where the record is
    extracted (ingest's second process), so the matching process only decides."""

    profile: Profile
    keys: tuple[str, ...]
    text: str
    lookup: tuple[str, ...]


def keyed(profile: Profile) -> Keyed:
    return Keyed(profile, block_keys(profile), profile.to_json(), lookup_keys(profile))


class MatchIndex:
    """Candidate look-up and decision for one record, inside the caller's transaction."""

    def __init__(
        self,
        store: MatchStore,
        matcher: Matcher,
        region: str,
        *,
        max_block_records: int = MAX_BLOCK_RECORDS,
    ) -> None:
        self.store = store
        self.matcher = matcher
        self.region = region
        self.config = matcher.config
        self.max_block_records = max_block_records

    def candidates(
        self,
        profile: Profile,
        before: int,
        cluster_of: Callable[[IndexedRecord], Any],
        keys: tuple[str, ...] | None = None,
    ) -> tuple[list[Candidate[Any]], set[str]]:
        """Earlier records sharing a block key (newest first, within each key's window), and
        the phones shared by so many records that they no longer link on their own.
        ``keys``: the profile's block keys, when the caller has them."""
        windows = [
            (key, self.config.strong_window, None)
            if is_strong(key)
            else (key, self.config.window, self.max_block_records)
            for key in (block_keys(profile) if keys is None else keys)
        ]
        records, hits = self.store.candidates(windows, before)
        return self._candidates_of(records, hits, cluster_of)

    def _candidates_of(
        self,
        records: Sequence[IndexedRecord],
        hits: Mapping[str, int],
        cluster_of: Callable[[IndexedRecord], Any],
    ) -> tuple[list[Candidate[Any]], set[str]]:
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
        # (``match_many`` decides the same way on counts it holds.)
        if population and counted < 0.9 * population:
            return None
        return Frequencies(counts)

    def match(
        self, source: str, source_id: str, fields: Mapping[str, Any], extracted: Extracted
    ) -> Decision[int]:
        """Decide where a new record belongs (by customer id) and add it to the index."""
        profile = profile_of(fields, self.region, extracted)
        keys = block_keys(profile)
        population = self.store.next_seq() - 1
        candidates, weak = self.candidates(profile, _NO_LIMIT, _customer, keys)
        counts = self.name_counts(profile, population)
        decision = self.matcher.decide(profile, candidates, population, weak, counts)
        self.store.index_record(source, source_id, profile.to_json(), keys)
        self.store.add_name_counts(counted_keys(profile))
        return decision

    def match_many(
        self,
        records: Sequence[tuple[str, str, Mapping[str, Any], Extracted]],
        place: Callable[[int, Decision[int]], int],
        known: Sequence[Keyed | None] = (),
    ) -> list[Decision[int]]:
        """``match`` for each (source, source id, fields, extracted) in turn — the same
        decisions — with the name counts read once and written once for the whole batch, and
        the candidate windows of the whole batch read at once.

        ``place(i, decision)`` must store record ``i``'s source record with its customer
        before it returns, and return that customer's id: the next records of the batch are
        matched against it. It must not change the customer of any other record, nor read the
        match index (the batch's profiles and block keys are written at the end). ``known``:
        the records' profiles, keyed, where the caller has them."""
        prepared = [
            (known[i] if i < len(known) else None) or keyed(profile_of(fields, self.region, x))
            for i, (_, _, fields, x) in enumerate(records)
        ]
        profiles = [k.profile for k in prepared]
        wanted = {key for k in prepared for key in k.lookup}
        counts = Frequencies(self.store.name_counts(wanted))
        refs = [(source, source_id) for source, source_id, _, _ in records]
        if len(set(refs)) < len(refs) or self.store.indexed_refs(refs):
            # A record already in the index keeps its place in the arrival order (or the
            # batch holds one twice): rare, matched one at a time.
            return self._match_in_turn(refs, profiles, place, counts)

        keys_of = [k.keys for k in prepared]
        texts = [k.text for k in prepared]
        first = self.store.next_seq()
        batch = _BatchWindows(self, keys_of, first)
        added: Counter[str] = Counter()
        decisions: list[Decision[int]] = []
        for i, (ref, profile, keys, text) in enumerate(
            zip(refs, profiles, keys_of, texts, strict=True)
        ):
            seq = first + i
            population = seq - 1
            records_found, hits = batch.candidates(keys)
            candidates, weak = self._candidates_of(records_found, hits, _customer)
            covered = not population or counts.count(POPULATION_KEY) >= 0.9 * population
            decision = self.matcher.decide(
                profile, candidates, population, weak, counts if covered else None
            )
            counts.add(profile)
            added.update(counted_keys(profile))
            added[POPULATION_KEY] += 1
            batch.add(IndexedRecord(seq, *ref, text, place(i, decision)), keys)
            decisions.append(decision)
        self.store.index_new_records(
            first,
            [(*ref, text, keys) for ref, text, keys in zip(refs, texts, keys_of, strict=True)],
        )
        self.store.add_name_counts_many(added)
        return decisions

    def _match_in_turn(
        self,
        refs: Sequence[tuple[str, str]],
        profiles: Sequence[Profile],
        place: Callable[[int, Decision[int]], int],
        counts: Frequencies,
    ) -> list[Decision[int]]:
        """``match_many`` with a candidate look-up and an index write per record."""
        added: Counter[str] = Counter()
        decisions: list[Decision[int]] = []
        for i, ((source, source_id), profile) in enumerate(zip(refs, profiles, strict=True)):
            keys = block_keys(profile)
            population = self.store.next_seq() - 1
            candidates, weak = self.candidates(profile, _NO_LIMIT, _customer, keys)
            covered = not population or counts.count(POPULATION_KEY) >= 0.9 * population
            decision = self.matcher.decide(
                profile, candidates, population, weak, counts if covered else None
            )
            self.store.index_record(source, source_id, profile.to_json(), keys)
            counts.add(profile)
            added.update(counted_keys(profile))
            added[POPULATION_KEY] += 1
            place(i, decision)
            decisions.append(decision)
        self.store.add_name_counts_many(added)
        return decisions

    def reindex(
        self,
        source: str,
        source_id: str,
        fields: Mapping[str, Any],
        extracted: Extracted,
        customer_id: int | None = None,
    ) -> Reindexed | None:
        """A changed record: its profile and keys follow (the name counts catch up at the next
        ``match run``).

        With ``customer_id`` (the record's customer), whether it must leave: a record
        corrected into another person (a shop fixing an account typed under someone else's
        details) must not keep two people on one card. It leaves only when it now names
        someone else than every other record of its customer that names a person (given
        name or birth date, deleted records included: they still say who the card was), and
        links to none of the live ones. A new e-mail, phone or married name moves nothing, nor
        does any change on a customer a merge made (a supervisor's decision stands). Returns
        the decision for it as if it arrived now, with whether it moves (a probable match
        with the customer it leaves becomes a suggestion), or None.

        A record alone on its customer is that customer, whatever it becomes; changed so that
        it now matches another customer (an e-shop account given the e-mail the CRM knows),
        the two customers are one person: the decision, not moving, makes that a suggestion
        (merging customers is a supervisor's or ``match run``'s)."""
        profile = profile_of(fields, self.region, extracted)
        keys = block_keys(profile)
        text = profile.to_json()
        if customer_id is None:
            self.store.index_record(source, source_id, text, keys)
            return None
        ref = (source, source_id)
        own = self.store.records_of_customer(customer_id)
        before = next((r.profile for r, _ in own if (r.source, r.source_id) == ref), None)
        others = [(r, deleted) for r, deleted in own if (r.source, r.source_id) != ref]
        self.store.index_record(source, source_id, text, keys)
        if before == text:
            return None
        if not others:
            population = self.store.next_seq() - 1
            found, weak = self.candidates(profile, _NO_LIMIT, _customer, keys)
            candidates = [c for c in found if c.ref != ref]
            if not candidates:
                return None
            counts = self.name_counts(profile, population)
            decision = self.matcher.decide(profile, candidates, population, weak, counts)
            return Reindexed(decision, moves=False)
        told = [p for p in (_profile(r.profile) for r, _ in others) if p.given or p.births]
        if not told or not all(another_person(profile, p) for p in told):
            return None
        if self.store.merged_into(customer_id):
            return None
        population = self.store.next_seq() - 1
        found, weak = self.candidates(profile, _NO_LIMIT, _customer, keys)
        counts = self.name_counts(profile, population)
        siblings = [
            Candidate(r.seq, customer_id, _profile(r.profile), (r.source, r.source_id))
            for r, deleted in others
            if not deleted
        ]
        if siblings and self.matcher.decide(profile, siblings, population, weak, counts).link:
            return None
        candidates = [c for c in found if c.ref != ref]
        return Reindexed(self.matcher.decide(profile, candidates, population, weak, counts), True)


class Reindexed(NamedTuple):
    """What a changed record's new profile decides (see ``MatchIndex.reindex``)."""

    decision: Decision[int]
    moves: bool  # False: it stays; the customers it links or may link to are suggested


class _BatchWindows:
    """The candidate windows of a batch of new records, read once for the whole batch.

    Gives each record of the batch exactly what ``MatchStore.candidates`` returns for it
    when the batch's earlier records are in the index: each block key's window is the
    batch's own earlier records holding the key (newest first: they arrive after every
    stored one) followed by the key's newest stored records, cut to the window; a limited
    key is pruned when its window came back full and the stored and batch records holding
    it reach the limit; only records with a source record count and come back, deleted
    ones count but do not come back, and a record only pruned keys found is left out."""

    def __init__(self, index: MatchIndex, keys_of: Sequence[tuple[str, ...]], first: int) -> None:
        config, limit = index.config, index.max_block_records
        store = index.store
        self.window, self.strong_window, self.limit = config.window, config.strong_window, limit
        wanted = {key for keys in keys_of for key in keys}
        strong = sorted(key for key in wanted if is_strong(key))
        limited = sorted(key for key in wanted if not is_strong(key))
        # Newest first, stored before ``first`` (the batch's first sequence number).
        self.stored = store.newest_before(strong, config.strong_window, first)
        self.stored.update(store.newest_before(limited, config.window, first))
        # How many stored records hold a limited key, where its window alone does not tell
        # (a full window may be the newest of many).
        full = [key for key in limited if len(self.stored.get(key, ())) >= config.window]
        self.earlier = store.counts_before(full, first, limit) if full else {}
        # seq -> (record with its current customer, deleted), for the records that have a
        # source record (``candidates`` joins its windows with it).
        self.joined = store.live_or_deleted({seq for seqs in self.stored.values() for seq in seqs})
        # The batch's records so far, each key's holders in arrival order.
        self.recent: dict[str, list[int]] = {}

    def candidates(self, keys: Sequence[str]) -> tuple[list[IndexedRecord], dict[str, int]]:
        """What ``MatchStore.candidates`` gives for these keys, before any later record."""
        found: dict[int, list[str]] = {}
        hits: dict[str, int] = {}
        pruned: set[str] = set()
        empty: list[int] = []
        for key in keys:
            strong = is_strong(key)
            size = self.strong_window if strong else self.window
            stored = self.stored.get(key, empty)
            recent = self.recent.get(key)
            window = (recent[::-1] + stored)[:size] if recent else stored
            n = 0
            for seq in window:
                if seq in self.joined:
                    n += 1
                    found.setdefault(seq, []).append(key)
            if n:
                hits[key] = n
            if not strong and n >= min(size, self.limit):
                held = len(recent or empty) + self.earlier.get(key, len(stored))
                if held >= self.limit:
                    pruned.add(key)
        for key in pruned:
            hits.pop(key, None)
        records: list[IndexedRecord] = []
        # (``candidates`` gets its rows in ascending seq order.)
        for seq in sorted(found):
            record, deleted = self.joined[seq]
            if deleted or (pruned and pruned.issuperset(found[seq])):
                continue
            records.append(record)
        return records, hits

    def add(self, record: IndexedRecord, keys: Sequence[str]) -> None:
        """The batch's record, stored with its customer, is now in the windows of its keys."""
        for key in keys:
            self.recent.setdefault(key, []).append(record.seq)
        self.joined[record.seq] = (record, False)


@dataclass
class RunReport:
    records: int = 0
    indexed: int = 0  # records added to the match index by this run
    merges: int = 0
    suggestions: int = 0  # new suggestions
    kept_apart: int = 0  # merges not done: a supervisor rejected or undid that pair
    # Merges not done: one of the customers has records the model now puts apart (suggested).
    held: int = 0
    would_split: int = 0  # customers the model would now split (never done automatically)
    pairs: int = 0  # record pairs scored (candidates of every record)
    redecided: int = 0  # records worker processes decided on other clusters (done again)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "indexed": self.indexed,
            "merges": self.merges,
            "suggestions": self.suggestions,
            "kept_apart": self.kept_apart,
            "held": self.held,
            "would_split": self.would_split,
            "pairs": self.pairs,
            "redecided": self.redecided,
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
    pairs: int = 0  # record pairs scored
    # Records decided by worker processes assuming other clusters, decided again in order.
    redecided: int = 0


class MatchService:
    def __init__(
        self,
        database: Database,
        *,
        config: MatchConfig | None = None,
        region: str = normalise.DEFAULT_REGION,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_block_records: int = MAX_BLOCK_RECORDS,
    ) -> None:
        self.database = database
        self.config = config or default_config()
        self.matcher = Matcher(self.config)
        self.region = region
        self.clock = clock
        self.max_block_records = max_block_records

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

    def plan(
        self, progress: Callable[[int], None] | None = None, workers: int | None = None
    ) -> Plan:
        """Replay every record in arrival order through the inline decision.

        The same candidates as inline matching (each block key's newest records before the
        record, within the key's window), found without a query per record: one ordered pass
        over the block keys lays out every record's windows and one pass over the records
        reads them into compact arrays (shared by the workers, below); the replay then
        decodes a profile when a window first needs it and keeps it only until the last
        window that holds it has been replayed.

        With ``workers`` > 1 (by default, every core for a cache of at least
        ``PARALLEL_MIN_RECORDS`` records, where processes can be forked) the decisions are
        computed ahead by worker processes, each over its own stretches of the arrival order,
        with every earlier record's customer taken as its cluster; this process replays the
        records in order and keeps a worker's decision only where the clusters it assumed
        group the candidates as the replay's own clusters do, deciding itself otherwise. The
        plan is exactly the sequential one (a test checks it)."""
        plan = Plan()
        with _collector_paused(), self.database.read() as session:
            store = MatchStore(session)
            windows = _Windows.read(store, self.config, self.max_block_records)
            arrivals = _Arrivals.read(store, windows.size)
            replay = _Replay(self, store, windows, arrivals)
            if workers is None:
                workers = _default_workers(windows.size)
            outcomes = (
                self._outcomes_ahead(windows, arrivals, workers) if workers > 1 else _no_outcomes()
            )
            state, customer, guess = arrivals.state, arrivals.customer, arrivals.guess
            cluster_of = plan.cluster_of
            moved: set[int] = set()  # records whose cluster is not the one workers assume
            with closing(outcomes):
                outcome = next(outcomes, None)
                for seq in range(1, arrivals.size):
                    if state[seq] != _LIVE:
                        continue
                    kept = None
                    if outcome is not None and outcome[0] == seq:
                        kept = _translate(outcome, cluster_of, guess, moved)
                        outcome = next(outcomes, None)
                        plan.redecided += kept is None
                    if kept is None:
                        kept = replay.decide(seq, cluster_of.get)
                    pairs, link, suggestions = kept
                    plan.customer_of[seq] = customer[seq]
                    plan.pairs += pairs
                    cluster_of[seq] = own = link if link is not None else seq
                    if own != guess[seq]:
                        moved.add(seq)
                    if suggestions:
                        incoming = list(arrivals.ref(seq))
                        for cluster, probability, reason, evidence in suggestions:
                            evidence = {**evidence, "incoming": incoming}
                            plan.suggestions.append((seq, cluster, probability, reason, evidence))
                    if progress and len(cluster_of) % _PROGRESS_EVERY == 0:
                        progress(len(cluster_of))
            plan.counts = replay.counts.frequencies()
            if progress:
                progress(len(cluster_of))
        return plan

    def _outcomes_ahead(
        self, windows: _Windows, arrivals: _Arrivals, workers: int
    ) -> Generator[_Outcome, None, None]:
        """Decisions of every live record in arrival order, computed by worker processes
        that take each record's current customer as its cluster."""
        chunks = [(lo, min(lo + _CHUNK, windows.size)) for lo in range(1, windows.size, _CHUNK)]
        global _AHEAD
        _AHEAD = _Ahead(self, windows, arrivals)
        # What the workers inherit is read-only: keep the collector from touching (and so
        # copying) every page of it in each of them.
        gc.freeze()
        try:
            context = multiprocessing.get_context("fork")
            with ExitStack() as stack:
                with forking():  # (a Ctrl+C let through as it ends still closes the pool)
                    pool = stack.enter_context(
                        context.Pool(workers, initializer=_start_worker, initargs=(os.getpid(),))
                    )
                for outcomes in pool.imap(_decide_ahead, chunks):
                    yield from outcomes
        finally:
            _AHEAD = None
            gc.unfreeze()

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
        config, limit = self.config, self.max_block_records
        for key in wanted:
            earlier = store.count_before(key, seq, max(limit, config.strong_window))
            size = window_of(key, earlier, config.window, config.strong_window, limit)
            window = store.window(key, seq, size) if size else []
            found.update(window)
            existing = sum(1 for c in window if state[c])
            if key.startswith("p:") and existing >= self.config.max_phone_records:
                weak.add(key[2:])
        return found, weak

    def run(self, progress: Callable[[int], None] | None = None) -> RunReport:
        started = datetime.now(UTC)
        indexed = self.index_missing()
        report = self.apply(self.plan(progress))
        report.indexed = indexed
        report.seconds = (datetime.now(UTC) - started).total_seconds()
        return report

    def apply(self, plan: Plan) -> RunReport:
        """Merge what the plan puts together and record its suggestions."""
        report = RunReport(records=len(plan.cluster_of), pairs=plan.pairs, redecided=plan.redecided)
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
        # Customers whose records the replay puts in two clusters: a record since changed into
        # another person's (a corrected record keeps its customer), two people merged by hand.
        # Merged with a customer through one cluster, such a customer would bring along the
        # records of the other: two people on one card (the replay says Jean's records and
        # Marie's are apart; Marie's corrected record still sits on Jean's customer).
        split = {c for c, cl in clusters_of_customer.items() if len(cl) > 1}
        report.would_split = len(split)
        held: list[tuple[int, int, int]] = []

        from customer_card.services.merge import MergeService

        with self.database.write() as session:
            store = MatchStore(session)
            rejected = store.rejected_pairs()
            merger = MergeService(self.database, config=self.config, clock=self.clock)
            for cluster, customers in sorted(members.items()):
                ordered = sorted(customers)
                if len(ordered) > 1 and not split.isdisjoint(ordered):
                    held.extend((ordered[0], other, cluster) for other in ordered[1:])
                    continue
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
            suggested = []
            for a, b, cluster in held:
                a, b = find(a), find(b)
                if a != b and (min(a, b), max(a, b)) not in rejected:
                    report.held += 1
                    suggested.append(
                        (
                            a,
                            b,
                            self.config.link_threshold,
                            "the match model links records of both, but it puts other "
                            "records of one of them apart: a supervisor decides",
                            {"cluster": cluster},
                        )
                    )
            for seq, cluster, probability, reason, evidence in plan.suggestions:
                a = find(plan.customer_of[seq])
                b = find(plan.customer_of.get(cluster, cluster))
                if a != b:
                    suggested.append((a, b, probability, reason, evidence))
            report.suggestions += store.suggest_many(suggested)
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
            index = MatchIndex(
                store, self.matcher, self.region, max_block_records=self.max_block_records
            )
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
# The batch re-run uses worker processes from this many records on (below, starting them
# costs more than it saves), in stretches of this many sequence numbers.
PARALLEL_MIN_RECORDS = 50_000
_CHUNK = 2000
# A worker's collector runs after every this many chunks, not on its own (``_start_worker``).
_COLLECT_EVERY = 50

# A record's decision as the plan keeps it: pairs scored, the cluster it links to (None: a
# new customer), its suggestions as (cluster, probability, reason, evidence).
_Kept = tuple[int, int | None, list[tuple[int, float, str, dict[str, Any]]]]
# A worker's decision: the record, its candidates (the worker assumed each in the cluster
# ``_Arrivals.guess`` gives it), and the decision in those clusters.
_Outcome = tuple[int, tuple[int, ...], _Kept]


def _default_workers(records: int) -> int:
    if records < PARALLEL_MIN_RECORDS or sys.platform != "linux":
        return 1  # (fork is Linux's; spawning would copy the windows to every worker)
    return min(os.cpu_count() or 1, 4)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off, then as it was: while a plan is made, objects are
    made by the million (rows, arrays, the workers' decisions) and none makes a cycle, so
    its passes found nothing while costing a tenth of this process's time at 100,000 records
    (and the workers inherit it off: ``_start_worker``)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _no_outcomes() -> Generator[_Outcome, None, None]:
    yield from ()


def _kept(decision: Decision[int], pairs: int) -> _Kept:
    return (
        pairs,
        decision.link.cluster if decision.link else None,
        [(s.cluster, s.probability, s.reason, s.evidence) for s in decision.suggestions],
    )


def _translate(
    outcome: _Outcome, cluster_of: Mapping[int, int], guess: array[int], moved: Set[int]
) -> _Kept | None:
    """A worker's decision in the replay's clusters, or None when the clusters it assumed
    do not group the candidates as the replay's do (the decision may then differ).
    ``moved``: the records whose cluster in the replay is not their ``guess``."""
    _, candidates, kept = outcome
    if moved.isdisjoint(candidates):  # the usual case, told without a loop in Python
        return kept
    to_actual: dict[int, int] = {}
    to_assumed: dict[int, int] = {}
    same = True
    for c in candidates:
        assumed, actual = guess[c], cluster_of[c]
        if assumed != actual:
            same = False
        if (
            to_actual.setdefault(assumed, actual) != actual
            or to_assumed.setdefault(actual, assumed) != assumed
        ):
            return None
    if same:  # the usual case: the cache is as inline matching left it
        return kept
    pairs, link, suggestions = kept
    return (
        pairs,
        None if link is None else to_actual[link],
        [(to_actual[cluster], p, reason, evidence) for cluster, p, reason, evidence in suggestions],
    )


class _Arrivals:
    """Every indexed record that has a source record, read once in arrival order before the
    workers fork (they share it copy-on-write and never write to it): whether it is live,
    its customer, its profile's JSON and its (source, source id) as bytes laid end to end,
    and the names it adds to the counts, as numbers."""

    def __init__(self, size: int) -> None:
        self.size = size  # highest sequence number + 1
        self.state = bytearray(size)  # 0: no source record, _DELETED or _LIVE
        self.customer = array("i", bytes(4 * size))
        # The cluster workers assume: the first live record of the record's customer.
        self.guess = array("i", bytes(4 * size))
        self.data = bytearray()  # per record: profile JSON, then source id (UTF-8)
        self.start = array("q", bytes(8 * size))
        self.profile_len = array("i", bytes(4 * size))
        self.id_len = array("i", bytes(4 * size))
        self.sources: list[str] = []
        self.source = array("H", bytes(2 * size))  # index into ``sources``
        self.name_keys: dict[str, int] = {}  # counted name key -> number
        self.names = array("i", [-1]) * (_NAMES * size)  # numbers of each record's names

    @classmethod
    def read(cls, store: MatchStore, size: int) -> _Arrivals:
        self = cls(size)
        state, customer, guess, data = self.state, self.customer, self.guess, self.data
        start, profile_len, id_len, source_of = (
            self.start,
            self.profile_len,
            self.id_len,
            self.source,
        )
        names, name_keys = self.names, self.name_keys
        source_index: dict[str, int] = {}
        first_of: dict[int, int] = {}
        for seq, source, source_id, text, customer_id, deleted in store.arrivals():
            if seq >= size:
                continue  # (added after the windows were read: not in this run)
            state[seq] = _DELETED if deleted else _LIVE
            customer[seq] = customer_id
            profile, ident = text.encode(), source_id.encode()
            start[seq] = len(data)
            profile_len[seq], id_len[seq] = len(profile), len(ident)
            data += profile
            data += ident
            index = source_index.get(source)
            if index is None:
                index = source_index[source] = len(self.sources)
                self.sources.append(source)
            source_of[seq] = index
            if deleted:
                continue
            guess[seq] = first_of.setdefault(customer_id, seq)
            for i, key in enumerate(counted_keys_of(text)):
                number = name_keys.get(key)
                if number is None:
                    number = name_keys[key] = len(name_keys)
                names[_NAMES * seq + i] = number
        return self

    def profile(self, seq: int) -> Profile:
        at = self.start[seq]
        return Profile.from_json(self.data[at : at + self.profile_len[seq]].decode())

    def ref(self, seq: int) -> tuple[str, str]:
        at = self.start[seq] + self.profile_len[seq]
        return self.sources[self.source[seq]], self.data[at : at + self.id_len[seq]].decode()


# Keys a record adds to the counts, at most (given, family, the pair, its city, the count of
# records whose city is counted): ``counted_keys``.
_NAMES = 5


def counted_keys_of(text: str) -> tuple[str, ...]:
    """``counted_keys`` of a profile's JSON, read without building the profile (dates,
    tuples: a million profiles would take seconds); the fields' places are those of
    ``Profile.to_json``."""
    fields = json.loads(text)
    return counted_name_keys(fields[0], fields[1], fields[8])


class _Counts:
    """The name counts as they grow in arrival order: each record is decided with the counts
    of the live records before it, as inline matching had them (``NameCounts``)."""

    def __init__(self, arrivals: _Arrivals) -> None:
        self.arrivals = arrivals
        self.numbers = arrivals.name_keys
        self.n = array("q", bytes(8 * len(self.numbers)))
        self.population = 0
        self.upto = 1  # records before this one are counted

    def count(self, key: str) -> int:
        if key == POPULATION_KEY:
            return self.population
        number = self.numbers.get(key)
        return 0 if number is None else self.n[number]

    def advance(self, seq: int) -> None:
        """Count the live records before ``seq`` not counted yet."""
        state, names, n = self.arrivals.state, self.arrivals.names, self.n
        for s in range(self.upto, seq):
            if state[s] == _LIVE:
                self.population += 1
                for number in names[_NAMES * s : _NAMES * s + _NAMES]:
                    if number >= 0:
                        n[number] += 1
        self.upto = max(self.upto, seq)

    def frequencies(self) -> Frequencies:
        self.advance(self.arrivals.size)
        counts = {key: self.n[i] for key, i in self.numbers.items() if self.n[i]}
        if self.population:
            counts[POPULATION_KEY] = self.population
        return Frequencies(counts)


class _Held:
    """Decoded profiles, each kept from its first use until the last record whose windows
    hold it has been decided, so that no profile is decoded twice; with the candidate each
    makes (a record's cluster never changes once it is decided or assumed)."""

    def __init__(self, arrivals: _Arrivals, last_use: array[int]) -> None:
        self.arrivals = arrivals
        self.last_use = last_use
        self.held: dict[int, Profile | Candidate[int]] = {}
        self.expiry: dict[int, list[int]] = {}  # last use -> records held until then
        self.now = 0

    def advance(self, seq: int) -> None:
        """Forget what no record from ``seq`` on needs."""
        held, expiry = self.held, self.expiry
        for s in range(self.now, seq):
            gone = expiry.pop(s, None)
            if gone is not None:
                for c in gone:
                    held.pop(c, None)
        self.now = max(self.now, seq)

    def _keep(self, seq: int, value: Profile | Candidate[int]) -> None:
        until = self.last_use[seq]
        if until > self.now:
            if seq not in self.held:
                self.expiry.setdefault(until, []).append(seq)
            self.held[seq] = value

    def profile(self, seq: int) -> Profile:
        got = self.held.get(seq)
        if got is None:
            got = self.arrivals.profile(seq)
            self._keep(seq, got)
        return got.profile if isinstance(got, Candidate) else got

    def candidate(self, seq: int, cluster: Callable[[int, int], int]) -> Candidate[int]:
        got = self.held.get(seq)
        if isinstance(got, Candidate):
            return got
        profile = got if got is not None else self.arrivals.profile(seq)
        candidate = Candidate(seq, cluster(seq, seq), profile, self.arrivals.ref(seq))
        self._keep(seq, candidate)
        return candidate


class _Replay:
    """Deciding one record in arrival order (this process's or a worker's): its windows'
    live records with their clusters, against the name counts of the records before it."""

    def __init__(
        self, service: MatchService, store: MatchStore, windows: _Windows, arrivals: _Arrivals
    ) -> None:
        self.service = service
        self.store = store
        self.windows = windows
        self.arrivals = arrivals
        self.held = _Held(arrivals, windows.last_use)
        self.counts = _Counts(arrivals)
        self.last_candidates: tuple[int, ...] = ()  # those of the last decision

    def decide(self, seq: int, cluster: Callable[[int, int], int]) -> _Kept:
        """``cluster(c, c)``: the cluster of an earlier record ``c`` (it must not change
        between calls)."""
        held = self.held
        held.advance(seq)
        self.counts.advance(seq)
        state = self.arrivals.state
        profile = held.profile(seq)
        found, weak = self.windows.of(seq, state)
        found, weak = self.service._stale_keys(
            self.store, self.windows, seq, profile, found, weak, state
        )
        candidates = [held.candidate(c, cluster) for c in sorted(found) if state[c] == _LIVE]
        decision = self.service.matcher.decide(profile, candidates, seq - 1, weak, self.counts)
        self.last_candidates = tuple(c.key for c in candidates)
        return _kept(decision, len(candidates))


class _Ahead:
    """What a worker process inherits (fork) to decide records ahead of the replay."""

    def __init__(self, service: MatchService, windows: _Windows, arrivals: _Arrivals) -> None:
        self.service = service
        self.windows = windows
        self.arrivals = arrivals
        self.replay: _Replay | None = None
        self.chunks = 0  # decided in this worker


_AHEAD: _Ahead | None = None


def _start_worker(parent: int) -> None:
    start_child(parent)  # Ctrl+C is for the parent; gone with it
    # Deciding leaves no reference cycles (a collection after 20,000 decisions finds
    # nothing): what a worker drops, the profiles its windows held included, reference
    # counting frees. The collector's passes, walking every profile still held again and
    # again, took a fifth of a worker's time at a million records (a tenth at 100,000).
    # It runs between chunks instead, now and then: a bound for a cycle made all the same.
    gc.disable()
    ahead = _AHEAD
    assert ahead is not None
    database = ahead.service.database
    # The parent's connections stay the parent's: this process opens its own (only read
    # for block keys the index holds stale).
    database.dispose(close=False)
    session = database.read().__enter__()  # held until the worker process ends
    ahead.replay = _Replay(ahead.service, MatchStore(session), ahead.windows, ahead.arrivals)


def _guessed(guess: array[int]) -> Callable[[int, int], int]:
    def cluster(seq: int, _: int) -> int:
        return guess[seq]

    return cluster


def _decide_ahead(bounds: tuple[int, int]) -> list[_Outcome]:
    """Decide the live records with sequence numbers in ``[lo, hi)``, taking every earlier
    record's cluster from ``guess``; a worker's chunks come in order."""
    ahead = _AHEAD
    assert ahead is not None
    replay = ahead.replay
    assert replay is not None
    lo, hi = bounds
    state = ahead.arrivals.state
    cluster = _guessed(ahead.arrivals.guess)
    out: list[_Outcome] = []
    for seq in range(lo, hi):
        if state[seq] == _LIVE:
            kept = replay.decide(seq, cluster)
            out.append((seq, replay.last_candidates, kept))
    ahead.chunks += 1
    if ahead.chunks % _COLLECT_EVERY == 0:
        gc.collect()
    return out


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
    def read(cls, store: MatchStore, config: MatchConfig, limit: int) -> _Windows:
        """``limit``: a weak key's records after the first ``limit`` get no window."""
        self = cls(store.last_seq() + 1)
        self.max_phone_records = config.max_phone_records
        seqs, start, key_hash, last_use = self.seqs, self.start, self.key_hash, self.last_use
        # (Millions of rows: the per-row work is left to array and range, which loop in C.)
        for key, group in store.block_groups():
            first = len(seqs)
            n = len(group)
            seqs.extend(group)
            if n == 1:
                start.append(first)
                key_hash.append(hash(key))
                continue
            key_hash.extend(repeat(hash(key), n))
            strong = is_strong(key)
            width = config.strong_window if strong else config.window
            # Positions (earlier records of the key) that still get a window: position i's
            # window starts at max(0, i - width); the others' windows are empty.
            windowed = n if strong else min(n, limit)
            head = min(width + 1, windowed)
            start.extend(repeat(first, head))
            start.extend(range(first + 1, first + windowed - width))
            start.extend(range(first + windowed, first + n))
            # A record is in the windows of the ``width`` records of its key after it: the
            # last of them is ``width`` positions on, or the last windowed one.
            if windowed > 1:
                ends = group[width:windowed] if windowed > width else []
                ends.extend(repeat(group[windowed - 1], windowed - 1 - len(ends)))
                for seq, last in zip(group, ends, strict=False):  # (ends is shorter)
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
