"""Matching accuracy fixes, each with the case that showed it: names counted per person and
smoothed, one-word names, hyphenated names, short forms, and EM that does not collapse."""

from __future__ import annotations

import random
from typing import Any

import pytest

from customer_card import paths
from customer_card.matching.compare import compare
from customer_card.matching.config import FIELDS, load_config
from customer_card.matching.decide import Candidate, Matcher
from customer_card.matching.frequency import Frequencies, lookup_keys
from customer_card.matching.link import Identity, conflict, given_names_compatible
from customer_card.matching.model import estimate, u_from_random_pairs
from customer_card.matching.profile import profile_of

CONFIG = load_config(paths.resources_dir() / "matching.toml")


def _candidate(key: int, cluster: int, fields: dict[str, Any]) -> Candidate[int]:
    return Candidate(key, cluster, profile_of(fields), ("crm", str(key)))


def test_a_hyphenated_name_alone_stays_one_name() -> None:
    alone = profile_of({"full_name": "Pierre-Yves"})
    assert (alone.given, alone.family) == ("", "pierre yves")
    display = profile_of({"full_name": "jocelyne_michu"})
    assert (display.given, display.family) == ("jocelyne", "michu")


def test_one_name_that_is_neither_of_the_other_records_names_is_a_conflict() -> None:
    laure = profile_of({"full_name": "Laure", "email": "m.dupont402@gmail.com"})
    father = profile_of(
        {"given_name": "Jean-Pierre", "family_name": "Dupont", "email": "m.dupont402@gmail.com"}
    )
    assert conflict(laure.identity(), father.identity()) == "different names"
    assert conflict(father.identity(), laure.identity()) == "different names"
    madame = profile_of({"full_name": "Mme Dupont"})
    assert conflict(madame.identity(), father.identity()) is None
    by_given = profile_of({"full_name": "Jean-Pierre"})
    assert conflict(by_given.identity(), father.identity()) is None


def test_a_household_email_does_not_link_a_lone_other_name() -> None:
    matcher = Matcher(CONFIG)
    father = _candidate(
        1,
        10,
        {"given_name": "Jean-Pierre", "family_name": "Dupont", "email": "m.dupont402@gmail.com"},
    )
    decision = matcher.decide(
        profile_of({"full_name": "Laure", "email": "m.dupont402@gmail.com"}), [father], 10_000
    )
    assert decision.link is None


def test_short_forms_cut_from_the_full_name_are_compatible() -> None:
    assert given_names_compatible("nath", "nathalie")
    assert given_names_compatible("vero", "veronique")
    assert given_names_compatible("momo", "monique")
    assert not given_names_compatible("marc", "martine")


@pytest.mark.parametrize(
    ("short", "full"),
    [("nanard", "bernard"), ("jackie", "jacqueline"), ("jackie", "jacques"), ("gege", "gerard"),
     ("bebert", "albert"), ("riri", "henri"), ("lulu", "lucienne"), ("titine", "martine"),
     ("jeannot", "jean"), ("andy", "andrew"), ("steve", "stephen"), ("greg", "gregory")],
)  # fmt: skip
def test_common_french_and_english_diminutives_are_compatible(short: str, full: str) -> None:
    assert given_names_compatible(short, full)
    assert given_names_compatible(full, short)


def test_a_diminutive_does_not_join_two_full_names() -> None:
    # 'Jacky' stands for Jacques or Jacqueline; it does not make the two one person, nor
    # does 'Lulu' make Lucien and Louise compatible.
    assert not given_names_compatible("bernard", "gerard")
    assert not given_names_compatible("lucien", "louise")


def test_a_short_form_and_a_typo_meet() -> None:
    """A short form in one record and a typo in either ('Freed' for Frédéric's Fred,
    'Caaroline' beside Caro) do not make two people of one; similar names that are not
    one typo apart ('Steve' for Stephen, against Stéphanie) still do."""
    assert given_names_compatible("freed", "frederic")
    assert given_names_compatible("caaroline", "caro")
    assert (
        conflict(
            Identity.of([("Freed", "Delannoy")], []), Identity.of([("Frédéric", "Delannoy")], [])
        )
        is None
    )
    assert not given_names_compatible("steve", "stephanie")
    assert not given_names_compatible("tom", "timothy")  # 'tim': too short for a typo


