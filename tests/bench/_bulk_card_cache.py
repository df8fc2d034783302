"""Bulk builder of a big benchmark cache: the demo generator's people, written straight into a
real encrypted cache, without the matching the real ingest runs on every record.

    python tests/bench/_bulk_card_cache.py --people 1000000          # .bench/card-1m.db
    python tests/bench/_bulk_card_cache.py --people 3000 --check      # compare with real ingest

Why: building a cache of a million customers through ingest takes hours here (inline matching
dominates), and the card benchmarks only need the *result* of an ingest. What is the same as
the real ingest (the same code computes it):

- the records: ``sync.demo.DemoGenerator`` (typos, formats, households, heavy-tailed history,
  the notable people, the 20,000-interaction customer);
- customer records → ``source_record`` rows (fields as JSON, content hash), contact points,
  identifiers, social profiles and preferences from ``matching.extract``; the golden fields from
  ``matching.survivorship``; the search index row and name vocabulary from the ingest's own
  ``_search_row``; interactions and consents from the ingest's row mappers;
- value figures (lifetime value, orders, last purchase, last contact) as ``refresh_activity``
  computes them;
- the schema: the cache is created by ``open_cache`` and its migrations; secondary indexes are
  dropped for the load and re-created from their own DDL afterwards.

What differs: linking uses the generator's ground truth instead of the match model. A person's
accounts make one golden customer; an in-system duplicate account stays a customer of its own
with a pending "probable match" suggestion, and household members sharing an e-mail or a
landline get the low-probability household suggestion — about the proportions the real ingest
ends with (``--check`` prints both). The match index (``match_record``, ``match_key``,
``name_frequency``) is left empty: the card does not read it (a later sync into this cache would
find no candidates, so do not sync into it).

The build is reproducible from the seed (public ids included); the file is reused once complete
(a ``.complete`` marker beside it).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from customer_card.domain.model import is_void
from customer_card.matching.extract import Extracted, extract
from customer_card.matching.survivorship import LinkedRecord, survive
from customer_card.services.ingest import _Batch, _consent_row, _interaction_row
from customer_card.store.cache import Unlock, open_cache
from customer_card.store.database import Database
from customer_card.store.ingest_store import (
    _CROCKFORD,
    _INSERT_CONSENT,
    _INSERT_INTERACTION,
    LinkedFields,
    SearchRow,
    sqlite_datetime,
)
from sync.demo import DemoConfig, DemoGenerator
from sync.records import RecordKind, SourceRecord

PASSPHRASE = "benchmark"
REGION = "FR"
FLUSH_EVERY = 20_000  # people per write
HOUSEHOLD_WINDOW = 8  # households are consecutive people: look back this far for shared values
# Tables whose secondary indexes are dropped during the load and re-created after it.
BULK_TABLES = (
    "customer",
    "source_record",
    "contact_point",
    "identifier",
    "social_profile",
    "preference",
    "consent",
    "interaction",
    "merge_suggestion",
)


def label(people: int) -> str:
    if people % 1_000_000 == 0:
        return f"{people // 1_000_000}m"
    if people % 1000 == 0:
        return f"{people // 1000}k"
    return str(people)


def default_path(people: int) -> Path:
    return Path(".bench") / f"card-{label(people)}.db"


def complete_marker(path: Path) -> Path:
    return path.with_name(path.name + ".complete")


def _dt(value: datetime | None) -> str | None:
    return None if value is None else sqlite_datetime(value)


class _SearchRows:
    """What the ingest's ``_search_row`` reads from its batch: the records extracted on the way
    in and the region. Calling the ingest's own method keeps the index rows identical."""

    def __init__(self) -> None:
        self.staged: dict[int, tuple[int, Extracted, None]] = {}
        self.region = REGION

    def row(
        self, customer_id: int, public_id: str, records: list[LinkedFields], city: str | None
    ) -> tuple[SearchRow, set[str]]:
        return _Batch._search_row(self, customer_id, public_id, records, city, {})  # type: ignore[arg-type]


@dataclass
class _Golden:
    customer_id: int
    records: list[tuple[int, SourceRecord, Extracted]] = field(default_factory=list)
    value: int = 0
    orders: int = 0
    last_purchase: str | None = None
    last_contact: str | None = None


