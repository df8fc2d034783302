"""Reads for the card and its timeline. Returns domain dataclasses only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, Select, and_, func, or_, select, text
from sqlalchemy.orm import Session

from customer_card.domain import model as d
from customer_card.matching import normalise
from customer_card.store import models as m
from customer_card.store import statuses

MAX_REDIRECTS = 20
MAX_RELATED = 12
OPEN_ITEMS = 5
OPEN_ITEMS_READ_WHOLE = 200  # up to this many open items, read them all and sort
# A value shared by more customers than this is not a household tie (a shop's own number…).
HOUSEHOLD_MAX_SHARED = 8
LOCAL_SOURCE = "local"
NAMESAKE_CANDIDATES = 50
MAX_NAMESAKES = 3


# Orders whose products were not (or no longer) the customer's.


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One line of an order, as the order's source system sent it."""

    line_no: int
    sku: str | None
    name: str
    quantity: int
    unit_price: Decimal | None
    currency: str | None
    category: str | None


@dataclass(frozen=True, slots=True)
class ProductBought:
    """What a customer bought of one product, over all their orders (cancelled ones aside)."""

    key: str  # the sku, else the name
    sku: str | None
    name: str
    category: str | None
    quantity: int
    times: int  # orders it was in
    returned: int  # of ``quantity``, in orders returned or refunded
    last_bought_at: datetime
    last_source: str  # the most recent order: provenance
    last_source_id: str


@dataclass(frozen=True, slots=True)
class ProductsBought:
    products: tuple[ProductBought, ...]  # most recent first, at most the limit asked
    total: int  # distinct products in all


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


# What a family's members share: a suggestion sharing only these, and improbable, is a
# household kept apart, not a possible duplicate (see ``CardStore._shown``).
_HOUSEHOLD_SHARES = frozenset({"email", "phone"})