def test_a_name_repeated_by_one_persons_records_counts_once() -> None:
    """Two earlier records of one customer carry a rare name: it is one person's name, so
    a third record with it weighs as much as if the name had been seen once."""
    matcher = Matcher(CONFIG)
    fields = {"given_name": "Philomène", "family_name": "Kerhervé"}
    same_person = [_candidate(1, 10, fields), _candidate(2, 10, fields)]
    two_people = [_candidate(1, 10, fields), _candidate(2, 20, fields)]
    counts = Frequencies()
    counts.add_all(c.profile for c in same_person)
    incoming = profile_of({"full_name": "Philomène Kerhervé"})

    def best(candidates: list[Candidate[int]]) -> float:
        decision = matcher.decide(incoming, candidates, 10_000, counts=counts)
        return max(s.probability for s in decision.suggestions) if decision.suggestions else 0.0

    assert best(same_person) > best(two_people)


def test_names_agreeing_swapped_weigh_with_the_counts_inline_has() -> None:
    """The weight of names read the other way uses only counts looked up for the incoming
    record (inline matching fetches those), so inline and batch agree."""
    matcher = Matcher(CONFIG)
    candidate = profile_of({"given_name": "Le Goff", "family_name": "Hélène"})
    incoming = profile_of({"full_name": "Hélène"})  # one name: the family field
    full = Frequencies()
    full.add(candidate)

    class Fetched:
        """Only the keys inline matching fetches for ``incoming``."""

        def count(self, key: str) -> int:
            from customer_card.matching.frequency import lookup_keys

            return full.count(key) if key in lookup_keys(incoming) else 0

    a = matcher.pair(incoming, candidate, 5000, counts=full).score.weight
    b = matcher.pair(incoming, candidate, 5000, counts=Fetched()).score.weight
    assert a == b


@pytest.mark.parametrize("incoming_has_the_handle", [True, False])
def test_a_handle_spelling_the_full_name_weighs_what_the_name_adds(
    incoming_has_the_handle: bool,
) -> None:
    """'Susanne R.' with @susannerossi against Susanne Rossi: the handle tells the family name,
    so it weighs by how common the full name is among the records named Susanne — a lot for
    a rare one, little where namesakes abound — with only the counts inline matching fetches
    for the incoming record, so inline and batch agree."""
    matcher = Matcher(CONFIG)
    social = profile_of({"full_name": "Susanne R.", "instagram": "@susanne.rossi"})
    crm = profile_of({"given_name": "Susanne", "family_name": "Rossi", "city": "Toulouse"})
    incoming, earlier = (social, crm) if incoming_has_the_handle else (crm, social)
    others = [profile_of({"given_name": "Susanne", "family_name": f"X{i}"}) for i in range(40)]
    namesakes = [profile_of({"given_name": "Susanne", "family_name": "Rossi"})] * 20
    handle = CONFIG.fields[FIELDS.index("handle_name")]

    def weight(population: list[Any]) -> float:
        full = Frequencies()
        full.add_all([earlier, *population])

        class Fetched:
            """Only the keys inline matching fetches for ``incoming``."""

            def count(self, key: str) -> int:
                return full.count(key) if key in lookup_keys(incoming) else 0

        scores = [matcher.pair(incoming, earlier, 5000, counts=c).score for c in (full, Fetched())]
        assert scores[0].weight == scores[1].weight
        fields = {e.field: e.weight for e in scores[0].evidence}
        return fields["handle_name"]

    assert weight(others) > handle.weight(1)  # one Susanne Rossi among 41 Susannes
    assert weight(others + namesakes) < handle.weight(1)  # 21 of 61


