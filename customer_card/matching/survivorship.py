"""Survivorship: which linked record supplies each field of the golden customer.

Each field is taken from the first record that has it, records ordered by the field's
source priority and then by recency. Priorities are data, passed in by the caller.
A supervisor's manual override of a field wins over all of that until it is cleared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
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


def survive(records: Sequence[LinkedRecord], overrides: Mapping[str, str] | None = None) -> Golden:
    """The golden fields of a customer's linked records; ``overrides`` (field -> value, as
    ``override_value`` returns it) replace what the rules would pick."""
    golden = _by_rules(records)
    return apply_overrides(golden, overrides) if overrides else golden


def _by_rules(records: Sequence[LinkedRecord]) -> Golden:
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


# --- manual overrides ---------------------------------------------------------------------

# The golden fields a supervisor may pin. The value figures (followers, lifetime value,
# customer since) are computed from the history, not chosen, so they cannot be pinned.
OVERRIDABLE: tuple[str, ...] = (
    "given_name",
    "family_name",
    "birth_date",
    "language",
    "city",
    "postcode",
    "loyalty_tier",
    "loyalty_card",
    "vip",
)
_TRUE = frozenset({"true", "yes", "oui", "1", "y"})
_FALSE = frozenset({"false", "no", "non", "0", "n"})
_MAX_LENGTH = {"language": 8, "postcode": 16, "loyalty_tier": 32, "loyalty_card": 64}


class OverrideError(ValueError):
    """A field that cannot be pinned or a value it cannot take; the message says which."""


def check_field(field: str) -> None:
    """Raise ``OverrideError`` unless ``field`` is a golden field that can be pinned."""
    if field not in OVERRIDABLE:
        raise OverrideError(
            f"{field!r} is not a golden field that can be pinned; use one of: "
            + ", ".join(OVERRIDABLE)
        )


def override_value(field: str, value: str) -> str:
    """The value to store for a pinned field, checked and in canonical form (ISO dates,
    'true'/'false'); raises ``OverrideError`` with one clear sentence."""
    check_field(field)
    text = value.strip()
    if field == "vip":
        if text.lower() in _TRUE:
            return "true"
        if text.lower() in _FALSE:
            return "false"
        raise OverrideError(f"vip must be yes or no, not {value!r}")
    if field == "birth_date":
        parsed = normalise.birth_date(text)
        if parsed is None or parsed > date.today():
            raise OverrideError(f"{value!r} is not a birth date (use YYYY-MM-DD)")
        return parsed.isoformat()
    if field == "loyalty_tier":
        text = text.lower()
        if text not in TIER_ORDER:
            raise OverrideError(
                f"{value!r} is not a loyalty tier; use one of: " + ", ".join(TIER_ORDER)
            )
    if not text and field in ("given_name", "family_name"):
        raise OverrideError(f"{field} cannot be pinned to an empty value")
    limit = _MAX_LENGTH.get(field, 120)
    if len(text) > limit:
        raise OverrideError(f"{field} holds at most {limit} characters ({len(text)} given)")
    return text


def apply_overrides(golden: Golden, overrides: Mapping[str, str]) -> Golden:
    """``golden`` with the pinned fields' values; fields that cannot be pinned are ignored
    (every stored value went through ``override_value``)."""
    changes: dict[str, Any] = {}
    for field, value in overrides.items():
        if field not in OVERRIDABLE:
            continue
        if field == "vip":
            changes[field] = value == "true"
        elif field == "birth_date":
            changes[field] = date.fromisoformat(value)
        elif field in ("given_name", "family_name"):
            changes[field] = value
        else:
            changes[field] = value or None  # pinned blank: the card shows nothing
    return replace(golden, **changes) if changes else golden


def _as_int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
