"""Running syncs: every configured source's streams through ingest, resumably and losslessly.

For each source, each pass (a stream, or a whole Singer tap) starts from the state committed by
the last run, and its records, checkpoints and rejections flow into ingest in batches of one
transaction each. What cannot be mapped is kept in quarantine in the transaction of the
checkpoint covering it. At the end of a full extract, the records the extract no longer lists
are marked deleted (tombstones through ingest) in the transaction that commits the extract's
final state.

A source that fails (unreachable, refused, misconfigured) records its error and the others go
on. :meth:`SyncRunner.run` reports progress after each committed batch and stops between
batches when its :class:`~sync.connector.CancelToken` is set: this is what the window's worker
calls.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import multiprocessing
import os
import pickle
import queue
import threading
import time
import traceback
from array import array
from bisect import bisect_left
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from customer_card.services.forking import can_fork, forking, start_child
from customer_card.services.ingest import (
    HistoryRecord,
    IngestItem,
    IngestReport,
    IngestService,
    history_from_values,
    prepare_history,
)
from customer_card.store.database import Database
from customer_card.store.errors import CacheDiskError, CacheError, CacheFullError
from customer_card.store.sync_store import SyncStore
from sync.connector import (
    Cancelled,
    CancelToken,
    Connector,
    ConnectorError,
    ExtractComplete,
    Item,
    Rejected,
    SecretLookup,
    StreamSpec,
    map_row,
)
from sync.mapping import MappingError
from sync.records import Checkpoint, RecordKind, SourceRecord
from sync.sources import SourceConfig

log = logging.getLogger(__name__)

_PAGE = 5000
_OUTCOMES = ("inserted", "updated", "unchanged", "deleted", "quarantined")


@dataclass
class PassSummary:
    """What one pass (a stream) of a source did."""

    source: str
    stream: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    quarantined: int = 0
    moved: int = 0  # changed records that left their customer (corrected into someone else)
    seconds: float = 0.0
    error: str | None = None
    cancelled: bool = False

    def add(self, report: IngestReport, *, read: bool = True) -> None:
        """Count in what ingest did; ``read=False`` for records the source did not send (a
        full extract's sweep marking deleted what it no longer lists)."""
        if read:
            self.read += report.read
        for outcome in _OUTCOMES:
            setattr(self, outcome, getattr(self, outcome) + report.total(outcome))
        self.moved += report.moved

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "stream": self.stream,
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "quarantined": self.quarantined,
            "moved": self.moved,
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "cancelled": self.cancelled,
        }


@dataclass
class SyncSummary:
    passes: list[PassSummary] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    cancelled: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors and not self.cancelled

    def total(self, outcome: str) -> int:
        return sum(int(getattr(p, outcome)) for p in self.passes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "cancelled": self.cancelled,
            "seconds": round(self.seconds, 3),
            "totals": {o: self.total(o) for o in ("read", *_OUTCOMES, "moved")},
            "streams": [p.as_dict() for p in self.passes],
            "errors": dict(self.errors),
        }


@dataclass(frozen=True)
class SyncProgress:
    """Sent after each committed batch (and when a pass starts)."""

    source: str
    stream: str
    read: int
    quarantined: int
    total_read: int


