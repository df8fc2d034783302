"""The customer and everything attached to it, as plain immutable dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    MERGED = "merged"
    ERASED = "erased"
    #: Every source record of this customer was deleted at its source: kept, with its history,
    #: for reference (a note or a call can still be logged), but out of search and screen pops.
    #: Back to active when one of its records comes back.
    DELETED = "deleted"


class ContactKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    ADDRESS = "address"
    SOCIAL = "social"


class IdentifierKind(StrEnum):
    LOYALTY_CARD = "loyalty_card"
    EMAIL = "email"
    PHONE = "phone"
    SOCIAL = "social"
    CRM_ID = "crm_id"


#: Interaction statuses that still need someone to act (tickets, orders, follow-ups).
OPEN_STATUSES = frozenset({"open", "pending", "new", "in_progress", "waiting"})

#: Statuses of an order that never went through, and of one sent back, compared lower-case.
CANCELLED_STATUSES = frozenset(
    {"cancelled", "canceled", "void", "voided", "failed", "rejected", "annulé", "annulée"}
)
RETURNED_STATUSES = frozenset(
    {"returned", "refunded", "retourné", "retournée", "remboursé", "remboursée"}
)
#: An order in either brought nothing in the end: its amount counts neither in the customer's
#: value nor as a purchase.
VOID_STATUSES = CANCELLED_STATUSES | RETURNED_STATUSES


def is_void(status: str | None) -> bool:
    return status is not None and status.lower() in VOID_STATUSES


class ConsentStatus(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"
    DENIED = "denied"
    UNKNOWN = "unknown"


class Role(StrEnum):
    ADVISOR = "advisor"
    SELLER = "seller"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a value came from: the system, the record's id there and when it said so."""

    source: str
    source_id: str
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Customer:
    """The golden record: one real person."""

    id: int
    public_id: str
    given_name: str
    family_name: str
    birth_date: date | None
    language: str | None
    city: str | None
    loyalty_tier: str | None
    loyalty_card: str | None
    vip: bool
    lifetime_value: Decimal
    order_count: int
    last_purchase_at: datetime | None
    last_contact_at: datetime | None
    customer_since: date | None
    followers: int
    status: CustomerStatus
    merged_into: int | None
    created_at: datetime
    updated_at: datetime

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.given_name, self.family_name) if p) or self.public_id

    @property
    def initials(self) -> str:
        letters = [p[0] for p in (self.given_name, self.family_name) if p]
        return "".join(letters).upper() or "?"


@dataclass(frozen=True, slots=True)
class ContactPoint:
    kind: ContactKind
    value: str
    normalised: str
    valid: bool
    primary: bool
    label: str | None
    provenance: tuple[Provenance, ...]
    corrected_to: str | None = None
    """Set when an advisor replaced this value locally (awaiting the source systems)."""


@dataclass(frozen=True, slots=True)
class Identifier:
    kind: IdentifierKind
    value: str
    provenance: tuple[Provenance, ...]


@dataclass(frozen=True, slots=True)
class Consent:
    purpose: str
    status: ConsentStatus
    channel: str | None
    collected_at: datetime | None
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class Preference:
    key: str
    value: str
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class SocialProfile:
    network: str
    handle: str
    followers: int
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class ChannelSummary:
    channel: str
    count: int
    last_at: datetime | None


@dataclass(frozen=True, slots=True)
class CustomerCard:
    """Everything the card shows about one customer, except the timeline (paged separately)."""

    customer: Customer
    contact_points: tuple[ContactPoint, ...]
    identifiers: tuple[Identifier, ...]
    consents: tuple[Consent, ...]
    preferences: tuple[Preference, ...]
    social: tuple[SocialProfile, ...]
    sources: tuple[Provenance, ...]
    channels: tuple[ChannelSummary, ...]
    open_interactions: int
    interaction_count: int
    pending_suggestions: int = 0
    related: tuple[RelatedCustomer, ...] = ()
    """Filled by ``CardService.related`` (a second, slower query), not by ``load``."""
    kinds: tuple[str, ...] = ()
    """The kinds of interaction in this customer's history (for the timeline filter)."""
    open_items: tuple[Interaction, ...] = ()
    """Open tickets, orders in progress and follow-ups, newest first (a few)."""

    @property
    def do_not_contact(self) -> bool:
        """True when every recorded contact consent is withdrawn or denied."""
        contact = [c for c in self.consents if c.purpose.startswith("contact")]
        return bool(contact) and all(
            c.status in (ConsentStatus.WITHDRAWN, ConsentStatus.DENIED) for c in contact
        )


@dataclass(frozen=True, slots=True)
class Interaction:
    id: int
    customer_id: int
    channel: str
    kind: str
    direction: str | None
    occurred_at: datetime
    summary: str
    details: str | None
    status: str | None
    amount: Decimal | None
    currency: str | None
    source: str
    source_id: str
    author: str | None = None
    """Who wrote it, for what advisors record in the app (notes, calls, corrections)."""


@dataclass(frozen=True, slots=True)
class RelatedCustomer:
    """Another golden customer linked to this one: same household, or maybe the same person."""

    customer_id: int
    public_id: str
    name: str
    city: str | None
    relation: str
    """``household`` (shares an e-mail, a phone or an address), ``possible_duplicate`` (a
    pending merge suggestion) or ``same_name`` (same name, no conflicting city or birth date:
    not linked yet, maybe the same person)."""
    reason: str
    """What they share, e.g. the e-mail address, or the merge suggestion's reason."""
    followers: int = 0
    lifetime_value: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class TimelineCursor:
    """Keyset position in a timeline: the last row shown, newest first."""

    occurred_at: datetime
    id: int


@dataclass(frozen=True, slots=True)
class TimelineFilter:
    channels: frozenset[str] = field(default_factory=frozenset)
    status: str | None = None
    """``open`` means every status still open (open, pending, in progress, follow-up…)."""
    kinds: frozenset[str] = field(default_factory=frozenset)
    since: datetime | None = None
    until: datetime | None = None
    """Half-open range: ``since <= occurred_at < until``."""
    text: str = ""
    """Words that must all appear in the summary or the details (case-insensitive)."""

    @property
    def empty(self) -> bool:
        return not (
            self.channels or self.status or self.kinds or self.since or self.until or self.text
        )


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result: enough to tell two namesakes apart."""

    customer_id: int
    public_id: str
    name: str
    city: str | None
    birth_year: int | None
    loyalty_tier: str | None
    vip: bool
    last_contact_at: datetime | None
    sources: tuple[str, ...]
    matched: str
    score: float
