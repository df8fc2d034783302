"""Ingest: every SourceRecord lands in the cache, linked to exactly one golden customer, or in
quarantine with the reason. Re-ingesting the same records changes nothing.

Records are processed in batches, one write transaction each; a connector's checkpoint is
saved in the transaction of the records it covers, so an interrupted sync resumes cleanly.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import multiprocessing
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from customer_card.domain.model import is_void
from customer_card.matching import normalise
from customer_card.matching.decide import Decision, Matcher, Proposal
from customer_card.matching.extract import Extracted, extract, names_of
from customer_card.matching.profile import profile_of
from customer_card.matching.survivorship import LinkedRecord, survive
from customer_card.services.forking import can_fork, forking, start_child
from customer_card.services.matching import Keyed, MatchIndex, default_config, keyed
from customer_card.store.database import Database
from customer_card.store.ingest_store import (
    ActivityDelta,
    GoldenUpdate,
    HistoryRow,
    IngestStore,
    LinkedFields,
    SearchRow,
    StoredItem,
    StoredRecord,
    sqlite_datetime,
)
from customer_card.store.match_store import MatchStore
from customer_card.store.overrides_store import OverrideStore
from sync.connector import Cancelled, Rejected
from sync.mapping import canonical_meant
from sync.records import Checkpoint, RecordKind, SourceRecord, canonical_json, content_digest

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """Counts per (source, kind, outcome); outcomes: inserted, updated, unchanged, deleted,
    quarantined; plus customers created, records linked to an existing customer, suggestions,
    and changed records moved to another customer (corrected into someone else)."""

    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    customers_created: int = 0
    linked: int = 0
    suggestions: int = 0
    moved: int = 0

    def add(self, source: str, kind: str, outcome: str) -> None:
        self.counts[(source, kind, outcome)] += 1

    def merge(self, other: IngestReport) -> None:
        """Count in what another report counted (a committed batch)."""
        self.counts.update(other.counts)
        self.customers_created += other.customers_created
        self.linked += other.linked
        self.suggestions += other.suggestions
        self.moved += other.moved

    def total(self, outcome: str | None = None) -> int:
        return sum(n for (_, _, o), n in self.counts.items() if outcome in (None, o))

    @property
    def read(self) -> int:
        return self.total()

    def as_dict(self) -> dict[str, Any]:
        per_stream: dict[str, dict[str, int]] = {}
        for (source, kind, outcome), n in sorted(self.counts.items()):
            per_stream.setdefault(f"{source}/{kind}", {})[outcome] = n
        return {
            "read": self.read,
            "inserted": self.total("inserted"),
            "updated": self.total("updated"),
            "unchanged": self.total("unchanged"),
            "deleted": self.total("deleted"),
            "quarantined": self.total("quarantined"),
            "customers_created": self.customers_created,
            "linked": self.linked,
            "suggestions": self.suggestions,
            "moved": self.moved,
            "streams": per_stream,
        }


class HistoryRecord(NamedTuple):
    """An interaction or consent record with its row already built (by :func:`prepare_history`,
    where the record was read — a sync's reader process or thread — or, while that reader is
    the slower of the two, where the rows are written): what ingest needs of it, in plain
    values, cheap to send through a pipe. ``row`` holds the values of the columns
    (:data:`INTERACTION_COLUMNS` or :data:`CONSENT_COLUMNS`), None when the record cannot be
    used (``error`` says why) or is a tombstone. The fields travel as their canonical JSON,
    read back only to keep the record in quarantine: ``buffer[start:end]``, a buffer the
    records read together share (one object to send and to unpickle instead of one each)."""

    source: str
    source_id: str
    kind: str
    deleted: bool
    content_hash: str
    customer_ref: str
    row: tuple[Any, ...] | None
    error: str | None
    updated_at: str | None  # ISO text
    buffer: bytes | bytearray
    start: int
    end: int

    @property
    def fields_json(self) -> bytes:
        """The record's fields as canonical JSON (UTF-8)."""
        return bytes(self.buffer[self.start : self.end])


# A connector's rejected row goes to quarantine in the transaction of the records around it
# (before the checkpoint that covers it, and in turn with what a silent source's watcher runs).
IngestItem = SourceRecord | HistoryRecord | Checkpoint | Rejected

# The values of a HistoryRecord's row, in order; times as the cache stores them (naive UTC
# text); an interaction's items as the record gave them (ingest makes them order lines).
INTERACTION_COLUMNS = (
    "channel",
    "kind",
    "direction",
    "occurred_at",
    "summary",
    "details",
    "status",
    "amount_cents",
    "currency",
    "items",
)
CONSENT_COLUMNS = ("purpose", "status", "channel", "collected_at", "source_updated_at")
_OCCURRED_AT = INTERACTION_COLUMNS.index("occurred_at")
_AMOUNT = INTERACTION_COLUMNS.index("amount_cents")
_STATUS = INTERACTION_COLUMNS.index("status")
_CURRENCY = INTERACTION_COLUMNS.index("currency")
_ITEMS = INTERACTION_COLUMNS.index("items")


def prepare_history(record: SourceRecord, buffer: bytearray | None = None) -> HistoryRecord:
    """An interaction or consent record as ingest writes it: its hash, and its row built (or
    the reason it cannot be). The same whether a reader does it ahead or ingest itself. Its
    fields' JSON is added to ``buffer`` when given (shared with the records read with it)."""
    interaction = record.kind == RecordKind.INTERACTION
    fields_json = record.fields_json()
    start = 0
    if buffer is not None:
        start = len(buffer)
        buffer += fields_json
    row: tuple[Any, ...] | None = None
    error: str | None = None
    if not record.deleted:  # a tombstone only marks its row
        try:
            if interaction:
                row = _interaction_values(record)
            else:  # few: built as a dict first
                row = _consent_values(_consent_row(record))
        except RecordError as failure:
            error = str(failure)
    return history_from_values(
        (
            record.source,
            record.source_id,
            _INTERACTION if interaction else _CONSENT,
            record.deleted,
            content_digest(fields_json, record.deleted),
            str(record.fields.get("customer_ref") or ""),
            row,
            error,
            None if record.updated_at is None else record.updated_at.isoformat(),
            fields_json if buffer is None else buffer,
            start,
            start + len(fields_json),
        )
    )


# A HistoryRecord from a tuple of its values, without its Python constructor (which cost a
# tenth of a record's preparation, and as much again to unpickle it).
history_from_values = functools.partial(tuple.__new__, HistoryRecord)
_INTERACTION, _CONSENT = str(RecordKind.INTERACTION), str(RecordKind.CONSENT)


def _consent_values(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        row["purpose"],
        row["status"],
        row["channel"],
        _optional_sqlite_datetime(row["collected_at"]),
        _optional_sqlite_datetime(row["source_updated_at"]),
    )


def _optional_sqlite_datetime(value: datetime | None) -> str | None:
    return None if value is None else sqlite_datetime(value)


class RecordError(ValueError):
    """A record that cannot be used as it is; the message becomes the quarantine reason."""


