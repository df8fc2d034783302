"""Sync bookkeeping: per-stream status, the quarantine, the outbox, and the live ids of a
source (to find records that disappeared from a full extract).

Takes the session of the caller's transaction; returns plain dataclasses.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from customer_card.store import models as m


@dataclass(frozen=True, slots=True)
class StreamStatus:
    source: str
    stream: str
    state: Mapping[str, Any]
    updated_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class QuarantinedRecord:
    id: int
    source: str
    source_id: str | None
    kind: str | None
    raw: str
    reason: str
    created_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    created_at: datetime
    target_source: str | None
    action: str
    customer_id: int | None
    payload: Mapping[str, Any]
    status: str
    sent_at: datetime | None


_LIVE_TABLES: dict[str, Any] = {
    "customer": m.SourceRecord.__table__,
    "interaction": m.Interaction.__table__,
    "consent": m.Consent.__table__,
}


class SyncStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- status ------------------------------------------------------------------------------

    def status(self) -> list[StreamStatus]:
        rows = self.session.scalars(
            select(m.SyncState).order_by(m.SyncState.source, m.SyncState.stream)
        )
        return [
            StreamStatus(
                r.source, r.stream, dict(r.state), r.updated_at, r.last_success_at, r.last_error
            )
            for r in rows
        ]

    def state(self, source: str, stream: str) -> dict[str, Any] | None:
        row = self.session.get(m.SyncState, (source, stream))
        return None if row is None else dict(row.state)

    def record_outcome(
        self, source: str, stream: str, now: datetime, error: str | None = None
    ) -> None:
        """A run of a stream ended: success clears the error; a failure keeps the state."""
        row = self.session.get(m.SyncState, (source, stream))
        if row is None:
            row = m.SyncState(source=source, stream=stream, state={}, updated_at=now)
            self.session.add(row)
        if error is None:
            row.last_success_at = now
            row.last_error = None
        else:
            row.last_error = error
        self.session.flush()

    def reset(self, source: str, streams: Collection[str] | None = None) -> int:
        """Forget a source's saved positions (the next run reads everything again)."""
        query = update(m.SyncState).where(m.SyncState.source == source)
        if streams:
            query = query.where(m.SyncState.stream.in_(sorted(streams)))
        result = self.session.execute(query.values(state={}))
        return int(getattr(result, "rowcount", 0) or 0)

    # --- quarantine ---------------------------------------------------------------------------

    def quarantined(
        self, source: str | None = None, *, include_resolved: bool = False, limit: int | None = None
    ) -> list[QuarantinedRecord]:
        q = select(m.Quarantine).order_by(m.Quarantine.id)
        if source is not None:
            q = q.where(m.Quarantine.source == source)
        if not include_resolved:
            q = q.where(m.Quarantine.resolved_at.is_(None))
        if limit is not None:
            q = q.limit(limit)
        return [
            QuarantinedRecord(
                r.id, r.source, r.source_id, r.kind, r.raw, r.reason, r.created_at, r.resolved_at
            )
            for r in self.session.scalars(q)
        ]

    def quarantine_counts(self) -> dict[str, int]:
        rows = self.session.execute(
            select(m.Quarantine.source, func.count())
            .where(m.Quarantine.resolved_at.is_(None))
            .group_by(m.Quarantine.source)
        )
        return {str(source): int(n) for source, n in rows}

    def resolve(self, ids: Collection[int], now: datetime) -> None:
        if ids:
            self.session.execute(
                update(m.Quarantine)
                .where(m.Quarantine.id.in_(sorted(ids)))
                .where(m.Quarantine.resolved_at.is_(None))
                .values(resolved_at=now)
            )

    # --- full extracts --------------------------------------------------------------------------

    def waiting_ids(self, source: str, kind: str, *, prefix: str = "") -> list[tuple[int, str]]:
        """The unresolved quarantine rows of a source's kind that have an id (starting with
        ``prefix``: one stream's), as (row id, source id)."""
        q = (
            select(m.Quarantine.id, m.Quarantine.source_id)
            .where(m.Quarantine.source == source)
            .where(m.Quarantine.kind == kind)
            .where(m.Quarantine.resolved_at.is_(None))
            .where(m.Quarantine.source_id.is_not(None))
        )
        if prefix:
            q = q.where(m.Quarantine.source_id.startswith(prefix, autoescape=True))
        return [(int(qid), str(sid)) for qid, sid in self.session.execute(q)]

    def live_ids(
        self, source: str, kind: str, after: str, limit: int, *, prefix: str = ""
    ) -> list[str]:
        """The source's live (not deleted) ids of a kind, in order, after ``after`` (and
        starting with ``prefix``: one stream's records when streams share a kind)."""
        t = _LIVE_TABLES[kind]
        q = (
            select(t.c.source_id)
            .where(t.c.source == source)
            .where(t.c.deleted.is_(False))
            .where(t.c.source_id > max(after, prefix))
            .order_by(t.c.source_id)
            .limit(limit)
        )
        if prefix:
            q = q.where(t.c.source_id.startswith(prefix, autoescape=True))
        if kind == "customer":
            q = q.where(t.c.kind == "customer")
        return [str(sid) for sid in self.session.scalars(q)]

    # --- outbox ------------------------------------------------------------------------------

    def enqueue(
        self,
        *,
        target_source: str | None,
        action: str,
        customer_id: int | None,
        payload: Mapping[str, Any],
        now: datetime,
    ) -> int:
        row = m.Outbox(
            created_at=now,
            target_source=target_source,
            action=action,
            customer_id=customer_id,
            payload=dict(payload),
            status="pending",
        )
        self.session.add(row)
        self.session.flush()
        return int(row.id)

    def outbox(
        self, *, status: str | None = "pending", after_id: int = 0, limit: int = 1000
    ) -> list[OutboxEntry]:
        q = select(m.Outbox).where(m.Outbox.id > after_id).order_by(m.Outbox.id).limit(limit)
        if status is not None:
            q = q.where(m.Outbox.status == status)
        return [
            OutboxEntry(
                r.id,
                r.created_at,
                r.target_source,
                r.action,
                r.customer_id,
                dict(r.payload),
                r.status,
                r.sent_at,
            )
            for r in self.session.scalars(q)
        ]

    def mark_outbox(self, ids: Collection[int], status: str, now: datetime) -> None:
        """Mark pending entries (``exported``, ``sent``); handled entries stay as they are."""
        ordered = sorted(ids)
        for start in range(0, len(ordered), 500):
            self.session.execute(
                update(m.Outbox)
                .where(m.Outbox.id.in_(ordered[start : start + 500]))
                .where(m.Outbox.status == "pending")
                .values(status=status, sent_at=now)
            )