@dataclass
class _Rows:
    customers: list[tuple[Any, ...]] = field(default_factory=list)
    records: list[tuple[Any, ...]] = field(default_factory=list)
    contacts: list[tuple[Any, ...]] = field(default_factory=list)
    identifiers: list[tuple[Any, ...]] = field(default_factory=list)
    social: list[tuple[Any, ...]] = field(default_factory=list)
    preferences: list[tuple[Any, ...]] = field(default_factory=list)
    consents: list[tuple[Any, ...]] = field(default_factory=list)
    interactions: list[tuple[Any, ...]] = field(default_factory=list)
    search: list[tuple[Any, ...]] = field(default_factory=list)
    suggestions: list[tuple[Any, ...]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)


_SQL = {
    "customers": (
        "INSERT INTO customer (id, public_id, given_name, family_name, birth_date, language, "
        "city, postcode, loyalty_tier, loyalty_card, vip, lifetime_value_cents, order_count, "
        "last_purchase_at, last_contact_at, customer_since, followers, status, merged_into, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "'active', NULL, ?, ?)"
    ),
    "records": (
        "INSERT INTO source_record (id, source, source_id, kind, customer_id, fields, "
        "source_updated_at, content_hash, deleted, link_reason, first_seen_at, last_seen_at) "
        "VALUES (?, ?, ?, 'customer', ?, ?, ?, ?, 0, ?, ?, ?)"
    ),
    "contacts": (
        "INSERT INTO contact_point (customer_id, source_record_id, kind, value, normalised, "
        "valid, is_primary, label) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "identifiers": (
        "INSERT INTO identifier (customer_id, source_record_id, kind, value) VALUES (?, ?, ?, ?)"
    ),
    "social": (
        "INSERT INTO social_profile (customer_id, source_record_id, network, handle, followers) "
        "VALUES (?, ?, ?, ?, ?)"
    ),
    "preferences": (
        "INSERT INTO preference (customer_id, source_record_id, key, value) VALUES (?, ?, ?, ?)"
    ),
    "consents": _INSERT_CONSENT,
    "interactions": _INSERT_INTERACTION,
    "search": (
        "INSERT INTO customer_search (rowid, names, emails, phones, cards, handles, city) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"
    ),
    "suggestions": (
        "INSERT INTO merge_suggestion (customer_a, customer_b, probability, reason, evidence, "
        "status, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)"
    ),
}


