"""Load a customer card and page its timeline."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from customer_card.domain.model import (
    CustomerCard,
    Interaction,
    RelatedCustomer,
    TimelineCursor,
    TimelineFilter,
)
from customer_card.matching.config import ConfigError
from customer_card.services.matching import default_config
from customer_card.store.card_store import CardStore, OrderLine, ProductBought, ProductsBought
from customer_card.store.database import Database

log = logging.getLogger(__name__)


class CardService:
    def __init__(self, database: Database, *, suggestions_from: float | None = None) -> None:
        """``suggestions_from``: how probable a pending merge suggestion must be to show on the
        card ("may be the same person"); by default the matching's suggestion threshold, read
        when a card is opened (it follows edits of the matching configuration)."""
        self.database = database
        self._suggestions_from = suggestions_from

    def _store(self, session: Any) -> CardStore:
        return CardStore(session, suggestions_from=self.suggestions_from())

    def suggestions_from(self) -> float:
        if self._suggestions_from is not None:
            return self._suggestions_from
        try:
            return default_config().suggest_threshold
        except ConfigError as error:
            # A broken matching file must not keep cards from opening: matching reports it.
            log.warning(
                "matching configuration unusable (%s); the card shows every suggestion", error
            )
            return 0.0

    def load(self, customer_id: int) -> CustomerCard | None:
        """The card of a customer, following merge redirects to the survivor."""
        with self.database.read() as session:
            store = self._store(session)
            resolved = store.resolve(customer_id)
            return None if resolved is None else store.card(resolved)

    def open(
        self, customer_id: int, first_page: int, timeline_filter: TimelineFilter | None = None
    ) -> tuple[CustomerCard, list[Interaction]] | None:
        """What the window shows first, in one read: the card, following merge redirects,
        and the newest ``first_page`` interactions (matching ``timeline_filter``, when the
        card on screen is refreshed with a filter set). The card's ``kinds`` are left out
        (they cost a read of the whole history): ask ``kinds`` afterwards."""
        with self.database.read() as session:
            store = self._store(session)
            resolved = store.resolve(customer_id)
            card = None if resolved is None else store.card(resolved, with_kinds=False)
            if card is None:
                return None
            return card, store.timeline(card.customer.id, None, first_page, timeline_filter)

    def kinds(self, customer_id: int) -> tuple[str, ...]:
        """The kinds of interaction in a customer's history (for the timeline's filter)."""
        with self.database.read() as session:
            return self._store(session).kinds(customer_id)

    def load_by_public_id(self, public_id: str) -> CustomerCard | None:
        with self.database.read() as session:
            store = self._store(session)
            customer_id = store.id_for_public_id(public_id)
            resolved = None if customer_id is None else store.resolve(customer_id)
            return None if resolved is None else store.card(resolved)

    def related(self, customer_id: int) -> tuple[RelatedCustomer, ...]:
        """Household members, possible duplicates and namesakes: loaded after the card."""
        with self.database.read() as session:
            return self._store(session).related(customer_id)

    def products(self, customer_id: int, limit: int = 8) -> ProductsBought:
        """What the customer bought, per product, most recent first (``limit`` of them, and
        how many in all): loaded after the card, like the related customers."""
        with self.database.read() as session:
            return self._store(session).products(customer_id, limit)

    def order_lines(self, interaction_id: int) -> tuple[OrderLine, ...]:
        """The lines of one order (for the timeline's detail pane)."""
        with self.database.read() as session:
            return self._store(session).order_lines(interaction_id)

    def timeline(
        self,
        customer_id: int,
        after: TimelineCursor | None,
        limit: int,
        filter: TimelineFilter | None = None,
    ) -> list[Interaction]:
        with self.database.read() as session:
            return self._store(session).timeline(customer_id, after, limit, filter)


__all__ = ["CardService", "OrderLine", "ProductBought", "ProductsBought", "card_as_json"]

CARD_JSON_VERSION = 1


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def card_as_json(
    card: CustomerCard, latest: list[Interaction], products: ProductsBought | None = None
) -> dict[str, Any]:
    """The stable JSON shape of ``customer-card show --json`` (see README, "JSON output")."""
    customer = asdict(card.customer)
    customer["display_name"] = card.customer.display_name
    payload: dict[str, Any] = _plain(
        {
            "format": "customer-card/card",
            "version": CARD_JSON_VERSION,
            "customer": customer,
            "do_not_contact": card.do_not_contact,
            "contact_points": [asdict(c) for c in card.contact_points],
            "identifiers": [asdict(i) for i in card.identifiers],
            "consents": [asdict(c) for c in card.consents],
            "preferences": [asdict(p) for p in card.preferences],
            "social": [asdict(s) for s in card.social],
            "sources": [asdict(s) for s in card.sources],
            "channels": [asdict(c) for c in card.channels],
            "open_interactions": card.open_interactions,
            "interaction_count": card.interaction_count,
            "pending_suggestions": card.pending_suggestions,
            "latest_interactions": [asdict(i) for i in latest],
            "products": [asdict(p) for p in products.products] if products else [],
            "products_total": products.total if products else 0,
        }
    )
    return payload
