"""An interaction's time written into the cache: the short way for a mapping's UTC ISO text
gives the text the general way (parse, convert, write out) gives, and fails alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from customer_card.services import ingest
from customer_card.services.ingest import RecordError
from customer_card.store.ingest_store import sqlite_datetime


def _general(value: Any) -> str:
    return sqlite_datetime(ingest._datetime(value, "occurred_at"))


@pytest.mark.parametrize(
    "value",
    [
        "2024-03-01T09:30:05+00:00",  # (the short way: as a mapping writes a UTC time)
        "2024-03-01T09:30:05.250000+00:00",
        "2024-03-01T09:30:05.000001+00:00",
        "0001-01-01T00:00:00+00:00",
        "9999-12-31T23:59:59.999999+00:00",
        "2024-02-29T12:00:00+00:00",
        "2024-03-01T09:30:05.25+00:00",  # (the general way from here on)
        "2024-03-01T09:30:05,250000+00:00",
        "2024-03-01T09:30:05+01:00",
        "2024-03-01T09:30:05-00:00",
        "2024-03-01 09:30:05+00:00",
        "2024-03-01T09:30:05",
        "2024-03-01",
        " 2024-03-01T09:30:05+00:00",
        "2024-03-01T09:30:05+00:00:00",
        datetime(2024, 3, 1, 9, 30, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(2024, 3, 1, 9, 30, 5, 7, tzinfo=UTC),
    ],
)
def test_a_time_is_written_as_the_general_way_writes_it(value: Any) -> None:
    assert ingest._sqlite_time(value, "occurred_at") == _general(value)


@pytest.mark.parametrize(
    "value",
    [
        "2024-02-30T09:30:05+00:00",  # the shape of a UTC time, but no such day
        "2024-13-01T09:30:05+00:00",
        "2024-03-01T24:30:05+00:00",
        "２０２４-03-01T09:30:05+00:00",
        "2024-03-01T09:30:05.2500x0+00:00",
        "0001-01-01T00:00:00+01:00",  # (before year 1 in UTC)
        "",
        None,
        "yesterday",
    ],
)
def test_a_bad_time_fails_as_the_general_way_fails(value: Any) -> None:
    with pytest.raises(RecordError) as general:
        _general(value)
    with pytest.raises(RecordError) as short:
        ingest._sqlite_time(value, "occurred_at")
    assert str(short.value) == str(general.value)
