"""From a customer record's canonical fields to normalised contact points, identifiers and names.

Pure: the ingest service stores what this returns; the golden record is built from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from customer_card.matching import normalise
from customer_card.matching.normalise import DEFAULT_REGION

SOCIAL_NETWORKS = ("twitter", "instagram", "facebook", "tiktok", "linkedin")
PREFERENCE_FIELDS = ("preferred_channel", "preferred_store", "language")


@dataclass(frozen=True, slots=True)
class ContactRow:
    kind: str  # email | phone | address | social
    value: str
    normalised: str
    valid: bool
    primary: bool
    label: str | None = None


@dataclass(frozen=True, slots=True)
class SocialRow:
    network: str
    handle: str
    followers: int


@dataclass(frozen=True, slots=True)
class Extracted:
    given_name: str
    family_name: str
    contacts: tuple[ContactRow, ...]
    identifiers: tuple[tuple[str, str], ...]  # (kind, normalised value), strong ones only
    social: tuple[SocialRow, ...]
    preferences: tuple[tuple[str, str], ...]
    problems: tuple[str, ...] = field(default=())

    @property
    def has_identity(self) -> bool:
        return bool(self.given_name or self.family_name or self.identifiers or self.contacts)


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None and str(v).strip()]
    return [str(value)]


def names_of(fields: Mapping[str, Any]) -> tuple[str, str]:
    given = str(fields.get("given_name") or "").strip()
    family = str(fields.get("family_name") or "").strip()
    if not (given or family) and fields.get("full_name"):
        given, family = normalise.split_full_name(str(fields["full_name"]))
    return normalise.display_name(given), normalise.display_name(family)


def extract(fields: Mapping[str, Any], region: str = DEFAULT_REGION) -> Extracted:
    """``region`` is the default for phones written without a country code; a record's own
    ``country`` (ISO 3166 alpha-2) wins: a Belgian '0473 12 85 08' is not a French number."""
    country = str(fields.get("country") or "").strip().upper()
    if len(country) == 2 and country.isalpha():
        region = country
    given, family = names_of(fields)
    contacts: list[ContactRow] = []
    identifiers: list[tuple[str, str]] = []
    problems: list[str] = []

    for index, raw in enumerate(_strings(fields.get("email"))):
        result = normalise.email(raw)
        # A placeholder address is kept, shown as not valid, and never links anybody.
        usable = result.valid and not normalise.placeholder_email(result.value)
        contacts.append(ContactRow("email", raw.strip(), result.value, usable, index == 0))
        if usable:
            identifiers.append(("email", result.value))
        else:
            problems.append(f"invalid e-mail {raw!r}")

    for index, raw in enumerate(_strings(fields.get("phone"))):
        result = normalise.phone(raw, region)
        label = None
        usable = result.valid and not normalise.placeholder_phone(result.value)
        if usable:
            label = "mobile" if normalise.is_mobile(result.value) else "landline"
            identifiers.append(("phone", result.value))
        else:
            problems.append(f"invalid phone {raw!r}")
        contacts.append(ContactRow("phone", raw.strip(), result.value, usable, index == 0, label))

    address = _address(fields)
    if address:
        contacts.append(ContactRow("address", address, normalise.fold(address), True, True))

    for raw in _strings(fields.get("loyalty_card")):
        card = normalise.card_number(raw)
        if card.valid:
            identifiers.append(("loyalty_card", card.value))
    for raw in _strings(fields.get("crm_id")):
        identifiers.append(("crm_id", raw.strip()))

    social: list[SocialRow] = []
    followers = _int(fields.get("followers"))
    for network in SOCIAL_NETWORKS:
        for raw in _strings(fields.get(network)):
            result = normalise.handle(raw)
            contacts.append(
                ContactRow("social", "@" + result.value, result.value, result.valid, False, network)
            )
            if result.valid:
                identifiers.append(("social", f"{network}:{result.value}"))
                social.append(SocialRow(network, result.value, followers))

    preferences = [(key, str(fields[key])) for key in PREFERENCE_FIELDS if fields.get(key)]
    preferences.extend(("interest", str(v)) for v in _strings(fields.get("interests")))

    return Extracted(
        given_name=given,
        family_name=family,
        contacts=tuple(contacts),
        identifiers=tuple(dict.fromkeys(identifiers)),
        social=tuple(social),
        preferences=tuple(preferences),
        problems=tuple(problems),
    )


def _address(fields: Mapping[str, Any]) -> str:
    street = str(fields.get("street") or "").strip()
    postcode = str(fields.get("postcode") or "").strip()
    city = str(fields.get("city") or "").strip()
    locality = " ".join(p for p in (postcode, city) if p)
    return ", ".join(p for p in (street, locality) if p) if street else ""


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
