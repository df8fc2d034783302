"""Load a customer card and page its timeline."""

from __future__ import annotations

from customer_card.domain.model import CustomerCard, Interaction, TimelineCursor, TimelineFilter
from customer_card.store.card_store import CardStore
from customer_card.store.database import Database


class CardService:
    def __init__(self, database: Database) -> None:
        self.database = database

    def load(self, customer_id: int) -> CustomerCard | None:
        """The card of a customer, following merge redirects to the survivor."""
        with self.database.read() as session:
            store = CardStore(session)
            resolved = store.resolve(customer_id)
            return None if resolved is None else store.card(resolved)

    def load_by_public_id(self, public_id: str) -> CustomerCard | None:
        with self.database.read() as session:
            store = CardStore(session)
            customer_id = store.id_for_public_id(public_id)
            resolved = None if customer_id is None else store.resolve(customer_id)
            return None if resolved is None else store.card(resolved)

    def timeline(
        self,
        customer_id: int,
        after: TimelineCursor | None,
        limit: int,
        filter: TimelineFilter | None = None,  # noqa: A002 - the UI's keyword
    ) -> list[Interaction]:
        with self.database.read() as session:
            return CardStore(session).timeline(customer_id, after, limit, filter)