def test_em_with_random_pair_u_does_not_collapse() -> None:
    """Candidate pairs agree more than random pairs even when they are not matches: EM must
    still find a match share well below 1 and keep agreement weights positive."""
    rng = random.Random(3)
    given = ["marie", "jean", "paul", "anne", "luc", "lea", "hugo", "zoe"]
    family = ["martin", "bernard", "petit", "durand", "leroy", "moreau"]
    people = [
        {
            "given_name": rng.choice(given),
            "family_name": rng.choice(family),
            "birth_date": f"19{rng.randint(40, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
            "email": f"p{i}@example.org",
        }
        for i in range(300)
    ]
    profiles = [profile_of(p) for p in people]
    names = (CONFIG.fields[0], CONFIG.fields[1])
    candidates = []
    for i, p in enumerate(profiles):
        twin = profile_of({**people[i], "email": None})  # a second record of the person
        candidates.append(compare(p, twin, names).levels)
        other = profiles[(i + 1) % len(profiles)]
        candidates.append(compare(p, other, names).levels)  # a blocked non-match
    random_pairs = [compare(rng.choice(profiles), rng.choice(profiles), names).levels
                    for _ in range(3000)]  # fmt: skip
    start = u_from_random_pairs(random_pairs, CONFIG.fields)
    result = estimate(candidates, start, 0.05, fixed_u=True, m_prior_share=0.1)
    assert 0.2 < result.prior < 0.8
    birth = result.fields[2]
    assert birth.weight(1) > 0 > birth.weight(4)
    assert birth.u == start[2].u  # u stays that of random pairs


def test_a_small_town_proves_more_than_a_big_city() -> None:
    """Two records naming the same city (no postcode to compare) weigh by how many earlier
    records name it: Vincennes says more than Paris. A cache whose counts do not cover its
    cities yet (counted before cities were) keeps the configured weight."""
    matcher = Matcher(CONFIG)
    counts = Frequencies({"c:paris": 1900, "c:vincennes": 3, "#": 10_000, "#c": 10_000})

    def city_weight(city: str, counts: Frequencies | None) -> float:
        a = profile_of({"full_name": "Geneviève Vincent", "city": city})
        b = profile_of({"given_name": "Geneviève", "family_name": "Vincent", "city": city})
        score = matcher.pair(a, b, 10_000, counts=counts).score
        return next(e.weight for e in score.evidence if e.field == "address")

    assert city_weight("Vincennes", counts) > city_weight("Paris", counts) + 5
    assert city_weight("Paris", counts) > 0  # still more likely in the same city
    configured = CONFIG.fields[8].weight(3)
    assert city_weight("Vincennes", Frequencies({"#": 10_000})) == configured
    newest_only = Frequencies({"c:paris": 5, "#": 10_000, "#c": 40})
    assert city_weight("Paris", newest_only) == configured


def test_a_near_miss_of_a_common_family_name_weighs_less() -> None:
    """'Martine' for 'Martin' is as common as Martin is; a typo of a rare name keeps the
    configured weight of a close agreement."""
    matcher = Matcher(CONFIG)
    counts = Frequencies({"f:martin": 400, "f:kerherve": 2, "#": 10_000})

    def family_weight(incoming: str, earlier: str) -> float:
        a = profile_of({"given_name": "Paul", "family_name": incoming})
        b = profile_of({"given_name": "Paul", "family_name": earlier})
        score = matcher.pair(a, b, 10_000, counts=counts).score
        return next(e.weight for e in score.evidence if e.field == "family_name")

    configured = CONFIG.fields[1].weight(2)
    assert family_weight("Martin", "Martinn") < configured - 3
    assert family_weight("Kerhervé", "Kerhrevé") == configured


def test_a_name_several_customers_hold_is_no_suggestion_for_any() -> None:
    """One person is one customer: a record with only a name is at most one of the
    customers that hold it, so the odds are shared. Alone it is suggested; among three
    namesakes (different birth dates, towns) none of them is."""
    matcher = Matcher(CONFIG)
    incoming = profile_of({"full_name": "Mamadou Haddad", "instagram": "@mamadou_haddad"})
    namesakes = [
        _candidate(i, 10 * i, {"given_name": "Mamadou", "family_name": "Haddad",
                               "birth_date": f"19{40 + 7 * i}-02-13", "postcode": pc})
        for i, pc in ((1, "38000"), (2, "63100"), (3, "13006"))
    ]  # fmt: skip
    alone = matcher.decide(incoming, namesakes[:1], 10_000)
    assert alone.link is None
    assert [s.cluster for s in alone.suggestions] == [10]
    together = matcher.decide(incoming, namesakes, 10_000)
    assert together.link is None
    assert together.suggestions == ()
