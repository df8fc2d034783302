"""The decision for one incoming record, shared by inline matching (ingest) and the batch
re-run, so both give the same result on the same data.

The incoming record is scored against every candidate record (earlier records sharing a block
key); candidates are grouped by the customer they belong to. A customer is *linked* when a
candidate shares a strong identifier or scores at least the link threshold, and nothing
clearly disagrees (different birth dates or given names across the customer's candidates —
a family sharing an e-mail or a landline). Otherwise a probable customer becomes a *merge
suggestion* with its evidence, and the record starts a new customer.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from customer_card.matching.compare import (
    ADDRESS,
    CARD,
    EMAIL,
    FAMILY,
    GIVEN,
    HANDLE,
    PHONE,
    SOCIAL,
    Comparison,
    compare,
)
from customer_card.matching.config import MatchConfig
from customer_card.matching.link import conflict
from customer_card.matching.model import Model, Score
from customer_card.matching.profile import Profile

C = TypeVar("C", bound=Hashable)

# Strong identifiers, strongest first, to choose among customers that both qualify.
LINK_STRENGTH = {"crm_id": 5, "loyalty_card": 4, "social": 3, "email": 2, "phone": 1}
_STRONG_FIELDS = (("social", SOCIAL), ("email", EMAIL), ("phone", PHONE))
_IDENTIFIER_FIELDS = frozenset({CARD, SOCIAL, EMAIL, PHONE, HANDLE, ADDRESS})
# A suggestion's probability always shows it is below the link threshold.
_BELOW_LINK = 1e-4


@dataclass(frozen=True, slots=True)
class Candidate(Generic[C]):
    key: int  # the candidate record's match sequence number
    cluster: C  # the customer it belongs to
    profile: Profile
    ref: tuple[str, str]  # (source, source_id), for the evidence


@dataclass(frozen=True, slots=True)
class PairScore:
    score: Score
    comparison: Comparison
    strong: tuple[str, ...]  # kinds of strong identifiers the two records share

    @property
    def probability(self) -> float:
        return self.score.probability


@dataclass(frozen=True, slots=True)
class Proposal(Generic[C]):
    cluster: C
    probability: float
    reason: str
    evidence: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Decision(Generic[C]):
    link: Proposal[C] | None  # None: a new customer
    suggestions: tuple[Proposal[C], ...] = field(default=())


class Matcher:
    def __init__(self, config: MatchConfig, model: Model | None = None) -> None:
        self.config = config
        self.model = model or Model(config)
        self._names = (config.fields[GIVEN], config.fields[FAMILY])

    def pair(
        self, a: Profile, b: Profile, population: int, weak_phones: Collection[str] = ()
    ) -> PairScore:
        """Score two records; ``population`` is the number of records ``a`` is matched
        against (the prior of each pair depends on it)."""
        comparison = compare(a, b, self._names)
        strong = [kind for kind, index in _STRONG_FIELDS if comparison.levels[index] == 1]
        if comparison.levels[CARD] == 1:
            strong.extend(sorted({x.partition(":")[0] for x in set(a.ids) & set(b.ids)}))
        if "phone" in strong and set(a.phones) & set(b.phones) <= set(weak_phones):
            strong.remove("phone")  # a number shared by too many records proves nothing
        score = self.model.score(comparison.levels, population)
        return PairScore(score, comparison, tuple(strong))

    def decide(
        self,
        incoming: Profile,
        candidates: Sequence[Candidate[C]],
        population: int,
        weak_phones: Collection[str] = (),
    ) -> Decision[C]:
        by_cluster: dict[C, list[tuple[Candidate[C], PairScore]]] = {}
        for candidate in candidates:
            scored = self.pair(incoming, candidate.profile, population, weak_phones)
            by_cluster.setdefault(candidate.cluster, []).append((candidate, scored))

        identity = incoming.identity()
        linkable: list[tuple[tuple[int, float, int], Proposal[C]]] = []
        suggestions: list[Proposal[C]] = []
        for order, (cluster, members) in enumerate(by_cluster.items()):
            best_candidate, best = max(members, key=lambda cs: (cs[1].probability, -cs[0].key))
            strong = sorted(
                {kind for _, s in members for kind in s.strong}, key=lambda k: -LINK_STRENGTH[k]
            )
            # Every compared record of the customer must agree: one clear disagreement (a
            # sister's given name, a son's birth date) keeps the record apart.
            why = next(
                (w for c, _ in members if (w := conflict(identity, c.profile.identity()))), None
            )
            evidence = _evidence(best_candidate, best, strong, why)
            if why is None and (strong or best.probability >= self.config.link_threshold):
                reason = (
                    "shares " + ", ".join(_LABELS[k] for k in strong)
                    if strong
                    else f"probable match ({best.probability:.3f})"
                )
                rank = (max((LINK_STRENGTH[k] for k in strong), default=0), best.probability)
                linkable.append(
                    (
                        (*rank, -order),
                        Proposal(cluster, 1.0 if strong else best.probability, reason, evidence),
                    )
                )
            elif strong:
                # Shared identifier, different person by the rest: a household's e-mail or
                # landline (and its address) explain what is shared, so the probability
                # is that of the personal fields alone.
                levels = tuple(
                    0 if i in _IDENTIFIER_FIELDS else level
                    for i, level in enumerate(best.comparison.levels)
                )
                rest = self.model.score(levels, population).probability
                probability = min(rest, self.config.link_threshold - _BELOW_LINK)
                shared = ", ".join(_LABELS[k] for k in strong)
                suggestions.append(
                    Proposal(cluster, probability, f"shares {shared} but {why}", evidence)
                )
            elif why is None and best.probability >= self.config.suggest_threshold:
                # (A clear disagreement without a shared identifier is another person at
                # the same address or with the same name: nothing to review.)
                probability = min(best.probability, self.config.link_threshold - _BELOW_LINK)
                reason = f"possible match ({best.probability:.3f})"
                suggestions.append(Proposal(cluster, probability, reason, evidence))

        if not linkable:
            return Decision(None, tuple(suggestions))
        linkable.sort(key=lambda item: item[0], reverse=True)
        chosen = linkable[0][1]
        # Other customers this record would link to: the same person twice, for a supervisor.
        for _, other in linkable[1:]:
            suggestions.append(
                Proposal(
                    other.cluster,
                    self.config.link_threshold - _BELOW_LINK,
                    f"also {other.reason}",
                    other.evidence,
                )
            )
        return Decision(chosen, tuple(suggestions))


_LABELS = {k: k for k in LINK_STRENGTH}


def _evidence(
    candidate: Candidate[Any], best: PairScore, strong: list[str], why: str | None
) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "probability": round(best.probability, 6),
        "weight": round(best.score.weight, 2),
        "record": {"source": candidate.ref[0], "source_id": candidate.ref[1]},
        "fields": [e.as_dict() for e in best.score.evidence],
    }
    if strong:
        evidence["shared"] = strong
    if best.comparison.swapped:
        evidence["names_swapped"] = True
    if why:
        evidence["conflict"] = why
    return evidence
