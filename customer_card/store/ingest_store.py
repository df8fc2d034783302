"""Set-based reads and writes for ingest: a batch of records costs a handful of statements.

Takes the session of the caller's transaction; returns plain values, never ORM rows.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from customer_card.store import models as m

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_IN_CHUNK = 500  # stay well under SQLite's bound-parameter limit


def new_public_id() -> str:
    return "C" + "".join(secrets.choice(_CROCKFORD) for _ in range(8))


def _chunks(values: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True, slots=True)
class StoredRecord:
    id: int
    customer_id: int
    content_hash: str
    deleted: bool


@dataclass(frozen=True, slots=True)
class StoredItem:
    id: int
    content_hash: str
    customer_id: int


@dataclass(frozen=True, slots=True)
class LinkedFields:
    customer_id: int
    source: str
    updated_at: datetime | None
    fields: Mapping[str, Any]
    record_id: int


@dataclass(frozen=True, slots=True)
class GoldenUpdate:
    customer_id: int
    given_name: str
    family_name: str
    birth_date: date | None
    language: str | None
    city: str | None
    postcode: str | None
    loyalty_tier: str | None
    loyalty_card: str | None
    vip: bool
    customer_since: date | None
    followers: int


@dataclass(frozen=True, slots=True)
class SearchRow:
    customer_id: int
    names: str
    emails: str
    phones: str
    cards: str
    handles: str
    city: str


# Statements used once per record are built once: per-call construction dominated ingest time.
def _table(model: type[m.Base]) -> Table:
    return cast(Table, model.__table__)


_SR = _table(m.SourceRecord)
_CU = _table(m.Customer)
_UPDATE_GOLDEN = (
    update(_CU)
    .where(_CU.c.id == bindparam("cid"))
    .values(
        {
            name: bindparam(name)
            for name in (
                "given_name",
                "family_name",
                "birth_date",
                "language",
                "city",
                "postcode",
                "loyalty_tier",
                "loyalty_card",
                "vip",
                "customer_since",
                "followers",
                "updated_at",
            )
        }
    )
)
_UPDATE_ACTIVITY = (
    update(_CU)
    .where(_CU.c.id == bindparam("cid"))
    .values(
        lifetime_value_cents=bindparam("value"),
        order_count=bindparam("orders"),
        last_purchase_at=bindparam("last_purchase"),
        last_contact_at=bindparam("last_contact"),
    )
)


_INSERT_SOURCE_RECORD_SQL = (
    "INSERT INTO source_record (source, source_id, kind, customer_id, fields, source_updated_at, "
    "content_hash, deleted, link_reason, first_seen_at, last_seen_at) "
    "VALUES (?, ?, 'customer', ?, ?, ?, ?, 0, ?, ?, ?) RETURNING id"
)
_INSERT_CUSTOMER_SQL = (
    "INSERT INTO customer (public_id, given_name, family_name, vip, lifetime_value_cents, "
    "order_count, followers, status, created_at, updated_at) "
    "VALUES (?, '', '', 0, 0, 0, 0, 'active', ?, ?) RETURNING id"
)
_PUBLIC_IDS_AT_ONCE = 256  # public ids reserved per look-up

_INSERT_INTERACTION = (
    "INSERT INTO interaction (customer_id, source_record_id, source, source_id, channel, kind, "
    "direction, occurred_at, summary, details, status, amount_cents, currency, content_hash, "
    "deleted, author) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


_INSERT_CONSENT = (
    "INSERT INTO consent (customer_id, source_record_id, source, source_id, purpose, status, "
    "channel, collected_at, source_updated_at, content_hash, deleted) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _optional_sqlite_datetime(value: datetime | None) -> str | None:
    return None if value is None else sqlite_datetime(value)


def sqlite_datetime(value: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime stores for an aware datetime (naive UTC)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the cache; attach a timezone")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class IngestStore:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.conn = session.connection()
        # Statements run once per customer record go to the driver's own cursor, inside the
        # same transaction: SQLAlchemy's per-call bookkeeping cost more than SQLite.
        self._cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        self._free_public_ids: list[str] = []

    # --- source records (the cross-reference) ---------------------------------------------

    def source_records(self, source: str, source_ids: Collection[str]) -> dict[str, StoredRecord]:
        found: dict[str, StoredRecord] = {}
        t = m.SourceRecord.__table__
        for chunk in _chunks(sorted(source_ids)):
            rows = self.session.execute(
                select(t.c.source_id, t.c.id, t.c.customer_id, t.c.content_hash, t.c.deleted)
                .where(t.c.source == source)
                .where(t.c.source_id.in_(chunk))
            )
            for sid, rid, cid, digest, deleted in rows:
                found[sid] = StoredRecord(rid, cid, digest, bool(deleted))
        return found

    def insert_source_record(
        self,
        *,
        source: str,
        source_id: str,
        customer_id: int,
        fields: Mapping[str, Any],
        updated_at: datetime | None,
        content_hash: str,
        link_reason: str,
        now: datetime,
    ) -> int:
        # Stored exactly as the models would store them: fields as JSON text (SQLAlchemy's
        # default serialiser), times as naive UTC text.
        stamp = sqlite_datetime(now)
        row = self._cursor.execute(
            _INSERT_SOURCE_RECORD_SQL,
            (
                source,
                source_id,
                customer_id,
                json.dumps(dict(fields)),
                _optional_sqlite_datetime(updated_at),
                content_hash,
                link_reason,
                stamp,
                stamp,
            ),
        ).fetchone()
        return int(row[0])

    def update_source_record(
        self,
        record_id: int,
        *,
        fields: Mapping[str, Any],
        updated_at: datetime | None,
        content_hash: str,
        deleted: bool,
        now: datetime,
    ) -> None:
        self.session.execute(
            update(m.SourceRecord)
            .where(m.SourceRecord.id == record_id)
            .values(
                fields=dict(fields),
                source_updated_at=updated_at,
                content_hash=content_hash,
                deleted=deleted,
                last_seen_at=now,
            )
        )

    def linked_fields(self, customer_ids: Collection[int]) -> dict[int, list[LinkedFields]]:
        """The live (not deleted) source records of each customer."""
        t = m.SourceRecord.__table__
        out: dict[int, list[LinkedFields]] = {cid: [] for cid in customer_ids}
        for chunk in _chunks(sorted(customer_ids)):
            rows = self.session.execute(
                select(t.c.customer_id, t.c.source, t.c.source_updated_at, t.c.fields, t.c.id)
                .where(t.c.customer_id.in_(chunk))
                .where(t.c.deleted.is_(False))
                .order_by(t.c.id)
            )
            for cid, source, updated_at, fields, rid in rows:
                out[cid].append(LinkedFields(cid, source, updated_at, fields, rid))
        return out

    # --- customers --------------------------------------------------------------------------

    def new_customer(self, now: datetime) -> int:
        """A new, empty golden customer (filled by ``update_golden``); returns its id."""
        stamp = sqlite_datetime(now)
        row = self._cursor.execute(
            _INSERT_CUSTOMER_SQL, (self._public_id(), stamp, stamp)
        ).fetchone()
        return int(row[0])

    def _public_id(self) -> str:
        """A public id no customer has: drawn at random, a few hundred checked in one query
        and kept for the next new customers of this transaction (only it adds customers)."""
        while not self._free_public_ids:
            drawn = list(dict.fromkeys(new_public_id() for _ in range(_PUBLIC_IDS_AT_ONCE)))
            marks = ",".join("?" * len(drawn))
            taken = {
                str(pid)
                for (pid,) in self._cursor.execute(
                    f"SELECT public_id FROM customer WHERE public_id IN ({marks})", drawn
                )
            }
            self._free_public_ids = [pid for pid in reversed(drawn) if pid not in taken]
        return self._free_public_ids.pop()

    def update_golden(self, updates: Sequence[GoldenUpdate], now: datetime) -> None:
        if not updates:
            return
        self.conn.execute(
            _UPDATE_GOLDEN,
            [
                {
                    "cid": g.customer_id,
                    "given_name": g.given_name,
                    "family_name": g.family_name,
                    "birth_date": g.birth_date,
                    "language": g.language,
                    "city": g.city,
                    "postcode": g.postcode,
                    "loyalty_tier": g.loyalty_tier,
                    "loyalty_card": g.loyalty_card,
                    "vip": g.vip,
                    "customer_since": g.customer_since,
                    "followers": g.followers,
                    "updated_at": now,
                }
                for g in updates
            ],
        )

    def refresh_activity(self, customer_ids: Collection[int]) -> None:
        """Recompute value and last-contact figures from the history (idempotent by design)."""
        i = m.Interaction.__table__
        params: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(customer_ids)):
            purchase = (i.c.amount_cents > 0) & i.c.deleted.is_(False)
            rows = self.conn.execute(
                select(
                    i.c.customer_id,
                    func.coalesce(func.sum(i.c.amount_cents).filter(purchase), 0),
                    func.count().filter(purchase),
                    func.max(i.c.occurred_at).filter(purchase),
                    func.max(i.c.occurred_at).filter(i.c.deleted.is_(False)),
                )
                .where(i.c.customer_id.in_(chunk))
                .group_by(i.c.customer_id)
            ).all()
            found = {row[0]: row for row in rows}
            for cid in chunk:
                _, value, orders, last_purchase, last_contact = found.get(
                    cid, (cid, 0, 0, None, None)
                )
                params.append(
                    {
                        "cid": cid,
                        "value": int(value),
                        "orders": int(orders),
                        "last_purchase": _as_utc(last_purchase),
                        "last_contact": _as_utc(last_contact),
                    }
                )
        if params:
            self.conn.execute(_UPDATE_ACTIVITY, params)

    # --- identifiers, contact points, social profiles, preferences ------------------------

    def clear_details(self, source_record_ids: Collection[int]) -> None:
        ids = sorted(source_record_ids)
        for table in (m.ContactPoint, m.Identifier, m.SocialProfile, m.Preference):
            for chunk in _chunks(ids):
                self.session.execute(delete(table).where(table.source_record_id.in_(chunk)))

    def insert_details(
        self,
        contacts: Sequence[Mapping[str, Any]],
        identifiers: Sequence[Mapping[str, Any]],
        social: Sequence[Mapping[str, Any]],
        preferences: Sequence[Mapping[str, Any]],
    ) -> None:
        for table, rows in (
            (m.ContactPoint, contacts),
            (m.Identifier, identifiers),
            (m.SocialProfile, social),
            (m.Preference, preferences),
        ):
            if rows:
                self.conn.execute(insert(_table(table)), list(rows))

    # --- interactions and consents ----------------------------------------------------------

    def interactions(self, source: str, source_ids: Collection[str]) -> dict[str, StoredItem]:
        return self._items(m.Interaction.__table__, source, source_ids)

    def consents(self, source: str, source_ids: Collection[str]) -> dict[str, StoredItem]:
        return self._items(m.Consent.__table__, source, source_ids)

    def _items(self, t: Any, source: str, source_ids: Collection[str]) -> dict[str, StoredItem]:
        found: dict[str, StoredItem] = {}
        for chunk in _chunks(sorted(source_ids)):
            rows = self.session.execute(
                select(t.c.source_id, t.c.id, t.c.content_hash, t.c.customer_id)
                .where(t.c.source == source)
                .where(t.c.source_id.in_(chunk))
            )
            for sid, iid, digest, cid in rows:
                found[sid] = StoredItem(iid, digest, cid)
        return found

    def insert_interactions(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Bulk insert at the driver: the busiest statement of a sync, run once per batch with
        plain tuples (SQLAlchemy's per-row parameter processing cost as much as SQLite)."""
        if not rows:
            return
        self.conn.exec_driver_sql(
            _INSERT_INTERACTION,
            [
                (
                    r["customer_id"],
                    r.get("source_record_id"),
                    r["source"],
                    r["source_id"],
                    r["channel"],
                    r["kind"],
                    r.get("direction"),
                    sqlite_datetime(r["occurred_at"]),
                    r.get("summary") or "",
                    r.get("details"),
                    r.get("status"),
                    r.get("amount_cents"),
                    r.get("currency"),
                    r["content_hash"],
                    1 if r.get("deleted") else 0,
                    r.get("author"),
                )
                for r in rows
            ],
        )

    def update_interactions(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.session.execute(update(m.Interaction), list(rows))

    def insert_consents(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Bulk insert at the driver with plain tuples, like interactions."""
        if not rows:
            return
        self._cursor.executemany(
            _INSERT_CONSENT,
            [
                (
                    r["customer_id"],
                    r["source_record_id"],
                    r["source"],
                    r["source_id"],
                    r["purpose"],
                    r["status"],
                    r.get("channel"),
                    _optional_sqlite_datetime(r.get("collected_at")),
                    _optional_sqlite_datetime(r.get("source_updated_at")),
                    r["content_hash"],
                    1 if r.get("deleted") else 0,
                )
                for r in rows
            ],
        )

    def update_consents(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.session.execute(update(m.Consent), list(rows))

    # --- suggestions, quarantine, sync state ----------------------------------------------

    def quarantine(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Keep each unusable record once: the same record failing again adds no new row."""
        q = m.Quarantine.__table__
        fresh = []
        for row in rows:
            known = self.session.execute(
                select(q.c.id)
                .where(q.c.source == row["source"])
                .where(
                    q.c.source_id.is_(None)
                    if row["source_id"] is None
                    else q.c.source_id == row["source_id"]
                )
                .where(q.c.raw == row["raw"])
                .where(q.c.resolved_at.is_(None))
                .limit(1)
            ).first()
            if known is None:
                fresh.append(row)
        if fresh:
            self.session.execute(insert(m.Quarantine), fresh)

    def sources_in_quarantine(self) -> set[str]:
        """Sources with unresolved quarantine rows (usually none: then nothing to resolve)."""
        q = m.Quarantine
        rows = self.session.execute(select(q.source).where(q.resolved_at.is_(None)).distinct())
        return {str(source) for (source,) in rows}

    def resolve_quarantine(
        self, source: str, kind: str, source_ids: Collection[str], now: datetime
    ) -> None:
        """A record that now ingests cleanly is no longer in quarantine."""
        for chunk in _chunks(sorted(source_ids)):
            self.session.execute(
                update(m.Quarantine)
                .where(m.Quarantine.source == source)
                .where(m.Quarantine.kind == kind)
                .where(m.Quarantine.source_id.in_(chunk))
                .where(m.Quarantine.resolved_at.is_(None))
                .values(resolved_at=now)
            )

    def save_state(self, source: str, stream: str, state: Mapping[str, Any], now: datetime) -> None:
        row = self.session.get(m.SyncState, (source, stream))
        if row is None:
            self.session.add(
                m.SyncState(source=source, stream=stream, state=dict(state), updated_at=now)
            )
        else:
            row.state = dict(state)
            row.updated_at = now
        self.session.flush()

    def load_state(self, source: str, stream: str) -> dict[str, Any] | None:
        row = self.session.get(m.SyncState, (source, stream))
        return None if row is None else dict(row.state)

    # --- search index ------------------------------------------------------------------------

    def reindex(self, rows: Sequence[SearchRow], tokens: Collection[str]) -> None:
        ids = [r.customer_id for r in rows]
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            self.session.connection().exec_driver_sql(
                f"DELETE FROM customer_search WHERE rowid IN ({marks})", tuple(chunk)
            )
        if rows:
            self.session.connection().exec_driver_sql(
                "INSERT INTO customer_search (rowid, names, emails, phones, cards, handles, city) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (r.customer_id, r.names, r.emails, r.phones, r.cards, r.handles, r.city)
                    for r in rows
                ],
            )
        if tokens:
            self.session.connection().exec_driver_sql(
                "INSERT OR IGNORE INTO name_token (token) VALUES (?)", [(t,) for t in tokens]
            )

    def public_ids(self, customer_ids: Collection[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for chunk in _chunks(sorted(customer_ids)):
            rows = self.session.execute(
                select(m.Customer.id, m.Customer.public_id).where(m.Customer.id.in_(chunk))
            )
            out.update({int(cid): str(pid) for cid, pid in rows})
        return out


def _as_utc(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