class CardStore:
    def __init__(self, session: Session, *, suggestions_from: float = 0.0) -> None:
        self.session = session
        # The card counts the pending suggestions at least this probable: those the model
        # thinks may be the same person. A family kept apart (sharing an e-mail or a phone,
        # nearly never one person) waits for a supervisor without the card saying so.
        self.suggestions_from = suggestions_from

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

    def card(self, customer_id: int, with_kinds: bool = True) -> d.CustomerCard | None:
        """The whole card; ``with_kinds=False`` leaves ``kinds`` empty (see ``kinds``)."""
        row = self.session.get(m.Customer, customer_id)
        if row is None:
            return None
        r = m.SourceRecord
        # Columns, not whole records: the card never needs a record's fields (JSON to parse).
        records = {
            rec.id: rec
            for rec in self.session.execute(
                select(r.id, r.source, r.source_id, r.source_updated_at, r.deleted).where(
                    r.customer_id == customer_id
                )
            )
        }

        def provenance(record_id: int | None) -> d.Provenance:
            record = records.get(record_id) if record_id is not None else None
            if record is None:
                return d.Provenance("?", "?", None)
            return d.Provenance(record.source, record.source_id, record.source_updated_at)

        channels = self._channels(customer_id)
        kinds = self.kinds(customer_id) if with_kinds else ()
        open_count = self._count(customer_id, m.Interaction.status.in_(sorted(d.OPEN_STATUSES)))
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
            social=_distinct_profiles(
                d.SocialProfile(s.network, s.handle, s.followers, provenance(s.source_record_id))
                for s in self.session.scalars(
                    select(m.SocialProfile)
                    .where(m.SocialProfile.customer_id == customer_id)
                    .order_by(m.SocialProfile.followers.desc())
                )
            ),
            sources=tuple(
                d.Provenance(x.source, x.source_id, x.source_updated_at)
                for x in records.values()
                if not x.deleted
            ),
            channels=channels,
            open_interactions=open_count,
            # Every live interaction has a channel: the per-channel counts add up to the total.
            interaction_count=sum(c.count for c in channels),
            pending_suggestions=self._pending_suggestions(customer_id),
            kinds=kinds,
            # Walking the timeline for open items finds none only after reading every row:
            # not worth it when the (indexed) count says there is none.
            open_items=self._open_items(customer_id, open_count) if open_count else (),
        )

    def _open_items(self, customer_id: int, open_count: int) -> tuple[d.Interaction, ...]:
        """The newest open items. Walking the timeline for them reads a long history whole
        when its open items are old; a few open items are read through the open-status index
        (unordered: an ORDER BY would make SQLite walk the timeline index) and sorted here."""
        if open_count > OPEN_ITEMS_READ_WHOLE:
            filtered = d.TimelineFilter(status="open")  # many: the newest come soon
            return tuple(self.timeline(customer_id, None, OPEN_ITEMS, filtered))
        i = m.Interaction
        rows = self.session.execute(
            select(*_INTERACTION_COLUMNS)
            .where(i.customer_id == customer_id)
            .where(i.status.in_(sorted(d.OPEN_STATUSES)))
            .where(i.deleted.is_(False))
        )
        items = sorted((_interaction(r) for r in rows), key=lambda x: (x.occurred_at, x.id))
        return tuple(reversed(items[-OPEN_ITEMS:]))

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
        out = self._apply_corrections(customer_id, out)
        # One primary per kind: the most-confirmed of the values some system calls primary.
        seen: set[d.ContactKind] = set()
        single = []
        for c in out:
            primary = c.primary and c.kind not in seen
            if primary:
                seen.add(c.kind)
            single.append(replace(c, primary=primary))
        return tuple(single)

    def _apply_corrections(
        self, customer_id: int, points: list[d.ContactPoint]
    ) -> list[d.ContactPoint]:
        """Advisors' corrections, latest last: the new value comes first and primary; the value it
        replaces stays visible, marked, until the company systems send the correction back."""
        corrections = list(
            self.session.scalars(
                select(m.ContactCorrection)
                .where(m.ContactCorrection.customer_id == customer_id)
                .order_by(m.ContactCorrection.created_at, m.ContactCorrection.id)
            )
        )
        if not corrections:
            return points
        by_key = {(p.kind.value, p.normalised): p for p in points}
        order = [(p.kind.value, p.normalised) for p in points]
        for fix in corrections:
            if fix.old_normalised and (fix.kind, fix.old_normalised) in by_key:
                old = by_key[(fix.kind, fix.old_normalised)]
                if old.provenance and all(p.source == LOCAL_SOURCE for p in old.provenance):
                    del by_key[(fix.kind, fix.old_normalised)]  # a correction of a correction
                else:
                    by_key[(fix.kind, fix.old_normalised)] = replace(
                        old, corrected_to=fix.new_value, primary=False
                    )
            local = d.Provenance(LOCAL_SOURCE, fix.author, fix.created_at)
            key = (fix.kind, fix.new_normalised)
            existing = by_key.get(key)
            by_key[key] = d.ContactPoint(
                kind=d.ContactKind(fix.kind),
                value=fix.new_value,
                normalised=fix.new_normalised,
                valid=True,
                primary=True,
                label=existing.label if existing else None,
                provenance=(local, *(existing.provenance if existing else ())),
                corrected_to=None,
            )
            if key in order:
                order.remove(key)
            order.insert(0, key)
            # The corrected value becomes the primary one of its kind.
            for other_key, other in by_key.items():
                if other_key != key and other.kind.value == fix.kind and other.primary:
                    by_key[other_key] = replace(other, primary=False)
        return [by_key[k] for k in order if k in by_key]

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

    def related(self, customer_id: int) -> tuple[d.RelatedCustomer, ...]:
        """Customers who share a contact point with this one (a household: a family e-mail, a
        landline, an address), and those a merge suggestion says may be the same person."""
        cp = m.ContactPoint
        own = self.session.execute(
            select(cp.kind, cp.normalised)
            .where(cp.customer_id == customer_id)
            .where(cp.valid.is_(True))
            .distinct()
        ).all()
        shared: dict[int, list[str]] = defaultdict(list)
        for kind, normalised in own:
            others = self.session.execute(
                select(cp.customer_id)
                .where(cp.kind == kind)
                .where(cp.normalised == normalised)
                .where(cp.customer_id != customer_id)
                .distinct()
                .limit(HOUSEHOLD_MAX_SHARED + 1)
            ).all()
            if len(others) > HOUSEHOLD_MAX_SHARED:
                continue
            for (other,) in others:
                if kind not in shared[other]:
                    shared[other].append(kind)
        s = m.MergeSuggestion
        suggested: dict[int, str] = {}
        # One indexed query per side: with an OR across both columns SQLite reads every
        # pending suggestion of the cache (a quarter of a million at a million customers).
        for side in (s.customer_a, s.customer_b):
            for a, b, reason, probability, evidence in self.session.execute(
                select(s.customer_a, s.customer_b, s.reason, s.probability, s.evidence)
                .where(side == customer_id)
                .where(s.status == "pending")
                .order_by(s.id)
            ):
                if not self._shown(probability, evidence):
                    continue  # a family kept apart: a household, below
                other = b if a == customer_id else a
                suggested[other] = (
                    reason if "%" in reason or "." in reason else f"{reason} ({probability:.0%})"
                )
        namesakes = self._namesakes(customer_id)
        wanted = list(dict.fromkeys([*suggested, *shared, *namesakes]))
        if not wanted:
            return ()
        c = m.Customer
        rows = {
            row.id: row
            for row in self.session.execute(
                select(
                    c.id,
                    c.public_id,
                    c.given_name,
                    c.family_name,
                    c.city,
                    c.status,
                    c.followers,
                    c.lifetime_value_cents,
                )
                .where(c.id.in_(wanted))
                .where(c.status == "active")
            )
        }
        out = []
        for other in wanted:
            row = rows.get(other)
            if row is None:
                continue
            name = " ".join(p for p in (row.given_name, row.family_name) if p) or row.public_id
            if other in suggested:
                relation, reason = "possible_duplicate", suggested[other]
            elif other in shared:
                relation, reason = "household", ", ".join(shared[other])
            else:
                relation, reason = "same_name", namesakes[other]
            out.append(
                d.RelatedCustomer(
                    other,
                    row.public_id,
                    name,
                    row.city,
                    relation,
                    reason,
                    followers=row.followers,
                    lifetime_value=Decimal(row.lifetime_value_cents) / 100,
                )
            )
        return tuple(out[:MAX_RELATED])

    def _namesakes(self, customer_id: int) -> dict[int, str]:
        """Other customers with the same name words (any order, accents and case aside) and no
        conflicting city or birth date: records of one person the matching could not link on a
        strong identifier (e.g. a social account known only by its name)."""
        c = m.Customer
        me = self.session.execute(
            select(c.given_name, c.family_name, c.city, c.birth_date).where(c.id == customer_id)
        ).first()
        if me is None:
            return {}
        words = set(normalise.name_tokens(me.given_name, me.family_name))
        long_words = sorted(w for w in words if len(w) >= 3)
        if len(words) < 2 or not long_words:
            return {}
        query = " AND ".join(f'names : "{w}"' for w in long_words)
        ids = [
            int(r[0])
            for r in self.session.connection().exec_driver_sql(
                "SELECT rowid FROM customer_search WHERE customer_search MATCH ? LIMIT ?",
                (query, NAMESAKE_CANDIDATES),
            )
            if int(r[0]) != customer_id
        ]
        if not ids:
            return {}
        found: dict[int, str] = {}
        for row in self.session.execute(
            select(c.id, c.given_name, c.family_name, c.city, c.birth_date)
            .where(c.id.in_(ids))
            .where(c.status == "active")
        ):
            if set(normalise.name_tokens(row.given_name, row.family_name)) != words:
                continue
            if me.city and row.city and normalise.fold(me.city) != normalise.fold(row.city):
                continue
            if me.birth_date and row.birth_date and me.birth_date != row.birth_date:
                continue
            found[row.id] = "same name" + (f", {row.city}" if row.city and me.city else "")
            if len(found) >= MAX_NAMESAKES:
                break
        return found

    def _channels(self, customer_id: int) -> tuple[d.ChannelSummary, ...]:
        """Per channel: count and last date, read from the covering index
        ix_interaction_channel alone (no table row)."""
        i = m.Interaction
        rows = self.session.execute(
            select(i.channel, func.count(), func.max(i.occurred_at))
            .where(i.customer_id == customer_id)
            .where(i.deleted.is_(False))
            .group_by(i.channel)
        ).all()
        return tuple(
            sorted(
                (d.ChannelSummary(channel, n, last) for channel, n, last in rows),
                key=lambda c: (c.last_at is None, -(c.last_at.timestamp() if c.last_at else 0)),
            )
        )

    def kinds(self, customer_id: int) -> tuple[str, ...]:
        """The kinds of interaction in the history (for the timeline's kind filter). No index
        holds the kind: this reads every row of the customer's history, which for a long one
        costs more than the rest of the card together."""
        i = m.Interaction
        kinds = self.session.scalars(
            select(i.kind)
            .where(i.customer_id == customer_id)
            .where(i.deleted.is_(False))
            .distinct()
        ).all()
        return tuple(sorted(str(k) for k in kinds))

    def products(self, customer_id: int, limit: int) -> ProductsBought:
        """The products in a customer's orders, one entry per sku (else name), the most
        recently bought first. Joins the customer's interactions (``ix_interaction_open``:
        customer, status, deleted) to their lines by the lines' primary key (order, line), so
        a long history costs an index walk, not a scan of every order line."""
        rows = self.session.execute(_PRODUCTS_SQL, {"cid": customer_id}).all()
        # SQLite gives the bare columns of the row holding max(occurred_at): the last order.
        bought = sorted(
            (
                ProductBought(
                    key=row.key,
                    sku=row.sku,
                    name=row.name,
                    category=row.category,
                    quantity=int(row.quantity),
                    times=int(row.times),
                    returned=int(row.returned),
                    last_bought_at=_as_utc(row.last_at),
                    last_source=row.source,
                    last_source_id=row.source_id,
                )
                for row in rows
            ),
            key=lambda p: (p.last_bought_at, p.key),
            reverse=True,
        )
        return ProductsBought(tuple(bought[: max(limit, 0)]), len(bought))

    def order_lines(self, interaction_id: int) -> tuple[OrderLine, ...]:
        """The lines of one order, in their order (read by the lines' primary key)."""
        ol = m.OrderLine
        rows = self.session.execute(
            select(
                ol.line_no,
                ol.sku,
                ol.name,
                ol.quantity,
                ol.unit_price_cents,
                ol.currency,
                ol.category,
            )
            .where(ol.interaction_id == interaction_id)
            .order_by(ol.line_no)
        ).all()
        return tuple(
            OrderLine(
                line_no=row.line_no,
                sku=row.sku,
                name=row.name,
                quantity=row.quantity,
                unit_price=None
                if row.unit_price_cents is None
                else Decimal(row.unit_price_cents) / 100,
                currency=row.currency,
                category=row.category,
            )
            for row in rows
        )

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
        # One indexed query per side: an OR across both columns makes SQLite scan by status.
        return sum(
            self._shown(probability, evidence)
            for side in (s.customer_a, s.customer_b)
            for probability, evidence in self.session.execute(
                select(s.probability, s.evidence)
                .where(side == customer_id)
                .where(s.status == "pending")
            )
        )

    def _shown(self, probability: float, evidence: Any) -> bool:
        """Whether the card tells of a pending suggestion: the model finds it probable, or its
        records share an identifier beyond a family's e-mail or phone (a loyalty card, a CRM
        id: most likely a data error to look at, whatever the other fields say)."""
        if probability >= self.suggestions_from:
            return True
        shared = evidence.get("shared") if isinstance(evidence, dict) else None
        return isinstance(shared, list) and bool(shared) and not set(shared) <= _HOUSEHOLD_SHARES

    def timeline(
        self,
        customer_id: int,
        after: d.TimelineCursor | None,
        limit: int,
        flt: d.TimelineFilter | None = None,
    ) -> list[d.Interaction]:
        i = m.Interaction
        # Plain rows, not ORM objects: a page is read, turned into dataclasses and forgotten,
        # and building 200 tracked objects cost more than the query itself.
        query = (
            select(*_INTERACTION_COLUMNS)
            .where(i.customer_id == customer_id)
            .where(i.deleted.is_(False))
        )
        if after is not None:
            query = query.where(
                or_(
                    i.occurred_at < after.occurred_at,
                    and_(i.occurred_at == after.occurred_at, i.id < after.id),
                )
            )
        if flt is not None:
            query = _filtered(query, flt)
        query = query.order_by(i.occurred_at.desc(), i.id.desc()).limit(limit)
        return [_interaction(row) for row in self.session.execute(query)]


