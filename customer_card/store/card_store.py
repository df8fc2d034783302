"""Reads for the card and its timeline. Returns domain dataclasses only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from customer_card.domain import model as d
from customer_card.store import models as m

MAX_REDIRECTS = 20


def to_customer(row: m.Customer) -> d.Customer:
    return d.Customer(
        id=row.id,
        public_id=row.public_id,
        given_name=row.given_name,
        family_name=row.family_name,
        birth_date=row.birth_date,
        language=row.language,
        city=row.city,
        loyalty_tier=row.loyalty_tier,
        loyalty_card=row.loyalty_card,
        vip=row.vip,
        lifetime_value=Decimal(row.lifetime_value_cents) / 100,
        order_count=row.order_count,
        last_purchase_at=row.last_purchase_at,
        last_contact_at=row.last_contact_at,
        customer_since=row.customer_since,
        followers=row.followers,
        status=d.CustomerStatus(row.status),
        merged_into=row.merged_into,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class CardStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def resolve(self, customer_id: int) -> int | None:
        """Follow merge redirects to the surviving customer."""
        current = customer_id
        for _ in range(MAX_REDIRECTS):
            row = self.session.execute(
                select(m.Customer.status, m.Customer.merged_into).where(m.Customer.id == current)
            ).first()
            if row is None:
                return None
            status, merged_into = row
            if status != "merged" or merged_into is None:
                return current
            current = merged_into
        return None

    def id_for_public_id(self, public_id: str) -> int | None:
        return self.session.execute(
            select(m.Customer.id).where(m.Customer.public_id == public_id.strip().upper())
        ).scalar_one_or_none()

    def card(self, customer_id: int) -> d.CustomerCard | None:
        row = self.session.get(m.Customer, customer_id)
        if row is None:
            return None
        records = {
            r.id: r
            for r in self.session.scalars(
                select(m.SourceRecord).where(m.SourceRecord.customer_id == customer_id)
            )
        }

        def provenance(record_id: int | None) -> d.Provenance:
            record = records.get(record_id) if record_id is not None else None
            if record is None:
                return d.Provenance("?", "?", None)
            return d.Provenance(record.source, record.source_id, record.source_updated_at)

        return d.CustomerCard(
            customer=to_customer(row),
            contact_points=self._contact_points(customer_id, provenance),
            identifiers=self._identifiers(customer_id, provenance),
            consents=self._consents(customer_id),
            preferences=tuple(
                d.Preference(p.key, p.value, provenance(p.source_record_id))
                for p in self.session.scalars(
                    select(m.Preference)
                    .where(m.Preference.customer_id == customer_id)
                    .order_by(m.Preference.id)
                )
            ),
            social=tuple(
                d.SocialProfile(s.network, s.handle, s.followers, provenance(s.source_record_id))
                for s in self.session.scalars(
                    select(m.SocialProfile)
                    .where(m.SocialProfile.customer_id == customer_id)
                    .order_by(m.SocialProfile.followers.desc())
                )
            ),
            sources=tuple(
                d.Provenance(r.source, r.source_id, r.source_updated_at)
                for r in records.values()
                if not r.deleted
            ),
            channels=self._channels(customer_id),
            open_interactions=self._count(customer_id, m.Interaction.status == "open"),
            interaction_count=self._count(customer_id),
            pending_suggestions=self._pending_suggestions(customer_id),
        )

    def _contact_points(self, customer_id: int, provenance: object) -> tuple[d.ContactPoint, ...]:
        grouped: dict[tuple[str, str], list[m.ContactPoint]] = defaultdict(list)
        for cp in self.session.scalars(
            select(m.ContactPoint)
            .where(m.ContactPoint.customer_id == customer_id)
            .order_by(m.ContactPoint.id)
        ):
            grouped[(cp.kind, cp.normalised)].append(cp)
        out = []
        for (kind, normalised), rows in grouped.items():
            first = rows[0]
            out.append(
                d.ContactPoint(
                    kind=d.ContactKind(kind),
                    value=first.value,
                    normalised=normalised,
                    valid=all(r.valid for r in rows),
                    primary=any(r.is_primary for r in rows),
                    label=first.label,
                    provenance=tuple(provenance(r.source_record_id) for r in rows),  # type: ignore[operator]
                )
            )
        # Most-confirmed values first: seen in more systems, then primary.
        out.sort(key=lambda c: (-len(c.provenance), not c.primary))
        # One primary per kind: the most-confirmed of the values some system calls primary.
        seen: set[d.ContactKind] = set()
        single = []
        for c in out:
            primary = c.primary and c.kind not in seen
            if primary:
                seen.add(c.kind)
            single.append(replace(c, primary=primary))
        return tuple(single)

    def _identifiers(self, customer_id: int, provenance: object) -> tuple[d.Identifier, ...]:
        grouped: dict[tuple[str, str], list[int]] = defaultdict(list)
        for ident in self.session.scalars(
            select(m.Identifier)
            .where(m.Identifier.customer_id == customer_id)
            .order_by(m.Identifier.id)
        ):
            grouped[(ident.kind, ident.value)].append(ident.source_record_id)
        return tuple(
            d.Identifier(d.IdentifierKind(kind), value, tuple(provenance(r) for r in ids))  # type: ignore[operator]
            for (kind, value), ids in grouped.items()
        )

    def _consents(self, customer_id: int) -> tuple[d.Consent, ...]:
        latest: dict[str, m.Consent] = {}
        rows = self.session.scalars(
            select(m.Consent)
            .where(m.Consent.customer_id == customer_id)
            .where(m.Consent.deleted.is_(False))
        )
        for c in rows:
            current = latest.get(c.purpose)
            if current is None or _consent_key(c) > _consent_key(current):
                latest[c.purpose] = c
        return tuple(
            d.Consent(
                purpose=c.purpose,
                status=_consent_status(c.status),
                channel=c.channel,
                collected_at=c.collected_at,
                provenance=d.Provenance(c.source, c.source_id, c.source_updated_at),
            )
            for c in sorted(latest.values(), key=lambda c: c.purpose)
        )

    def _channels(self, customer_id: int) -> tuple[d.ChannelSummary, ...]:
        i = m.Interaction
        rows = self.session.execute(
            select(i.channel, func.count(), func.max(i.occurred_at))
            .where(i.customer_id == customer_id)
            .where(i.deleted.is_(False))
            .group_by(i.channel)
            .order_by(func.max(i.occurred_at).desc())
        )
        return tuple(d.ChannelSummary(ch, n, last) for ch, n, last in rows)

    def _count(self, customer_id: int, *where: object) -> int:
        i = m.Interaction
        query = (
            select(func.count())
            .select_from(i)
            .where(i.customer_id == customer_id)
            .where(i.deleted.is_(False))
        )
        for clause in where:
            query = query.where(clause)  # type: ignore[arg-type]
        return int(self.session.execute(query).scalar_one())

    def _pending_suggestions(self, customer_id: int) -> int:
        s = m.MergeSuggestion
        return int(
            self.session.execute(
                select(func.count())
                .select_from(s)
                .where(s.status == "pending")
                .where(or_(s.customer_a == customer_id, s.customer_b == customer_id))
            ).scalar_one()
        )

    def timeline(
        self,
        customer_id: int,
        after: d.TimelineCursor | None,
        limit: int,
        flt: d.TimelineFilter | None = None,
    ) -> list[d.Interaction]:
        i = m.Interaction
        query = select(i).where(i.customer_id == customer_id).where(i.deleted.is_(False))
        if after is not None:
            query = query.where(
                or_(
                    i.occurred_at < after.occurred_at,
                    and_(i.occurred_at == after.occurred_at, i.id < after.id),
                )
            )
        if flt is not None:
            if flt.channels:
                query = query.where(i.channel.in_(sorted(flt.channels)))
            if flt.status:
                query = query.where(i.status == flt.status)
        query = query.order_by(i.occurred_at.desc(), i.id.desc()).limit(limit)
        return [_interaction(row) for row in self.session.scalars(query)]


def _consent_key(c: m.Consent) -> tuple[datetime | str, int]:
    # Latest decision wins; on the same date a withdrawal wins (the conservative reading).
    stamp = c.collected_at or c.source_updated_at
    return (stamp.isoformat() if stamp else "", 1 if c.status in ("withdrawn", "denied") else 0)


def _consent_status(value: str) -> d.ConsentStatus:
    try:
        return d.ConsentStatus(value)
    except ValueError:
        return d.ConsentStatus.UNKNOWN


def _interaction(row: m.Interaction) -> d.Interaction:
    return d.Interaction(
        id=row.id,
        customer_id=row.customer_id,
        channel=row.channel,
        kind=row.kind,
        direction=row.direction,
        occurred_at=row.occurred_at,
        summary=row.summary,
        details=row.details,
        status=row.status,
        amount=None if row.amount_cents is None else Decimal(row.amount_cents) / 100,
        currency=row.currency,
        source=row.source,
        source_id=row.source_id,
    )