class BulkBuilder:
    def __init__(self, conn: Any, people: int, seed: int) -> None:
        self.conn = conn
        self.generator = DemoGenerator(DemoConfig(customers=people, seed=seed))
        self.now = sqlite_datetime(self.generator.config.now.astimezone(UTC))
        self.rng = random.Random(f"bulk:{seed}")
        self.public_ids: set[str] = set()
        self.next_customer = 1
        self.next_record = 1
        self.rows = _Rows()
        self.search_rows = _SearchRows()
        self.counts: Counter[str] = Counter()
        # Recent people's shared values (household e-mails and landlines) → customer id.
        self.recent: list[dict[str, int]] = []

    def _public_id(self) -> str:
        while True:
            pid = "C" + "".join(self.rng.choices(_CROCKFORD, k=8))
            if pid not in self.public_ids:
                self.public_ids.add(pid)
                return pid

    def run(self, progress: bool = True) -> Counter[str]:
        people = self.generator._people()  # the ground truth, in the order of the records
        person: Any = None
        accounts: list[Any] = []
        owners: dict[tuple[str, str], tuple[_Golden, int]] = {}
        goldens: list[_Golden] = []
        started = time.perf_counter()
        done = 0
        for record in self.generator.records():
            if record.kind == RecordKind.CUSTOMER:
                if not accounts:  # the next person's first record
                    if person is not None:
                        self._person(goldens)
                        done += 1
                        if done % FLUSH_EVERY == 0:
                            self.flush()
                            if progress:
                                rate = done / (time.perf_counter() - started)
                                print(f"  {done} people, {rate:.0f}/s", file=sys.stderr)
                    person = next(people)
                    accounts = list(person.accounts)
                    goldens = []
                    owners = {}
                account = accounts.pop(0)
                assert (account.source, account.source_id) == (record.source, record.source_id)
                if account.duplicate or not goldens:
                    goldens.append(_Golden(self.next_customer))
                    self.next_customer += 1
                golden = goldens[-1] if account.duplicate else goldens[0]
                record_id = self.next_record
                self.next_record += 1
                golden.records.append((record_id, record, extract(record.fields, REGION)))
                owners[(record.source, record.source_id)] = (golden, record_id)
            elif record.kind == RecordKind.INTERACTION:
                golden, record_id = owners[(record.source, str(record.fields["customer_ref"]))]
                self._interaction(golden, record_id, record)
            else:
                golden, record_id = owners[(record.source, str(record.fields["customer_ref"]))]
                self._consent(golden, record_id, record)
        if person is not None:
            self._person(goldens)
        self.flush()
        return self.counts

    def _interaction(self, golden: _Golden, record_id: int, record: SourceRecord) -> None:
        r = _interaction_row(record)
        occurred = sqlite_datetime(r["occurred_at"])
        cents = r["amount_cents"]
        # As refresh_activity: purchases are positive amounts, unless cancelled or returned;
        # contacts are every interaction.
        if cents is not None and cents > 0 and not is_void(r["status"]):
            golden.value += cents
            golden.orders += 1
            if golden.last_purchase is None or occurred > golden.last_purchase:
                golden.last_purchase = occurred
        if golden.last_contact is None or occurred > golden.last_contact:
            golden.last_contact = occurred
        self.rows.interactions.append(
            (
                golden.customer_id,
                record_id,
                record.source,
                record.source_id,
                r["channel"],
                r["kind"],
                r["direction"],
                occurred,
                r["summary"] or "",
                r["details"],
                r["status"],
                cents,
                r["currency"],
                record.content_hash,
                0,
                None,
            )
        )

    def _consent(self, golden: _Golden, record_id: int, record: SourceRecord) -> None:
        r = _consent_row(record)
        self.rows.consents.append(
            (
                golden.customer_id,
                record_id,
                r["source"],
                r["source_id"],
                r["purpose"],
                r["status"],
                r["channel"],
                _dt(r["collected_at"]),
                _dt(r["source_updated_at"]),
                record.content_hash,
                0,
            )
        )

    def _person(self, goldens: list[_Golden]) -> None:
        rows = self.rows
        main = goldens[0]
        shared: dict[str, int] = {}
        for golden in goldens:
            linked: list[LinkedFields] = []
            for index, (record_id, record, extracted) in enumerate(golden.records):
                updated = _dt(record.updated_at)
                reason = "new customer" if index == 0 else _link_reason(extracted, golden)
                rows.records.append(
                    (
                        record_id,
                        record.source,
                        record.source_id,
                        golden.customer_id,
                        json.dumps(dict(record.fields)),
                        updated,
                        record.content_hash,
                        reason,
                        self.now,
                        self.now,
                    )
                )
                base = (golden.customer_id, record_id)
                for c in extracted.contacts:
                    rows.contacts.append(
                        (
                            *base,
                            c.kind,
                            c.value,
                            c.normalised,
                            int(c.valid),
                            int(c.primary),
                            c.label,
                        )
                    )
                    if golden is main and c.kind in ("email", "phone"):
                        shared[f"{c.kind}:{c.normalised}"] = golden.customer_id
                rows.identifiers.extend(
                    (*base, kind, value) for kind, value in extracted.identifiers
                )
                rows.social.extend(
                    (*base, s.network, s.handle, s.followers) for s in extracted.social
                )
                rows.preferences.extend((*base, key, value) for key, value in extracted.preferences)
                # As read back by the ingest: stored time (UTC), stored fields.
                when = (
                    None if updated is None else datetime.fromisoformat(updated).replace(tzinfo=UTC)
                )
                linked.append(
                    LinkedFields(golden.customer_id, record.source, when, record.fields, record_id)
                )
                self.search_rows.staged[record_id] = (golden.customer_id, extracted, None)
            g = survive([LinkedRecord(r.source, r.updated_at, r.fields) for r in linked])
            public_id = self._public_id()
            rows.customers.append(
                (
                    golden.customer_id,
                    public_id,
                    g.given_name,
                    g.family_name,
                    g.birth_date.isoformat() if g.birth_date else None,
                    g.language,
                    g.city,
                    g.postcode,
                    g.loyalty_tier,
                    g.loyalty_card,
                    int(g.vip),
                    golden.value,
                    golden.orders,
                    golden.last_purchase,
                    golden.last_contact,
                    g.customer_since.isoformat() if g.customer_since else None,
                    g.followers,
                    self.now,
                    self.now,
                )
            )
            row, tokens = self.search_rows.row(golden.customer_id, public_id, linked, g.city)
            rows.search.append(
                (
                    row.customer_id,
                    row.names,
                    row.emails,
                    row.phones,
                    row.cards,
                    row.handles,
                    row.city,
                )
            )
            rows.tokens |= tokens
            if golden is not main:
                rows.suggestions.append(self._duplicate(main, golden))
            self.counts["customers"] += 1
        self.search_rows.staged.clear()
        # Household members sharing an e-mail or a landline with someone just before them.
        paired: set[int] = set()
        for key, customer_id in shared.items():
            for earlier in self.recent:
                other = earlier.get(key)
                if other is not None and other != customer_id and other not in paired:
                    paired.add(other)
                    kind = key.split(":", 1)[0]
                    rows.suggestions.append(self._household(other, customer_id, kind))
                    break
        self.recent = [shared, *self.recent[: HOUSEHOLD_WINDOW - 1]]
        self.counts["people"] += 1

    def _duplicate(self, main: _Golden, other: _Golden) -> tuple[Any, ...]:
        probability = round(0.6 + 0.39 * self.rng.random(), 6)
        source, source_id = other.records[0][1].source, other.records[0][1].source_id
        evidence = {
            "probability": probability,
            "record": {
                "source": main.records[0][1].source,
                "source_id": main.records[0][1].source_id,
            },
            "fields": [{"field": "family_name", "level": "similar", "weight": 6.2}],
            "incoming": [source, source_id],
        }
        return (
            main.customer_id,
            other.customer_id,
            probability,
            f"probable match ({probability:.3f})",
            json.dumps(evidence),
            self.now,
        )

    def _household(self, first: int, second: int, kind: str) -> tuple[Any, ...]:
        conflict = self.rng.choice(("different given names", "different birth dates"))
        probability = round(0.02 * self.rng.random(), 6)
        evidence = {"probability": 1.0, "shared": [kind], "conflict": conflict}
        return (
            first,
            second,
            probability,
            f"shares {kind} but {conflict}",
            json.dumps(evidence),
            self.now,
        )

    def flush(self) -> None:
        rows, cursor = self.rows, self.conn.cursor()
        cursor.execute("BEGIN")
        for name, sql in _SQL.items():
            values = getattr(rows, name)
            if values:
                cursor.executemany(sql, values)
                self.counts[name + "_rows"] += len(values)
        cursor.executemany(
            "INSERT OR IGNORE INTO name_token (token) VALUES (?)", [(t,) for t in rows.tokens]
        )
        cursor.execute("COMMIT")
        self.rows = _Rows()