# Customer records per transaction when the caller leaves it to the service: from the smallest,
# growing while a batch's transaction stays under the time (see ``IngestService``).
CUSTOMER_BATCH_MIN = 500
CUSTOMER_BATCH_MAX = 2_000
CUSTOMER_BATCH_SECONDS = 3.0


class IngestService:
    def __init__(
        self,
        database: Database,
        *,
        region: str = normalise.DEFAULT_REGION,
        batch_size: int = 50_000,
        customer_batch_size: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.region = region
        # A transaction holds at most ``batch_size`` items, of which at most
        # ``customer_batch_size`` customer records. History rows are cheap to write but land all
        # over the table's customer-ordered indexes, and a commit encrypts and writes every page
        # the batch dirtied: a big batch dirties each page once for many rows (at 1M
        # interactions, 50,000 a batch wrote them 1.7x faster than 10,000).
        self.batch_size = batch_size
        # Each new customer is matched, so a customer batch holds the write lock longer (the
        # window's own writes, and another process's, wait for it, up to the busy timeout of
        # 5 s). Its commit costs much the same for fewer records: the match index's keys and
        # the search rows land all over their tables (at 100,000 customers, 500 a batch spent
        # 36.6 s in commits, 2,000 a batch 15.9 s). Unless the caller fixes the size, a batch
        # grows from CUSTOMER_BATCH_MIN, at most doubling, up to CUSTOMER_BATCH_MAX, while its
        # transaction stays under CUSTOMER_BATCH_SECONDS, and shrinks when it does not.
        self.adaptive = customer_batch_size is None
        self.customer_batch_size = customer_batch_size or CUSTOMER_BATCH_MIN
        self.clock = clock

    def ingest(
        self,
        items: Iterable[IngestItem],
        progress: Callable[[IngestReport], None] | None = None,
        report: IngestReport | None = None,
        *,
        overwrite_newer: bool = False,
    ) -> IngestReport:
        """Ingest every item, a transaction per batch; returns what was done. ``report``, when
        given, is filled as batches commit: after an error or a cancellation it holds exactly
        what the committed batches did. When the items stop coming for a while (a source
        fetching its next page), what came is committed meanwhile (see :class:`_Waiting`).
        ``overwrite_newer``: a customer record older (by updated_at) than the cached version
        replaces it instead of going to quarantine (a supervisor's re-ingest asks for it)."""
        report = report if report is not None else IngestReport()

        def run(batch: list[IngestItem], prepared: Mapping[int, _Prepared]) -> None:
            self._run_batch(batch, report, prepared, overwrite_newer)
            if progress:
                progress(report)

        with (
            _collected_between_batches(),
            _Extractor(self.region, min(self.customer_batch_size, CUSTOMER_BATCH_MIN)) as extractor,
            _Waiting(run) as waiting,
        ):
            # While a batch is matched and written here, the customer records of the next one
            # are normalised in a second process: the two halves of the work, side by side.
            failed: list[Exception] = []
            for batch in self._batches(items, waiting, failed):
                extraction = extractor.start(batch)
                waiting.run()
                if extraction is None:
                    run(batch, {})
                else:
                    waiting.hold(batch, extraction)
            waiting.run()
        if failed:
            raise failed[0]
        return report

    def _batches(
        self, items: Iterable[IngestItem], waiting: _Waiting, failed: list[Exception]
    ) -> Iterator[list[IngestItem]]:
        """The items in batches; what the source sent before it fell silent ``waiting`` may
        have run already (a batch is then yielded without it: it may be shorter).

        When the source fails (not a cancel), the last batch ends at its last checkpoint and
        the error goes into ``failed``, for the caller to raise once the batches are written:
        what the checkpoint covers is kept, so a source failing at the same place every run
        (a tap dying after its STATE) still gets on; the rest is read again next run."""
        batch = waiting.fill([])
        customers = 0
        source = iter(items)
        while True:
            try:
                item = next(source)
            except StopIteration:
                break
            except Cancelled:
                raise
            except Exception as error:
                failed.append(error)
                left = waiting.left(batch)
                ends = [i for i, x in enumerate(left) if isinstance(x, Checkpoint)]
                if ends:
                    yield left[: ends[-1] + 1]
                return
            if waiting.failed:  # the watcher ran a batch and failed: stop reading now
                waiting.run()
            batch.append(item)
            # (a rejected row costs a quarantine look-up: counted as a customer record)
            if type(item) is Rejected or (
                isinstance(item, SourceRecord) and item.kind == RecordKind.CUSTOMER
            ):
                customers += 1
            if len(batch) >= self.batch_size or customers >= self.customer_batch_size:
                left = waiting.left(batch)
                if left:
                    yield left
                batch = waiting.fill([])
                customers = 0
        left = waiting.left(batch)
        if left:
            yield left

    @contextmanager
    def history_load(self) -> Iterator[None]:
        """Around a stream of history records: into an empty history (a first load) they go
        without the secondary indexes, built once at the end, also after an error or a
        cancellation. A process killed in between leaves them missing until
        :meth:`restore_indexes` (every sync run starts with it); the rows are all there."""
        with self.database.write() as session:
            dropped = IngestStore(session).drop_history_indexes()
        try:
            yield
        finally:
            if dropped:
                self.restore_indexes()

    def restore_indexes(self) -> None:
        """Build the history's indexes a first load left out (if any)."""
        with self.database.read() as session:
            missing = IngestStore(session).missing_history_indexes()
        if missing:
            with self.database.write() as session:
                built = IngestStore(session).create_history_indexes()
            if built:
                log.info("history indexes built: %s", ", ".join(built))

    def _run_batch(
        self,
        batch: list[IngestItem],
        report: IngestReport,
        prepared: Mapping[int, _Prepared],
        overwrite_newer: bool = False,
    ) -> None:
        done = IngestReport()
        started = time.perf_counter()
        with self.database.write() as session:
            written = _Batch(IngestStore(session), self, done, prepared, overwrite_newer)
            written.run(batch)
        self._size_customer_batches(written.customer_records, time.perf_counter() - started)
        report.merge(done)  # only once committed
        if not gc.isenabled():  # (see _collected_between_batches)
            gc.collect(1)

    def _size_customer_batches(self, customers: int, seconds: float) -> None:
        """The next batches' customer records, from how long this batch's transaction took
        (waiting for the lock included: a busy cache makes them smaller)."""
        if not self.adaptive or customers < CUSTOMER_BATCH_MIN // 2:
            return  # (a short batch, a source falling silent, tells little)
        fits = int(customers * CUSTOMER_BATCH_SECONDS / max(seconds, 1e-3))
        self.customer_batch_size = max(
            CUSTOMER_BATCH_MIN, min(CUSTOMER_BATCH_MAX, fits, 2 * self.customer_batch_size)
        )

    def rebuild(self, store: IngestStore, customer_ids: set[int]) -> None:
        """Rebuild the golden fields, value figures and search rows of these customers inside
        the caller's transaction (after a merge or an unmerge moved their records)."""
        batch = _Batch(store, self, IngestReport(), {})
        batch.touched_golden |= customer_ids
        batch._rebuild_golden()
        store.refresh_activity(customer_ids, batch.now)


@contextmanager
def _collected_between_batches() -> Iterator[None]:
    """Around an ingest: the cyclic garbage collector runs after each batch (on the young
    objects: what the batch left) instead of as objects are made. A batch holds tens of
    thousands of records alive while it is read and written, so the collector would otherwise
    run its full collection over all of them again and again (at 1M interactions, 49 full
    collections: about a third of the writing process's time). What the batches left to the
    oldest generation goes at the collector's next full collection, not in one at the end: in
    the window's process (a background sync) that would hold up the screen for its length."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class _Batch:
    """One transaction's worth of records."""

    def __init__(
        self,
        store: IngestStore,
        service: IngestService,
        report: IngestReport,
        prepared: Mapping[int, _Prepared],
        overwrite_newer: bool = False,
    ) -> None:
        self.store = store
        self.prepared = prepared  # by id() of the record: extracted in the second process
        self.overwrite_newer = overwrite_newer
        self.region = service.region
        self.now = service.clock()
        self.report = report
        self.touched_golden: set[int] = set()
        # Customers whose value figures need their whole history again (an interaction of
        # theirs changed or went), and what new interactions add to the others'.
        self.touched_activity: set[int] = set()
        self.activity_added: dict[int, ActivityDelta] = {}
        # Customer records whose details are replaced by this batch's version.
        self.cleared: set[int] = set()
        self.records_by_key: dict[tuple[str, str], StoredRecord] = {}
        self.quarantined: list[dict[str, Any]] = []
        self.accepted: dict[tuple[str, str], set[str]] = {}  # (source, kind) -> source ids
        # Details to insert at the end of the batch, by source record (a record changed twice in
        # one batch keeps only its last version), with its part of the search row when the
        # second process made it.
        self.staged: dict[int, tuple[int, Extracted, _SearchParts | None]] = {}
        self._matching: MatchIndex | None = None  # built on the first new customer record
        # New customer records waiting to be matched together, in arrival order.
        self.new_records: list[tuple[SourceRecord, Extracted]] = []
        self.new_keys: set[tuple[str, str]] = set()
        self.customer_records = 0  # in the batch (how long they take sizes the next ones)

    def run(self, batch: list[IngestItem]) -> None:
        customers: list[SourceRecord] = []
        history: dict[str, list[HistoryRecord]] = {
            RecordKind.INTERACTION: [],
            RecordKind.CONSENT: [],
        }
        unknown: list[SourceRecord] = []
        rejected: list[Rejected] = []
        for item in batch:
            if isinstance(item, HistoryRecord):
                history[item.kind].append(item)
            elif isinstance(item, SourceRecord):
                if item.kind == RecordKind.CUSTOMER:
                    customers.append(item)
                elif item.kind in history:
                    history[item.kind].append(prepare_history(item))
                else:
                    unknown.append(item)
            elif isinstance(item, Rejected):
                rejected.append(item)
        kept = _rejected_last(batch) if rejected else set()
        self.customer_records = len(customers)

        self._load_source_records(customers)
        for record in customers:
            self._customer(record)
        self._link_new()
        self._insert_details()
        self._history(history[RecordKind.INTERACTION], interaction=True)
        self._history(history[RecordKind.CONSENT], interaction=False)
        for record in unknown:
            self._quarantine(record, f"unknown record kind {record.kind!r}")
        for row in rejected:
            self._keep(row.source, row.source_id or "", str(row.kind), row.raw, row.reason)

        self._rebuild_golden()
        added = [d for cid, d in self.activity_added.items() if cid not in self.touched_activity]
        if added:
            self.store.add_activity(added, self.now)
        if self.touched_activity:
            self.store.refresh_activity(self.touched_activity, self.now)
        self.store.quarantine(self.quarantined)
        pending = self.store.sources_in_quarantine()
        for (source, kind), ids in self.accepted.items():
            if source in pending:
                resolving = {sid for sid in ids if (source, kind, sid) not in kept}
                self.store.resolve_quarantine(source, kind, resolving, self.now)
        # Checkpoints follow each other: the last of each stream covers the whole batch.
        states = {(c.source, c.stream): c.state for c in batch if isinstance(c, Checkpoint)}
        for (source, stream), state in states.items():
            self.store.save_state(source, stream, state, self.now)

    # --- customers --------------------------------------------------------------------------

    def _load_source_records(self, customers: list[SourceRecord]) -> None:
        by_source: dict[str, set[str]] = {}
        for record in customers:
            by_source.setdefault(record.source, set()).add(record.source_id)
        for source, ids in by_source.items():
            for sid, stored in self.store.source_records(source, ids).items():
                self.records_by_key[(source, sid)] = stored

    def _customer(self, record: SourceRecord) -> None:
        if not record.source_id:
            self._quarantine(record, "no source id")
            return
        key = (record.source, record.source_id)
        if key in self.new_keys:
            self._link_new()  # its first version is placed before this one is compared with it
        stored = self.records_by_key.get(key)
        if stored is not None and stored.content_hash == record.content_hash:
            self._accept(record, "unchanged")
            return
        if (
            stored is not None
            and record.updated_at is not None
            and stored.updated_at is not None
            and record.updated_at < stored.updated_at
            and not (record.deleted and stored.deleted)
            # A supervisor's re-ingest applies an older version on purpose, but neither brings
            # back a record its source deleted since nor deletes one on an older deletion: it
            # re-ingests every row kept aside, to fix a mapping, not to decide these.
            and (not self.overwrite_newer or stored.deleted or record.deleted)
        ):
            # The source sent a version older than the one cached (an export restored from a
            # backup, a stale copy): it would undo the newer one, delete it, or bring back a
            # record its source deleted since. Kept aside, said.
            what = "a deletion older" if record.deleted else "older"
            since = ", which its source deleted" if stored.deleted else ""
            self._quarantine(
                record,
                f"{what} than the version in the cache{since} (updated "
                f"{record.updated_at.astimezone(UTC):%Y-%m-%d %H:%M}, the cached one "
                f"{stored.updated_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)",
            )
            return
        if record.deleted:
            self._delete_customer_record(record, stored)
            return
        prepared = self.prepared.get(id(record))
        extracted = prepared.extracted if prepared else extract(record.fields, self.region)
        if not extracted.has_identity:
            self._quarantine(record, _nameless(record))
            return

        if stored is None:
            # New records are matched together (see ``_link_new``), in arrival order.
            self.new_records.append((record, extracted))
            self.new_keys.add(key)
            return
        # A changed record moves in the match index: the new records before it go in first.
        self._link_new()
        self.cleared.add(stored.id)
        self.staged.pop(stored.id, None)
        self.store.update_source_record(
            stored.id,
            fields=record.fields,
            updated_at=record.updated_at,
            content_hash=record.content_hash,
            deleted=False,
            now=self.now,
        )
        customer_id, record_id = stored.customer_id, stored.id
        reindexed = self._match_index().reindex(
            record.source, record.source_id, record.fields, extracted, customer_id
        )
        if reindexed is not None and not reindexed.moves:
            # It stays: the customers it now links or may link to are suggested with its own.
            decision = reindexed.decision
            self._suggest(
                record, customer_id, (*filter(None, [decision.link]), *decision.suggestions)
            )
        elif reindexed is not None:
            # Corrected into someone its customer's other records are not: it leaves them.
            suggested = self._match_index().store.last_suggestion()
            target, reason = self._customer_for(record, reindexed.decision)
            if target != customer_id:
                self.store.move_record(record_id, customer_id, target, reason)
                # What it was suggested for goes with it (its card is no longer that person).
                self._match_index().store.follow_moved_record(
                    (record.source, record.source_id), customer_id, target, suggested
                )
                self.touched_golden.add(customer_id)
                self.touched_activity |= {customer_id, target}
                self.report.moved += 1
                customer_id = target
        self._placed(record, record_id, customer_id, extracted, "updated")

    def _placed(
        self,
        record: SourceRecord,
        record_id: int,
        customer_id: int,
        extracted: Extracted,
        outcome: str,
    ) -> None:
        self.records_by_key[(record.source, record.source_id)] = StoredRecord(
            record_id, customer_id, record.content_hash, False, record.updated_at
        )
        prepared = self.prepared.get(id(record))
        self.staged[record_id] = (customer_id, extracted, prepared.search if prepared else None)
        self.touched_golden.add(customer_id)
        self._accept(record, outcome)

    def _link_new(self) -> None:
        """Match the new records met since the last call, all at once and in arrival order
        (the same decisions as one at a time: each is matched against the ones before it), and
        store each with the customer it belongs to."""
        pending = self.new_records
        if not pending:
            return
        self.new_records = []
        self.new_keys = set()

        def place(i: int, decision: Decision[int]) -> int:
            record, extracted = pending[i]
            customer_id, reason = self._customer_for(record, decision)
            prepared = self.prepared.get(id(record))
            record_id = self.store.insert_source_record(
                source=record.source,
                source_id=record.source_id,
                customer_id=customer_id,
                fields=record.fields,
                updated_at=record.updated_at,
                content_hash=record.content_hash,
                link_reason=reason,
                now=self.now,
                fields_json=prepared.fields_json if prepared else None,
            )
            self._placed(record, record_id, customer_id, extracted, "inserted")
            return customer_id

        known: list[Keyed | None] = []
        for record, _ in pending:
            prepared = self.prepared.get(id(record))
            known.append(prepared.keyed if prepared else None)
        self._match_index().match_many(
            [(r.source, r.source_id, r.fields, x) for r, x in pending], place, known
        )

    def _delete_customer_record(self, record: SourceRecord, stored: StoredRecord | None) -> None:
        if stored is None or stored.deleted:
            self._accept(record, "unchanged")
            return
        self._link_new()  # a deleted record stops being a candidate for the records after it
        # Marked, never dropped: the row stays for provenance, its details stop matching.
        self.cleared.add(stored.id)
        self.staged.pop(stored.id, None)
        # An undated tombstone (a full extract's sweep) keeps the last version's date (and the
        # max keeps it from going back): a version older than the last one seen must not
        # bring the record back.
        updated_at = max(filter(None, (record.updated_at, stored.updated_at)), default=None)
        self.store.update_source_record(
            stored.id,
            fields=record.fields or None,  # (none: its last version stays)
            updated_at=updated_at,
            content_hash=record.content_hash,
            deleted=True,
            now=self.now,
        )
        self.records_by_key[(record.source, record.source_id)] = StoredRecord(
            stored.id, stored.customer_id, record.content_hash, True, updated_at
        )
        self.touched_golden.add(stored.customer_id)
        self._accept(record, "deleted")

    def _customer_for(self, record: SourceRecord, decision: Decision[int]) -> tuple[int, str]:
        """The golden customer a new record belongs to, and why, from its match decision
        (strong identifiers link unless the rest disagrees; otherwise the match model's
        probability decides); probable matches become suggestions with their evidence."""
        if decision.link is not None:
            customer_id, reason = decision.link.cluster, decision.link.reason
            self.report.linked += 1
        else:
            customer_id = self.store.new_customer(self.now)
            reason = "new customer"
            self.report.customers_created += 1
        self._suggest(record, customer_id, decision.suggestions)
        return customer_id, reason[:200]

    def _suggest(
        self, record: SourceRecord, customer_id: int, proposals: Iterable[Proposal[int]]
    ) -> None:
        """Each other customer proposed for a record suggested with the record's customer,
        with its evidence, for a supervisor (or the next ``match run``)."""
        for s in proposals:
            if s.cluster != customer_id:
                evidence = {**s.evidence, "incoming": [record.source, record.source_id]}
                if self._match_index().store.suggest(
                    customer_id, s.cluster, s.probability, s.reason, evidence
                ):
                    self.report.suggestions += 1

    def _match_index(self) -> MatchIndex:
        index = self._matching
        if index is None:
            index = MatchIndex(
                MatchStore(self.store.session), Matcher(default_config()), self.region
            )
            self._matching = index
        return index

    def _insert_details(self) -> None:
        if self.cleared:
            self.store.clear_details(self.cleared)
        contacts: list[dict[str, Any]] = []
        identifiers: list[dict[str, Any]] = []
        social: list[dict[str, Any]] = []
        preferences: list[dict[str, Any]] = []
        for record_id, (customer_id, extracted, _) in self.staged.items():
            base = {"customer_id": customer_id, "source_record_id": record_id}
            contacts.extend(
                {
                    **base,
                    "kind": c.kind,
                    "value": c.value,
                    "normalised": c.normalised,
                    "valid": c.valid,
                    "is_primary": c.primary,
                    "label": c.label,
                }
                for c in extracted.contacts
            )
            identifiers.extend(
                {**base, "kind": kind, "value": value} for kind, value in extracted.identifiers
            )
            social.extend(
                {**base, "network": x.network, "handle": x.handle, "followers": x.followers}
                for x in extracted.social
            )
            preferences.extend(
                {**base, "key": key, "value": value} for key, value in extracted.preferences
            )
        self.store.insert_details(contacts, identifiers, social, preferences)

    def _rebuild_golden(self) -> None:
        if not self.touched_golden:
            return
        linked = self.store.linked_fields(self.touched_golden)
        # A customer with no live record left is who its deleted ones said (their last
        # versions are kept): the same whichever batch saw them live.
        gone = [cid for cid, records in linked.items() if not records]
        if gone:
            linked.update(self.store.linked_fields(gone, deleted=True))
        public_ids = self.store.public_ids(self.touched_golden)
        # Fields a supervisor pinned win over the survivorship rules.
        pinned = OverrideStore(self.store.session).values_of(self.touched_golden)
        # Records of earlier batches: their details as stored (not extracted again).
        earlier = self.store.search_details(
            [r.record_id for rs in linked.values() for r in rs if r.record_id not in self.staged]
        )
        updates: list[GoldenUpdate] = []
        rows: list[SearchRow] = []
        tokens: set[str] = set()
        for cid, records in linked.items():
            golden = survive(
                [LinkedRecord(r.source, r.updated_at, r.fields) for r in records], pinned.get(cid)
            )
            updates.append(
                GoldenUpdate(
                    customer_id=cid,
                    given_name=golden.given_name,
                    family_name=golden.family_name,
                    birth_date=golden.birth_date,
                    language=golden.language,
                    city=golden.city,
                    postcode=golden.postcode,
                    loyalty_tier=golden.loyalty_tier,
                    loyalty_card=golden.loyalty_card,
                    vip=golden.vip,
                    customer_since=golden.customer_since,
                    followers=golden.followers,
                )
            )
            row, row_tokens = self._search_row(
                cid, public_ids.get(cid, ""), records, golden.city, earlier
            )
            rows.append(row)
            tokens |= row_tokens
        self.store.update_golden(updates, self.now)  # (active again: one with a live record)
        if gone:
            self.store.mark_deleted(gone, self.now)
        self.store.reindex(rows, tokens)

    def _search_row(
        self,
        customer_id: int,
        public_id: str,
        records: list[LinkedFields],
        city: str | None,
        earlier: Mapping[int, tuple[list[tuple[str, str]], list[tuple[str, str]]]],
    ) -> tuple[SearchRow, set[str]]:
        names: dict[str, None] = {}
        emails: dict[str, None] = {}
        phones: dict[str, None] = {}
        cards: dict[str, None] = {public_id.lower(): None}
        handles: dict[str, None] = {}
        for record in records:
            # Records of this batch were extracted on the way in; older ones were stored then.
            staged = self.staged.get(record.record_id)
            if staged is None:
                parts = _search_parts(
                    *names_of(record.fields), *earlier[record.record_id], self.region
                )
            elif staged[2] is None:
                parts = _search_parts_of(staged[1], self.region)
            else:
                parts = staged[2]
            if parts.name:
                names[parts.name] = None
            emails.update(dict.fromkeys(parts.emails))
            phones.update(dict.fromkeys(parts.phones))
            handles.update(dict.fromkeys(parts.handles))
            cards.update(dict.fromkeys(parts.cards))
            if record.fields.get("loyalty_card"):
                cards[str(record.fields["loyalty_card"]).lower()] = None
        tokens = {t for n in names for t in n.split() if len(t) >= 2}
        row = SearchRow(
            customer_id=customer_id,
            names=" | ".join(names),
            emails=" ".join(emails),
            phones=" ".join(phones),
            cards=" ".join(cards),
            handles=" ".join(handles),
            city=normalise.fold(city or ""),
        )
        return row, tokens

    # --- interactions and consents ------------------------------------------------------------

    def _customer_of(self, items: list[HistoryRecord]) -> dict[tuple[str, str], StoredRecord]:
        missing: dict[str, set[str]] = {}
        known = self.records_by_key
        for item in items:
            ref = item.customer_ref
            if ref and (item.source, ref) not in known:
                missing.setdefault(item.source, set()).add(ref)
        for source, refs in missing.items():
            for sid, stored in self.store.source_records(source, refs).items():
                known[(source, sid)] = stored
        return known

    def _history(self, items: list[HistoryRecord], *, interaction: bool) -> None:
        if not items:
            return
        owners = self._customer_of(items)
        existing: dict[tuple[str, str], StoredItem] = {}
        by_source: dict[str, set[str]] = {}
        for item in items:
            by_source.setdefault(item.source, set()).add(item.source_id)
        for source, ids in by_source.items():
            found = (self.store.interactions if interaction else self.store.consents)(source, ids)
            for sid, stored_item in found.items():
                existing[(source, sid)] = stored_item

        # New rows by record (the same new record twice in one batch: its last version goes
        # in), as the store inserts them; changed ones by row id.
        inserts: dict[tuple[str, str], HistoryRow] = {}
        updates: dict[int, dict[str, Any]] = {}
        kind = "interaction" if interaction else "consent"
        columns = INTERACTION_COLUMNS if interaction else CONSENT_COLUMNS
        counts = self.report.counts
        accepted: dict[str, set[str]] = {}  # this kind's entries of self.accepted, by source
        for item in items:
            source, source_id = item.source, item.source_id
            if not source_id:
                self._quarantine_history(item, "no source id")
                continue
            key = (source, source_id)
            stored = existing.get(key)
            # A record met earlier in this batch is compared with the version it left.
            pending = inserts.get(key)
            if pending is not None:
                current: str | None = pending[4]
            elif stored is not None:
                current = updates.get(stored.id, {}).get("content_hash", stored.content_hash)
            else:
                current = None
            if current == item.content_hash:
                outcome = "unchanged"
            elif item.deleted and stored is None:
                if pending is None or pending[5]:
                    outcome = "unchanged"
                else:
                    # New in this batch and already gone: kept, marked, like any other.
                    cid, rid, _, _, _, _, kept = pending
                    inserts[key] = (cid, rid, source, source_id, item.content_hash, True, kept)
                    outcome = "deleted"
            elif item.deleted:
                assert stored is not None
                if interaction:
                    # The previous owner's figures change (a delete).
                    self.touched_activity.add(stored.customer_id)
                # A tombstone needs no fields: mark the row, keep it for the record (with what
                # an earlier version in this batch brought).
                updates[stored.id] = {
                    **updates.get(stored.id, {}),
                    "id": stored.id,
                    "deleted": True,
                    "content_hash": item.content_hash,
                }
                outcome = "deleted"
            else:
                if stored is not None and interaction:
                    # The previous owner's figures change too (a move to another customer).
                    self.touched_activity.add(stored.customer_id)
                ref = item.customer_ref
                owner = owners.get((source, ref)) if ref else None
                if owner is None and stored is None:
                    self._quarantine_history(
                        item, f"unknown customer {ref!r} in {source}" if ref else "no customer_ref"
                    )
                    continue
                values = item.row
                if values is None:
                    self._quarantine_history(item, item.error or "no row")
                    continue
                if interaction:
                    try:
                        values = _with_order_lines(values)
                    except RecordError as error:
                        self._quarantine_history(item, str(error))
                        continue
                if stored is not None:
                    row = dict(zip(columns, values, strict=True))
                    row["id"] = stored.id
                    row["content_hash"] = item.content_hash
                    row["deleted"] = False
                    if owner is not None:
                        row["customer_id"] = owner.customer_id
                        row["source_record_id"] = owner.id
                    if not interaction:
                        row["source"], row["source_id"] = source, source_id
                    updates[stored.id] = row
                    if interaction:
                        self.touched_activity.add(row.get("customer_id", stored.customer_id))
                    outcome = "updated"
                else:
                    assert owner is not None
                    inserts[key] = (
                        owner.customer_id,
                        owner.id,
                        source,
                        source_id,
                        item.content_hash,
                        False,
                        values,
                    )
                    outcome = "inserted"
            counts[(source, kind, outcome)] += 1
            taken = accepted.get(source)
            if taken is None:
                taken = accepted[source] = self.accepted.setdefault((source, kind), set())
            taken.add(source_id)

        rows = list(inserts.values())
        if interaction:
            self.store.insert_interactions(rows)
            self.store.update_interactions(list(updates.values()))
            for cid, _, _, _, _, deleted, values in rows:
                if not deleted:
                    self._add_activity(cid, values)
        else:
            self.store.insert_consents(rows)
            self.store.update_consents(list(updates.values()))

    def _add_activity(self, customer_id: int, row: tuple[Any, ...]) -> None:
        """Count a new interaction into its customer's figures (as the full re-total would:
        a purchase is a positive amount, unless cancelled or returned; a contact is any
        interaction)."""
        delta = self.activity_added.get(customer_id)
        if delta is None:
            delta = self.activity_added[customer_id] = ActivityDelta(customer_id)
        occurred: str = row[_OCCURRED_AT]  # naive UTC text: text order is time order
        amount = row[_AMOUNT]
        if amount is not None and amount > 0 and not is_void(row[_STATUS]):
            delta.value_cents += amount
            delta.orders += 1
            if delta.last_purchase is None or occurred > delta.last_purchase:
                delta.last_purchase = occurred
        if delta.last_contact is None or occurred > delta.last_contact:
            delta.last_contact = occurred

    # --- bookkeeping ----------------------------------------------------------------------------

    def _accept(self, record: SourceRecord, outcome: str) -> None:
        self.report.add(record.source, str(record.kind), outcome)
        self.accepted.setdefault((record.source, str(record.kind)), set()).add(record.source_id)

    def _quarantine(self, record: SourceRecord, reason: str) -> None:
        try:
            raw = canonical_json(
                {
                    "source": record.source,
                    "source_id": record.source_id,
                    "kind": str(record.kind),
                    "updated_at": record.updated_at,
                    "deleted": record.deleted,
                    "fields": record.fields,
                }
            )
        except (TypeError, ValueError):
            raw = repr(record)
        self._keep(record.source, record.source_id, str(record.kind), raw, reason)

    def _quarantine_history(self, item: HistoryRecord, reason: str) -> None:
        # The same text as the record's own (its fields' canonical JSON reads back to values
        # that write the same text).
        raw = canonical_json(
            {
                "source": item.source,
                "source_id": item.source_id,
                "kind": item.kind,
                "updated_at": item.updated_at,
                "deleted": item.deleted,
                "fields": json.loads(item.fields_json),
            }
        )
        self._keep(item.source, item.source_id, item.kind, raw, reason)

    def _keep(self, source: str, source_id: str, kind: str, raw: str, reason: str) -> None:
        self.report.add(source, kind, "quarantined")
        self.quarantined.append(
            {
                "source": source,
                "source_id": source_id or None,
                "kind": kind,
                "raw": raw,
                "reason": reason,
                "created_at": self.now,
            }
        )


def _nameless(record: SourceRecord) -> str:
    """Why a customer record is kept aside for having nothing to know it by, with the typo
    that would explain it: a field mapped as ``givn_name`` leaves every record nameless."""
    meant = [(f, m) for f in record.fields if (m := canonical_meant(f))]
    if not meant:
        return "no name, identifier or contact point"
    typos = "; ".join(
        f"its field {field!r} is none the cache reads (did you mean {m!r}?)" for field, m in meant
    )
    return f"no name, identifier or contact point; {typos}"


def _rejected_last(batch: list[IngestItem]) -> set[tuple[str, str, str]]:
    """(source, kind, source id) of the records a batch rejects after it last met them (the
    same record twice: a source repeating it, a re-ingest of two kept versions): they stay in
    quarantine. Met after its rejection, a record resolves it."""
    met: dict[tuple[str, str, str], int] = {}
    rejected: dict[tuple[str, str, str], int] = {}
    for at, item in enumerate(batch):
        if isinstance(item, Rejected):
            if item.source_id:
                rejected[(item.source, str(item.kind), item.source_id)] = at
        elif not isinstance(item, Checkpoint):
            met[(item.source, str(item.kind), item.source_id)] = at
    return {key for key, at in rejected.items() if at > met.get(key, -1)}


class _SearchParts(NamedTuple):
    """What one source record adds to its customer's search row, in the row's order."""

    name: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    handles: tuple[str, ...]
    cards: tuple[str, ...]


def _search_parts(
    given: str,
    family: str,
    contacts: Iterable[tuple[str, str]],
    identifiers: Iterable[tuple[str, str]],
    region: str,
) -> _SearchParts:
    """A record's part of the search row, from its names, its (kind, normalised) contacts
    and its (kind, value) identifiers: as extracted, or as stored for an earlier record."""
    emails: list[str] = []
    phones: list[str] = []
    handles: list[str] = []
    for kind, normalised in contacts:
        if kind == "email":
            emails.append(normalised)
        elif kind == "phone":
            phones += (normalised, normalise.national_digits(normalised, region))
        elif kind == "social":
            handles.append("@" + normalised)
    cards = [value.lower() for kind, value in identifiers if kind in ("loyalty_card", "crm_id")]
    return _SearchParts(
        normalise.fold(f"{given} {family}"),
        tuple(emails),
        tuple(phones),
        tuple(handles),
        tuple(cards),
    )


def _search_parts_of(extracted: Extracted, region: str) -> _SearchParts:
    return _search_parts(
        extracted.given_name,
        extracted.family_name,
        [(c.kind, c.normalised) for c in extracted.contacts],
        extracted.identifiers,
        region,
    )


class _Prepared(NamedTuple):
    """What the second process computes of a customer record: everything that depends on
    the record alone, so that the batch only matches and writes."""

    extracted: Extracted
    keyed: Keyed
    fields_json: str  # as ``IngestStore.insert_source_record`` stores the fields
    search: _SearchParts


def _prepare(fields: list[Mapping[str, Any]], region: str) -> list[_Prepared | None]:
    """What matching and writing need of customer records, computed in the second process.
    A record it fails on is left to the batch (None), which meets the error where it always
    did: only if the record is new or changed."""
    out: list[_Prepared | None] = []
    for f in fields:
        try:
            extracted = extract(f, region)
            out.append(
                _Prepared(
                    extracted,
                    keyed(profile_of(f, region, extracted)),
                    json.dumps(dict(f)),
                    _search_parts_of(extracted, region),
                )
            )
        except Exception:  # raised again by the batch, for the records it uses
            out.append(None)
    return out


class _Extraction:
    """The extraction of one batch's customer records, under way in the second process."""

    def __init__(
        self,
        extractor: _Extractor,
        records: list[SourceRecord],
        pending: Future[list[_Prepared | None]],
    ) -> None:
        self._extractor = extractor
        self._records = records
        self._pending = pending

    def result(self) -> dict[int, _Prepared]:
        """What the second process prepared; nothing (the batch extracts every record itself)
        when it failed or died: an OOM kill, a crash in an extension."""
        try:
            prepared = self._pending.result()
        except Exception:
            log.warning("the extraction process failed; extracting in this one", exc_info=True)
            self._extractor.broken = True
            return {}
        return {id(r): p for r, p in zip(self._records, prepared, strict=True) if p is not None}


class _Extractor:
    """A second process (forked once a stream proves big: its second full batch of customer
    records; the first is matched and committed at once, so that a source pausing after it —
    a tap fetching its next page — leaves it saved) that normalises customer records ahead of
    the batch being matched; it only runs pure functions on the fields it is given (no cache,
    no connector). Once there, it also takes the short batch that ends the stream.

    Only on Linux, from the main thread of a machine with another core (the command line's
    ``sync run``): a fork from the window's sync thread would copy a process whose other
    threads hold Qt and the cache, and other systems have no fork."""

    def __init__(self, region: str, batch_customers: int) -> None:
        self.region = region
        self.batch_customers = batch_customers
        self.full_batches = 0
        self.pool: ProcessPoolExecutor | None = None
        self.broken = not can_fork()

    def __enter__(self) -> _Extractor:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def start(self, batch: list[IngestItem]) -> _Extraction | None:
        """Start extracting the batch's customer records (tombstones aside; which ones are new
        or changed only the batch knows); None when it is not worth a process (few customer
        records, or the first full batch of a stream) or not possible."""
        if self.broken:
            return None
        records = [
            item
            for item in batch
            if isinstance(item, SourceRecord)
            and item.kind == RecordKind.CUSTOMER
            and item.source_id
            and not item.deleted
        ]
        if not records or (self.pool is None and len(records) < self.batch_customers):
            return None
        if self.pool is None:
            self.full_batches += 1
            if self.full_batches < 2:
                return None
            self.pool = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("fork"),
                initializer=start_child,
                initargs=(os.getpid(),),
            )
        with forking():  # (the pool forks its process at the first submit)
            pending = self.pool.submit(_prepare, [r.fields for r in records], self.region)
        return _Extraction(self, records, pending)


