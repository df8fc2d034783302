"""Figures about the cache as a whole: row counts, sources, schema version."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from customer_card.store import models as m

COUNTED = (
    m.Customer,
    m.SourceRecord,
    m.ContactPoint,
    m.Identifier,
    m.Consent,
    m.Preference,
    m.SocialProfile,
    m.Interaction,
    m.Note,
    m.MergeSuggestion,
    m.MergeEvent,
    m.AppUser,
    m.AuditLog,
    m.SyncState,
    m.Quarantine,
    m.Outbox,
)


def table_counts(session: Session) -> dict[str, int]:
    return {
        model.__tablename__: int(
            session.execute(select(func.count()).select_from(model)).scalar_one()
        )
        for model in COUNTED
    }


def customers_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(m.Customer.status, func.count()).group_by(m.Customer.status))
    return {status: int(n) for status, n in rows}


def sources(session: Session) -> dict[str, dict[str, int]]:
    """Per source system: customer records, interactions, consents."""
    out: dict[str, dict[str, int]] = {}
    for model, key in (
        (m.SourceRecord, "customers"),
        (m.Interaction, "interactions"),
        (m.Consent, "consents"),
    ):
        rows = session.execute(select(model.source, func.count()).group_by(model.source))
        for source, n in rows:
            out.setdefault(source, {"customers": 0, "interactions": 0, "consents": 0})[key] = int(n)
    return dict(sorted(out.items()))


def schema_version(session: Session) -> str | None:
    row = session.connection().exec_driver_sql("SELECT version_num FROM alembic_version").first()
    return None if row is None else str(row[0])


def pending_quarantine(session: Session) -> int:
    return int(
        session.execute(
            select(func.count()).select_from(m.Quarantine).where(m.Quarantine.resolved_at.is_(None))
        ).scalar_one()
    )