def _filtered(query: _AnySelect, flt: d.TimelineFilter) -> _AnySelect:
    i = m.Interaction
    if flt.channels:
        query = query.where(i.channel.in_(sorted(flt.channels)))
    if flt.kinds:
        query = query.where(i.kind.in_(sorted(flt.kinds)))
    if flt.status == "open":
        query = query.where(i.status.in_(sorted(d.OPEN_STATUSES)))
    elif flt.status:
        query = query.where(i.status == flt.status)
    if flt.since is not None:
        query = query.where(i.occurred_at >= flt.since)
    if flt.until is not None:
        query = query.where(i.occurred_at < flt.until)
    for word in flt.text.split():
        # Within one customer's rows (the timeline index narrows them first): LIKE is enough.
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                i.summary.like(pattern, escape="\\"),
                func.coalesce(i.details, "").like(pattern, escape="\\"),
            )
        )
    return query


_PRODUCTS_SQL = text(
    "SELECT coalesce(l.sku, l.name) AS key, l.sku, l.name, l.category, "
    "sum(l.quantity) AS quantity, count(DISTINCT i.id) AS times, "
    "sum(CASE WHEN lower(i.status) IN ({returned}) THEN l.quantity ELSE 0 END) AS returned, "
    "max(i.occurred_at) AS last_at, i.source, i.source_id "
    "FROM interaction AS i JOIN order_line AS l ON l.interaction_id = i.id "
    "WHERE i.customer_id = :cid AND i.deleted = 0 "
    "AND lower(coalesce(i.status, '')) NOT IN ({cancelled}) "
    "GROUP BY coalesce(l.sku, l.name)".format(
        returned=", ".join(f"'{s}'" for s in statuses.RETURNED),
        cancelled=", ".join(f"'{s}'" for s in statuses.CANCELLED),
    )
)