class _Waiting:
    """What a source sent and is waiting to be matched and written, run by a thread of its own
    when the source falls silent (a tap or an API fetching its next page, slowly) instead of
    when the next batch is read: the batch whose customer records the second process is
    extracting, once it has waited :attr:`PATIENCE_S` for the next one, and the batch being
    filled, once no item has come for as long. The thread and the ingest take turns under one
    lock, so batches still commit in their order, each with the checkpoints it holds; what the
    thread raised (a full disk, a cancel from the progress callback) is raised by the ingest
    at the next item the source sends (:attr:`failed`), so a failed pass reads at most one item
    more.

    The batch being filled is only read by the thread, never changed: it runs a copy of the
    items it has not run yet (a copy and an append each happen whole), and :meth:`left` gives
    the ingest the rest."""

    PATIENCE_S = 1.0

    def __init__(self, run: Callable[[list[IngestItem], Mapping[int, _Prepared]], None]) -> None:
        self._run = run
        self._turn = threading.Condition()
        self._held: tuple[list[IngestItem], _Extraction] | None = None
        self._held_since = 0.0
        self._filling: list[IngestItem] | None = None
        self._taken = 0  # items of the batch being filled that the thread has run
        self._error: BaseException | None = None
        self.failed = False  # set after _error; read without the lock, at every item
        self._closed = False
        self._thread = threading.Thread(target=self._watch, name="ingest-waiting", daemon=True)

    def __enter__(self) -> _Waiting:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # After an error what waits is dropped, as the items not read yet are; a batch the
        # thread is running is finished first.
        with self._turn:
            self._closed = True
            self._held = None
            self._filling = None
            self._turn.notify()
        self._thread.join()

    def fill(self, batch: list[IngestItem]) -> list[IngestItem]:
        """The batch the ingest starts filling."""
        with self._turn:
            self._filling, self._taken = batch, 0
        return batch

    def left(self, batch: list[IngestItem]) -> list[IngestItem]:
        """The filled batch, without what the thread has run of it."""
        with self._turn:
            taken, self._filling, self._taken = self._taken, None, 0
        return batch[taken:] if taken else batch

    def hold(self, batch: list[IngestItem], extraction: _Extraction) -> None:
        """Keep the batch until :meth:`run` (or until it has waited too long)."""
        with self._turn:
            assert self._held is None
            self._held = (batch, extraction)
            self._held_since = time.monotonic()
            self._turn.notify()

    def run(self) -> None:
        """Run the batch held, if the thread has not already."""
        with self._turn:
            held, self._held = self._held, None
            if self._error is not None:
                raise self._error
            if held is not None:
                self._run(held[0], held[1].result())

    def _watch(self) -> None:
        filling: list[IngestItem] | None = None
        size = 0
        quiet_since = time.monotonic()
        with self._turn:
            while not self._closed:
                now = time.monotonic()
                current = self._filling
                current_size = 0 if current is None else len(current)
                if current is not filling or current_size != size:
                    filling, size, quiet_since = current, current_size, now
                silent = now - quiet_since >= self.PATIENCE_S
                held = self._held is not None and now - self._held_since >= self.PATIENCE_S
                if self._error is None and (held or (silent and size > self._taken)):
                    try:
                        self._run_waiting(silent)
                    except BaseException as error:  # raised by the ingest, in its thread
                        self._error = error
                        self.failed = True
                self._turn.wait(self.PATIENCE_S / 4)

    def _run_waiting(self, silent: bool) -> None:
        if self._held is not None:
            (batch, extraction), self._held = self._held, None
            self._run(batch, extraction.result())
        if silent and self._filling is not None:
            part = self._filling[self._taken :]
            self._taken += len(part)
            if part:
                self._run(part, {})


