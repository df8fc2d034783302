"""Matching: one mistyped record of a person, mailbox names with a typo, a given name and
its other-sex form."""

from __future__ import annotations

from typing import Any

import pytest

from customer_card import paths
from customer_card.matching.compare import EMAIL, compare
from customer_card.matching.config import load_config
from customer_card.matching.decide import Candidate, Matcher
from customer_card.matching.profile import profile_of

CONFIG = load_config(paths.resources_dir() / "matching.toml")
NAMES = (CONFIG.fields[0], CONFIG.fields[1])


def _candidate(key: int, cluster: int, fields: dict[str, Any]) -> Candidate[int]:
    return Candidate(key, cluster, profile_of(fields), ("crm", f"C{key}"))


def _person(birth: str) -> dict[str, Any]:
    return {
        "given_name": "Karim",
        "family_name": "Martinez",
        "email": "karim.martinez@gmail.com",
        "birth_date": birth,
    }


def test_one_mistyped_birth_date_does_not_split_a_person() -> None:
    matcher = Matcher(CONFIG)
    records = [
        _candidate(1, 10, _person("1954-03-24")),
        _candidate(2, 10, _person("1954-03-24")),
        _candidate(3, 10, _person("1945-03-24")),  # one record's typo
    ]
    decision = matcher.decide(profile_of(_person("1954-03-24")), records, 100_000)
    assert decision.link is not None
    assert decision.link.cluster == 10


def test_a_tie_of_records_keeps_the_record_apart() -> None:
    matcher = Matcher(CONFIG)
    records = [_candidate(1, 10, _person("1954-03-24")), _candidate(2, 10, _person("1980-01-02"))]
    decision = matcher.decide(profile_of(_person("1954-03-24")), records, 100_000)
    assert decision.link is None


def test_a_family_member_stays_apart_however_many_records_the_other_has() -> None:
    matcher = Matcher(CONFIG)
    mother = {"given_name": "Jocelyne", "family_name": "Michu", "email": "michu@orange.fr"}
    records = [_candidate(i, 10, mother) for i in range(1, 4)]
    son = profile_of({"given_name": "Kevin", "family_name": "Michu", "email": "michu@orange.fr"})
    assert matcher.decide(son, records, 100_000).link is None


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        # Mailbox names that spell nothing but the names, a typo in one record's name.
        (("Christophe", "Dijox", "cdijoux@gmail.com"), ("Christophe", "", "cdijoux@free.fr"), 4),
        (("Dany", "Simon", "danielsimon@gmail.com"), ("D.", "Simon", "danielsimon@sfr.fr"), 4),
        (("Hugo", "Tessieer", "hugotessier@aol.fr"), ("Hugo", "Tesiser", "hugotessier@sfr.fr"), 4),
        # A mailbox name that says more than the names is evidence.
        (("Christophe", "Dijoux", "zorro.ly@gmail.com"), ("Christophe", "", "zorro.ly@free.fr"), 2),
        (("Jean", "Martin", "jmartin75@gmail.com"), ("Jean", "Martin", "jmartin75@free.fr"), 2),
    ],
)  # fmt: skip
def test_a_mailbox_name_spelling_only_the_names_proves_nothing_more(
    a: tuple[str, str, str], b: tuple[str, str, str], level: int
) -> None:
    def profile(given: str, family: str, email: str) -> Any:
        return profile_of({"given_name": given, "family_name": family, "email": email})

    assert compare(profile(*a), profile(*b), NAMES).levels[EMAIL] == level


def test_an_outweighed_disagreement_is_in_the_evidence() -> None:
    matcher = Matcher(CONFIG)
    records = [
        _candidate(1, 10, _person("1954-03-24")),
        _candidate(2, 10, _person("1954-03-24")),
        # Another date, not a slip of the keyboard ('1945' for '1954' would be one).
        _candidate(3, 10, _person("1948-11-02")),
    ]
    decision = matcher.decide(profile_of(_person("1954-03-24")), records, 100_000)
    assert decision.link is not None
    assert decision.link.evidence["outweighed"] == "different birth dates (1 of 3 records)"
