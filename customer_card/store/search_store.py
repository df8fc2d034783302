"""Search reads: the FTS5 trigram and word indexes, exact contact look-ups and the name
vocabulary."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from customer_card.store import models as m


@dataclass(frozen=True, slots=True)
class Candidate:
    customer_id: int
    public_id: str
    given_name: str
    family_name: str
    birth_date: date | None
    city: str | None
    loyalty_tier: str | None
    vip: bool
    last_contact_at: datetime | None
    sources: tuple[str, ...]


def fts_phrase(text: str) -> str:
    """One FTS5 string literal (trigram: matches as a substring anywhere)."""
    return '"' + text.replace('"', '""') + '"'


def fts_prefix(text: str) -> str:
    """Words starting with ``text``, for the word index (the word being typed)."""
    return fts_phrase(text) + "*"


class SearchStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def match(self, query: str, limit: int) -> list[int]:
        """Up to ``limit`` customer ids whose index row matches an FTS5 query.

        Unordered on purpose: ranking with bm25 scores every match (thousands for a common
        name) while the caller re-ranks the candidates with rapidfuzz anyway.
        """
        rows = self.session.connection().exec_driver_sql(
            "SELECT rowid FROM customer_search WHERE customer_search MATCH ? LIMIT ?",
            (query, limit),
        )
        return [int(r[0]) for r in rows]

    def match_words(self, query: str, limit: int) -> list[int]:
        """Up to ``limit`` customer ids whose names match an FTS5 query over whole words
        (``fts_phrase`` for a word, ``fts_prefix`` for the start of one)."""
        rows = self.session.connection().exec_driver_sql(
            "SELECT rowid FROM customer_search_words WHERE customer_search_words MATCH ? LIMIT ?",
            (query, limit),
        )
        return [int(r[0]) for r in rows]

    def by_contact(self, kind: str, normalised: Collection[str]) -> list[int]:
        if not normalised:
            return []
        rows = self.session.execute(
            select(m.ContactPoint.customer_id)
            .where(m.ContactPoint.kind == kind)
            .where(m.ContactPoint.normalised.in_(sorted(normalised)))
            .distinct()
        )
        return [int(r[0]) for r in rows]

    def by_public_id(self, public_id: str) -> list[int]:
        row = self.session.execute(
            select(m.Customer.id).where(m.Customer.public_id == public_id.upper())
        ).first()
        return [] if row is None else [int(row[0])]

    def sources(self, customer_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        """The systems each customer is known in (live records only), sorted."""
        if not customer_ids:
            return {}
        r = m.SourceRecord
        # One grouped query over the customer index: a correlated subquery per row cost more.
        sources: dict[int, tuple[str, ...]] = {}
        for cid, names in self.session.execute(
            select(r.customer_id, func.group_concat(r.source.distinct()))
            .where(r.customer_id.in_(list(customer_ids)))
            .where(r.deleted.is_(False))
            .group_by(r.customer_id)
        ):
            sources[int(cid)] = tuple(sorted(str(names).split(","))) if names else ()
        return sources

    def candidates(self, customer_ids: Sequence[int]) -> list[Candidate]:
        """Display data of active customers (merged ones redirect, erased ones never show);
        ``sources`` left empty: ask ``sources`` for the ones shown (each costs reads of the
        customer's source records)."""
        if not customer_ids:
            return []
        c = m.Customer
        ids = list(customer_ids)
        rows = self.session.execute(
            select(
                c.id,
                c.public_id,
                c.given_name,
                c.family_name,
                c.birth_date,
                c.city,
                c.loyalty_tier,
                c.vip,
                c.last_contact_at,
            )
            .where(c.id.in_(ids))
            .where(c.status == "active")
        ).all()
        return [
            Candidate(
                customer_id=row[0],
                public_id=row[1],
                given_name=row[2],
                family_name=row[3],
                birth_date=row[4],
                city=row[5],
                loyalty_tier=row[6],
                vip=bool(row[7]),
                last_contact_at=row[8],
                sources=(),
            )
            for row in rows
        ]

    def indexed(self, customer_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """The indexed name variants ('a b | c d') and folded city of each customer."""
        if not customer_ids:
            return {}
        marks = ",".join("?" * len(customer_ids))
        rows = self.session.connection().exec_driver_sql(
            f"SELECT rowid, names, city FROM customer_search WHERE rowid IN ({marks})",
            tuple(customer_ids),
        )
        return {int(r[0]): (str(r[1] or ""), str(r[2] or "")) for r in rows}

    def vocabulary(self) -> list[str]:
        return list(self.session.execute(select(m.NameToken.token)).scalars())

    def vocabulary_size(self) -> int:
        return int(self.session.execute(select(func.count()).select_from(m.NameToken)).scalar_one())