def _as_utc(value: datetime | str) -> datetime:
    """A time read by plain SQL (naive UTC text) as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _distinct_profiles(profiles: Iterable[d.SocialProfile]) -> tuple[d.SocialProfile, ...]:
    """One line per (network, handle): systems repeat a profile, each with its own count."""
    best: dict[tuple[str, str], d.SocialProfile] = {}
    for p in profiles:
        key = (p.network.lower(), p.handle.lower().lstrip("@"))
        if key not in best or p.followers > best[key].followers:
            best[key] = p
    return tuple(sorted(best.values(), key=lambda p: -p.followers))


def _consent_key(c: m.Consent) -> tuple[datetime | str, int]:
    # Latest decision wins; on the same date a withdrawal wins (the conservative reading).
    stamp = c.collected_at or c.source_updated_at
    return (stamp.isoformat() if stamp else "", 1 if c.status in ("withdrawn", "denied") else 0)


def _consent_status(value: str) -> d.ConsentStatus:
    try:
        return d.ConsentStatus(value)
    except ValueError:
        return d.ConsentStatus.UNKNOWN


_AnySelect = Select[*tuple[Any, ...]]
_AnyRow = Row[*tuple[Any, ...]]
_INTERACTION_COLUMNS = (
    m.Interaction.id,
    m.Interaction.customer_id,
    m.Interaction.channel,
    m.Interaction.kind,
    m.Interaction.direction,
    m.Interaction.occurred_at,
    m.Interaction.summary,
    m.Interaction.details,
    m.Interaction.status,
    m.Interaction.amount_cents,
    m.Interaction.currency,
    m.Interaction.source,
    m.Interaction.source_id,
    m.Interaction.author,
)


def _interaction(row: _AnyRow) -> d.Interaction:
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
        author=row.author,
    )
