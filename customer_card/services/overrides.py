"""Manual survivorship overrides: a supervisor pins a golden field's value for a customer.

A pinned value wins over the automatic rules (source priority, recency, completeness) in
every rebuild of the golden record — after a sync, a merge or an unmerge — until it is
cleared. Setting and clearing are audited; merges keep the survivor's pins and record the
other customer's, so unmerge gives both their own back (``services/merge.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from customer_card.matching.survivorship import OverrideError, check_field, override_value
from customer_card.services.ingest import IngestService
from customer_card.store.database import Database
from customer_card.store.ingest_store import IngestStore
from customer_card.store.overrides_store import CustomerRef, OverrideStore, PinnedField

__all__ = ["CustomerOverrides", "OverrideError", "OverrideService", "UnknownCustomerError"]

SET_ACTION = "golden.override.set"
CLEAR_ACTION = "golden.override.clear"


class UnknownCustomerError(LookupError):
    """No customer has that id; the message names it."""


@dataclass(frozen=True, slots=True)
class CustomerOverrides:
    customer_id: int
    public_id: str
    pinned: tuple[PinnedField, ...]
    # The id asked for when it was a merged customer's (a redirect), else None.
    redirected_from: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer": self.public_id,
            "redirected_from": self.redirected_from,
            "overrides": [p.as_dict() for p in self.pinned],
        }


class OverrideService:
    def __init__(
        self, database: Database, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.database = database
        self.clock = clock

    def list(self, ident: str) -> CustomerOverrides:
        with self.database.read() as session:
            store = OverrideStore(session)
            customer, redirected = _resolve(store, ident)
            return CustomerOverrides(
                customer.id, customer.public_id, tuple(store.pinned(customer.id)), redirected
            )

    def set(self, ident: str, field: str, value: str, *, actor: str) -> CustomerOverrides:
        """Pin ``field`` to ``value`` (checked and put in canonical form) and rebuild the
        customer's golden record; raises ``OverrideError`` or ``UnknownCustomerError``."""
        canonical = override_value(field, value)
        now = self.clock()
        with self.database.write() as session:
            store = OverrideStore(session)
            customer, redirected = _resolve(store, ident)
            previous = {p.field: p.value for p in store.pinned(customer.id)}.get(field)
            store.pin(customer.id, PinnedField(field, canonical, actor, now))
            store.audit(
                actor,
                SET_ACTION,
                customer.id,
                {"field": field, "value": canonical, "previous": previous},
                now,
            )
            self._rebuild(session, customer.id, now)
            return CustomerOverrides(
                customer.id, customer.public_id, tuple(store.pinned(customer.id)), redirected
            )

    def clear(self, ident: str, field: str, *, actor: str) -> CustomerOverrides:
        """Unpin ``field``: the automatic rules pick its value again."""
        check_field(field)
        now = self.clock()
        with self.database.write() as session:
            store = OverrideStore(session)
            customer, redirected = _resolve(store, ident)
            current = {p.field: p.value for p in store.pinned(customer.id)}
            if field not in current:
                raise OverrideError(
                    f"customer {customer.public_id} has no pinned {field}"
                    + (f" (pinned: {', '.join(sorted(current))})" if current else "")
                )
            store.unpin(customer.id, [field])
            store.audit(
                actor, CLEAR_ACTION, customer.id, {"field": field, "previous": current[field]}, now
            )
            self._rebuild(session, customer.id, now)
            return CustomerOverrides(
                customer.id, customer.public_id, tuple(store.pinned(customer.id)), redirected
            )

    def _rebuild(self, session: Any, customer_id: int, now: datetime) -> None:
        IngestService(self.database, clock=lambda: now).rebuild(IngestStore(session), {customer_id})


def _resolve(store: OverrideStore, ident: str) -> tuple[CustomerRef, str | None]:
    """The active customer an id names; a merged customer's id redirects to its survivor."""
    customer = store.customer(ident)
    if customer is None:
        raise UnknownCustomerError(f"no customer with id {ident.strip()!r}")
    asked = customer.public_id
    seen: set[int] = set()
    while customer.status == "merged" and customer.merged_into is not None:
        if customer.id in seen:
            break
        seen.add(customer.id)
        survivor = store.customer_by_id(customer.merged_into)
        if survivor is None:
            break
        customer = survivor
    # A customer deleted at its sources keeps its card (a note, a call, a merge are taken):
    # a supervisor may correct what it shows too.
    if customer.status not in ("active", "deleted"):
        raise OverrideError(f"customer {customer.public_id} is {customer.status}, not active")
    return customer, (asked if customer.public_id != asked else None)
