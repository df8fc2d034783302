"""Matching: initials and abbreviated names ('J. Michu', 'Karim B.'), the handles that spell
them in full, and records that may be any member of a household."""

from __future__ import annotations

from typing import Any

import pytest

from customer_card import paths
from customer_card.matching.compare import EMAIL, FAMILY, GIVEN, HANDLE, compare
from customer_card.matching.config import load_config
from customer_card.matching.decide import Candidate, Matcher
from customer_card.matching.frequency import Frequencies
from customer_card.matching.model import Model
from customer_card.matching.profile import profile_of

CONFIG = load_config(paths.resources_dir() / "matching.toml")
NAMES = (CONFIG.fields[GIVEN], CONFIG.fields[FAMILY])
INITIAL = 3  # the 'initial' level of both name fields


def _candidate(key: int, cluster: int, fields: dict[str, Any]) -> Candidate[int]:
    return Candidate(key, cluster, profile_of(fields), ("crm", f"C{key}"))


@pytest.mark.parametrize("field", [GIVEN, FAMILY])
def test_an_agreeing_initial_is_evidence_for_the_match(field: int) -> None:
    # Records of one person abbreviate a name as often as records of two people do, so the
    # share of abbreviated records drops out: an initial's agreement weighs about what two
    # people's names sharing their first letter (1 in 12 to 15) makes unlikely.
    weights = CONFIG.fields[field]
    assert 2.5 < weights.weight(INITIAL) < 5.0
    chance_same_initial = weights.u[INITIAL - 1] / weights.m[INITIAL - 1]
    assert 1 / 20 < chance_same_initial < 1 / 8
    # A different initial is a clear disagreement, like a different name.
    assert weights.weight(INITIAL + 1) < -5.0


@pytest.mark.parametrize(
    ("short", "full"),
    [
        ({"full_name": "J. Michu"}, {"given_name": "Jocelyne", "family_name": "Michu"}),
        ({"full_name": "Karim B."}, {"given_name": "Karim", "family_name": "BENALI"}),
        ({"full_name": "É. Lefèvre"}, {"given_name": "Émilie", "family_name": "Lefèvre"}),
        ({"full_name": "A. Dos Santos"}, {"given_name": "Ana", "family_name": "dos Santos"}),
    ],
)
def test_an_abbreviated_name_agreeing_scores_above_its_full_namesake_elsewhere(
    short: dict[str, Any], full: dict[str, Any]
) -> None:
    model = Model(CONFIG)
    levels = compare(profile_of(short), profile_of(full), NAMES).levels
    assert INITIAL in (levels[GIVEN], levels[FAMILY])
    other = {**full, "given_name": "Xavier"} if levels[GIVEN] == INITIAL else full
    if levels[FAMILY] == INITIAL:
        other = {**full, "family_name": "Zimmermann"}
    against = compare(profile_of(short), profile_of(other), NAMES).levels
    assert model.weight(levels, 100_000) > model.weight(against, 100_000) + 8


@pytest.mark.parametrize(
    ("social", "crm"),
    [
        (
            {"full_name": "Karim B.", "twitter": "@karimbenali"},
            {"given_name": "Karim", "family_name": "Benali", "email": "k.benali@free.fr"},
        ),
        (
            {"full_name": "J. Michu", "instagram": "jocelyne_michu"},
            {"given_name": "Jocelyne", "family_name": "MICHU"},
        ),
        (
            {"full_name": "Jean-Claude V.", "twitter": "@jeanclaude_verdier"},
            {"given_name": "Jean-Claude", "family_name": "Verdier"},
        ),
    ],
)
def test_a_handle_spelling_both_names_is_not_counted_twice_with_their_initials(
    social: dict[str, Any], crm: dict[str, Any]
) -> None:
    # The handle spells the family name the display name abbreviates: the initial it
    # spells too is part of that evidence, not more of it.
    levels = compare(profile_of(social), profile_of(crm), NAMES).levels
    assert levels[HANDLE] == 1
    assert INITIAL not in (levels[GIVEN], levels[FAMILY])
    # Without the handle, the initial is what tells the family name.
    bare = {k: v for k, v in social.items() if k == "full_name"}
    assert INITIAL in compare(profile_of(bare), profile_of(crm), NAMES).levels[:2]


def test_the_evidence_of_a_handle_spelling_an_abbreviated_name_is_the_handle() -> None:
    matcher = Matcher(CONFIG)
    crm = profile_of({"given_name": "Karim", "family_name": "Benali"})
    counts = Frequencies()
    counts.add(crm)
    social = profile_of({"full_name": "Karim B.", "twitter": "@karimbenali"})
    evidence = matcher.pair(social, crm, 10_000, counts=counts).score.evidence
    assert {(e.field, e.level) for e in evidence} == {
        ("given_name", "exact"),
        ("handle_name", "full"),
    }


def test_a_household_record_shares_its_odds_between_the_members_it_may_be() -> None:
    family_phone = "04 78 62 19 05"
    mother = _candidate(
        1, 10, {"given_name": "Aurélie", "family_name": "Le Goff", "phone": family_phone,
                "birth_date": "1968-02-11"}
    )  # fmt: skip
    father = _candidate(
        2, 20, {"given_name": "Yann", "family_name": "LE GOFF", "phone": family_phone,
                "birth_date": "1965-09-30"}
    )  # fmt: skip
    caller = profile_of({"full_name": "M. Le Goff", "phone": "+33 4 78 62 19 05"})
    matcher = Matcher(CONFIG)
    decision = matcher.decide(caller, [mother, father], 100_000)
    assert decision.link is None
    assert decision.suggestions == ()  # either member, as likely: not worth a review
    lenient = Matcher(CONFIG.with_thresholds(CONFIG.link_threshold, 0.2))
    shares = lenient.decide(caller, [mother, father], 100_000).suggestions
    assert {s.cluster for s in shares} == {10, 20}
    assert sum(s.probability for s in shares) <= 1.0
    # The landline of one customer alone still links the record that carries it.
    alone = matcher.decide(caller, [father], 100_000)
    assert alone.link is not None
    assert alone.link.cluster == 20


@pytest.mark.parametrize(
    "mailbox", ["jean.dijoux@axa.fr", "dijoux.jean@gmail.com", "jeanmarc.dijoux@orange.fr"]
)
def test_a_mailbox_spelling_a_given_name_of_the_initial_is_only_the_names(mailbox: str) -> None:
    # Two 'J. Dijoux' whose mailboxes both read 'jeandijoux' at different providers: a Jean
    # Dijoux's natural choice, namesakes' too. It proves no more than the names.
    local = mailbox.partition("@")[0].replace(".", "")
    first = profile_of({"full_name": "J. Dijoux", "email": mailbox})
    second = profile_of({"full_name": "J. Dijoux", "email": f"{local}@laposte.net"})
    assert compare(first, second, NAMES).levels[EMAIL] == 4  # different, not 'local_part'


def test_a_mailbox_naming_someone_else_of_the_initial_still_agrees() -> None:
    # 'marc' does not start with the initial J: the mailbox is more than the names.
    first = profile_of({"full_name": "J. Dijoux", "email": "marc.dijoux@axa.fr"})
    second = profile_of({"full_name": "J. Dijoux", "email": "marcdijoux@laposte.net"})
    assert compare(first, second, NAMES).levels[EMAIL] == 2
