"""Matching: mailboxes with the same letters at one provider ('lprice26@free.fr' beside
'lprice@free.fr'), one phone number read under two country codes, and full names that open
with a compound given name's initials ('A-M Maillard'), French pet names ('Soso')."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from customer_card import paths
from customer_card.matching.compare import EMAIL, FAMILY, GIVEN, PHONE, compare
from customer_card.matching.config import config_from_dict, load_config
from customer_card.matching.decide import Candidate, Matcher
from customer_card.matching.link import conflict, given_names_compatible
from customer_card.matching.normalise import fold, split_full_name
from customer_card.matching.profile import profile_of

CONFIG = load_config(paths.resources_dir() / "matching.toml")
NAMES = (CONFIG.fields[GIVEN], CONFIG.fields[FAMILY])
LAUREN = {
    "given_name": "Lauren",
    "family_name": "Price",
    "birth_date": "1984-04-20",
    "email": "lprice@free.fr",
    "phone": "06 02 41 71 52",
    "postcode": "93210",
    "city": "Saint-Denis",
    "street": "44 boulevard Barbe",
}


def _email_level(a: str, b: str) -> str:
    first = profile_of({"given_name": "Lauren", "family_name": "Price", "email": a})
    second = profile_of({"given_name": "Lauren", "family_name": "Price", "email": b})
    return CONFIG.fields[EMAIL].level_name(compare(first, second, NAMES).levels[EMAIL])


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("lprice@free.fr", "Lprice26@free.fr", "letters"),
        ("l.price@free.fr", "lprice_84@free.fr", "letters"),
        ("lprice+shop@free.fr", "lprice2@free.fr", "letters"),
        ("lprice@free.fr", "lprice@free.fr", "same"),
        # Another provider: namesakes' natural choice as much as the person's.
        ("lprice@free.fr", "lprice26@orange.fr", "different"),
        ("lprice@free.fr", "laurenprice@free.fr", "different"),
        # Too few letters once the digits are gone, or a mailbox that names no one.
        ("lp12@free.fr", "lp84@free.fr", "different"),
        ("contact1@price.fr", "contact2@price.fr", "different"),
    ],
)
def test_mailboxes_with_the_same_letters_at_one_provider(a: str, b: str, level: str) -> None:
    assert _email_level(a, b) == level


def test_the_same_letters_at_one_provider_are_no_disagreement() -> None:
    # Namesakes at one provider pick the same letters too (the provider's 'lprice' taken,
    # the second Lauren Price gets 'lprice26'): it weighs nothing either way, where a
    # different address is evidence against.
    email = CONFIG.fields[EMAIL]
    assert email.weight(email.levels.index("letters") + 1) == pytest.approx(0.0)
    assert email.weight(email.levels.index("different") + 1) < -2.0


def _decide(incoming: dict[str, Any], population: int = 10_000) -> Any:
    candidate = Candidate(1, 10, profile_of(LAUREN), ("crm", "CRM-000115"))
    return Matcher(CONFIG).decide(profile_of(incoming), [candidate], population)


def test_a_second_account_at_ones_own_provider_is_suggested_never_linked() -> None:
    # A web shop's second account: the names and the mailbox's letters, nothing else. The
    # names alone make a suggestion in a cache of this size; a different address would not.
    second = {"given_name": "Lauren", "family_name": "Price", "email": "Lprice26@free.fr"}
    decision = _decide(second)
    assert decision.link is None
    (suggestion,) = decision.suggestions
    assert suggestion.cluster == 10
    assert suggestion.probability >= CONFIG.suggest_threshold
    fields = {e["field"]: e["level"] for e in suggestion.evidence["fields"]}
    assert fields["email"] == "letters"
    # At another provider the address is a different one: nothing to review.
    elsewhere = {**second, "email": "lprice26@orange.fr"}
    assert _decide(elsewhere).suggestions == ()


@pytest.mark.parametrize(
    ("field", "old"),
    [
        (EMAIL, {"levels": ["same", "local_part", "different"],
                 "m": [0.70, 0.10, 0.20], "u": [0.000002, 0.00002, 0.999978]}),
        (PHONE, {"levels": ["same", "different"], "m": [0.75, 0.25], "u": [0.000002, 0.999998]}),
    ],
)  # fmt: skip
def test_an_old_configuration_gets_the_new_levels(field: int, old: dict[str, Any]) -> None:
    data = tomllib.loads((paths.resources_dir() / "matching.toml").read_text(encoding="utf-8"))
    data["fields"][CONFIG.fields[field].name] = old
    upgraded = config_from_dict(data).fields[field]
    assert upgraded.levels == CONFIG.fields[field].levels
    assert sum(upgraded.m) == pytest.approx(1.0)
    assert sum(upgraded.u) == pytest.approx(1.0)
    for level in range(1, len(upgraded.levels) + 1):
        expected = CONFIG.fields[field].weight(level)
        assert upgraded.weight(level) == pytest.approx(expected, abs=0.05)


BELGIAN = {
    "given_name": "Gilbert",
    "family_name": "Delaunay",
    "phone": "0486 02 71 70",
    "street": "127bis avenue de Lefebvre",
    "postcode": "1000",
    "city": "Bruxelles",
    "country": "BE",
}


def _phone_level(a: dict[str, Any], b: dict[str, Any]) -> str:
    level = compare(profile_of(a), profile_of(b), NAMES).levels[PHONE]
    return CONFIG.fields[PHONE].level_name(level)


def test_a_number_read_under_another_country_code_is_the_same_national_number() -> None:
    # The helpdesk keeps no country: the Belgian mobile is read as a French number.
    ticket = {"full_name": "Gilbert Delaunay", "phone": "0486 02 71 70"}
    assert profile_of(ticket).phones != profile_of(BELGIAN).phones
    assert _phone_level(ticket, BELGIAN) == "national"
    assert _phone_level({**ticket, "phone": "0486 02 71 71"}, BELGIAN) == "different"
    assert _phone_level({**ticket, "phone": "+32 486 02 71 70"}, BELGIAN) == "same"


def test_the_same_national_number_corroborates_the_names() -> None:
    ticket = {"full_name": "Gilbert Delaunay", "phone": "0486 02 71 70"}
    candidate = Candidate(1, 10, profile_of(BELGIAN), ("crm", "CRM-004520"))
    decision = Matcher(CONFIG).decide(profile_of(ticket), [candidate], 100_000)
    assert decision.link is not None
    assert decision.link.cluster == 10
    fields = {e["field"]: e["level"] for e in decision.link.evidence["fields"]}
    assert fields["phone"] == "national"
    # Not a shared identifier: a namesake's other number, another given name, keep apart.
    sister = {**ticket, "full_name": "Gisèle Delaunay"}
    assert Matcher(CONFIG).decide(profile_of(sister), [candidate], 100_000).link is None


def test_a_national_number_the_incoming_record_shares_with_many_proves_nothing() -> None:
    # A switchboard: the incoming record's number is held by too many records to tell.
    ticket = profile_of({"full_name": "Gilbert Delaunay", "phone": "0486 02 71 70"})
    candidate = Candidate(1, 10, profile_of(BELGIAN), ("crm", "CRM-004520"))
    matcher = Matcher(CONFIG)
    decision = matcher.decide(ticket, [candidate], 100_000, weak_phones=ticket.phones)
    assert decision.link is None
    for suggestion in decision.suggestions:
        fields = {e["field"]: e["level"] for e in suggestion.evidence["fields"]}
        assert "phone" not in fields
    # Weak numbers of other records leave it as it was.
    assert matcher.decide(ticket, [candidate], 100_000, weak_phones={"+33100000000"}).link


def test_a_households_number_under_another_code_links_only_who_can_be_told_apart() -> None:
    # The Delaunays' Belgian number and address, on both members' records; the helpdesk
    # reads the number without its country as French. Which Delaunay called?
    landline = "+32 471 23 45 67"
    husband = Candidate(1, 10, profile_of({**BELGIAN, "phone": landline}), ("crm", "1"))
    wife = {**BELGIAN, "given_name": "Mireille", "birth_date": "1958-02-11", "phone": landline}
    spouse = Candidate(2, 20, profile_of(wife), ("crm", "2"))
    home = {k: BELGIAN[k] for k in ("street", "postcode", "city")}
    anonymous = profile_of({"full_name": "M. Delaunay", "phone": "0471 23 45 67", **home})
    assert _phone_level({"full_name": "M. Delaunay", "phone": "0471 23 45 67"}, wife) == "national"
    matcher = Matcher(CONFIG)
    decision = matcher.decide(anonymous, [husband, spouse], 100_000)
    assert decision.link is None
    assert all(
        "shares an identifier of several customers" in s.reason for s in decision.suggestions
    )
    # A given name tells the member: linked to the right one.
    gilbert = profile_of({"full_name": "Gilbert Delaunay", "phone": "0471 23 45 67"})
    decision = matcher.decide(gilbert, [husband, spouse], 100_000)
    assert decision.link is not None
    assert decision.link.cluster == 10
    # One customer's number is no household's: against him alone the same record links.
    alone = matcher.decide(anonymous, [husband], 100_000).link
    assert alone is not None
    assert alone.cluster == 10


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A-M Maillard", ("A-M", "Maillard")),
        ("J-P B.", ("J-P", "B.")),
        ("M-H VALLET", ("M-H", "VALLET")),
        ("J.-P. Besnard", ("J.-P.", "Besnard")),
        ("É-M Kerhervé", ("É-M", "Kerhervé")),
        # Capitals that are a family name still are.
        ("DA-SILVA Paul", ("Paul", "DA-SILVA")),
        ("LE GOFF Anne", ("Anne", "LE GOFF")),
    ],
)
def test_a_compound_given_names_initials_are_not_a_family_name(
    text: str, expected: tuple[str, str]
) -> None:
    assert split_full_name(text) == expected


def test_initials_of_a_compound_given_name_agree_with_it() -> None:
    ticket = profile_of({"full_name": "A-M Maillard", "email": "am.maillard@axa.fr"})
    crm = profile_of({"given_name": "Anne-Marie", "family_name": "Maillard"})
    assert (ticket.given, ticket.family) == ("a m", "maillard")
    levels = compare(ticket, crm, NAMES).levels
    assert CONFIG.fields[GIVEN].level_name(levels[GIVEN]) == "compatible"
    assert CONFIG.fields[FAMILY].level_name(levels[FAMILY]) == "exact"
    assert conflict(ticket.identity(), crm.identity()) is None


@pytest.mark.parametrize(
    ("full", "short"),
    [("Sophie", "Soso"), ("Patricia", "Patou"), ("Thierry", "Titi"), ("Michèle", "Micha")],
)
def test_french_pet_names_are_the_given_name(full: str, short: str) -> None:
    assert given_names_compatible(fold(full), fold(short))
    # A pet name is one name's: it does not make two given names one.
    assert not given_names_compatible(fold(full), fold("Valentin"))
