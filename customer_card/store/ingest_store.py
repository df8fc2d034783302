"""Set-based reads and writes for ingest: a batch of records costs a handful of statements.

Takes the session of the caller's transaction; returns plain values, never ORM rows.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from customer_card.store import models as m
from customer_card.store import statuses

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_IN_CHUNK = 500  # stay well under SQLite's bound-parameter limit


def new_public_id() -> str:
    """ "C" and 8 Crockford base-32 characters: 40 random bits, 5 to a character."""
    bits = int.from_bytes(secrets.token_bytes(5))
    return "C" + "".join(_CROCKFORD[(bits >> shift) & 31] for shift in range(35, -1, -5))


def _chunks(values: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True, slots=True)
class StoredRecord:
    id: int
    customer_id: int
    content_hash: str
    deleted: bool
    updated_at: datetime | None = None  # as the source dated the version stored


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


@dataclass(slots=True)
class ActivityDelta:
    """What newly inserted interactions add to a customer's value figures."""

    customer_id: int
    value_cents: int = 0
    orders: int = 0
    last_purchase: str | None = None  # as stored: naive UTC text (see sqlite_datetime)
    last_contact: str | None = None


# A history row to insert: (customer_id, source_record_id, source, source_id, content_hash,
# deleted, the values of the record's own columns).
HistoryRow = tuple[int, int, str, str, str, bool, tuple[Any, ...]]


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


_CU = _table(m.Customer)
# The history's secondary indexes a first load may drop and build at the end. Its (source,
# source_id) key stays (ingest looks rows up by it), and so does the timeline index: a window
# open during the load (or after a killed one) reads every card through it, customer by
# customer, instead of scanning the whole history on each card.
_KEPT_DURING_LOAD = "ix_interaction_timeline"
_HISTORY_INDEXES = tuple(
    sorted(
        (i for i in _table(m.Interaction).indexes if i.name != _KEPT_DURING_LOAD),
        key=attrgetter("name"),
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
        updated_at=bindparam("now"),
    )
)
# Inserted interactions only add to the figures: no need to read the customer's history again.
# Times are compared as the naive-UTC text every writer stores (same width, so text order is
# time order).
_ADD_ACTIVITY_SQL = (
    "UPDATE customer SET "
    "lifetime_value_cents = lifetime_value_cents + :value, "
    "order_count = order_count + :orders, "
    "last_purchase_at = CASE WHEN :last_purchase IS NOT NULL AND (last_purchase_at IS NULL "
    "OR last_purchase_at < :last_purchase) THEN :last_purchase ELSE last_purchase_at END, "
    "last_contact_at = CASE WHEN :last_contact IS NOT NULL AND (last_contact_at IS NULL "
    "OR last_contact_at < :last_contact) THEN :last_contact ELSE last_contact_at END, "
    "updated_at = :now "
    "WHERE id = :cid"
)


