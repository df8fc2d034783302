"""Matching on the noise public record-linkage benchmarks stress (FEBRL and the like): dates
written as eight digits or one digit off, postcodes one slip off, streets with spaces typed
elsewhere, short family names with a typo, one name replaced. The records are handwritten
here (no benchmark data in the repository)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from customer_card import paths
from customer_card.matching import normalise
from customer_card.matching.compare import (
    ADDRESS,
    BIRTH,
    compare,
    dates_one_slip_apart,
    family_level,
    one_slip_apart,
    streets_agree,
)
from customer_card.matching.config import config_from_dict, load_config
from customer_card.matching.decide import Candidate, Matcher
from customer_card.matching.profile import profile_of

CONFIG = load_config(paths.resources_dir() / "matching.toml")
NAMES = (CONFIG.fields[0], CONFIG.fields[1])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("19610403", (date(1961, 4, 3),)),  # year first (ISO 8601 basic): one reading
        ("03041961", (date(1961, 4, 3), date(1961, 3, 4))),  # day first, as '03/04/1961'
        ("20011990", (date(1990, 1, 20),)),  # not the year 2001: month 19 does not exist
        ("19150631", ()),  # the 31st of June: a typo, no date
        ("00000000", ()),
        ("12345678", ()),  # no plausible birth year either way
        ("1961043", ()),  # seven digits: not a compact date
    ],
)
def test_birth_dates_written_as_eight_digits(raw: str, expected: tuple[date, ...]) -> None:
    assert normalise.birth_date_readings(raw) == expected


@pytest.mark.parametrize(
    ("a", "b", "close"),
    [
        (date(1951, 2, 27), date(1952, 2, 27), True),  # one digit of the year
        (date(1961, 4, 13), date(1961, 4, 18), True),  # one digit of the day
        (date(1961, 5, 13), date(1961, 5, 31), True),  # the 13th and the 31st
        (date(1961, 4, 12), date(1961, 4, 21), True),  # the day's digits the other way round
        (date(1916, 10, 17), date(1961, 10, 17), True),  # the year's last digits swapped
        (date(1961, 4, 13), date(1961, 4, 13), False),  # the same: not a slip
        (date(1961, 4, 13), date(1962, 5, 13), False),  # two digits apart
        (date(1939, 8, 6), date(1911, 6, 16), False),
    ],
)
def test_dates_one_slip_apart(a: date, b: date, close: bool) -> None:
    assert dates_one_slip_apart(a, b) is close
    assert dates_one_slip_apart(b, a) is close


@pytest.mark.parametrize(
    ("a", "b", "close"),
    [
        ("2272", "2227", True),  # neighbours swapped
        ("69003", "69008", True),
        ("3138", "3128", True),
        ("2148", "2184", True),
        ("69003", "96003", True),
        ("69003", "75003", False),
        ("1234", "4231", False),  # two digits swapped, not neighbours
        ("6900", "69003", False),  # lengths differ
        ("69003", "69003", False),
        ("SW1A1AA", "SW1A1AB", True),
    ],
)
def test_codes_one_slip_apart(a: str, b: str, close: bool) -> None:
    assert one_slip_apart(a, b) is close


@pytest.mark.parametrize(
    ("a", "b", "agree"),
    [
        ("40 bannerstreet merryafle", "40 banner street merrydale", True),  # spaces moved
        ("23 bennelong cescent", "23 bennelong crescent roskhill", True),  # typo + one more
        ("12 rue des lilas", "12 rue des lilas bat c", True),
        ("12 avenue paul bert", "12 avenue paul bert", True),
        ("12 rue des lilas", "12 avenue des roses", False),
        ("3 rue victor hugo", "3 rue victor basch", False),
        ("7 middletoz cwircuit", "19 park lane", False),
        ("", "12 rue des lilas", False),
    ],
)
def test_streets_agree(a: str, b: str, agree: bool) -> None:
    assert streets_agree(a, b) is agree


def test_streets_found_word_by_word_need_the_same_house_number() -> None:
    # A typo in one word and a word more on one side: found word by word, with the number.
    assert streets_agree("12 hersehell circuit north", "12 herschell circuit north killarney")
    assert not streets_agree("14 hersehell circuit north", "12 herschell circuit north killarney")


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        ("webb", "webv", 2),  # Jaro-Winkler .88: one typo in a short name
        ("ryan", "ryah", 2),
        ("ryan", "rayn", 2),  # a transposition is one edit
        ("dupont", "dupond", 2),
        ("lee", "lea", 4),  # three letters: too short to tell a typo
        ("webb", "weaver", 4),
        ("martin", "martel", 4),
    ],
)
def test_short_family_names_with_one_typo_are_close(a: str, b: str, level: int) -> None:
    assert family_level(a, b) == level


def _profile(**fields: Any) -> Any:
    return profile_of(fields)


def test_a_postcode_slip_is_the_same_address_when_street_and_city_agree() -> None:
    a = _profile(
        family_name="Roux", street="12 herschell circuit", postcode="2272", city="Lawrence"
    )
    typo = _profile(
        family_name="Roux", street="12 herschell circuit", postcode="2227", city="Lawrence"
    )
    moved = _profile(
        family_name="Roux", street="12 herschell circuit", postcode="2227", city="Ashfield"
    )
    far = _profile(
        family_name="Roux", street="12 herschell circuit", postcode="3227", city="Lawrence"
    )
    assert compare(a, typo, NAMES).levels[ADDRESS] == 1
    assert compare(a, moved, NAMES).levels[ADDRESS] == 4  # the city says another town
    assert compare(a, far, NAMES).levels[ADDRESS] == 4  # two digits: another postcode


def test_birth_date_levels_name_a_typo_apart_from_the_same_year() -> None:
    a = _profile(given_name="James", family_name="Crook", birth_date="1951-02-27")
    levels = {
        "1951-02-27": "exact",
        "1951-27-02": None,  # not a date
        "1952-02-27": "typo",
        "1951-09-30": "year",
        "1937-05-22": "different",
    }
    for raw, name in levels.items():
        level = compare(a, _profile(birth_date=raw), NAMES).levels[BIRTH]
        assert CONFIG.fields[BIRTH].level_name(level) == (name or "missing"), raw


def test_an_old_configuration_gets_the_birth_date_typo_level() -> None:
    import tomllib

    data = tomllib.loads((paths.resources_dir() / "matching.toml").read_text(encoding="utf-8"))
    data["fields"]["birth_date"] = {
        "levels": ["exact", "swapped", "year", "different"],
        "m": [0.93, 0.02, 0.03, 0.02],
        "u": [0.00005, 0.00003, 0.016, 0.98392],
    }
    birth = config_from_dict(data).fields[BIRTH]
    assert birth.levels == ("exact", "swapped", "typo", "year", "different")
    assert sum(birth.m) == pytest.approx(1.0)
    assert sum(birth.u) == pytest.approx(1.0)
    assert birth.weight(1) == pytest.approx(CONFIG.fields[BIRTH].weight(1), abs=0.1)


# --- decisions on FEBRL-like records ---------------------------------------------------------

ORIGINAL = {
    "given_name": "Sarah",
    "family_name": "Browne",
    "street": "7 longstaff street",
    "postcode": "6430",
    "city": "Loftus",
    "birth_date": "19300723",
}


def _decide(incoming: dict[str, Any], population: int = 5000) -> Any:
    candidate = Candidate(1, 10, profile_of(ORIGINAL), ("febrl", "rec-1-org"))
    return Matcher(CONFIG).decide(profile_of(incoming), [candidate], population)


def test_a_birth_date_with_one_digit_mistyped_links() -> None:
    decision = _decide({**ORIGINAL, "birth_date": "19300728", "given_name": "Sarha"})
    assert decision.link is not None
    fields = {e["field"]: e["level"] for e in decision.link.evidence["fields"]}
    assert fields["birth_date"] == "typo"


def test_a_postcode_slip_with_the_same_street_links() -> None:
    decision = _decide({**ORIGINAL, "postcode": "6340", "birth_date": None})
    assert decision.link is not None


def test_one_name_replaced_when_all_else_agrees_is_for_a_person_to_review() -> None:
    # Another given name, the same family name, birth date and street: a name changed in
    # one system, or twins. Never a link; a suggestion, with the disagreement said.
    decision = _decide({**ORIGINAL, "given_name": "Bailey"})
    assert decision.link is None
    (suggestion,) = decision.suggestions
    assert "different given names" in suggestion.reason
    assert suggestion.probability < CONFIG.link_threshold


def test_one_name_replaced_and_another_birth_date_is_another_person() -> None:
    decision = _decide({**ORIGINAL, "given_name": "Bailey", "birth_date": "19520611"})
    assert decision.link is None
    assert decision.suggestions == ()


def test_another_birth_date_is_reviewed_only_when_the_rest_would_link() -> None:
    # The same names and street, another birth date: a wrong date, or a father and his son
    # named alike. Reviewed only when nothing else disagrees (the model would link).
    same_rest = _decide({**ORIGINAL, "birth_date": "19520611"}, population=2000)
    assert same_rest.link is None
    (suggestion,) = same_rest.suggestions
    assert "different birth dates" in suggestion.reason
    other_phone = profile_of({**ORIGINAL, "phone": "0612345678"})
    son = profile_of({**ORIGINAL, "birth_date": "19520611", "phone": "0698765432"})
    candidate = Candidate(1, 10, other_phone, ("febrl", "rec-1-org"))
    decision = Matcher(CONFIG).decide(son, [candidate], 100_000)
    assert decision.link is None
    assert decision.suggestions == ()
