"""Matching's reads and writes: the match index (profiles and block keys), candidate look-ups
by indexed block key, and the row moves of merge and unmerge.

Takes the session of the caller's transaction; returns plain values, never ORM rows. Hot
look-ups go through the driver with prepared SQL: they run once per key of every record.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import groupby
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from customer_card.store import models as m

_IN_CHUNK = 500

# Tables whose rows belong to a customer through one of its source records.
RECORD_TABLES: tuple[type[m.Base], ...] = (
    m.ContactPoint,
    m.Identifier,
    m.SocialProfile,
    m.Preference,
    m.Consent,
    m.Interaction,
)

_OWNED_TABLES: tuple[type[m.Base], ...] = (m.SourceRecord, *RECORD_TABLES, m.Note)

_WINDOW_SQL = "SELECT seq FROM match_key WHERE key = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
_PROFILES_SQL = (
    "SELECT mr.seq, mr.source, mr.source_id, mr.profile, sr.customer_id "
    "FROM match_record mr JOIN source_record sr "
    "ON sr.source = mr.source AND sr.source_id = mr.source_id "
    "WHERE sr.deleted = 0 AND mr.seq IN ({marks})"
)


_POPULATION = "#"  # matching.frequency.POPULATION_KEY (store imports nothing from matching)


_COUNT_SQL = "SELECT count(*) FROM (SELECT 1 FROM match_key WHERE key = ? AND seq < ? LIMIT ?)"


@lru_cache(maxsize=64)
def _candidates_sql(windows: int) -> str:
    # One window per block key (each reads the newest rows of its key through the primary
    # key), then each candidate once with the keys that found it, its profile and customer.
    window = (
        "SELECT * FROM (SELECT key, seq FROM match_key "
        "WHERE key = ? AND seq < ? ORDER BY seq DESC LIMIT ?)"
    )
    return (
        "WITH c(key, seq) AS (" + " UNION ALL ".join([window] * windows) + "), "
        "g(seq, keys) AS (SELECT seq, group_concat(key, char(10)) FROM c GROUP BY seq) "
        "SELECT g.keys, mr.seq, mr.source, mr.source_id, mr.profile, sr.customer_id, sr.deleted "
        "FROM g JOIN match_record mr ON mr.seq = g.seq "
        "JOIN source_record sr ON sr.source = mr.source AND sr.source_id = mr.source_id"
    )


# Batch look-ups (``MatchIndex.match_many``): every key or record of a batch in one statement,
# passed as one JSON array (no limit on SQLite's variables or compound selects).
_BATCH_WINDOWS_SQL = (
    "SELECT k.value, mk.seq FROM json_each(?1) k JOIN match_key mk "
    "ON mk.key = k.value AND mk.seq < ?2 AND mk.seq >= coalesce(("
    "SELECT x.seq FROM match_key x WHERE x.key = k.value AND x.seq < ?2 "
    "ORDER BY x.seq DESC LIMIT 1 OFFSET ?3), 0)"
)
_BATCH_COUNTS_SQL = (
    "SELECT k.value, (SELECT count(*) FROM (SELECT 1 FROM match_key x "
    "WHERE x.key = k.value AND x.seq < ?2 LIMIT ?3)) FROM json_each(?1) k"
)
_BATCH_RECORDS_SQL = (
    "SELECT mr.seq, mr.source, mr.source_id, mr.profile, sr.customer_id, sr.deleted "
    "FROM json_each(?1) k JOIN match_record mr ON mr.seq = k.value "
    "JOIN source_record sr ON sr.source = mr.source AND sr.source_id = mr.source_id"
)
_BATCH_INDEXED_SQL = (
    "SELECT mr.source, mr.source_id FROM json_each(?1) k JOIN match_record mr "
    "ON mr.source = k.value ->> 0 AND mr.source_id = k.value ->> 1"
)


@lru_cache(maxsize=64)
def _pruned_sql(keys: int) -> str:
    one = (
        "SELECT ? WHERE (SELECT seq FROM match_key WHERE key = ? AND seq < ? "
        "ORDER BY seq LIMIT 1 OFFSET ?) IS NOT NULL"
    )
    return " UNION ALL ".join([one] * keys)


@lru_cache(maxsize=16)
def _name_counts_sql(keys: int) -> str:
    return "SELECT key, count FROM name_frequency WHERE key IN ({})".format(",".join("?" * keys))


@dataclass(frozen=True, slots=True)
class IndexedRecord:
    seq: int
    source: str
    source_id: str
    profile: str  # JSON, see matching.profile.Profile
    customer_id: int


@dataclass(frozen=True, slots=True)
class SuggestionRow:
    id: int
    customer_a: int
    customer_b: int
    public_a: str
    public_b: str
    probability: float
    reason: str
    evidence: Mapping[str, Any]
    status: str


def _table(model: type[m.Base]) -> Table:
    return cast(Table, model.__table__)


def _chunks(values: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class MatchStore:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.conn = session.connection()
        # The hottest statements (several per incoming record) go to the driver's own cursor,
        # inside the same transaction: SQLAlchemy's per-call bookkeeping cost more than SQLite.
        self._cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        # Highest sequence number in the index, once read (this store adds every new one).
        self._last_seq: int | None = None

    # --- the match index ------------------------------------------------------------------

    def index_record(self, source: str, source_id: str, profile: str, keys: Collection[str]) -> int:
        """Store (or refresh) a record's profile and block keys; returns its sequence number.
        A refreshed record keeps its place in the arrival order."""
        cursor = self._cursor
        inserted = cursor.execute(
            "INSERT INTO match_record (source, source_id, profile) VALUES (?, ?, ?) "
            "ON CONFLICT (source, source_id) DO NOTHING RETURNING seq",
            (source, source_id, profile),
        ).fetchone()
        if inserted is not None:
            seq = int(inserted[0])
            if self._last_seq is not None:
                self._last_seq = max(self._last_seq, seq)
        else:
            seq = int(
                cursor.execute(
                    "SELECT seq FROM match_record WHERE source = ? AND source_id = ?",
                    (source, source_id),
                ).fetchone()[0]
            )
            cursor.execute("UPDATE match_record SET profile = ? WHERE seq = ?", (profile, seq))
            cursor.execute("DELETE FROM match_key WHERE seq = ?", (seq,))
        if keys:
            cursor.executemany(
                "INSERT OR IGNORE INTO match_key (key, seq) VALUES (?, ?)",
                [(key, seq) for key in keys],
            )
        return seq

    def candidates(
        self, windows: Sequence[tuple[str, int, int | None]], before: int
    ) -> tuple[list[IndexedRecord], dict[str, int]]:
        """Every block's ``size`` newest records that arrived before ``before`` — none for a
        block that already held ``limit`` records (None: no limit): the live records (with
        their current customer), and how many records each key's window held (deleted ones
        included). One statement, and a second one only when a limited window came back
        full."""
        if not windows:
            return [], {}
        sql = _candidates_sql(len(windows))
        params: list[Any] = []
        for key, size, _ in windows:
            params.extend((key, before, size))
        rows = self._cursor.execute(sql, params).fetchall()
        hits: dict[str, int] = {}
        for keys, *_ in rows:
            for key in keys.split("\n"):
                hits[key] = hits.get(key, 0) + 1
        # Only a key whose window came back full can have ``limit`` earlier records.
        full = [
            (key, limit)
            for key, size, limit in windows
            if limit is not None and hits.get(key, 0) >= min(size, limit)
        ]
        pruned = self._pruned(full, before) if full else set()
        for key in pruned:
            hits.pop(key, None)
        records: list[IndexedRecord] = []
        for keys, seq, source, sid, profile, cid, deleted in rows:
            if deleted or (pruned and pruned.issuperset(keys.split("\n"))):
                continue
            records.append(IndexedRecord(int(seq), source, sid, profile, int(cid)))
        return records, hits

    # --- batch look-ups (inline matching of a whole ingest batch) ---------------------------

    def newest_before(self, keys: Collection[str], size: int, before: int) -> dict[str, list[int]]:
        """Each key's ``size`` newest records that arrived before ``before``, newest first
        (keys without any are left out): the windows ``candidates`` reads, for many keys in
        one statement."""
        out: dict[str, list[int]] = {}
        if not keys or size <= 0:
            return out
        rows = self._cursor.execute(_BATCH_WINDOWS_SQL, (json.dumps(list(keys)), before, size - 1))
        for key, seq in rows:
            out.setdefault(key, []).append(int(seq))
        for seqs in out.values():
            seqs.sort(reverse=True)
        return out

    def counts_before(self, keys: Collection[str], before: int, cap: int) -> dict[str, int]:
        """``count_before`` for many keys in one statement."""
        if not keys:
            return {}
        rows = self._cursor.execute(_BATCH_COUNTS_SQL, (json.dumps(list(keys)), before, cap))
        return {str(key): int(n) for key, n in rows}

    def live_or_deleted(self, seqs: Collection[int]) -> dict[int, tuple[IndexedRecord, bool]]:
        """The indexed records that have a source record, with their current customer and
        whether they are deleted — what ``candidates`` joins its windows with — by seq."""
        if not seqs:
            return {}
        rows = self._cursor.execute(_BATCH_RECORDS_SQL, (json.dumps(sorted(seqs)),))
        return {
            int(seq): (IndexedRecord(int(seq), source, sid, profile, int(cid)), bool(deleted))
            for seq, source, sid, profile, cid, deleted in rows
        }

    def records_of_customer(self, customer_id: int) -> list[tuple[IndexedRecord, bool]]:
        """The indexed records of one customer, live or deleted (a deleted record keeps the
        profile it had), each with whether it is deleted."""
        rows = self._cursor.execute(
            "SELECT mr.seq, mr.source, mr.source_id, mr.profile, sr.deleted FROM source_record sr "
            "JOIN match_record mr ON mr.source = sr.source AND mr.source_id = sr.source_id "
            "WHERE sr.customer_id = ?",
            (customer_id,),
        )
        return [
            (IndexedRecord(int(seq), source, sid, profile, customer_id), bool(deleted))
            for seq, source, sid, profile, deleted in rows
        ]

    def merged_into(self, customer_id: int) -> bool:
        """Whether another customer was merged into this one (by a supervisor or a match run)
        and the merge stands."""
        row = self._cursor.execute(
            "SELECT 1 FROM merge_event WHERE survivor_id = ? AND undone_at IS NULL LIMIT 1",
            (customer_id,),
        ).fetchone()
        return row is not None

    def indexed_refs(self, refs: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (source, source id) already have a profile in the index."""
        if not refs:
            return set()
        rows = self._cursor.execute(_BATCH_INDEXED_SQL, (json.dumps([list(r) for r in refs]),))
        return {(str(source), str(sid)) for source, sid in rows}

    def index_new_records(
        self, first: int, records: Sequence[tuple[str, str, str, Collection[str]]]
    ) -> None:
        """Add records that are not in the index yet — (source, source id, profile, block
        keys) — under the sequence numbers ``first``, ``first + 1``…: what ``index_record``
        gives each of them in turn when ``first`` is ``next_seq()``, in two statements."""
        if not records:
            return
        cursor = self._cursor
        cursor.executemany(
            "INSERT INTO match_record (seq, source, source_id, profile) VALUES (?, ?, ?, ?)",
            [
                (first + i, source, sid, profile)
                for i, (source, sid, profile, _) in enumerate(records)
            ],
        )
        cursor.executemany(
            "INSERT OR IGNORE INTO match_key (key, seq) VALUES (?, ?)",
            [(key, first + i) for i, (*_, keys) in enumerate(records) for key in keys],
        )
        last = first + len(records) - 1
        self._last_seq = last if self._last_seq is None else max(self._last_seq, last)

    def _pruned(self, keys: Sequence[tuple[str, int]], before: int) -> set[str]:
        """The keys that already have ``limit`` records before ``before``: the limit-th
        oldest is looked up, a short walk along the primary key."""
        sql = _pruned_sql(len(keys))
        params: list[Any] = []
        for key, limit in keys:
            params.extend((key, key, before, limit - 1))
        return {str(key) for (key,) in self._cursor.execute(sql, params)}

    def name_counts(self, keys: Collection[str]) -> dict[str, int]:
        """Counts of names (and of counted records, key ``#``) from the name_frequency table."""
        wanted = sorted({*keys, _POPULATION})
        sql = _name_counts_sql(len(wanted))
        return {str(k): int(c) for k, c in self._cursor.execute(sql, wanted)}

    def add_name_counts(self, keys: Collection[str]) -> None:
        """One more record carrying these names."""
        self._cursor.executemany(
            "INSERT INTO name_frequency (key, count) VALUES (?, 1) "
            "ON CONFLICT (key) DO UPDATE SET count = count + 1",
            [(key,) for key in (*keys, _POPULATION)],
        )

    def add_name_counts_many(self, counts: Mapping[str, int]) -> None:
        """Several records' names at once (``counts`` includes the records counted, ``#``)."""
        self._cursor.executemany(
            "INSERT INTO name_frequency (key, count) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET count = count + excluded.count",
            [(key, n) for key, n in counts.items() if n],
        )

    def replace_name_counts(self, counts: Mapping[str, int]) -> None:
        """Make the table hold exactly ``counts`` (zero counts left out), writing only the
        rows that change: a routine ``match run`` finds the counts inline matching kept and
        writes nothing, where deleting and reinserting every row rewrote the whole table
        (hundreds of thousands of rows at a million records) on every run."""
        cursor = self._new_cursor()
        current = dict(cursor.execute("SELECT key, count FROM name_frequency"))
        wanted = {str(k): int(v) for k, v in counts.items() if v > 0}
        gone = sorted(current.keys() - wanted.keys())
        changed = sorted((k, v) for k, v in wanted.items() if current.get(k) != v)
        if gone:
            cursor.executemany("DELETE FROM name_frequency WHERE key = ?", [(k,) for k in gone])
        if changed:
            cursor.executemany(
                "INSERT INTO name_frequency (key, count) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET count = excluded.count",
                changed,
            )

    def next_seq(self) -> int:
        if self._last_seq is None:
            last = self._cursor.execute("SELECT max(seq) FROM match_record").fetchone()[0]
            self._last_seq = int(last or 0)
        return self._last_seq + 1

    def window(self, key: str, before: int, size: int) -> list[int]:
        """The ``size`` newest records of a block that arrived before ``before``."""
        rows = self._cursor.execute(_WINDOW_SQL, (key, before, size))
        return [int(r[0]) for r in rows]

    def count_before(self, key: str, before: int, cap: int) -> int:
        """How many records of a block arrived before ``before``, counted up to ``cap``."""
        return int(self._cursor.execute(_COUNT_SQL, (key, before, cap)).fetchone()[0])

    def records(self, seqs: Collection[int]) -> list[IndexedRecord]:
        """Live (not deleted) indexed records with their current customer."""
        out: list[IndexedRecord] = []
        ordered = sorted(seqs)
        for chunk in _chunks(ordered):
            sql = _PROFILES_SQL.format(marks=",".join("?" * len(chunk)))
            for seq, source, sid, profile, cid in self.conn.exec_driver_sql(sql, tuple(chunk)):
                out.append(IndexedRecord(int(seq), source, sid, profile, int(cid)))
        return out

    def iter_records(self, after: int = 0, batch: int = 2000) -> Iterator[list[IndexedRecord]]:
        """Every live indexed record in arrival order, a batch at a time."""
        while True:
            rows = self.conn.exec_driver_sql(
                "SELECT mr.seq, mr.source, mr.source_id, mr.profile, sr.customer_id "
                "FROM match_record mr JOIN source_record sr "
                "ON sr.source = mr.source AND sr.source_id = mr.source_id "
                "WHERE sr.deleted = 0 AND mr.seq > ? ORDER BY mr.seq LIMIT ?",
                (after, batch),
            ).all()
            if not rows:
                return
            yield [IndexedRecord(int(s), src, sid, p, int(c)) for s, src, sid, p, c in rows]
            after = int(rows[-1][0])

    # --- batch reads (match run): whole-index passes in storage order, no per-record SQL ------

    def last_seq(self) -> int:
        """Highest sequence number in the index (0 when empty)."""
        return int(self._cursor.execute("SELECT max(seq) FROM match_record").fetchone()[0] or 0)

    def block_groups(self) -> Iterator[tuple[str, list[int]]]:
        """Every block key with the records carrying it, oldest first: one pass over the
        key table in its primary-key order."""
        cursor = self._new_cursor()
        cursor.execute("SELECT key, seq FROM match_key ORDER BY key, seq")
        seq_of = itemgetter(1)
        for key, rows in groupby(cursor, key=itemgetter(0)):
            yield key, list(map(seq_of, rows))

    def arrivals(self) -> Iterator[tuple[int, str, str, str, int, int]]:
        """Every indexed record that has a source record, deleted ones included, in arrival
        order: (seq, source, source id, profile JSON, customer id, deleted 0/1)."""
        cursor = self._new_cursor()
        cursor.execute(
            "SELECT mr.seq, mr.source, mr.source_id, mr.profile, sr.customer_id, sr.deleted "
            "FROM match_record mr JOIN source_record sr "
            "ON sr.source = mr.source AND sr.source_id = mr.source_id ORDER BY mr.seq"
        )
        # (Rows as the driver gives them: ints and str already, a million of them.)
        yield from cursor

    def _new_cursor(self) -> Any:
        # A cursor of its own: a long read stays open while other statements run.
        return self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]

    def unindexed_records(self, batch: int = 2000) -> list[tuple[str, str, dict[str, Any]]]:
        """Live customer records without a profile yet (ingested before the match index)."""
        sr, mr = _table(m.SourceRecord), _table(m.MatchRecord)
        rows = self.session.execute(
            select(sr.c.source, sr.c.source_id, sr.c.fields)
            .outerjoin(mr, (mr.c.source == sr.c.source) & (mr.c.source_id == sr.c.source_id))
            .where(mr.c.seq.is_(None))
            .where(sr.c.deleted.is_(False))
            .where(sr.c.kind == "customer")
            .order_by(sr.c.id)
            .limit(batch)
        )
        return [(source, sid, dict(fields)) for source, sid, fields in rows]

    def indexed_count(self) -> int:
        count = self.session.execute(select(func.count()).select_from(m.MatchRecord))
        return int(count.scalar_one())

    # --- suggestions ------------------------------------------------------------------------

    def suggest(
        self, a: int, b: int, probability: float, reason: str, evidence: Mapping[str, Any]
    ) -> bool:
        """Record a pending suggestion unless the pair already has one (in any status: a
        rejected pair stays rejected). Returns whether a new one was made."""
        low, high = min(a, b), max(a, b)
        result = self._cursor.execute(
            "INSERT INTO merge_suggestion "
            "(customer_a, customer_b, probability, reason, evidence, status, created_at) "
            "VALUES (?, ?, ?, ?, ?, 'pending', ?) "
            "ON CONFLICT (customer_a, customer_b) DO NOTHING",
            (
                low,
                high,
                probability,
                reason[:200],
                json.dumps(evidence, ensure_ascii=False),
                m.utcnow().replace(tzinfo=None).isoformat(sep=" "),
            ),
        )
        return bool(result.rowcount)

    def suggest_many(
        self, suggestions: Iterable[tuple[int, int, float, str, Mapping[str, Any]]]
    ) -> int:
        """``suggest`` for each (a, b, probability, reason, evidence) in turn, in one
        statement for the new ones; returns how many were made."""
        existing = set(
            self._new_cursor().execute("SELECT customer_a, customer_b FROM merge_suggestion")
        )
        now = m.utcnow().replace(tzinfo=None).isoformat(sep=" ")
        rows: list[tuple[int, int, float, str, str, str]] = []
        for a, b, probability, reason, evidence in suggestions:
            pair = (min(a, b), max(a, b))
            if pair in existing:
                continue
            existing.add(pair)
            rows.append(
                (*pair, probability, reason[:200], json.dumps(evidence, ensure_ascii=False), now)
            )
        self._cursor.executemany(
            "INSERT INTO merge_suggestion "
            "(customer_a, customer_b, probability, reason, evidence, status, created_at) "
            "VALUES (?, ?, ?, ?, ?, 'pending', ?) "
            "ON CONFLICT (customer_a, customer_b) DO NOTHING",
            rows,
        )
        return len(rows)

    def last_suggestion(self) -> int:
        """The highest suggestion id so far (0: none)."""
        return int(self._cursor.execute("SELECT max(id) FROM merge_suggestion").fetchone()[0] or 0)

    def follow_moved_record(self, ref: tuple[str, str], source: int, target: int, upto: int) -> int:
        """A customer record moved from customer ``source`` to ``target`` (corrected into
        someone else): the pending suggestions of ``source`` whose evidence is that record
        (it came in, or it was the record compared) go with it, to ``target``; one between it
        and ``target`` is dropped (the move put them together). A pair already suggested,
        rejected or accepted keeps its own. Only suggestions up to id ``upto`` (made before the
        move) are looked at. Returns how many suggestions followed or went."""
        rows = self._cursor.execute(
            "SELECT id, customer_a, customer_b, evidence FROM merge_suggestion "
            "WHERE customer_a = ? AND status = 'pending' AND id <= ? "
            "UNION ALL SELECT id, customer_a, customer_b, evidence FROM merge_suggestion "
            "WHERE customer_b = ? AND status = 'pending' AND id <= ?",
            (source, upto, source, upto),
        ).fetchall()
        changed = 0
        for sid, a, b, text in rows:
            evidence = json.loads(text) if text else {}
            compared = evidence.get("record") or {}
            refs = {
                tuple(evidence.get("incoming") or ()),
                (compared.get("source"), compared.get("source_id")),
            }
            if ref not in refs:
                continue
            other = b if a == source else a
            changed += 1
            if other == target:
                self._cursor.execute("DELETE FROM merge_suggestion WHERE id = ?", (sid,))
                continue
            taken = self._cursor.execute(
                "SELECT 1 FROM merge_suggestion WHERE customer_a = ? AND customer_b = ?",
                (min(other, target), max(other, target)),
            ).fetchone()
            if taken:
                self._cursor.execute("DELETE FROM merge_suggestion WHERE id = ?", (sid,))
            else:
                self._cursor.execute(
                    "UPDATE merge_suggestion SET customer_a = ?, customer_b = ? WHERE id = ?",
                    (min(other, target), max(other, target), sid),
                )
        return changed

    def rejected_pairs(self) -> set[tuple[int, int]]:
        s = m.MergeSuggestion
        rows = self.session.execute(
            select(s.customer_a, s.customer_b).where(s.status == "rejected")
        )
        return {(int(a), int(b)) for a, b in rows}

    def suggestions(self, status: str | None = "pending") -> list[SuggestionRow]:
        s = m.MergeSuggestion
        a, b = _table(m.Customer).alias("a"), _table(m.Customer).alias("b")
        query = (
            select(
                s.id,
                s.customer_a,
                s.customer_b,
                a.c.public_id,
                b.c.public_id,
                s.probability,
                s.reason,
                s.evidence,
                s.status,
            )
            .join(a, a.c.id == s.customer_a)
            .join(b, b.c.id == s.customer_b)
            .order_by(s.probability.desc(), s.id)
        )
        if status is not None:
            query = query.where(s.status == status)
        return [SuggestionRow(*row) for row in self.session.execute(query)]

    def decide_suggestion(
        self, a: int, b: int, status: str, actor: str, now: datetime, reason: str = ""
    ) -> None:
        """Mark the pair's suggestion (made if missing) accepted or rejected."""
        low, high = min(a, b), max(a, b)
        s = m.MergeSuggestion
        existing = self.session.execute(
            select(s.id).where(s.customer_a == low).where(s.customer_b == high)
        ).scalar()
        if existing is None:
            self.session.execute(
                insert(s).values(
                    customer_a=low,
                    customer_b=high,
                    probability=0.0,
                    reason=reason[:200] or status,
                    evidence={},
                    status=status,
                    created_at=now,
                    decided_by=actor,
                    decided_at=now,
                )
            )
        else:
            self.session.execute(
                update(s)
                .where(s.id == existing)
                .values(status=status, decided_by=actor, decided_at=now)
            )

    # --- exports ----------------------------------------------------------------------------

    def links(self) -> Iterator[tuple[str, str, str]]:
        """(source, source id, golden customer public id) of every customer record."""
        sr, cu = _table(m.SourceRecord), _table(m.Customer)
        rows = self.session.execute(
            select(sr.c.source, sr.c.source_id, cu.c.public_id)
            .join(cu, cu.c.id == sr.c.customer_id)
            .where(sr.c.kind == "customer")
            .order_by(sr.c.source, sr.c.source_id)
        )
        for source, sid, public_id in rows:
            yield str(source), str(sid), str(public_id)

    def record_refs(self, customer_ids: Collection[int]) -> dict[int, list[tuple[str, str]]]:
        sr = _table(m.SourceRecord)
        out: dict[int, list[tuple[str, str]]] = {cid: [] for cid in customer_ids}
        for chunk in _chunks(sorted(customer_ids)):
            rows = self.session.execute(
                select(sr.c.customer_id, sr.c.source, sr.c.source_id)
                .where(sr.c.customer_id.in_(chunk))
                .where(sr.c.deleted.is_(False))
                .order_by(sr.c.id)
            )
            for cid, source, sid in rows:
                out[int(cid)].append((str(source), str(sid)))
        return out

    def record_customers(self) -> dict[tuple[str, str], int]:
        sr = _table(m.SourceRecord)
        rows = self.session.execute(
            select(sr.c.source, sr.c.source_id, sr.c.customer_id).where(sr.c.kind == "customer")
        )
        return {(str(s), str(i)): int(c) for s, i, c in rows}

    # --- merge and unmerge ------------------------------------------------------------------

    def customer_id(self, ident: str) -> int | None:
        t = _table(m.Customer)
        condition = t.c.id == int(ident) if ident.isdigit() else t.c.public_id == ident.upper()
        found = self.session.execute(select(t.c.id).where(condition)).scalar()
        return None if found is None else int(found)

    def customer_row(self, customer_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(
            select(_table(m.Customer)).where(_table(m.Customer).c.id == customer_id)
        ).first()
        return None if row is None else dict(row._mapping)

    def restore_customer_row(self, values: Mapping[str, Any]) -> None:
        t = _table(m.Customer)
        self.conn.execute(update(t).where(t.c.id == values["id"]).values(dict(values.items())))

    def set_merged(self, loser: int, survivor: int, now: datetime) -> None:
        t = _table(m.Customer)
        self.conn.execute(
            update(t)
            .where(t.c.id == loser)
            .values(status="merged", merged_into=survivor, updated_at=now)
        )

    def redirect(self, old_survivor: int, new_survivor: int) -> list[int]:
        """Customers merged earlier into ``old_survivor`` now point at ``new_survivor``."""
        t = _table(m.Customer)
        ids = [
            int(x)
            for x in self.session.execute(select(t.c.id).where(t.c.merged_into == old_survivor))
            .scalars()
            .all()
        ]
        if ids:
            self.conn.execute(update(t).where(t.c.id.in_(ids)).values(merged_into=new_survivor))
        return ids

    def point_redirects(self, ids: Collection[int], target: int) -> None:
        t = _table(m.Customer)
        for chunk in _chunks(sorted(ids)):
            self.conn.execute(update(t).where(t.c.id.in_(chunk)).values(merged_into=target))

    def rows_of(self, customer_id: int) -> dict[str, list[int]]:
        """Ids of every row that belongs to a customer, by table."""
        out: dict[str, list[int]] = {}
        for model in _OWNED_TABLES:
            t = _table(model)
            ids = self.session.execute(
                select(t.c.id).where(t.c.customer_id == customer_id).order_by(t.c.id)
            ).scalars()
            out[t.name] = [int(x) for x in ids]
        return out

    def move_rows(self, table: str, ids: Collection[int], customer_id: int) -> None:
        t = m.Base.metadata.tables[table]
        for chunk in _chunks(sorted(ids)):
            self.conn.execute(update(t).where(t.c.id.in_(chunk)).values(customer_id=customer_id))

    def move_own_rows(
        self, table: str, ids: Collection[int], from_customer: int, to_customer: int
    ) -> None:
        """``move_rows`` for the rows still on ``from_customer`` that no source record owns
        (notes, history written in the app): one a record owns follows its record."""
        t = m.Base.metadata.tables[table]
        for chunk in _chunks(sorted(ids)):
            query = update(t).where(t.c.id.in_(chunk)).where(t.c.customer_id == from_customer)
            if "source_record_id" in t.c:
                query = query.where(t.c.source_record_id.is_(None))
            self.conn.execute(query.values(customer_id=to_customer))

    def move_all(self, from_customer: int, to_customer: int) -> None:
        for model in _OWNED_TABLES:
            t = _table(model)
            self.conn.execute(
                update(t).where(t.c.customer_id == from_customer).values(customer_id=to_customer)
            )

    def records_of(self, customer_id: int) -> list[int]:
        sr = _table(m.SourceRecord)
        return [
            int(x)
            for x in self.session.execute(
                select(sr.c.id).where(sr.c.customer_id == customer_id)
            ).scalars()
        ]

    def record_rows(self, source_record_ids: Collection[int]) -> dict[str, list[int]]:
        """Ids of the detail rows (contacts, identifiers, consents, interactions…) of records."""
        out: dict[str, list[int]] = {}
        for model in RECORD_TABLES:
            t = _table(model)
            found: list[int] = []
            for chunk in _chunks(sorted(source_record_ids)):
                found.extend(
                    int(x)
                    for x in self.session.execute(
                        select(t.c.id).where(t.c.source_record_id.in_(chunk))
                    ).scalars()
                )
            out[t.name] = found
        return out

    def record_fields(
        self, source_record_ids: Collection[int]
    ) -> dict[int, tuple[str, str, dict[str, Any]]]:
        sr = _table(m.SourceRecord)
        out: dict[int, tuple[str, str, dict[str, Any]]] = {}
        for chunk in _chunks(sorted(source_record_ids)):
            rows = self.session.execute(
                select(sr.c.id, sr.c.source, sr.c.source_id, sr.c.fields).where(sr.c.id.in_(chunk))
            )
            for rid, source, sid, fields in rows:
                out[int(rid)] = (str(source), str(sid), dict(fields))
        return out

    def repoint_suggestions(
        self, loser: int, survivor: int
    ) -> tuple[list[dict[str, Any]], list[int]]:
        """The loser's suggestions move to the survivor (one between the two merged customers
        is dropped; one the survivor already has is kept once). Returns the original rows and
        the ids of the moved copies, so that unmerge can put things back exactly."""
        s = _table(m.MergeSuggestion)
        rows = [
            dict(r._mapping)
            for r in self.conn.execute(
                select(s).where((s.c.customer_a == loser) | (s.c.customer_b == loser))
            )
        ]
        moved: list[int] = []
        for row in rows:
            self.conn.execute(delete(s).where(s.c.id == row["id"]))
        for row in rows:
            other = row["customer_b"] if row["customer_a"] == loser else row["customer_a"]
            if other == survivor:
                continue
            values = {k: v for k, v in row.items() if k != "id"}
            values["customer_a"], values["customer_b"] = min(other, survivor), max(other, survivor)
            new_id = self.conn.execute(
                insert(s).prefix_with("OR IGNORE").values(values).returning(s.c.id)
            ).scalar()
            if new_id is not None:
                moved.append(int(new_id))
        return rows, moved

    def restore_suggestions(self, rows: Sequence[Mapping[str, Any]], moved: Sequence[int]) -> None:
        s = _table(m.MergeSuggestion)
        for chunk in _chunks(sorted(moved)):
            self.conn.execute(delete(s).where(s.c.id.in_(chunk)))
        for row in rows:
            self.conn.execute(insert(s).prefix_with("OR IGNORE").values(dict(row)))

    def add_event(
        self,
        survivor: int,
        merged: int,
        actor: str,
        reason: str,
        snapshot: Mapping[str, Any],
        now: datetime,
    ) -> int:
        result = self.conn.execute(
            insert(_table(m.MergeEvent))
            .values(
                survivor_id=survivor,
                merged_id=merged,
                actor=actor,
                reason=reason[:200],
                snapshot=dict(snapshot),
                created_at=now,
            )
            .returning(_table(m.MergeEvent).c.id)
        )
        return int(result.scalar_one())

    def event(self, event_id: int) -> dict[str, Any] | None:
        t = _table(m.MergeEvent)
        row = self.conn.execute(select(t).where(t.c.id == event_id)).first()
        return None if row is None else dict(row._mapping)

    def later_events(self, event_id: int, customer_ids: Collection[int]) -> list[int]:
        """Merges after ``event_id``, not undone, that involve one of the customers."""
        t = _table(m.MergeEvent)
        rows = self.session.execute(
            select(t.c.id)
            .where(t.c.id > event_id)
            .where(t.c.undone_at.is_(None))
            .where(t.c.survivor_id.in_(list(customer_ids)) | t.c.merged_id.in_(list(customer_ids)))
        ).scalars()
        return [int(x) for x in rows]

    def mark_undone(self, event_id: int, now: datetime) -> None:
        t = _table(m.MergeEvent)
        self.conn.execute(update(t).where(t.c.id == event_id).values(undone_at=now))

    def add_consent(self, row: Mapping[str, Any]) -> int:
        t = _table(m.Consent)
        return int(self.conn.execute(insert(t).values(dict(row)).returning(t.c.id)).scalar_one())

    def delete_consents(self, ids: Collection[int]) -> None:
        t = _table(m.Consent)
        for chunk in _chunks(sorted(ids)):
            self.conn.execute(delete(t).where(t.c.id.in_(chunk)))

    def consents(self, customer_id: int) -> list[dict[str, Any]]:
        t = _table(m.Consent)
        return [
            dict(r._mapping)
            for r in self.conn.execute(
                select(t).where(t.c.customer_id == customer_id).where(t.c.deleted.is_(False))
            )
        ]