_INSERT_SOURCE_RECORD_SQL = (
    "INSERT INTO source_record (source, source_id, kind, customer_id, fields, source_updated_at, "
    "content_hash, deleted, link_reason, first_seen_at, last_seen_at) "
    "VALUES (?, ?, 'customer', ?, ?, ?, ?, 0, ?, ?, ?) RETURNING id"
)
_UPDATE_SOURCE_RECORD_SQL = (
    "UPDATE source_record SET fields = coalesce(?, fields), source_updated_at = ?, "
    "content_hash = ?, deleted = ?, "
    "last_seen_at = ? WHERE id = ?"
)
_DETAIL_COLUMNS = {
    "contact_point": (
        "customer_id",
        "source_record_id",
        "kind",
        "value",
        "normalised",
        "valid",
        "is_primary",
        "label",
    ),
    "identifier": ("customer_id", "source_record_id", "kind", "value"),
    "social_profile": ("customer_id", "source_record_id", "network", "handle", "followers"),
    "preference": ("customer_id", "source_record_id", "key", "value"),
}
_DETAIL_TABLES = tuple(_DETAIL_COLUMNS)
_UPDATE_GOLDEN_SQL = (
    "UPDATE customer SET given_name = ?, family_name = ?, birth_date = ?, language = ?, "
    "city = ?, postcode = ?, loyalty_tier = ?, loyalty_card = ?, vip = ?, customer_since = ?, "
    "followers = ?, updated_at = ?, "
    "status = CASE WHEN status = 'deleted' THEN 'active' ELSE status END WHERE id = ?"
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

_INSERT_INTERACTION_WITH_ID = _INSERT_INTERACTION.replace(
    "INSERT INTO interaction (", "INSERT INTO interaction (id, "
).replace("VALUES (", "VALUES (?, ")


_INSERT_ORDER_LINE = (
    "INSERT INTO order_line (interaction_id, line_no, sku, name, quantity, unit_price_cents, "
    "currency, category) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

_INSERT_CONSENT = (
    "INSERT INTO consent (customer_id, source_record_id, source, source_id, purpose, status, "
    "channel, collected_at, source_updated_at, content_hash, deleted) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@lru_cache(maxsize=64)
def _by_source_id_sql(table: str, columns: str, ids: int) -> str:
    marks = ",".join("?" * ids)
    return (
        f"SELECT source_id, id, {columns} FROM {table} WHERE source = ? AND source_id IN ({marks})"
    )


def _optional_sqlite_datetime(value: datetime | None) -> str | None:
    return None if value is None else sqlite_datetime(value)


def sqlite_datetime(value: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime stores for an aware datetime (naive UTC)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the cache; attach a timezone")
    # isoformat is several times faster than strftime and writes the same text.
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:-6]  # (without "+00:00")


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
        for sid, rid, cid, digest, deleted, updated in self._by_source_id(
            "source_record",
            "customer_id, content_hash, deleted, source_updated_at",
            source,
            source_ids,
        ):
            found[sid] = StoredRecord(rid, cid, digest, bool(deleted), _as_utc(updated))
        return found

    def _by_source_id(
        self, table: str, columns: str, source: str, source_ids: Collection[str]
    ) -> Iterator[tuple[Any, ...]]:
        """(source_id, id, *columns) of the rows of ``table`` with these ids in ``source``,
        through the (source, source_id) unique index, a few hundred ids a statement."""
        for chunk in _chunks(sorted(source_ids)):
            yield from self._cursor.execute(
                _by_source_id_sql(table, columns, len(chunk)), [source, *chunk]
            )

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
        fields_json: str | None = None,
    ) -> int:
        """``fields_json``: ``json.dumps(dict(fields))`` where the caller made it already."""
        # Stored exactly as the models would store them: fields as JSON text (SQLAlchemy's
        # default serialiser), times as naive UTC text.
        stamp = sqlite_datetime(now)
        row = self._cursor.execute(
            _INSERT_SOURCE_RECORD_SQL,
            (
                source,
                source_id,
                customer_id,
                json.dumps(dict(fields)) if fields_json is None else fields_json,
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
        fields: Mapping[str, Any] | None,
        updated_at: datetime | None,
        content_hash: str,
        deleted: bool,
        now: datetime,
    ) -> None:
        """``fields=None`` keeps the stored ones (a tombstone without fields: the record's
        last version stays, for provenance and for who its customer was)."""
        self._cursor.execute(
            _UPDATE_SOURCE_RECORD_SQL,
            (
                None if fields is None else json.dumps(dict(fields)),
                _optional_sqlite_datetime(updated_at),
                content_hash,
                1 if deleted else 0,
                sqlite_datetime(now),
                record_id,
            ),
        )

    def move_record(self, record_id: int, source: int, target: int, link_reason: str) -> None:
        """A customer record from customer ``source`` to ``target``, with the history and
        consents that refer to it (their order lines follow their orders)."""
        cursor = self._cursor
        cursor.execute(
            "UPDATE source_record SET customer_id = ?, link_reason = ? WHERE id = ?",
            (target, link_reason, record_id),
        )
        for table in ("interaction", "consent", *_DETAIL_TABLES):
            # (By customer first: consents have no index by record.)
            cursor.execute(
                f"UPDATE {table} SET customer_id = ? "
                "WHERE customer_id = ? AND source_record_id = ?",
                (target, source, record_id),
            )

    def linked_fields(
        self, customer_ids: Collection[int], *, deleted: bool = False
    ) -> dict[int, list[LinkedFields]]:
        """The live (not deleted) source records of each customer, oldest first; with
        ``deleted``, the deleted ones instead."""
        out: dict[int, list[LinkedFields]] = {cid: [] for cid in customer_ids}
        for chunk in _chunks(sorted(customer_ids)):
            marks = ",".join("?" * len(chunk))
            rows = self._cursor.execute(
                "SELECT customer_id, source, source_updated_at, fields, id FROM source_record "
                f"WHERE customer_id IN ({marks}) AND deleted = ?",
                [*chunk, 1 if deleted else 0],
            ).fetchall()
            rows.sort(key=itemgetter(4))
            for cid, source, updated_at, fields, rid in rows:
                out[cid].append(
                    LinkedFields(cid, source, _as_utc(updated_at), json.loads(fields), rid)
                )
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
        stamp = sqlite_datetime(now)
        self._cursor.executemany(
            _UPDATE_GOLDEN_SQL,
            [
                (
                    g.given_name,
                    g.family_name,
                    _optional_iso(g.birth_date),
                    g.language,
                    g.city,
                    g.postcode,
                    g.loyalty_tier,
                    g.loyalty_card,
                    1 if g.vip else 0,
                    _optional_iso(g.customer_since),
                    g.followers,
                    stamp,
                    g.customer_id,
                )
                for g in updates
            ],
        )

    def mark_deleted(self, customer_ids: Collection[int], now: datetime) -> None:
        """Customers none of whose source records is live any more: deleted at their
        sources (their golden fields come from their deleted records: who the card was)."""
        stamp = sqlite_datetime(now)
        self._cursor.executemany(
            "UPDATE customer SET status = 'deleted', updated_at = ? "
            "WHERE id = ? AND status = 'active'",
            [(stamp, cid) for cid in sorted(customer_ids)],
        )

    def add_activity(self, deltas: Iterable[ActivityDelta], now: datetime) -> None:
        """Add what newly inserted interactions bring to their customers' value figures."""
        stamp = sqlite_datetime(now)
        self._cursor.executemany(
            _ADD_ACTIVITY_SQL,
            [
                {
                    "cid": d.customer_id,
                    "value": d.value_cents,
                    "orders": d.orders,
                    "last_purchase": d.last_purchase,
                    "last_contact": d.last_contact,
                    "now": stamp,
                }
                for d in sorted(deltas, key=attrgetter("customer_id"))
            ],
        )

    def refresh_activity(self, customer_ids: Collection[int], now: datetime | None = None) -> None:
        """Recompute value and last-contact figures from the whole history (idempotent by
        design; needed when interactions change or go, :meth:`add_activity` for new ones)."""
        now = now or datetime.now(UTC)
        i = m.Interaction.__table__
        params: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(customer_ids)):
            purchase = (
                (i.c.amount_cents > 0)
                & i.c.deleted.is_(False)
                & func.coalesce(func.lower(i.c.status), "").not_in(statuses.VOID)
            )
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
                        "now": now,
                    }
                )
        if params:
            self.conn.execute(_UPDATE_ACTIVITY, params)

    # --- identifiers, contact points, social profiles, preferences ------------------------

    def clear_details(self, source_record_ids: Collection[int]) -> None:
        ids = sorted(source_record_ids)
        for table in _DETAIL_TABLES:
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                self._cursor.execute(
                    f"DELETE FROM {table} WHERE source_record_id IN ({marks})", chunk
                )

    def insert_details(
        self,
        contacts: Sequence[Mapping[str, Any]],
        identifiers: Sequence[Mapping[str, Any]],
        social: Sequence[Mapping[str, Any]],
        preferences: Sequence[Mapping[str, Any]],
    ) -> None:
        for (table, columns), rows in zip(
            _DETAIL_COLUMNS.items(), (contacts, identifiers, social, preferences), strict=True
        ):
            if rows:
                marks = ",".join("?" * len(columns))
                self._cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                    [tuple(_plain_value(row.get(c)) for c in columns) for row in rows],
                )

    # --- interactions and consents ----------------------------------------------------------

    def interactions(self, source: str, source_ids: Collection[str]) -> dict[str, StoredItem]:
        return self._items("interaction", source, source_ids)

    def consents(self, source: str, source_ids: Collection[str]) -> dict[str, StoredItem]:
        return self._items("consent", source, source_ids)

    def _items(self, table: str, source: str, source_ids: Collection[str]) -> dict[str, StoredItem]:
        found: dict[str, StoredItem] = {}
        for sid, iid, digest, cid in self._by_source_id(
            table, "content_hash, customer_id", source, source_ids
        ):
            found[sid] = StoredItem(iid, digest, cid)
        return found

    def insert_interactions(self, rows: Sequence[HistoryRow]) -> None:
        """Bulk insert at the driver: the busiest statement of a sync, run once per batch with
        plain tuples (SQLAlchemy's per-row parameter processing cost as much as SQLite). Each
        row: (customer_id, source_record_id, source, source_id, content_hash, deleted, values)
        with values (channel, kind, direction, occurred_at as naive UTC text, summary, details,
        status, amount_cents, currency, order lines or None)."""
        if not rows:
            return
        # Written in customer order: most of the table's indexes start with the customer, so
        # each of their pages is visited once, in order, instead of at random. Ids are still
        # given in arrival order, the ones SQLite would have given (the largest plus one each).
        last = self._cursor.execute("SELECT max(id) FROM interaction").fetchone()[0] or 0
        numbered = sorted(enumerate(rows, start=last + 1), key=_by_customer)
        self._cursor.executemany(
            _INSERT_INTERACTION_WITH_ID,
            (  # one row's parameters at a time, not the whole batch's at once
                (iid, cid, rid, source, sid, *values[:9], digest, 1 if deleted else 0, None)
                for iid, (cid, rid, source, sid, digest, deleted, values) in numbered
            ),
        )
        self._insert_lines((iid, row[-1][-1]) for iid, row in numbered)  # the last value

    def drop_history_indexes(self) -> bool:
        """Drop the history's secondary indexes if the history is empty (a first load: building
        them once at the end is much cheaper than keeping them up to date row by row); True if
        dropped. :meth:`create_history_indexes` builds them again."""
        if self._cursor.execute("SELECT 1 FROM interaction LIMIT 1").fetchone() is not None:
            return False
        for index in _HISTORY_INDEXES:
            self._cursor.execute(f'DROP INDEX IF EXISTS "{index.name}"')
        return True

    def missing_history_indexes(self) -> list[str]:
        """The history's secondary indexes that are not there (a first load under way, or
        killed before it built them)."""
        present = {
            str(name)
            for (name,) in self._cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'interaction'"
            )
        }
        return [str(index.name) for index in _HISTORY_INDEXES if index.name not in present]

    def create_history_indexes(self) -> list[str]:
        """Build the history's secondary indexes that are missing; returns their names."""
        missing = set(self.missing_history_indexes())
        for index in _HISTORY_INDEXES:
            if index.name in missing:
                index.create(self.conn)
        return sorted(missing)

    def update_interactions(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Update interactions by id; a row carrying ``items`` (a new version of the record,
        not a tombstone) has its order lines replaced by those."""
        if not rows:
            return
        replaced = {r["id"]: r["items"] for r in rows if "items" in r}
        plain = [_with_times(r, ("occurred_at",), drop="items") for r in rows]
        self.session.execute(update(m.Interaction), plain)
        if replaced:
            for chunk in _chunks(sorted(replaced)):
                marks = ",".join("?" * len(chunk))
                self._cursor.execute(
                    f"DELETE FROM order_line WHERE interaction_id IN ({marks})", chunk
                )
            self._insert_lines((iid, items) for iid, items in replaced.items())

    def _insert_lines(self, orders: Iterable[tuple[int, Sequence[Sequence[Any]] | None]]) -> None:
        """The order lines of these interactions: (line_no, sku, name, quantity,
        unit_price_cents, currency, category) each."""
        rows = [(iid, *line) for iid, items in orders if items for line in items]
        if rows:
            self._cursor.executemany(_INSERT_ORDER_LINE, rows)

    def insert_consents(self, rows: Sequence[HistoryRow]) -> None:
        """Bulk insert at the driver with plain tuples, like interactions; values: (purpose,
        status, channel, collected_at, source_updated_at), times as naive UTC text."""
        if not rows:
            return
        self._cursor.executemany(
            _INSERT_CONSENT,
            [
                (cid, rid, source, sid, *values, digest, 1 if deleted else 0)
                for cid, rid, source, sid, digest, deleted, values in rows
            ],
        )

    def update_consents(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Update consents by id (times as naive UTC text, like inserts)."""
        if rows:
            times = ("collected_at", "source_updated_at")
            self.session.execute(update(m.Consent), [_with_times(r, times) for r in rows])

    # --- suggestions, quarantine, sync state ----------------------------------------------

    def quarantine(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Keep each unusable record once: the same record failing again adds no new row, and
        its row tells the latest reason (a mapping changed since: what is wrong now)."""
        q = m.Quarantine.__table__
        fresh = []
        # The same record twice in these rows: once, with the later reason.
        latest = {(row["source"], row["source_id"], row["raw"]): row for row in rows}
        for row in latest.values():
            known = self.session.execute(
                select(q.c.id, q.c.reason)
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
            elif known.reason != row["reason"]:
                self.session.execute(
                    update(m.Quarantine)
                    .where(m.Quarantine.id == known.id)
                    .values(reason=row["reason"])
                )
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
            for table in ("customer_search", "customer_search_words"):
                self.session.connection().exec_driver_sql(
                    f"DELETE FROM {table} WHERE rowid IN ({marks})", tuple(chunk)
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
            self.session.connection().exec_driver_sql(
                "INSERT INTO customer_search_words (rowid, names) VALUES (?, ?)",
                [(r.customer_id, r.names) for r in rows],
            )
        if tokens:
            self.session.connection().exec_driver_sql(
                "INSERT OR IGNORE INTO name_token (token) VALUES (?)", [(t,) for t in tokens]
            )

    def search_details(
        self, source_record_ids: Collection[int]
    ) -> dict[int, tuple[list[tuple[str, str]], list[tuple[str, str]]]]:
        """What the search row takes from records stored earlier, as they were extracted then:
        (kind, normalised) of their contact points and (kind, value) of their card and CRM
        identifiers, each in the order they were written."""
        out: dict[int, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {
            rid: ([], []) for rid in source_record_ids
        }
        for chunk in _chunks(sorted(source_record_ids)):
            marks = ",".join("?" * len(chunk))
            for rid, kind, normalised in self._cursor.execute(
                "SELECT source_record_id, kind, normalised FROM contact_point "
                f"WHERE source_record_id IN ({marks}) ORDER BY id",
                chunk,
            ):
                out[rid][0].append((kind, normalised))
            for rid, kind, value in self._cursor.execute(
                "SELECT source_record_id, kind, value FROM identifier "
                f"WHERE source_record_id IN ({marks}) AND kind IN ('loyalty_card', 'crm_id') "
                "ORDER BY id",
                chunk,
            ):
                out[rid][1].append((kind, value))
        return out

    def public_ids(self, customer_ids: Collection[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for chunk in _chunks(sorted(customer_ids)):
            marks = ",".join("?" * len(chunk))
            rows = self._cursor.execute(
                f"SELECT id, public_id FROM customer WHERE id IN ({marks})", chunk
            )
            out.update({int(cid): str(pid) for cid, pid in rows})
        return out


def _by_customer(numbered: tuple[int, HistoryRow]) -> int:
    return numbered[1][0]


def _with_times(row: Mapping[str, Any], times: tuple[str, ...], drop: str = "") -> dict[str, Any]:
    """An update's values for the ORM: its stored times (naive UTC text) as aware datetimes."""
    return {k: _as_utc(v) if k in times else v for k, v in row.items() if k != drop}


def _optional_iso(value: date | None) -> str | None:
    """A date as SQLAlchemy's SQLite Date stores it."""
    return None if value is None else value.isoformat()


def _plain_value(value: Any) -> Any:
    """A detail's value as the models store it (booleans as 0/1)."""
    return int(value) if isinstance(value, bool) else value


def _as_utc(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