def _link_reason(extracted: Extracted, golden: _Golden) -> str:
    """The reason the real ingest gives a record linked on shared strong identifiers."""
    first = golden.records[0][2]
    mine = {kind for kind, _ in extracted.identifiers}
    shared = sorted(
        kind
        for kind in mine
        if {v for k, v in extracted.identifiers if k == kind}
        & {v for k, v in first.identifiers if k == kind}
    )
    return "shares " + ", ".join(shared) if shared else "probable match (0.999)"


def _secondary_indexes(conn: Any) -> list[tuple[str, str]]:
    marks = ",".join("?" * len(BULK_TABLES))
    return [
        (str(name), str(sql))
        for name, sql in conn.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({marks})",
            BULK_TABLES,
        )
    ]


def build(path: Path, people: int, seed: int, *, progress: bool = True) -> dict[str, Any]:
    """Create ``path`` (which must not exist) and fill it; returns build figures."""
    if path.exists():
        raise SystemExit(f"{path} exists but its build was not completed: remove it first.")
    started = time.perf_counter()
    opened = open_cache(path, None, Unlock(passphrase=PASSPHRASE), create=True)
    database = opened.database
    raw = database.engine.raw_connection()
    conn = raw.driver_connection
    try:
        # A throw-away file until complete: no journal, no fsync, a big page cache.
        conn.execute("PRAGMA journal_mode = DELETE").fetchone()
        conn.execute("PRAGMA journal_mode = OFF").fetchone()
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA secure_delete = OFF")
        conn.execute("PRAGMA foreign_keys = OFF")  # consistent by construction (see --check)
        conn.execute("PRAGMA cache_size = -1048576")
        indexes = _secondary_indexes(conn)
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        builder = BulkBuilder(conn, people, seed)
        counts = builder.run(progress)
        loaded = time.perf_counter()
        if progress:
            print(f"  loaded in {loaded - started:.0f} s; indexing", file=sys.stderr)
        for _, sql in indexes:
            conn.execute(sql)
        # The word index holds the same names as the trigram index (ingest writes both).
        conn.execute(
            "INSERT INTO customer_search_words (rowid, names) "
            "SELECT rowid, names FROM customer_search"
        )
        # No ANALYZE: a cache filled by ingest has no planner statistics either.
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
    finally:
        raw.close()
        database.dispose()
    figures = {
        "people": people,
        "seed": seed,
        "build_s": round(time.perf_counter() - started, 1),
        "file_gb": round(path.stat().st_size / 1e9, 2),
        **dict(sorted(counts.items())),
    }
    complete_marker(path).write_text(json.dumps(figures))
    return figures


