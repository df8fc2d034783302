"""What the window needs from the services, as structural types.

The window receives concrete services from the composition root; these protocols only
state the calls it makes, so the ui package does not depend on how they are built.
"""

from __future__ import annotations

from typing import Protocol

from customer_card.domain.model import (
    ContactKind,
    CustomerCard,
    Interaction,
    RelatedCustomer,
    SearchHit,
    TimelineCursor,
    TimelineFilter,
)
from customer_card.services.actions import CallOutcome, ValidContact
from customer_card.services.cards import OrderLine, ProductsBought


class SearchPort(Protocol):
    def search(self, text: str, limit: int = 30) -> list[SearchHit]: ...


class CardPort(Protocol):
    def load(self, customer_id: int) -> CustomerCard | None: ...

    def open(
        self, customer_id: int, first_page: int, timeline_filter: TimelineFilter | None = None
    ) -> tuple[CustomerCard, list[Interaction]] | None: ...

    def kinds(self, customer_id: int) -> tuple[str, ...]: ...

    def load_by_public_id(self, public_id: str) -> CustomerCard | None: ...

    def related(self, customer_id: int) -> tuple[RelatedCustomer, ...]: ...

    def products(self, customer_id: int, limit: int = 8) -> ProductsBought: ...

    def order_lines(self, interaction_id: int) -> tuple[OrderLine, ...]: ...

    def timeline(
        self,
        customer_id: int,
        after: TimelineCursor | None,
        limit: int,
        filter: TimelineFilter | None = None,
    ) -> list[Interaction]: ...


class ActionPort(Protocol):
    """What an advisor records on the card (``customer_card.services.actions.ActionService``)."""

    def add_note(self, customer_id: int, text: str, author: str) -> Interaction: ...

    def log_call(self, customer_id: int, outcome: CallOutcome, author: str) -> Interaction: ...

    def correct_contact(
        self,
        customer_id: int,
        kind: ContactKind,
        old_value: str | None,
        new_value: str,
        author: str,
    ) -> ValidContact: ...