class SyncRunner:
    def __init__(
        self,
        database: Database,
        ingest: IngestService,
        secrets: SecretLookup,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.database = database
        self.ingest = ingest
        self.secrets = secrets
        self.clock = clock

    # --- running -------------------------------------------------------------------------------

    def run(
        self,
        sources: Sequence[SourceConfig],
        *,
        progress: Callable[[SyncProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> SyncSummary:
        summary = SyncSummary()
        started = time.perf_counter()
        self.ingest.restore_indexes()  # after a first load killed before its end
        try:
            for config in sources:
                if cancel is not None and cancel.cancelled:
                    raise Cancelled
                self._run_source(config, summary, progress, cancel)
        except Cancelled:
            summary.cancelled = True
        summary.seconds = time.perf_counter() - started
        return summary

    def _run_source(
        self,
        config: SourceConfig,
        summary: SyncSummary,
        progress: Callable[[SyncProgress], None] | None,
        cancel: CancelToken | None,
    ) -> None:
        streams = [s.name for s in config.streams]
        running: str | None = None  # the pass under way, for a cache failure's status
        recorded = False  # a pass's success is in the status
        try:
            connector = config.connector(self.secrets)
        except ConnectorError as error:
            self._failed(config.name, streams, str(error), summary)
            return
        except Exception as error:  # a connector bug must not stop the other sources
            log.exception("source %s could not be set up", config.name)
            self._failed(
                config.name, streams, f"unexpected {type(error).__name__}: {error}", summary
            )
            return
        # A cancel reaches at once a read blocked on its system (a tap that sends nothing).
        interrupt = getattr(connector, "interrupt", None)
        forget_interrupt = (
            cancel.when_cancelled(interrupt) if cancel is not None and callable(interrupt) else None
        )
        try:
            for name in connector.passes():
                if cancel is not None and cancel.cancelled:
                    raise Cancelled
                running = name
                outcome = PassSummary(config.name, name)
                summary.passes.append(outcome)
                started = time.perf_counter()
                try:
                    self._run_pass(connector, name, outcome, summary, progress, cancel)
                except (ConnectorError, MappingError, OSError) as error:
                    outcome.error = str(error)
                except Cancelled:
                    outcome.cancelled = True
                    raise
                finally:
                    outcome.seconds = time.perf_counter() - started
                if outcome.error is not None:
                    # The source is broken: its other streams would fail the same way or refer
                    # to customers this one did not bring.
                    self._failed(config.name, [name], outcome.error, summary)
                    return
                self._record(config.name, name, None)
                running, recorded = None, True  # (a later failure is not this pass's)
            self._retry_orphans(config.name, summary)
        except (CacheFullError, CacheDiskError) as error:
            stopped = self._stopped(
                config.name, [running] if running else [] if recorded else streams, error
            )
            if stopped is error:
                raise
            raise stopped from error
        except CacheError:
            raise
        except Cancelled:
            raise
        except Exception as error:  # a connector bug must not stop the other sources
            log.exception("source %s failed", config.name)
            message = f"unexpected {type(error).__name__}: {error}"
            self._failed(config.name, list(connector.passes()), message, summary)
        finally:
            if forget_interrupt is not None:
                forget_interrupt()
            close = getattr(connector, "close", None)
            if callable(close):
                close()

    def _failed(self, source: str, passes: list[str], error: str, summary: SyncSummary) -> None:
        log.warning("source %s: %s", source, error)
        summary.errors[source] = error
        for name in passes:
            self._record(source, name, error)

    def _stopped(self, source: str, passes: list[str], error: CacheError) -> CacheError:
        """The cache could not be written (a full disk): the sync stops here, and the passes
        it stopped in say why in the sync status, or the status would show their previous run
        as if nothing had happened. The failed transaction has been rolled back, which often
        gives back the little room the status needs; when it does not, the error the user sees
        says that the status could not be saved either."""
        try:
            for name in passes:
                self._record(source, name, str(error))
        except CacheError:
            log.warning("source %s: the sync status could not be saved", source, exc_info=True)
            return type(error)(
                f"{error} The sync status could not be saved either: it still shows the "
                "previous run."
            )
        return error

    def _record(self, source: str, name: str, error: str | None) -> None:
        with self.database.write() as session:
            SyncStore(session).record_outcome(source, name, self.clock(), error)

    def _run_pass(
        self,
        connector: Connector,
        name: str,
        outcome: PassSummary,
        summary: SyncSummary,
        progress: Callable[[SyncProgress], None] | None,
        cancel: CancelToken | None,
    ) -> None:
        with self.database.read() as session:
            state = SyncStore(session).state(connector.name, name)
        spec = next((s for s in connector.streams if s.name == name), None)
        tracker = _PassItems(connector.name, spec)
        done_before = summary.total("read")

        def on_batch(report: IngestReport) -> None:
            if progress is not None:
                progress(
                    SyncProgress(
                        connector.name,
                        name,
                        report.read,
                        report.total("quarantined"),
                        done_before + report.read,
                    )
                )
            if cancel is not None and cancel.cancelled:
                raise Cancelled

        # Filled as batches commit: a cancelled or failed pass still counts what it committed.
        report = IngestReport()
        items = connector.read(name, state)
        history = spec is not None and spec.kind == RecordKind.INTERACTION
        try:
            with (
                self.ingest.history_load() if history else nullcontext(),
                _read_ahead(connector, items, spec) as feed,
            ):
                self.ingest.ingest(tracker.items(feed), on_batch, report)
        finally:
            outcome.add(report)
        if tracker.complete is not None:
            outcome.add(self._sweep(connector, tracker, cancel), read=False)

    # --- full extracts -------------------------------------------------------------------------

    def _sweep(
        self, connector: Connector, tracker: _PassItems, cancel: CancelToken | None = None
    ) -> IngestReport:
        """Mark deleted what the finished full extract no longer lists, then commit its state.
        A listing of the ids (a whole read of the source again) stops when ``cancel`` is set:
        the extract's state is not committed, so the next run reads it again."""
        complete = tracker.complete
        assert complete is not None
        # The ids of the pass itself, when they are all of the extract's.
        from_pass = None if complete.resumed else tracker.seen
        if from_pass is None:
            seen = array(
                "q", sorted(self._listed_ids(connector, complete, "a resumed extract", cancel))
            )
        else:
            seen = array("q", sorted(from_pass))
        kind = str(complete.kind)
        # Only this stream's records: another stream of the same kind is not in this extract.
        prefix = _prefix_of(connector, complete.stream)

        def live_pages() -> Iterator[list[str]]:
            after = ""
            while True:
                with self.database.read() as session:
                    page = SyncStore(session).live_ids(
                        complete.source, kind, after, _PAGE, prefix=prefix
                    )
                if not page:
                    return
                yield page
                after = page[-1]

        if not seen:
            for page in live_pages():
                raise ConnectorError(
                    f"{complete.source}/{complete.stream}: the full extract is empty; refusing to "
                    f"mark every {kind} of {complete.source} deleted (at least {len(page)})"
                )

        if (
            complete.shifting
            and from_pass is not None
            and any(not _contains(seen, _id_hash(sid)) for page in live_pages() for sid in page)
        ):
            # A record the pass missed may only have moved into a page it had already read (a
            # row before it deleted in between): gone is only what a fresh listing misses too.
            # Checked first, so that the usual extract, which missed nothing, lists nothing.
            seen.extend(self._listed_ids(connector, complete, "a paged extract", cancel))
            seen = array("q", sorted(seen))

        def tombstones() -> Iterator[SourceRecord | Checkpoint]:
            for page in live_pages():
                for sid in page:
                    if not _contains(seen, _id_hash(sid)):
                        yield SourceRecord(complete.source, sid, complete.kind, {}, deleted=True)
            yield Checkpoint(complete.source, complete.stream, complete.state)

        report = self.ingest.ingest(tombstones())
        # Rows waiting in quarantine that the extract no longer lists are gone from the source
        # too: resolved, so that a retry (an order's customer arriving at last) does not bring
        # back, live, what the source deleted meanwhile.
        with self.database.read() as session:
            waiting = SyncStore(session).waiting_ids(complete.source, kind, prefix=prefix)
        gone = [qid for qid, sid in waiting if not _contains(seen, _id_hash(sid))]
        if gone:
            with self.database.write() as session:
                SyncStore(session).resolve(gone, self.clock())
        return report

    @staticmethod
    def _listed_ids(
        connector: Connector, complete: ExtractComplete, after: str, cancel: CancelToken | None
    ) -> Iterator[int]:
        """The hashes of the ids the connector lists now for the extract's stream (as the
        records carry them: with the stream's prefix, if any); ``Cancelled`` once ``cancel``
        is set."""
        ids = getattr(connector, "ids", None)
        if not callable(ids):
            raise ConnectorError(
                f"{connector.name}/{complete.stream}: cannot list ids after {after}"
            )
        for sid in ids(complete.stream):
            if cancel is not None and cancel.cancelled:
                raise Cancelled
            yield _id_hash(sid)

    # --- quarantine ----------------------------------------------------------------------------

    def _retry_orphans(self, source: str, summary: SyncSummary) -> None:
        """History records quarantined because their customer was not there yet (a tap that
        sends interactions before customers, a customer added later) get another chance."""
        with self.database.read() as session:
            rows = [
                q
                for q in SyncStore(session).quarantined(source)
                if q.reason.startswith("unknown customer")
            ]
        if not rows:
            return
        records = [r for q in rows if (r := _record_from_raw(q.source, q.kind, q.raw))]
        report = self.ingest.ingest(records)
        log.info("%s: %d orphan records retried", source, report.read)

    def reingest_quarantine(
        self,
        sources: Sequence[SourceConfig],
        source: str | None = None,
        cancel: CancelToken | None = None,
    ) -> IngestReport:
        """Map quarantined rows again with the current mapping and ingest them.

        A raw row that now maps is resolved (it is now either in the cache or back in quarantine
        with ingest's reason); a mapped record that now ingests is resolved by ingest. A row
        that still does not map goes through ingest too, as a sync's rejected rows do: it stays
        in quarantine once, with the reason the current mapping gives, and the report counts
        it among the quarantined. The rows go in the order they were kept, so that of two
        versions of one record the later one decides whether it stays.

        The rows resolved here are resolved once ingest has committed: a crash in between
        leaves a row shown twice (never lost), which the next re-ingest resolves. So does a
        ``cancel`` (the window closing), which stops it between two batches (``Cancelled``).
        """
        configs = {c.name: c for c in sources}
        with self.database.read() as session:
            rows = SyncStore(session).quarantined(source)
        items: list[IngestItem] = []
        resolved: list[int] = []
        for q in rows:
            data = _json(q.raw)
            if isinstance(data, dict) and "row" in data and "stream" in data:
                config = configs.get(q.source)
                spec = (
                    next((s for s in config.streams if s.name == data["stream"]), None)
                    if config
                    else None
                )
                if spec is None or not isinstance(data["row"], dict):
                    continue
                if data.get("problem"):
                    # What is wrong is the row itself (its cells, its bytes, its id taken by
                    # another row of the file): mapped again, it would go in as it is. It stays,
                    # counted; a sync of a corrected export resolves it.
                    items.append(
                        Rejected(q.source, spec.name, spec.kind, q.source_id, q.raw, q.reason)
                    )
                    continue
                item = map_row(q.source, spec, data["row"])
                items.append(item)
                # (Kept again as it is, the row stays; under another id — the stream's prefix
                # since added — it is kept anew and this one goes.)
                if not isinstance(item, Rejected) or (item.source_id or None, item.raw) != (
                    q.source_id,
                    q.raw,
                ):
                    resolved.append(q.id)
            else:
                record = _record_from_raw(q.source, q.kind, q.raw)
                if record is not None:
                    items.append(record)

        def stop_if_cancelled(_: IngestReport) -> None:
            if cancel is not None and cancel.cancelled:
                raise Cancelled

        # Asked for by a supervisor: a version older than the cached one goes in (kept aside
        # as older, a row would otherwise stay there for good, e.g. after a change of the
        # timezone its updated_at is read in).
        report = self.ingest.ingest(items, stop_if_cancelled, overwrite_newer=True)
        with self.database.write() as session:
            SyncStore(session).resolve(resolved, self.clock())
        return report


# What a reader hands on: a connector's items, its history records prepared for ingest.
Prepared = SourceRecord | HistoryRecord | Checkpoint | Rejected | ExtractComplete


class _ReadAhead:
    """Reads a connector's items on a thread of its own, a chunk at a time, a few chunks ahead
    of their consumer; records are hashed there too, and history records prepared (see
    :func:`_prepared_chunks`). The items come out in the same order, and the reader's
    exceptions come out where the item would have. Leaving the ``with`` block stops the reader
    and waits for it, so the connector is never read after its pass."""

    CHUNK = 500
    # Chunks end at checkpoints too, and a tap may send its state after every record: room
    # for many small chunks, so that such a source is not held back at each commit.
    DEPTH = 64

    def __init__(self, items: Iterator[Item]) -> None:
        self._items = items
        self._queue: queue.Queue[list[Prepared] | BaseException | None] = queue.Queue(self.DEPTH)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="sync-read-ahead", daemon=True)

    def __enter__(self) -> Iterator[Prepared]:
        self._thread.start()
        return self._consume()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        # A reader blocked on a full queue gets room; after the stop it queues nothing more
        # than the value it was putting, so it never blocks again.
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join()

    def _consume(self) -> Iterator[Prepared]:
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            if isinstance(chunk, BaseException):
                raise chunk
            yield from chunk

    def _read(self) -> None:
        # A chunk ends at a checkpoint too: a source that pauses (an API's next page) does
        # so after one, and what it sent must reach the ingest, which commits what waits
        # while nothing comes. (Few items per chunk cost nothing between two threads.)
        chunks = _prepared_chunks(self._items, self.CHUNK, at_checkpoints=True)
        with closing(chunks):
            try:
                for chunk in chunks:
                    if not self._put(chunk):
                        return
            except BaseException as error:  # handed to the consumer, after what came before
                self._put(error)
                return
        self._put(None)

    def _put(self, value: list[Prepared] | BaseException | None) -> bool:
        """Queue a value unless the consumer has left; False once it has."""
        if self._stop.is_set():
            return False
        self._queue.put(value)
        return not self._stop.is_set()


def _prepared_chunks(
    items: Iterator[Item],
    size: int,
    *,
    at_checkpoints: bool = False,
    prepare: Callable[[], bool] | None = None,
) -> Generator[list[Prepared], None, None]:
    """A connector's items in chunks of ``size``, prepared on the way for ingest: a customer
    record's hash computed (kept in the record), a history record replaced by its
    :class:`~customer_card.services.ingest.HistoryRecord` (row built, in plain values cheap to
    send). With ``at_checkpoints``, a chunk also ends at each checkpoint. ``prepare``, asked
    at each chunk's start, says whether its history records are prepared here; if not, they
    come as they were read (their consumer prepares them). On an error the chunk read so far
    comes first, then the error; the connector's reader is closed at the end either way."""
    chunk: list[Prepared] = []
    buffer = bytearray()  # the chunk's history records keep their fields' JSON there
    try:
        preparing = prepare is None or prepare()
        for item in items:
            if not isinstance(item, SourceRecord):
                chunk.append(item)
            elif item.kind in _HISTORY:
                chunk.append(prepare_history(item, buffer) if preparing else item)
            else:
                _ = item.content_hash
                chunk.append(item)
            if len(chunk) >= size or (at_checkpoints and type(item) is Checkpoint):
                yield chunk
                chunk = []
                buffer = bytearray()
                preparing = prepare is None or prepare()
        if chunk:
            yield chunk
    except GeneratorExit:  # the consumer left
        raise
    except BaseException:
        if chunk:
            yield chunk
        raise
    finally:
        close = getattr(items, "close", None)
        if callable(close):
            close()


def _read_ahead(
    connector: Connector, items: Iterator[Item], spec: StreamSpec | None
) -> AbstractContextManager[Iterator[Prepared]]:
    """Where a pass's items are read, mapped and prepared: in a second process when the
    connector allows it and a fork is safe here (see
    :func:`~customer_card.services.forking.can_fork`), beside this one writing; else history
    rows, many and cheap to write, on a second thread (the cipher and SQLite run without the
    GIL), and customer records here (each is matched in many short statements, which a busy
    reader thread would slow)."""
    after_fork = getattr(connector, "after_fork", None)
    if can_fork() and callable(after_fork):
        return _ReadAheadProcess(connector.name, after_fork, items)
    if spec is not None and spec.kind != RecordKind.CUSTOMER:
        return _ReadAhead(items)
    return nullcontext(items)


class _ReadAheadProcess:
    """:class:`_ReadAhead` in a forked process: reading, mapping and preparing rows cost more
    than writing them, and a thread shares this process's one core for Python. Chunks come back
    pickled through a pipe, a few batches ahead; the reader's exceptions come out where the
    item would have (with the reader's traceback as their cause, or as a
    :class:`ConnectorError` naming them when they cannot be sent), and a reader that dies is
    one clear error: the pass stops, its committed batches stay, the next run resumes from the
    last checkpoint. Leaving the ``with`` block stops the reader; the reader also dies with
    this process (see :func:`~customer_card.services.forking.start_child`). Where the fork
    fails (no memory for it), the thread reads instead."""

    CHUNK = 2000
    DEPTH = 32  # chunks the reader may hold ahead: more than one ingest batch

    def __init__(self, source: str, after_fork: Callable[[], None], items: Iterator[Item]) -> None:
        self._items = items
        context = multiprocessing.get_context("fork")
        self._receive, self._send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_read_in_child,
            args=(os.getpid(), after_fork, items, self._receive, self._send, self.CHUNK),
            kwargs={"depth": self.DEPTH},
            name=f"sync-read-{source}",
            daemon=True,
        )
        self._thread: _ReadAhead | None = None

    def __enter__(self) -> Iterator[Prepared]:
        # What the child inherits is left alone: the collector would otherwise copy every page
        # of it (copy-on-write) and finalise objects that are the parent's.
        gc.freeze()
        try:
            with forking():
                self._process.start()
        except OSError:
            log.warning("cannot fork a reader; reading on a thread", exc_info=True)
            self._receive.close()
            self._send.close()
            self._thread = _ReadAhead(self._items)
            return self._thread.__enter__()
        except BaseException:  # a Ctrl+C let through as the fork ends: no reader left behind
            self._send.close()
            if self._process.pid is not None:
                self._process.kill()
                self._process.join()
            self._receive.close()
            raise
        finally:
            gc.unfreeze()
        self._send.close()  # the child's end: EOF here once the child is gone
        return self._consume()

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._thread.__exit__(*exc)
            return
        if self._process.exitcode is None:
            self._process.kill()
        self._process.join()
        self._receive.close()

    def _consume(self) -> Iterator[Prepared]:
        while True:
            try:
                data = self._receive.recv_bytes()
            except (EOFError, OSError):
                self._process.join(5)
                raise ConnectorError(
                    f"the process reading {self._process.name.removeprefix('sync-read-')} "
                    f"stopped unexpectedly (exit code {self._process.exitcode})"
                ) from None
            tag, chunk, error, trace = pickle.loads(data)
            if tag == "read":  # history records as read: prepared here (see _read_in_child)
                yield from (
                    prepare_history(item)
                    if type(item) is SourceRecord and item.kind in _HISTORY
                    else item
                    for item in chunk
                )
            else:
                yield from _from_wire(chunk)
            if tag == "end":
                return
            if error is not None:
                raise error from _ReaderTracebackError(trace)


class _ReaderTracebackError(Exception):
    """Where the reader process failed (its traceback, as text)."""

    def __str__(self) -> str:
        return f"\n{self.args[0]}" if self.args else ""


def _read_in_child(
    parent: int,
    after_fork: Callable[[], None],
    items: Iterator[Item],
    receive: Connection,
    send: Connection,
    size: int,
    *,
    depth: int,
) -> None:
    """The read-ahead process: reads, hashes and sends chunks (tag, items, error, traceback);
    a thread sends while the next chunks are read."""
    start_child(parent)
    receive.close()  # the parent's end: once the parent is gone, sending fails
    outbox: queue.Queue[bytes | None] = queue.Queue(depth)

    def sender() -> None:
        while (data := outbox.get()) is not None:
            try:
                send.send_bytes(data)
            except OSError:  # the parent left
                os._exit(0)

    thread = threading.Thread(target=sender, name="sync-read-send", daemon=True)
    thread.start()
    message: tuple[str, list[Prepared], BaseException | None, str]
    # Reading and mapping a history row costs more than writing it, and preparing it (its
    # hash, its row) costs half as much again. While the writer has little left to write
    # (fewer than ``_READ_AHEAD`` chunks sent wait for it: it is waiting, or soon will) and
    # this process is held back by its own work (its reading thread had a core to itself for
    # the last chunk: not waiting on a database server or the network, nor sharing its
    # core), the writer prepares the rows, and this process reads on; else this one prepares
    # them. (Each chunk is decided alone: a wrong guess costs one chunk.)
    preparing = [True]
    last = [time.perf_counter(), time.thread_time()]

    def prepare() -> bool:
        wall, cpu = time.perf_counter(), time.thread_time()
        busy = (cpu - last[1]) >= _SELF_BOUND * (wall - last[0])
        last[:] = [wall, cpu]
        preparing[0] = not busy or outbox.qsize() >= _READ_AHEAD
        return preparing[0]

    try:
        after_fork()
        for chunk in _prepared_chunks(items, size, prepare=prepare):
            tag = "items" if preparing[0] else "read"
            outbox.put(pickle.dumps((tag, _to_wire(chunk), None, ""), pickle.HIGHEST_PROTOCOL))
        message = ("end", [], None, "")
    except BaseException as error:  # handed to the parent, raised after what came before
        message = ("error", [], _portable(error), traceback.format_exc())
    outbox.put(pickle.dumps(message, pickle.HIGHEST_PROTOCOL))
    outbox.put(None)
    thread.join()


# The reader process lets the writer prepare history rows while fewer chunks than this wait
# for it, and the reader had at least this share of a core to itself (see _read_in_child).
_READ_AHEAD = 2
_SELF_BOUND = 0.9
_HISTORY = (RecordKind.INTERACTION, RecordKind.CONSENT)


def _to_wire(chunk: list[Prepared]) -> list[Any]:
    """A chunk as the reader process sends it: history records as plain tuples (unpickling a
    named tuple runs its Python constructor, record by record, in the process that writes)."""
    return [tuple(item) if type(item) is HistoryRecord else item for item in chunk]


def _from_wire(chunk: list[Any]) -> list[Prepared]:
    """A chunk as :func:`_to_wire` sent it, as it was."""
    return [history_from_values(item) if type(item) is tuple else item for item in chunk]


def _portable(error: BaseException) -> BaseException:
    """The exception itself when it survives a trip through pickle, else one that says it."""
    try:
        copy = pickle.loads(pickle.dumps(error))
    except Exception:
        copy = None
    if isinstance(copy, BaseException) and str(copy) == str(error):
        return copy
    return ConnectorError(f"{type(error).__name__}: {error}")


class _PassItems:
    """Feeds a connector's items to ingest: a full extract's end is kept aside for the sweep;
    the ids a fresh full extract yields are remembered (as 64-bit hashes: 8 bytes an id) for
    the sweep. Rejected rows go on to ingest, which keeps them in quarantine in the transaction
    of the records around them (so before the checkpoint that covers them)."""

    def __init__(self, source: str, spec: StreamSpec | None) -> None:
        self.source = source
        self.complete: ExtractComplete | None = None
        self.seen: array[int] | None = array("q") if spec and spec.full_extract else None

    def items(self, source: Iterable[Prepared]) -> Iterator[IngestItem]:
        for item in source:
            if isinstance(item, SourceRecord | HistoryRecord | Rejected):
                if self.seen is not None and item.source_id:
                    self.seen.append(_id_hash(item.source_id))
                yield item
            elif isinstance(item, Checkpoint):
                yield item
            else:
                self.complete = item


def _prefix_of(connector: Connector, stream: str) -> str:
    specs = getattr(connector, "streams", ())
    return next((s.id_prefix for s in specs if getattr(s, "name", None) == stream), "")


def _id_hash(source_id: str) -> int:
    digest = hashlib.blake2b(source_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _contains(ordered: array[int], value: int) -> bool:
    i = bisect_left(ordered, value)
    return i < len(ordered) and ordered[i] == value


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _record_from_raw(source: str, kind: str | None, raw: str) -> SourceRecord | None:
    """A record quarantined by ingest, rebuilt from its raw content."""
    data = _json(raw)
    if not isinstance(data, Mapping) or not isinstance(data.get("fields"), Mapping):
        return None
    try:
        record_kind = RecordKind(str(data.get("kind") or kind))
    except ValueError:
        return None
    stamp = data.get("updated_at")
    try:
        updated_at = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        updated_at = None
    return SourceRecord(
        str(data.get("source") or source),
        str(data.get("source_id") or ""),
        record_kind,
        dict(data["fields"]),
        updated_at=updated_at,
        deleted=bool(data.get("deleted")),
    )
