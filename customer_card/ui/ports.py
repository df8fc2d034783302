"""What the window needs from the services, as structural types.

The window receives concrete services from the composition root; these protocols only
state the calls it makes, so the ui package does not depend on how they are built.
"""

from __future__ import annotations

from typing import Protocol

from customer_card.domain.model import (
    CustomerCard,
    Interaction,
    SearchHit,
    TimelineCursor,
    TimelineFilter,
)


class SearchPort(Protocol):
    def search(self, text: str, limit: int = 30) -> list[SearchHit]: ...


class CardPort(Protocol):
    def load(self, customer_id: int) -> CustomerCard | None: ...

    def load_by_public_id(self, public_id: str) -> CustomerCard | None: ...

    def timeline(
        self,
        customer_id: int,
        after: TimelineCursor | None,
        limit: int,
        filter: TimelineFilter | None = None,
    ) -> list[Interaction]: ...
