"""A cache as a person would compare it: by the records of each customer, whatever the ids."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from customer_card.store import models as m
from customer_card.store.database import Database
from customer_card.store.match_store import MatchStore


def by_person(database: Database) -> dict[str, Any]:
    """The cache by person (the records of each customer), whatever the customer ids."""
    with database.read() as session:
        refs: dict[int, set[tuple[str, str]]] = defaultdict(set)
        reasons = {}
        for source, sid, cid, reason in session.execute(
            select(
                m.SourceRecord.source,
                m.SourceRecord.source_id,
                m.SourceRecord.customer_id,
                m.SourceRecord.link_reason,
            )
        ):
            refs[cid].add((source, sid))
            reasons[(source, sid)] = reason
        key = {cid: frozenset(r) for cid, r in refs.items()}
        customers = {}
        for row in session.execute(select(m.Customer)).scalars():
            assert row.id in key, f"customer {row.id} ({row.status}) holds no record"
            customers[key[row.id]] = (
                row.status,
                row.given_name,
                row.family_name,
                row.birth_date,
                row.city,
                row.postcode,
                row.loyalty_tier,
                row.loyalty_card,
                row.vip,
                row.followers,
                row.lifetime_value_cents,
                row.order_count,
                row.last_purchase_at,
                row.last_contact_at,
            )
        histories = defaultdict(set)
        for source, sid, cid in session.execute(
            select(m.Interaction.source, m.Interaction.source_id, m.Interaction.customer_id)
        ):
            histories[key[cid]].add((source, sid))
        for source, sid, cid in session.execute(
            select(m.Consent.source, m.Consent.source_id, m.Consent.customer_id)
        ):
            histories[key[cid]].add((source, sid))
        contacts = defaultdict(set)
        for value, cid in session.execute(
            select(m.ContactPoint.normalised, m.ContactPoint.customer_id)
        ):
            contacts[key[cid]].add(value)
        suggestions = {
            (frozenset({key[s.customer_a], key[s.customer_b]}), s.status)
            for s in MatchStore(session).suggestions(None)
        }
        counts = dict(session.execute(select(m.NameFrequency.key, m.NameFrequency.count)).all())
        events = session.scalar(select(func.count()).select_from(m.MergeEvent))
    return {
        "customers": customers,
        "reasons": reasons,
        "histories": dict(histories),
        "contacts": dict(contacts),
        "suggestions": suggestions,
        "counts": counts,
        "merge_events": events,
    }
