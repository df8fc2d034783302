"""Writes for what advisors record on the card: notes, call outcomes, contact corrections, and the
outbox rows that carry them to the company systems. Returns domain dataclasses only."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from customer_card.domain import model as d
from customer_card.store import models as m
from customer_card.store.card_store import LOCAL_SOURCE, CardStore, to_customer


class ActionsStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def active_customer(self, customer_id: int) -> d.Customer | None:
        """The surviving customer (merge redirects followed), or None when gone or erased."""
        store = CardStore(self.session)
        resolved = store.resolve(customer_id)
        if resolved is None:
            return None
        row = self.session.get(m.Customer, resolved)
        # A customer deleted at its sources still takes a note or a call: the advisor talking
        # to that person keeps what was said (the card says the records are gone).
        if row is None or row.status not in (
            d.CustomerStatus.ACTIVE.value,
            d.CustomerStatus.DELETED.value,
        ):
            return None
        return to_customer(row)

    def add_interaction(
        self,
        *,
        customer_id: int,
        channel: str,
        kind: str,
        direction: str | None,
        occurred_at: datetime,
        summary: str,
        details: str | None,
        status: str | None,
        author: str,
    ) -> d.Interaction:
        """One local history item (source ``local``); no source record behind it."""
        content = json.dumps([channel, kind, summary, details, status], ensure_ascii=False)
        row = m.Interaction(
            customer_id=customer_id,
            source_record_id=None,
            source=LOCAL_SOURCE,
            source_id=f"{kind}-{uuid.uuid4().hex}",
            channel=channel,
            kind=kind,
            direction=direction,
            occurred_at=occurred_at,
            summary=summary,
            details=details,
            status=status,
            amount_cents=None,
            currency=None,
            content_hash=hashlib.md5(content.encode(), usedforsecurity=False).hexdigest(),
            deleted=False,
            author=author,
        )
        self.session.add(row)
        self.session.flush()
        customer = self.session.get(m.Customer, customer_id)
        if customer is not None and (
            customer.last_contact_at is None or customer.last_contact_at < occurred_at
        ):
            customer.last_contact_at = occurred_at
        return d.Interaction(
            id=row.id,
            customer_id=customer_id,
            channel=channel,
            kind=kind,
            direction=direction,
            occurred_at=occurred_at,
            summary=summary,
            details=details,
            status=status,
            amount=None,
            currency=None,
            source=LOCAL_SOURCE,
            source_id=row.source_id,
            author=author,
        )

    def add_correction(
        self,
        *,
        customer_id: int,
        kind: str,
        old_value: str | None,
        old_normalised: str | None,
        new_value: str,
        new_normalised: str,
        author: str,
        at: datetime,
    ) -> None:
        self.session.add(
            m.ContactCorrection(
                customer_id=customer_id,
                kind=kind,
                old_value=old_value,
                old_normalised=old_normalised,
                new_value=new_value,
                new_normalised=new_normalised,
                author=author,
                created_at=at,
            )
        )

    def sources_holding(self, customer_id: int, kind: str, normalised: str) -> list[str]:
        """The systems whose records give this customer this contact value."""
        rows = self.session.execute(
            select(m.SourceRecord.source)
            .join(m.ContactPoint, m.ContactPoint.source_record_id == m.SourceRecord.id)
            .where(m.ContactPoint.customer_id == customer_id)
            .where(m.ContactPoint.kind == kind)
            .where(m.ContactPoint.normalised == normalised)
            .distinct()
        )
        return sorted(str(r[0]) for r in rows)

    def customer_sources(self, customer_id: int) -> list[str]:
        rows = self.session.execute(
            select(m.SourceRecord.source)
            .where(m.SourceRecord.customer_id == customer_id)
            .where(m.SourceRecord.deleted.is_(False))
            .distinct()
        )
        return sorted(str(r[0]) for r in rows)

    def queue(
        self,
        targets: Iterable[str | None],
        action: str,
        customer_id: int,
        payload: dict[str, Any],
        at: datetime,
    ) -> int:
        """One pending outbox row per target system (``None``: whichever system takes it)."""
        count = 0
        for target in targets:
            self.session.add(
                m.Outbox(
                    created_at=at,
                    target_source=target,
                    action=action,
                    customer_id=customer_id,
                    payload=payload,
                    status="pending",
                )
            )
            count += 1
        return count

    def pending_outbox(self, customer_id: int) -> list[tuple[str | None, str, dict[str, Any]]]:
        """(target, action, payload) of the rows still waiting, oldest first."""
        rows = self.session.execute(
            select(m.Outbox.target_source, m.Outbox.action, m.Outbox.payload)
            .where(m.Outbox.customer_id == customer_id)
            .where(m.Outbox.status == "pending")
            .order_by(m.Outbox.id)
        )
        return [(r[0], r[1], dict(r[2])) for r in rows]
