"""The cache schema as SQLAlchemy 2.0 typed ORM models.

Migrations under ``store/migrations`` are the source of truth for the file on disk; these
models must describe the same tables (a test compares them). Money is stored in integer
cents, datetimes in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC text."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the cache; attach a timezone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        datetime: UTCDateTime,
        date: Date,
    }


class Customer(Base):
    """The golden record: one real person, built from every linked source record."""

    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    given_name: Mapped[str] = mapped_column(String(120), default="")
    family_name: Mapped[str] = mapped_column(String(120), default="")
    birth_date: Mapped[date | None]
    language: Mapped[str | None] = mapped_column(String(8))
    city: Mapped[str | None] = mapped_column(String(120))
    postcode: Mapped[str | None] = mapped_column(String(16))
    loyalty_tier: Mapped[str | None] = mapped_column(String(32))
    loyalty_card: Mapped[str | None] = mapped_column(String(64))
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    lifetime_value_cents: Mapped[int] = mapped_column(Integer, default=0)
    order_count: Mapped[int] = mapped_column(Integer, default=0)
    last_purchase_at: Mapped[datetime | None]
    last_contact_at: Mapped[datetime | None]
    customer_since: Mapped[date | None]
    followers: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_customer_status", "status"),
        Index("ix_customer_merged_into", "merged_into"),  # (migration 0015)
    )


class SourceRecord(Base):
    """Cross-reference: a company system's customer record and its golden customer."""

    __tablename__ = "source_record"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16), default="customer")
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    fields: Mapped[dict[str, Any]]
    source_updated_at: Mapped[datetime | None]
    content_hash: Mapped[str] = mapped_column(String(32))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    link_reason: Mapped[str] = mapped_column(String(200), default="")
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_source_record_source"),
        Index("ix_source_record_customer", "customer_id"),
    )


class ContactPoint(Base):
    __tablename__ = "contact_point"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    source_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id"))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(300))
    normalised: Mapped[str] = mapped_column(String(300))
    valid: Mapped[bool] = mapped_column(Boolean, default=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    label: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_contact_point_customer", "customer_id"),
        Index("ix_contact_point_lookup", "kind", "normalised"),
        Index("ix_contact_point_record", "source_record_id"),
    )


class Identifier(Base):
    """Strong identifiers used for deterministic linking (normalised values)."""

    __tablename__ = "identifier"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    source_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id"))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(300))

    __table_args__ = (
        Index("ix_identifier_lookup", "kind", "value"),
        Index("ix_identifier_customer", "customer_id"),
        Index("ix_identifier_record", "source_record_id"),
    )


class SocialProfile(Base):
    __tablename__ = "social_profile"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    source_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id"))
    network: Mapped[str] = mapped_column(String(32))
    handle: Mapped[str] = mapped_column(String(120))
    followers: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_social_profile_customer", "customer_id"),
        Index("ix_social_profile_record", "source_record_id"),
    )


class Preference(Base):
    __tablename__ = "preference"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    source_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id"))
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(300))

    __table_args__ = (
        Index("ix_preference_customer", "customer_id"),
        Index("ix_preference_record", "source_record_id"),
    )


class Consent(Base):
    __tablename__ = "consent"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    source_record_id: Mapped[int] = mapped_column(ForeignKey("source_record.id"))
    source: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(32))
    collected_at: Mapped[datetime | None]
    source_updated_at: Mapped[datetime | None]
    content_hash: Mapped[str] = mapped_column(String(32))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_consent_source"),
        Index("ix_consent_customer", "customer_id"),
    )


class Interaction(Base):
    """One event of the history on any channel; keyed by its own (source, source_id)."""

    __tablename__ = "interaction"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    source_record_id: Mapped[int | None] = mapped_column(ForeignKey("source_record.id"))
    source: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str | None] = mapped_column(String(16))
    occurred_at: Mapped[datetime]
    summary: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(16))
    amount_cents: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
    content_hash: Mapped[str] = mapped_column(String(32))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who recorded it, for what advisors write in the app (migration 0005).
    author: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_interaction_source"),
        # Newest-first keyset paging: WHERE customer_id = ? AND (occurred_at, id) < (?, ?)
        Index("ix_interaction_timeline", "customer_id", "occurred_at", "id"),
        Index("ix_interaction_record", "source_record_id"),
        # Open tickets and orders in progress, counted on every card (migration 0002).
        Index("ix_interaction_open", "customer_id", "status", "deleted"),
        Index("ix_interaction_channel", "customer_id", "deleted", "channel", "occurred_at"),
    )


