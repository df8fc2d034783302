"""Fixtures the merge, override and order-line tests share: a clock a second later at every
call, and ingest on the test's own cache with it."""

from __future__ import annotations

import pytest

from customer_card.services.ingest import IngestService
from customer_card.store.database import Database
from tests.unit.merge_people import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ingest(database: Database, clock: Clock) -> IngestService:
    return IngestService(database, clock=clock)
