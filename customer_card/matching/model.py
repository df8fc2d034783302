"""The Fellegi-Sunter match model: per-field agreement weights log2(m/u) added to the prior
log-odds give a match probability; m, u and the prior can be estimated from unlabelled
candidate pairs by expectation-maximisation (EM)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from customer_card.matching.config import FieldWeights, MatchConfig

_FLOOR = 1e-6  # no level is ever impossible: keeps every weight finite


@dataclass(frozen=True, slots=True)
class FieldEvidence:
    field: str
    level: str
    weight: float  # bits of evidence; positive for agreement

    def as_dict(self) -> dict[str, object]:
        return {"field": self.field, "level": self.level, "weight": round(self.weight, 2)}


@dataclass(frozen=True, slots=True)
class Score:
    probability: float
    weight: float  # total log2 odds, prior included
    evidence: tuple[FieldEvidence, ...]  # the fields that said something


class Model:
    def __init__(self, config: MatchConfig) -> None:
        self.config = config
        self.fields = config.fields
        # Weights by (field, level), computed once: scoring is on the hot path.
        self._weights = tuple(
            tuple(f.weight(level) for level in range(len(f.levels) + 1)) for f in config.fields
        )

    def prior_weight(self, earlier_records: int) -> float:
        prior = self.config.prior(earlier_records)
        return math.log2(prior / (1.0 - prior))

    def score(
        self,
        levels: tuple[int, ...],
        earlier_records: int,
        overrides: Mapping[int, float] | None = None,
    ) -> Score:
        """``overrides`` replaces the weight of some fields (by index): term-frequency
        adjusted name agreements."""
        total = self.prior_weight(earlier_records)
        evidence: list[FieldEvidence] = []
        for index, level in enumerate(levels):
            if level:
                w = self._weights[index][level]
                if overrides and index in overrides:
                    w = overrides[index]
                total += w
                f = self.fields[index]
                evidence.append(FieldEvidence(f.name, f.levels[level - 1], w))
        return Score(probability(total), total, tuple(evidence))

    def total(
        self,
        levels: tuple[int, ...],
        prior_weight: float,
        overrides: Mapping[int, float] | None = None,
    ) -> float:
        """The total weight ``score`` gives (the same sum, in the same order, so the same
        float) without its evidence: what comparing every candidate needs; the evidence is
        built (``score``) only for the pairs a decision shows."""
        total = prior_weight
        weights = self._weights
        if overrides:
            for index, level in enumerate(levels):
                if level:
                    total += overrides[index] if index in overrides else weights[index][level]
        else:
            for index, level in enumerate(levels):
                if level:
                    total += weights[index][level]
        return total

    def weight(self, levels: tuple[int, ...], earlier_records: int) -> float:
        return self.prior_weight(earlier_records) + sum(
            self._weights[i][level] for i, level in enumerate(levels) if level
        )


def probability(log2_odds: float) -> float:
    if log2_odds > 60:
        return 1.0
    if log2_odds < -60:
        return 0.0
    return float(1.0 / (1.0 + 2.0 ** (-log2_odds)))


@dataclass(frozen=True, slots=True)
class Estimate:
    fields: tuple[FieldWeights, ...]
    prior: float
    iterations: int
    converged: bool


def estimate(
    vectors: Iterable[tuple[int, ...]],
    start: tuple[FieldWeights, ...],
    prior: float,
    *,
    fixed_u: bool = False,
    max_iterations: int = 200,
    tolerance: float = 1e-6,
    m_prior_share: float = 0.0,
) -> Estimate:
    """EM for the two-class (match / non-match) latent model with conditionally independent
    fields; a missing value (level 0) drops out of both likelihoods.

    ``fixed_u`` returns the u probabilities of ``start`` (u from random pairs, which are
    almost all non-matches) with the m and prior estimated here. The non-matches among
    candidate pairs still get their own u during EM: blocking brings together records that
    agree (namesakes, households), so with random-pair u every candidate pair would look
    like a match and EM collapses to a prior of 1.

    ``m_prior_share`` adds a Dirichlet prior on m centred on ``start``'s m, worth that share
    of the pairs: it keeps the match class on people rather than on households (records
    sharing a family name, an address and a landline), the other cluster candidate pairs
    form."""
    patterns = Counter(vectors)
    if not patterns:
        return Estimate(start, prior, 0, True)
    m = [list(f.m) for f in start]
    u = [list(f.u) for f in start]
    lam = prior
    total = sum(patterns.values())
    pseudo = [[m_prior_share * total * x for x in f.m] for f in start]
    converged = False
    iteration = 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007 - reported below
        m_counts = [list(p) for p in pseudo]
        u_counts = [[0.0] * len(f.levels) for f in start]
        match_mass = 0.0
        for levels, n in patterns.items():
            log_m = math.log(lam)
            log_u = math.log(1.0 - lam)
            for i, level in enumerate(levels):
                if level:
                    log_m += math.log(m[i][level - 1])
                    log_u += math.log(u[i][level - 1])
            g = 1.0 / (1.0 + math.exp(min(700.0, log_u - log_m)))  # P(match | pattern)
            match_mass += n * g
            for i, level in enumerate(levels):
                if level:
                    m_counts[i][level - 1] += n * g
                    u_counts[i][level - 1] += n * (1.0 - g)
        new_lam = min(1.0 - _FLOOR, max(_FLOOR, match_mass / total))
        change = abs(new_lam - lam)
        lam = new_lam
        for i in range(len(start)):
            new_m = _normalised(m_counts[i], m[i])
            change = max(change, *(abs(x - y) for x, y in zip(new_m, m[i], strict=True)))
            m[i] = new_m
            new_u = _normalised(u_counts[i], u[i])
            change = max(change, *(abs(x - y) for x, y in zip(new_u, u[i], strict=True)))
            u[i] = new_u
        if change < tolerance:
            converged = True
            break
    fields = tuple(
        FieldWeights(f.name, f.levels, tuple(m[i]), f.u if fixed_u else tuple(u[i]))
        for i, f in enumerate(start)
    )
    return Estimate(fields, lam, iteration, converged)


def _normalised(counts: list[float], previous: list[float]) -> list[float]:
    total = sum(counts)
    if total <= 0:
        return previous
    floored = [max(_FLOOR, c / total) for c in counts]
    scale = sum(floored)
    return [v / scale for v in floored]


def u_from_random_pairs(
    vectors: Iterable[tuple[int, ...]], start: tuple[FieldWeights, ...]
) -> tuple[FieldWeights, ...]:
    """u probabilities from comparisons of random record pairs (nearly all non-matches);
    a level never seen keeps a small share so its weight stays finite."""
    counts = [[0.5] * len(f.levels) for f in start]
    for levels in vectors:
        for i, level in enumerate(levels):
            if level:
                counts[i][level - 1] += 1.0
    return tuple(
        FieldWeights(f.name, f.levels, f.m, tuple(_normalised(counts[i], list(f.u))))
        for i, f in enumerate(start)
    )
