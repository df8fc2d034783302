"""A record's canonical JSON: the text its content hash is made of, so it must never change."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from sync import records
from sync.records import canonical_json

FIELDS: list[dict[str, Any]] = [
    {},
    {"given_name": "Zoé", "family_name": "Lefèvre-Œuvray", "note": 'guillemets " et \\ \n\t\u2028'},
    {"b": 1, "a": 2, "A": 3, "é": 4, "_": 5, "10": 6, "9": 7},
    {"amount": Decimal("1234.500"), "neg": Decimal("-0"), "exp": Decimal("1E+2")},
    {"at": datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=2))), "d": date(1, 1, 1)},
    {"utc": datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "naive": datetime(2026, 1, 1)},
    {"t": True, "f": False, "n": None, "i": -(2**70), "x": 0.1, "big": 1e300, "nan": math.nan},
    {"inf": math.inf, "list": [1, "two", None, [Decimal("3.0")], {"z": 1, "a": date(2020, 2, 29)}]},
    {"emoji": "👍🏽", "zero": "\x00", "surrogate_free": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢"},
]


def _reference(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, default=records._json_default)


@pytest.mark.parametrize("fields", FIELDS)
def test_canonical_json_is_what_json_dumps_writes(fields: dict[str, Any]) -> None:
    assert canonical_json(fields) == _reference(fields)


@pytest.mark.parametrize("fields", FIELDS)
def test_without_the_c_encoder_the_text_is_the_same(
    fields: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "_ENCODE", None)
    assert canonical_json(fields) == _reference(fields)


def test_a_value_json_cannot_hold_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot serialise set"):
        canonical_json({"tags": {"a"}})
