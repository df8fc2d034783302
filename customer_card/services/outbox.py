"""The write-back outbox: changes made in the app, queued for the company systems.

A note, a call outcome, a corrected phone, a consent change or a merge decision is queued with
its target source (the system that owns the data, or none for "any system that wants it") in
the transaction that makes the change, so nothing is queued that did not happen and nothing
that happened is missed. A connector configured for write-back pushes the entries; at the very
least they are exported as JSON lines (``customer-card outbox export --output FILE``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from customer_card.services.files import private_text_file
from customer_card.store.database import Database
from customer_card.store.sync_store import OutboxEntry, SyncStore

EXPORT_FORMAT = "customer-card/outbox"
EXPORT_VERSION = 1
ACTIONS = frozenset(
    {"note", "call_outcome", "contact_correction", "consent_change", "merge", "unmerge"}
)


class OutboxService:
    def __init__(
        self, database: Database, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.database = database
        self.clock = clock

    def enqueue(
        self,
        store: SyncStore,
        action: str,
        *,
        customer_id: int | None,
        payload: Mapping[str, Any],
        target_source: str | None = None,
    ) -> int:
        """Queue a change inside the caller's transaction (pass ``SyncStore(session)``)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown outbox action {action!r}")
        return store.enqueue(
            target_source=target_source,
            action=action,
            customer_id=customer_id,
            payload=payload,
            now=self.clock(),
        )

    def queue(
        self,
        action: str,
        *,
        customer_id: int | None,
        payload: Mapping[str, Any],
        target_source: str | None = None,
    ) -> int:
        """Queue a change in a transaction of its own."""
        with self.database.write() as session:
            return self.enqueue(
                SyncStore(session),
                action,
                customer_id=customer_id,
                payload=payload,
                target_source=target_source,
            )

    def pending(self, limit: int = 1000) -> list[OutboxEntry]:
        with self.database.read() as session:
            return SyncStore(session).outbox(limit=limit)

    def export_jsonl(
        self, path: Path, *, mark_exported: bool = True, everything: bool = False
    ) -> int:
        """Write the pending entries (or all of them) as JSON lines; returns how many.

        The file is written whole before anything is marked, so an interrupted export leaves
        the entries pending and no half file behind. (Into a pipe or the terminal the lines go
        as they come: the command line exports there only with ``mark_exported`` off.)
        """
        status = None if everything else "pending"
        ids: list[int] = []
        with private_text_file(path) as handle:
            after = 0
            while True:
                with self.database.read() as session:
                    page = SyncStore(session).outbox(status=status, after_id=after, limit=1000)
                if not page:
                    break
                for entry in page:
                    handle.write(json.dumps(entry_as_json(entry), ensure_ascii=False) + "\n")
                    ids.append(entry.id)
                after = page[-1].id
        if mark_exported and ids:
            with self.database.write() as session:
                SyncStore(session).mark_outbox(ids, "exported", self.clock())
        return len(ids)


def entry_as_json(entry: OutboxEntry) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "id": entry.id,
        "created_at": entry.created_at.isoformat(),
        "target_source": entry.target_source,
        "action": entry.action,
        "customer_id": entry.customer_id,
        "payload": dict(entry.payload),
        "status": entry.status,
    }
