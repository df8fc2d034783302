"""Survivorship: which linked record supplies each field of the golden customer.

Each field is taken from the first record that has it, records ordered by the field's
source priority and then by recency. Priorities are data, passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from customer_card.matching import normalise
from customer_card.matching.extract import names_of

DEFAULT_PRIORITY: tuple[str, ...] = ("crm", "loyalty", "eshop", "support", "social")
FIELD_PRIORITY: Mapping[str, tuple[str, ...]] = {
    "loyalty_tier": ("loyalty", "crm", "eshop"),
    "loyalty_card": ("loyalty", "crm", "eshop"),
}
TIER_ORDER = {"bronze": 1, "silver": 2, "gold": 3, "platinum": 4}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class LinkedRecord:
    source: str
    updated_at: datetime | None
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Golden:
    given_name: str
    family_name: str
    birth_date: date | None
    language: str | None
    city: str | None
    postcode: str | None
    loyalty_tier: str | None
    loyalty_card: str | None
    vip: bool
    customer_since: date | None
    followers: int


def _rank(source: str, order: Sequence[str]) -> int:
    return order.index(source) if source in order else len(order)


def _ordered(records: Sequence[LinkedRecord], field: str) -> list[LinkedRecord]:
    order = FIELD_PRIORITY.get(field, DEFAULT_PRIORITY)
    by_recency = sorted(records, key=lambda r: r.updated_at or _EPOCH, reverse=True)
    return sorted(by_recency, key=lambda r: _rank(r.source, order))


def _first(records: Sequence[LinkedRecord], field: str) -> str | None:
    for record in _ordered(records, field):
        value = record.fields.get(field)
        if value not in (None, "", []):
            return str(value).strip()
    return None


def survive(records: Sequence[LinkedRecord]) -> Golden:
    given = family = ""
    for record in _ordered(records, "name"):
        record_given, record_family = names_of(record.fields)
        # Prefer a record with both parts over one with a lone initial or a single word.
        if record_given and record_family and len(record_given) > 1:
            given, family = record_given, record_family
            break
        if not family:
            given, family = record_given, record_family

    birth = None
    for record in _ordered(records, "birth_date"):
        birth = normalise.birth_date(record.fields.get("birth_date"))
        if birth:
            break

    since_values = [normalise.birth_date(r.fields.get("customer_since")) for r in records]
    since = min((d for d in since_values if d), default=None)

    followers_by_handle: dict[str, int] = {}
    for record in records:
        count = _as_int(record.fields.get("followers"))
        for network in ("twitter", "instagram", "facebook", "tiktok", "linkedin"):
            handle = record.fields.get(network)
            if handle:
                key = f"{network}:{normalise.handle(str(handle)).value}"
                followers_by_handle[key] = max(followers_by_handle.get(key, 0), count)

    tiers = [str(r.fields["loyalty_tier"]).lower() for r in records if r.fields.get("loyalty_tier")]
    tier = max(tiers, key=lambda t: TIER_ORDER.get(t, 0)) if tiers else None
    card = _first(records, "loyalty_card")
    return Golden(
        given_name=given,
        family_name=family,
        birth_date=birth,
        language=_first(records, "language"),
        city=normalise.display_name(_first(records, "city")) or None,
        postcode=_first(records, "postcode"),
        loyalty_tier=tier,
        loyalty_card=card,
        vip=any(bool(r.fields.get("vip")) for r in records),
        customer_since=since,
        followers=sum(followers_by_handle.values()),
    )


def _as_int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
