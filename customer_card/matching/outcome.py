"""What a decision (:mod:`customer_card.matching.decide`) is given and gives: the candidate
records, and the customer linked or suggested with its evidence.

Kept apart from ``decide`` because they are generic over the kind of cluster (a customer id
inline, a record number in the batch replay): ``decide`` is compiled by mypyc where a C
compiler is available (:mod:`customer_card.native`), which compiles no generic dataclass.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from customer_card.matching.profile import Profile

C = TypeVar("C", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Candidate(Generic[C]):
    key: int  # the candidate record's match sequence number
    cluster: C  # the customer it belongs to
    profile: Profile
    ref: tuple[str, str]  # (source, source_id), for the evidence


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
