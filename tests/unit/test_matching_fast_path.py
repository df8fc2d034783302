"""The matcher's fast path (weights without evidence, cached name levels, name weights once
per decision) gives exactly what the full computation gives: same floats, same evidence."""

from __future__ import annotations

import itertools
import random

from customer_card import paths
from customer_card.matching.compare import (
    Comparer,
    cached_name_reader,
    compare,
    compare_weighed,
    name_weights,
)
from customer_card.matching.config import FIELDS, load_config
from customer_card.matching.decide import Candidate, Matcher
from customer_card.matching.frequency import Frequencies
from customer_card.matching.model import Model
from customer_card.matching.profile import Profile, profile_of
from sync.demo import DemoConfig, DemoGenerator
from sync.records import RecordKind

CONFIG = load_config(paths.resources_dir() / "matching.toml")


def _demo_profiles(customers: int = 120) -> list[Profile]:
    records = DemoGenerator(DemoConfig(customers=customers, seed=7)).records()
    return [
        profile_of(dict(r.fields or {}), "FR")
        for r in records
        if r.kind == RecordKind.CUSTOMER and not r.deleted
    ]


def test_total_is_the_weight_score_gives_bit_for_bit() -> None:
    model = Model(CONFIG)
    rng = random.Random(3)
    for _ in range(2000):
        levels = tuple(rng.randint(0, len(f.levels)) for f in CONFIG.fields)
        population = rng.choice((0, 10, 5_000, 1_000_000))
        overrides = {i: rng.uniform(-8.0, 12.0) for i in rng.sample(range(2), rng.randint(0, 2))}
        for extra in (None, overrides):
            score = model.score(levels, population, extra)
            assert model.total(levels, model.prior_weight(population), extra) == score.weight


def test_compare_with_weight_tables_is_compare() -> None:
    profiles = _demo_profiles(60)
    names = (CONFIG.fields[0], CONFIG.fields[1])
    tables = name_weights(names)
    for a, b in itertools.islice(itertools.permutations(profiles, 2), 4000):
        assert compare_weighed(a, b, tables) == compare(a, b, names)


def test_one_comparer_for_many_records_is_compare() -> None:
    """A comparer made once for an incoming record (what it remembers: the name levels of
    each pair of names, its handles against each name) compares every record as ``compare``
    does, in any order and with names repeating."""
    profiles = _demo_profiles(60)
    names = (CONFIG.fields[0], CONFIG.fields[1])
    reader = cached_name_reader(name_weights(names))
    rng = random.Random(5)
    for a in profiles:
        comparer = Comparer(a, reader)
        for b in rng.sample(profiles, 40) * 2:
            assert comparer(b) == compare(a, b, names)


def test_pair_scores_explain_their_weight_exactly() -> None:
    """A pair's weight and probability (fast path) are those of its evidence (full path)."""
    profiles = _demo_profiles()
    matcher = Matcher(CONFIG)
    counts = Frequencies()
    counts.add_all(profiles)
    for a, b in itertools.islice(itertools.permutations(profiles, 2), 3000):
        for scored in (matcher.pair(a, b, 50_000), matcher.pair(a, b, 50_000, counts=counts)):
            score = scored.score
            assert score.weight == scored.weight
            assert score.probability == scored.probability
            assert len(scored.comparison.levels) == len(FIELDS)


def test_decision_evidence_is_that_of_the_best_candidate() -> None:
    """Evidence is built only for what a decision shows, and it is the full evidence of the
    best-scoring candidate of that customer."""
    profiles = _demo_profiles()
    matcher = Matcher(CONFIG)
    counts = Frequencies()
    shown = 0
    for seq, incoming in enumerate(profiles):
        earlier = [Candidate(k, k, p, ("demo", str(k))) for k, p in enumerate(profiles[:seq])]
        candidates = earlier[-25:]
        decision = matcher.decide(incoming, candidates, seq, (), counts)
        counts.add(incoming)
        proposals = [decision.link] if decision.link else []
        for proposal in [*proposals, *decision.suggestions]:
            shown += 1
            record = int(proposal.evidence["record"]["source_id"])
            fields = proposal.evidence["fields"]
            assert fields
            assert all({"field", "level", "weight"} == set(f) for f in fields)
            assert any(c.key == record and c.cluster == proposal.cluster for c in candidates)
    assert shown > 10
