"""The connector protocol: what every reader of a company system offers the sync runner.

A connector is built from one ``[sources.NAME]`` section of the sources file. It lists its
streams (customers, interactions, consents …) and reads one stream from a saved state,
yielding, in order:

- :class:`~sync.records.SourceRecord` — a row mapped to canonical fields;
- :class:`Rejected` — a row that could not be mapped (no id, unparseable date, bad
  encoding …): the runner keeps it in quarantine with its raw content and the reason;
- :class:`~sync.records.Checkpoint` — the state after everything yielded before it; ingest
  commits it in the same transaction as those records, so a stopped sync resumes there;
- :class:`ExtractComplete` — last item of a *full* extract: every record of the stream that
  was not seen since ``started_at`` has disappeared from the system. The runner marks those
  records deleted, then commits ``state``.

Connectors never see the cache: they only get their state back. Secrets come from a
:data:`SecretLookup` the caller provides (the keychain), never from the sources file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from sync.mapping import MappingError, StreamMapping, raw_json
from sync.records import Checkpoint, RecordKind, SourceRecord

log = logging.getLogger(__name__)

SecretLookup = Callable[[str], str]
"""Returns the secret stored under a name; raises :class:`MissingSecretError` when absent."""


class ConnectorError(Exception):
    """A source cannot be read (unreachable, refused, misconfigured): one clear message."""


class MissingSecretError(ConnectorError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"secret {name!r} is not in the keychain; store it with "
            f"`customer-card sources set-secret {name}`"
        )
        self.name = name


class Cancelled(Exception):  # noqa: N818 (a signal, not an error)
    """Raised between batches when the caller asked the sync to stop."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row that could not become a SourceRecord: kept in quarantine, never dropped."""

    source: str
    stream: str
    kind: RecordKind
    source_id: str | None
    raw: str
    reason: str


@dataclass(frozen=True, slots=True)
class ExtractComplete:
    """End of a full extract: records not seen since ``started_at`` are gone from the source."""

    source: str
    stream: str
    kind: RecordKind
    started_at: datetime
    state: Mapping[str, Any]
    resumed: bool = False
    """The pass resumed a stopped run: the ids it saw are not all of the extract's ids, so the
    runner lists them again with the connector's ``ids(stream)``."""
    shifting: bool = False
    """The positions this read went by can shift under it (page or offset paging): a record
    deleted from a page already read moves the records after it back by one, so a record the
    pass did not see may have moved into a page it had read. The runner then confirms with a
    fresh ``ids(stream)`` what the pass missed before marking it deleted."""


Item = SourceRecord | Checkpoint | Rejected | ExtractComplete


@dataclass(frozen=True)
class StreamSpec:
    """One stream of a source as configured: what it holds and how its rows are mapped.

    ``options`` holds the connector-specific keys of the stream (``file``, ``table``,
    ``query``, ``path`` …), already checked by the connector.
    """

    name: str
    kind: RecordKind
    mapping: StreamMapping
    options: Mapping[str, Any] = field(default_factory=dict)
    full_extract: bool = False
    """A full extract lists every live record: what it no longer lists was deleted."""
    id_prefix: str = ""
    """Put before each record's id when several streams of a source hold the same kind of
    record (an order 1 and a ticket 1 are two interactions): ``"<stream>:"``."""


class Connector(Protocol):
    """A reader of one company system.

    :meth:`passes` names the separately resumable reads, in the order to run them (for most
    connectors one per stream, customers first; a Singer tap is one pass over all its streams).
    Each pass keeps its own state, saved under ``(source, pass name)``.
    """

    name: str
    streams: tuple[StreamSpec, ...]

    def passes(self) -> tuple[str, ...]: ...

    def read(self, name: str, state: Mapping[str, Any] | None) -> Iterator[Item]:
        """Yield one pass's items from ``state`` (``None``: from the beginning)."""
        ...


class ForkSafe(Protocol):
    """A connector whose reads may run in a forked child process (the runner reads history
    there, beside the process that writes the cache). Called first thing in the child:
    whatever the parent opened and may use again (pooled database connections, sockets) must
    be left to the parent, without closing it."""

    def after_fork(self) -> None: ...


class Interruptible(Protocol):
    """A connector whose read can block for long on its system (a tap that sends nothing for a
    while). ``interrupt`` is called from another thread when the sync is cancelled: the read
    blocked in the pass must end soon after, by raising :class:`Cancelled`, having yielded
    nothing past what the system had sent."""

    def interrupt(self) -> None: ...


class ListsIds(Protocol):
    """A connector that can list a stream's current ids: for a full extract resumed mid-way,
    and to confirm what a read whose positions shift (``ExtractComplete.shifting``) missed."""

    def ids(self, name: str) -> Iterator[str]: ...


def ordered_streams(streams: Iterable[StreamSpec]) -> tuple[str, ...]:
    """Stream names, customers first: history records refer to customers of the same source."""
    ranked = sorted(
        enumerate(streams), key=lambda pair: (pair[1].kind != RecordKind.CUSTOMER, pair[0])
    )
    return tuple(stream.name for _, stream in ranked)


class CancelToken:
    """Set from any thread; the runner checks it between batches. What cannot wait for the next
    batch (a reader blocked on a silent system) registers with :meth:`when_cancelled`."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            _call(callback)

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def when_cancelled(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Have ``callback`` called (on the cancelling thread) when the token is cancelled, at
        once if it already is; returns the function that forgets it again."""
        with self._lock:
            already = self._event.is_set()
            if not already:
                self._callbacks.append(callback)
        if already:
            _call(callback)

        def forget() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return forget


def _call(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:  # the cancel itself (the flag) has happened; the reader stops at a batch
        log.exception("a cancel callback failed")


def map_rows(
    source: str,
    stream: StreamSpec,
    rows: Iterable[Mapping[str, Any]],
) -> Iterator[SourceRecord | Rejected]:
    """Apply a stream's mapping to raw rows: a record per good row, a rejection per bad one."""
    for row in rows:
        yield map_row(source, stream, row)


def prefixed(stream: StreamSpec, source_id: str | None) -> str | None:
    """A source id as the stream's records carry it: with the stream's prefix, if it has one
    (streams of one kind in one source). Rejected rows and ``ids()`` carry it too, so that a
    full extract's sweep and the quarantine's resolution compare like with like."""
    return stream.id_prefix + source_id if source_id and stream.id_prefix else source_id


def map_row(source: str, stream: StreamSpec, row: Mapping[str, Any]) -> SourceRecord | Rejected:
    try:
        record = stream.mapping.apply(source, stream.kind, row)
        if stream.id_prefix:
            record = replace(record, source_id=stream.id_prefix + record.source_id)
        return record
    except MappingError as error:
        return Rejected(
            source=source,
            stream=stream.name,
            kind=stream.kind,
            source_id=prefixed(stream, error.source_id),
            raw=raw_json(stream.name, row),
            reason=str(error),
        )
