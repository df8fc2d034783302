"""Matching accuracy fixes, each with the case that showed it: names counted per person and
smoothed, one-word names, hyphenated names, short forms, and EM that does not collapse."""

from __future__ import annotations

import random
from typing import Any

from customer_card import paths
from customer_card.matching.compare import compare
from customer_card.matching.config import load_config
from customer_card.matching.decide import Candidate, Matcher
from customer_card.matching.frequency import Frequencies
from customer_card.matching.link import conflict, given_names_compatible
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
