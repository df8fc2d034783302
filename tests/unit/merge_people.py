"""People and a clock shared by the merge and override tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sync.records import RecordKind, SourceRecord

T0 = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


def customer(source: str, source_id: str, when: datetime = T0, **fields: Any) -> SourceRecord:
    return SourceRecord(source, source_id, RecordKind.CUSTOMER, fields, updated_at=when)


# Two records of one person that share nothing the engine can link on: a supervisor merges.
LOYALTY = customer(
    "loyalty", "L1", given_name="Jocelyne", family_name="MICHU", loyalty_card="290410000035",
    city="Lyon", postcode="69003", loyalty_tier="gold",
)  # fmt: skip
ESHOP = customer(
    "eshop", "E1", given_name="Jo", family_name="Michu", email="jo.m@free.fr",
    street="12 rue Paul Bert", postcode="69008", city="Lyon",
)  # fmt: skip


class Clock:
    """A second later at every call: each action gets its own time."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now