def _datetime(value: Any, field_name: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError as error:
            raise RecordError(f"unparseable {field_name} {value!r}") from error
    elif isinstance(value, int | float) and not isinstance(value, bool):
        # Seconds or milliseconds since 1970? Only the source knows: it says so in the mapping.
        raise RecordError(
            f"{field_name} {value!r} is a number, not a date: give its format in the mapping "
            '(datetime = "epoch" for seconds since 1970)'
        )
    else:
        raise RecordError(f"missing {field_name}")
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        # In UTC, as the cache keeps it (year 1 east of UTC has none): converted once, here.
        return parsed.astimezone(UTC)
    except OverflowError:
        raise RecordError(f"{field_name} out of range: {value!r}") from None


def _sqlite_time(value: Any, field_name: str) -> str:
    """``sqlite_datetime(_datetime(value, field_name))``, without building a datetime and
    writing it out again where ``value`` is the ISO text of a UTC time
    (``2024-03-01T09:30:05[.250000]+00:00``, what the mapping makes of a database's times): the
    same text, once the text is known to read as a time."""
    if (
        type(value) is str
        and (len(value) == 25 or (len(value) == 32 and value[19] == "."))
        and value[10] == "T"
        and value[4] == value[7] == "-"
        and value[13] == value[16] == ":"
        and value.endswith("+00:00")
    ):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            pass  # said by the general way
        else:
            return f"{value[:10]} {value[11:19]}{value[19:26] if len(value) == 32 else '.000000'}"
    return sqlite_datetime(_datetime(value, field_name))


def _optional_datetime(value: Any, field_name: str) -> datetime | None:
    return None if value in (None, "") else _datetime(value, field_name)


def _cents(value: Any) -> int | None:
    if value in (None, ""):
        return None
    plain = _PLAIN_AMOUNT.fullmatch(value) if type(value) is str else None
    if plain is not None:  # most amounts: the same cents as the Decimal below, 4x faster
        whole, fraction = plain.groups()
        return int(whole + (fraction or "").ljust(2, "0"))
    try:
        amount = Decimal(str(value).replace("\u00a0", "").replace(" ", "").replace(",", "."))
    except InvalidOperation as error:
        raise RecordError(f"unparseable amount {value!r}") from error
    if not amount.is_finite():
        raise RecordError(f"unparseable amount {value!r}")
    if amount.adjusted() > 18:  # (1e999999 overflowed the arithmetic below: a crash)
        raise RecordError(f"amount {value!r} is out of range")
    cents = int((amount * 100).to_integral_value())
    if not _INT64_MIN <= cents <= _INT64_MAX:
        raise RecordError(f"amount {value!r} is out of range")
    return cents


# What an SQLite INTEGER holds.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# An amount with at most two decimals (and few enough digits for an INTEGER in cents).
_PLAIN_AMOUNT = re.compile(r"([+-]?[0-9]{1,15})(?:\.([0-9]{1,2}))?")


def _text(value: Any, limit: int | None = None) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text[:limit] if limit else text


# Currencies as exports write them when not as an ISO 4217 code (compared upper-case, without
# spaces or dots).
_CURRENCY_NAMES = {
    "€": "EUR",
    "EURO": "EUR",
    "EUROS": "EUR",
    "$": "USD",
    "US$": "USD",
    "$US": "USD",
    "£": "GBP",
    "¥": "JPY",
    "FR": "CHF",
    "SFR": "CHF",
    "CA$": "CAD",
    "$CA": "CAD",
    "C$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "R$": "BRL",
    "KČ": "CZK",
    "ZŁ": "PLN",
    "₹": "INR",
    "₽": "RUB",
    "₺": "TRY",
    "₩": "KRW",
    "₪": "ILS",
}


def _currency(value: Any) -> str | None:
    """A currency as its ISO 4217 code: EUR, or € and euros; a :class:`RecordError` for what
    is neither (it was cut to three characters: "dollars" stored as "DOL")."""
    text = _text(value)
    if not text:
        return None
    folded = "".join(text.upper().split()).replace(".", "")
    if len(folded) == 3 and folded.isascii() and folded.isalpha():
        return folded
    code = _CURRENCY_NAMES.get(folded)
    if code is None:
        raise RecordError(f"unknown currency {text[:40]!r} (give its ISO code: EUR, USD…)")
    return code


def _interaction_values(record: SourceRecord) -> tuple[Any, ...]:
    """The values of an interaction's columns (:data:`INTERACTION_COLUMNS`) from its fields;
    a :class:`RecordError` when they cannot be had."""
    f = record.fields
    channel = _text(f.get("channel"), 16) or "other"
    currency = _currency(f.get("currency"))
    return (
        channel,
        _text(f.get("kind"), 16) or channel,
        _text(f.get("direction"), 16),
        _sqlite_time(f.get("occurred_at"), "occurred_at"),
        _text(f.get("summary")) or "",
        _text(f.get("details")),
        _text(f.get("status"), 16),
        _cents(f.get("amount")),
        currency,
        f.get("items"),  # as given: see _with_order_lines
    )


def _with_order_lines(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """An interaction's values with its ``items`` as the order lines to store (a
    :class:`RecordError` names the line at fault). Done by ingest itself rather than where the
    record was read: with the rest of the row built there, a sync's reader had more to do per
    order than its writer (the e-shop stream of the benchmark); this evens them out."""
    items = values[_ITEMS]
    if items is None:
        return values
    return (*values[:_ITEMS], _order_lines(items, values[_CURRENCY]))


def _interaction_row(record: SourceRecord) -> dict[str, Any]:
    """The same values by column, ``occurred_at`` as an aware datetime."""
    values = _with_order_lines(_interaction_values(record))
    row = dict(zip(INTERACTION_COLUMNS, values, strict=True))
    row["occurred_at"] = datetime.fromisoformat(row["occurred_at"]).replace(tzinfo=UTC)
    return row


# One order line as stored: line number, sku, name, quantity, unit price in cents, currency,
# category.
OrderLineRow = tuple[int, str | None, str, int, int, str | None, str | None]


def _order_lines(value: Any, currency: str | None) -> list[OrderLineRow] | None:
    """The canonical ``items`` field: a list of ``{sku, name, quantity, unit_price,
    category?, currency?}`` (or that list as JSON text, from a CSV column); a line's currency
    defaults to the order's. Anything else is a :class:`RecordError` naming the line at
    fault: a line is never dropped silently."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise RecordError(f"items is not valid JSON ({error.msg})") from error
    if not isinstance(value, list):
        raise RecordError(f"items must be a list of order lines, not {type(value).__name__}")
    lines: list[OrderLineRow] = []
    for number, line in enumerate(value, start=1):
        if not isinstance(line, Mapping):
            raise RecordError(f"items line {number} is not an object")
        sku = _text(line.get("sku"), 64) or None
        name = _text(line.get("name"), 200) or sku
        if not name:
            raise RecordError(f"items line {number} has neither name nor sku")
        quantity = _whole(line.get("quantity"))
        if not quantity:  # a negative quantity is a line returned (a refund in the order)
            raise RecordError(
                f"items line {number}: quantity {line.get('quantity')!r} is not a non-zero "
                "whole number"
            )
        try:
            price = _cents(line.get("unit_price"))
        except RecordError as error:
            raise RecordError(f"items line {number}: {error}") from None
        if price is None:  # a negative price is a discount or a voucher line
            raise RecordError(f"items line {number}: unit_price is missing")
        try:
            line_currency = _currency(line.get("currency")) or currency
        except RecordError as error:
            raise RecordError(f"items line {number}: {error}") from None
        lines.append(
            (
                number,
                sku,
                name,
                quantity,
                price,
                line_currency,
                _text(line.get("category"), 64) or None,
            )
        )
    return lines


def _whole(value: Any) -> int | None:
    """A whole number SQLite can hold, given as a number or as ASCII digits; None for anything
    else (superscripts, huge values)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if not (digits.isascii() and digits.isdigit()):
            return None
        value = int(text)
    if isinstance(value, int) and _INT64_MIN <= value <= _INT64_MAX:
        return value
    return None


def _consent_row(record: SourceRecord) -> dict[str, Any]:
    f = record.fields
    purpose = _text(f.get("purpose"), 64)
    if not purpose:
        raise RecordError("missing purpose")
    status = (_text(f.get("status"), 16) or "unknown").lower()
    if status not in ("granted", "withdrawn", "denied", "unknown"):
        raise RecordError(f"unknown consent status {status!r}")
    return {
        "source": record.source,
        "source_id": record.source_id,
        "purpose": purpose,
        "status": status,
        "channel": _text(f.get("channel"), 32),
        "collected_at": _optional_datetime(f.get("collected_at"), "collected_at"),
        "source_updated_at": record.updated_at,
    }