def ensure(path: Path, people: int, seed: int) -> Database:
    """The bulk cache at ``path``, built first when missing; opened for reading."""
    if not complete_marker(path).exists():
        print(f"building {path} ({people} people, bulk); a few minutes…", file=sys.stderr)
        print(json.dumps(build(path, people, seed)), file=sys.stderr)
    return open_cache(path, None, Unlock(passphrase=PASSPHRASE)).database


def _shape(database: Database) -> dict[str, float]:
    """Per golden customer: how many rows of each kind, and how the index rows look."""
    tables = (
        "source_record",
        "contact_point",
        "identifier",
        "social_profile",
        "preference",
        "consent",
        "interaction",
        "merge_suggestion",
        "name_token",
    )
    with database.read() as session:
        conn = session.connection()
        customers = conn.exec_driver_sql("SELECT count(*) FROM customer").scalar_one()
        out: dict[str, float] = {"customers": customers}
        for table in tables:
            n = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
            out[f"{table}/customer"] = round(n / customers, 3)
        for column in ("names", "emails", "phones", "cards", "handles", "city"):
            total = conn.exec_driver_sql(
                f"SELECT avg(length({column})) FROM customer_search"
            ).scalar_one()
            out[f"search.{column} chars"] = round(float(total or 0), 1)
        for column in ("lifetime_value_cents", "order_count", "followers"):
            out[f"avg {column}"] = round(
                float(conn.exec_driver_sql(f"SELECT avg({column}) FROM customer").scalar_one()), 1
            )
    return out


def check(people: int, seed: int) -> None:
    """Build ``people`` both ways (real ingest, bulk) and print their shapes side by side."""
    from customer_card.services.demo import build_demo

    real_path = Path(".bench") / f"card-check-real-{people}.db"
    bulk_path = Path(".bench") / f"card-check-bulk-{people}.db"
    for stale in (
        *real_path.parent.glob(real_path.name + "*"),
        *bulk_path.parent.glob(bulk_path.name + "*"),
    ):
        stale.unlink()
    real = open_cache(real_path, None, Unlock(passphrase=PASSPHRASE), create=True).database
    t0 = time.perf_counter()
    build_demo(real, customers=people, seed=seed)
    real_s = time.perf_counter() - t0
    figures = build(bulk_path, people, seed, progress=False)
    bulk = open_cache(bulk_path, None, Unlock(passphrase=PASSPHRASE)).database
    a, b = _shape(real), _shape(bulk)
    with bulk.read() as session:
        broken = session.connection().exec_driver_sql("PRAGMA foreign_key_check").all()
    print("foreign key violations in the bulk cache:", len(broken))
    print(f"{'':28} {'ingest':>10} {'bulk':>10}")
    print(f"{'build s':28} {real_s:10.1f} {figures['build_s']:10.1f}")
    for key in a:
        print(f"{key:28} {a[key]:10} {b[key]:10}")
    with real.read() as s1, bulk.read() as s2:
        # The same record gives the same rows: compare what the card shows of Jocelyne Michu.
        q = "SELECT names, emails, phones, handles, city FROM customer_search WHERE rowid = 1"
        print("index row, ingest:", s1.connection().exec_driver_sql(q).one())
        print("index row, bulk:  ", s2.connection().exec_driver_sql(q).one())
    real.dispose()
    bulk.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--check", action="store_true", help="compare with the real ingest")
    args = parser.parse_args()
    if args.check:
        check(args.people, args.seed)
        return 0
    path = args.db or default_path(args.people)
    if complete_marker(path).exists():
        print(complete_marker(path).read_text())
        return 0
    print(json.dumps(build(path, args.people, args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