class OrderLine(Base):
    """One line of an order (an interaction): what was bought, how many, at what price; a
    negative quantity is a return. Replaced with the order's new version; follows the order
    when a merge moves it to another customer (migration 0010)."""

    __tablename__ = "order_line"

    interaction_id: Mapped[int] = mapped_column(ForeignKey("interaction.id"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
    category: Mapped[str | None] = mapped_column(String(64))

    # Clustered by order: an order's lines are read together, from one page.
    __table_args__ = ({"sqlite_with_rowid": False},)


class Note(Base):
    __tablename__ = "note"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    text: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_note_customer", "customer_id", "created_at"),)


class ContactCorrection(Base):
    """A contact point an advisor corrected in the app; shown over the synced values until the
    company systems send the corrected value back (migration 0005)."""

    __tablename__ = "contact_correction"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    kind: Mapped[str] = mapped_column(String(16))
    old_value: Mapped[str | None] = mapped_column(String(300))
    old_normalised: Mapped[str | None] = mapped_column(String(300))
    new_value: Mapped[str] = mapped_column(String(300))
    new_normalised: Mapped[str] = mapped_column(String(300))
    author: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_contact_correction_customer", "customer_id", "created_at"),)


class MergeSuggestion(Base):
    __tablename__ = "merge_suggestion"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_a: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    customer_b: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    probability: Mapped[float]
    reason: Mapped[str] = mapped_column(String(200))
    evidence: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("customer_a", "customer_b", name="uq_merge_suggestion_pair"),
        Index("ix_merge_suggestion_status", "status"),
        # A card counts its pending suggestions from either side.
        Index("ix_merge_suggestion_a", "customer_a", "status"),
        Index("ix_merge_suggestion_b", "customer_b", "status"),
    )


class MergeEvent(Base):
    """A merge and everything needed to undo it exactly."""

    __tablename__ = "merge_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    merged_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(200))
    snapshot: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None]

    __table_args__ = (  # (migration 0015)
        Index("ix_merge_event_survivor", "survivor_id"),
        Index("ix_merge_event_merged", "merged_id"),
    )


class MatchRecord(Base):
    """A customer record's match profile (normalised values to compare), in arrival order:
    ``seq`` orders the candidates of a block (migration 0003)."""

    __tablename__ = "match_record"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(128))
    profile: Mapped[str] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("source", "source_id", name="uq_match_record_source"),)


class MatchKey(Base):
    """Block keys: records sharing one are compared (newest first, within a window)."""

    __tablename__ = "match_key"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[int] = mapped_column(ForeignKey("match_record.seq"), primary_key=True)

    __table_args__ = (Index("ix_match_key_seq", "seq"), {"sqlite_with_rowid": False})


class NameFrequency(Base):
    """How many match-indexed records carry a name (``g:`` given, ``f:`` family, ``n:`` the
    pair; ``#`` counts the records): term-frequency name weights (migration 0006)."""

    __tablename__ = "name_frequency"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)

    __table_args__ = ({"sqlite_with_rowid": False},)


class AppUser(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GoldenOverride(Base):
    """A golden field pinned by a supervisor: it wins over survivorship, through syncs and
    merges, until it is cleared (migration 0008)."""

    __tablename__ = "golden_override"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), primary_key=True)
    field: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(120))
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime]


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]]

    __table_args__ = (Index("ix_audit_log_customer", "customer_id", "at"),)


class SyncState(Base):
    """A connector's resumable state, committed with the data it covers."""

    __tablename__ = "sync_state"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class Quarantine(Base):
    """A record that could not be used, kept with its raw content and the reason."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str | None] = mapped_column(String(16))
    raw: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_quarantine_source", "source", "source_id"),)


class Outbox(Base):
    """Changes made in the app, queued for the company systems."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    target_source: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    sent_at: Mapped[datetime | None]


class NameToken(Base):
    """Distinct folded name tokens: the vocabulary search corrects typos against."""

    __tablename__ = "name_token"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    __table_args__ = ({"sqlite_with_rowid": False},)


# Full-text index over what people search by; rowid = customer.id. It keeps its text (search
# re-ranks on the indexed name variants); the whole file is encrypted, index included.
SEARCH_FTS_DDL = (
    "CREATE VIRTUAL TABLE customer_search USING fts5("
    "names, emails, phones, cards, handles, city, "
    "tokenize='trigram remove_diacritics 1')"
)
# The same names as words (rowid = customer.id): typo-tolerant search asks for whole known
# spellings, answered from the words' short posting lists instead of trigram intersections.
SEARCH_WORDS_DDL = (
    "CREATE VIRTUAL TABLE customer_search_words USING fts5("
    "names, tokenize='unicode61 remove_diacritics 2', prefix='2 3')"
)
