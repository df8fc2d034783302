"""Syncs as the window sees them: run the configured sources, say how each one is doing, list
the quarantine, and tell whether a customer's card changed.

The window never reads the sources file, the sync bookkeeping or the cache itself: it asks this
service, from a worker thread, and gets plain dataclasses back. The sources file is read again
for every run and every status, so an edited file is picked up without restarting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from customer_card.domain.model import CustomerCard
from customer_card.services.ingest import IngestReport
from customer_card.services.sync_runner import SyncProgress, SyncRunner, SyncSummary
from customer_card.store.card_store import CardStore
from customer_card.store.database import Database
from customer_card.store.sync_store import StreamStatus, SyncStore
from sync.connector import CancelToken
from sync.sources import SourceConfig, SourcesError, load_sources

__all__ = [
    "CancelToken",
    "CardStamp",
    "QuarantineEntry",
    "SourceStatus",
    "SourcesError",
    "SyncOverview",
    "SyncService",
    "card_stamp",
    "next_run_at",
]

log = logging.getLogger(__name__)

QUARANTINE_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """One source: its configuration (when it is still in the sources file) and its last runs."""

    name: str
    type: str  # "" when the source is no longer in the sources file
    enabled: bool
    schedule_seconds: int | None
    streams: tuple[str, ...]
    last_success_at: datetime | None  # the latest stream success
    last_run_at: datetime | None  # the latest activity of any stream, success or failure
    last_error: str | None  # one line, prefixed with the stream when only some failed
    quarantined: int

    @property
    def configured(self) -> bool:
        return bool(self.type)

    @property
    def scheduled(self) -> bool:
        return self.configured and self.enabled and self.schedule_seconds is not None


@dataclass(frozen=True, slots=True)
class SyncOverview:
    """Every source's status, or why the sources file cannot be used."""

    path: Path
    sources: tuple[SourceStatus, ...]
    error: str | None = None  # the sources file is missing or wrong: one line

    @property
    def quarantined(self) -> int:
        return sum(s.quarantined for s in self.sources)


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    id: int
    source: str
    source_id: str | None
    kind: str | None
    reason: str
    created_at: datetime
    raw: str


CardStamp = CustomerCard
"""What a card looked like: a card without its lazily loaded parts (related customers, kinds).
Two stamps are equal when the card shows the same thing."""


def card_stamp(card: CustomerCard) -> CardStamp:
    return replace(card, related=(), kinds=())


def next_run_at(
    status: SourceStatus, last_attempt: datetime | None, now: datetime
) -> datetime | None:
    """When a scheduled source runs next: its schedule after its last run (or after the last
    attempt this session made, if later); now when it never ran. None when not scheduled."""
    if not status.scheduled or status.schedule_seconds is None:
        return None
    runs = [t for t in (status.last_run_at, last_attempt) if t is not None]
    if not runs:
        return now
    return max(runs) + timedelta(seconds=status.schedule_seconds)


class SyncService:
    def __init__(self, database: Database, runner: SyncRunner, sources_path: Path) -> None:
        self.database = database
        self.runner = runner
        self.sources_path = sources_path

    @property
    def configured(self) -> bool:
        """A sources file exists (it may still be wrong: running says why)."""
        return self.sources_path.is_file()

    def run(
        self,
        names: Sequence[str] | None = None,
        *,
        progress: Callable[[SyncProgress], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> SyncSummary:
        """Run the enabled sources (or the named ones) from the sources file as it is now.
        Raises :class:`SourcesError` when the file cannot be used."""
        sources = load_sources(self.sources_path)
        selected = (
            sources.select(None)
            if names is None
            else [c for name in names for c in sources.select(name)]
        )
        return self.runner.run(selected, progress=progress, cancel=cancel)

    def reingest(
        self, source: str | None = None, *, cancel: CancelToken | None = None
    ) -> IngestReport:
        """Map the quarantined records (of ``source``, or all) again with the sources file as it
        is now and ingest them: what a supervisor does after fixing a mapping. Raises
        :class:`SourcesError` when the file cannot be used, ``Cancelled`` when ``cancel`` stops
        it between two batches."""
        sources = load_sources(self.sources_path)
        return self.runner.reingest_quarantine(sources.select(None), source, cancel)

    def overview(self) -> SyncOverview:
        """Every configured source (and any source the cache still remembers) with its last
        success, last error and quarantine count."""
        error: str | None = None
        configs: dict[str, SourceConfig] = {}
        try:
            configs = dict(load_sources(self.sources_path).sources)
        except SourcesError as failure:
            error = str(failure)
        with self.database.read() as session:
            store = SyncStore(session)
            rows = store.status()
            counts = store.quarantine_counts()
        by_source: dict[str, list[StreamStatus]] = {}
        for row in rows:
            by_source.setdefault(row.source, []).append(row)
        names = list(configs) + sorted((set(by_source) | set(counts)) - set(configs))
        statuses = tuple(
            _status(name, configs.get(name), by_source.get(name, []), counts.get(name, 0))
            for name in names
        )
        return SyncOverview(self.sources_path, statuses, error)

    def quarantined(
        self, source: str | None = None, limit: int = QUARANTINE_LIMIT
    ) -> list[QuarantineEntry]:
        """Records kept aside and not resolved yet, oldest first (at most ``limit``)."""
        with self.database.read() as session:
            rows = SyncStore(session).quarantined(source, limit=limit)
        return [
            QuarantineEntry(q.id, q.source, q.source_id, q.kind, q.reason, q.created_at, q.raw)
            for q in rows
        ]

    def card_stamp(self, customer_id: int) -> CardStamp | None:
        """The stamp of the card the window would show for this customer now (following merge
        redirects); None when the customer is gone."""
        with self.database.read() as session:
            store = CardStore(session)
            resolved = store.resolve(customer_id)
            card = None if resolved is None else store.card(resolved, with_kinds=False)
        return None if card is None else card_stamp(card)


def _status(
    name: str, config: SourceConfig | None, rows: list[StreamStatus], quarantined: int
) -> SourceStatus:
    if config is not None:
        wanted = {s.name for s in config.streams}
        # A Singer tap runs as one pass named after the tap: keep every row of the source.
        rows = [r for r in rows if r.stream in wanted] or rows
    successes = [r.last_success_at for r in rows if r.last_success_at is not None]
    runs = [t for r in rows for t in (r.updated_at, r.last_success_at) if t is not None]
    errors = {r.stream: r.last_error for r in rows if r.last_error}
    error: str | None = None
    if errors:
        distinct = set(errors.values())
        if len(distinct) == 1 and len(errors) == len(rows):
            error = distinct.pop()  # the whole source failed
        else:
            stream, message = next(iter(errors.items()))
            error = f"{stream}: {message}"
        error = _one_line(error)
    return SourceStatus(
        name=name,
        type=config.type if config is not None else "",
        enabled=config.enabled if config is not None else False,
        schedule_seconds=config.schedule_seconds if config is not None else None,
        streams=tuple(s.name for s in config.streams) if config is not None else (),
        last_success_at=max(successes) if successes else None,
        last_run_at=max(runs) if runs else None,
        last_error=error,
        quarantined=quarantined,
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())
