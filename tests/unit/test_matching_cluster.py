"""Matching decisions that look at a customer as a whole: the customer's other compared records
complete the best-agreeing one, and a linked record suggests no customer that its own customer's
records contradict. Also names that used to read as two people: initials that look like
family-name particles ('L. Boucher'), swapped names with a typo ('Mller Aimé')."""

from __future__ import annotations

from typing import Any

import pytest

from customer_card import paths
from customer_card.matching import normalise
from customer_card.matching.config import load_config
from customer_card.matching.decide import Candidate, Matcher, Proposal
from customer_card.matching.link import Identity, conflict
from customer_card.matching.profile import profile_of

CONFIG = load_config(paths.resources_dir() / "matching.toml")


def _candidate(key: int, cluster: int, fields: dict[str, Any]) -> Candidate[int]:
    return Candidate(key, cluster, profile_of(fields), ("crm", f"C{key}"))


@pytest.mark.parametrize(
    ("full_name", "given", "family"),
    [
        ("L. Boucher", "L.", "Boucher"),  # an initial, not the particle of L'Hermite
        ("D. Da Silva", "D.", "Da Silva"),
        ("G. Le Roux", "G.", "Le Roux"),
        ("Anne de la Tour", "Anne", "de la Tour"),
        ("Jean St. Pierre", "Jean", "St. Pierre"),  # an abbreviated particle stays one
        ("Marie L'Hermite", "Marie", "L'Hermite"),
        ("M. Da Silva", "", "Da Silva"),  # a title
    ],
)
def test_an_abbreviated_given_name_is_not_a_particle(
    full_name: str, given: str, family: str
) -> None:
    assert normalise.split_full_name(full_name) == (given, family)


def test_an_initial_read_as_a_particle_no_longer_hides_a_given_name() -> None:
    """'L. Boucher' on Emmanuel Boucher's e-mail is not Emmanuel: the initial says so."""
    lone = profile_of({"full_name": "L. Boucher", "email": "emmanuel.boucher@free.fr"})
    emmanuel = profile_of({"given_name": "Emmanuel", "family_name": "Boucher"})
    assert lone.given == "l"
    assert conflict(lone.identity(), emmanuel.identity()) == "different given names"


# A web-shop record without a birth date, and a customer made of a helpdesk contact (names and
# nothing else) and the customer's CRM record, which says where the customer lives.
SHOPPER = {
    "given_name": "Karima", "family_name": "Tran", "email": "karima.tran@hotmail.fr",
    "postcode": "13012", "city": "Marseille", "street": "53 avenue de Diaz",
}  # fmt: skip
HELPDESK = {"full_name": "Karima Tran"}


def _customer_record(**fields: str) -> dict[str, Any]:
    return {"given_name": "Karima", "family_name": "TRAN", **fields}


def _proposal(candidates: list[Candidate[int]]) -> Proposal[int] | None:
    decision = Matcher(CONFIG).decide(profile_of(SHOPPER), candidates, 1000)
    proposals = [p for p in [decision.link, *decision.suggestions] if p is not None]
    assert len(proposals) <= 1
    return proposals[0] if proposals else None


def test_the_customers_other_records_complete_the_best_one() -> None:
    # The names alone: a possible match for a supervisor.
    alone = _proposal([_candidate(1, 10, HELPDESK)])
    assert alone is not None
    assert alone.reason.startswith("possible match")
    assert "from_customer" not in alone.evidence

    # The same customer's CRM record lives elsewhere, with another e-mail: the helpdesk
    # contact still agrees best, but the customer's address and e-mail disagree.
    elsewhere = _customer_record(
        email="ktran@yahoo.fr", postcode="87000", city="Limoges", street="7 chemin Samson"
    )
    assert _proposal([_candidate(1, 10, HELPDESK), _candidate(2, 10, elsewhere)]) is None

    # The CRM record agrees on the postcode and agrees best; the customer's e-mail, which only
    # the helpdesk contact gives, disagrees: it counts, once.
    helpdesk = {**HELPDESK, "email": "ktran@yahoo.fr"}
    nearby = _customer_record(postcode="13012")
    alone = _proposal([_candidate(2, 10, nearby)])
    together = _proposal([_candidate(1, 10, helpdesk), _candidate(2, 10, nearby)])
    assert alone is not None
    assert together is not None
    assert together.evidence["record"]["source_id"] == "C2"
    assert together.evidence["from_customer"] == ["email"]
    fields = {e["field"]: e["level"] for e in together.evidence["fields"]}
    assert fields == {
        "given_name": "exact", "family_name": "exact", "email": "different", "address": "postcode"
    }  # fmt: skip
    assert together.evidence["probability"] < alone.evidence["probability"]


def test_a_field_the_best_record_has_is_not_replaced() -> None:
    """Completion fills what the best record lacks, nothing else: a best record that has an
    address keeps its own agreement on it."""
    matcher = Matcher(CONFIG)
    incoming = profile_of(SHOPPER)
    best = _candidate(1, 10, _customer_record(postcode="13012", street="53 avenue de Diaz"))
    moved = _candidate(2, 10, _customer_record(postcode="87000", birth_date="1984-10-23"))
    decision = matcher.decide(incoming, [best, moved], 100_000)
    proposal = decision.link or decision.suggestions[0]
    fields = {e["field"]: e["level"] for e in proposal.evidence["fields"]}
    assert fields["address"] == "street"
    assert "birth_date" not in fields  # the incoming record has none to compare


# A father and his son of the same name at the same address: two customers kept apart by their
# birth dates. A web-shop record without a birth date shares the son's e-mail.
FATHER = {
    "given_name": "Benoît", "family_name": "Durand", "birth_date": "1963-08-01",
    "email": "benoitdurand@orange.fr", "postcode": "75019", "street": "80 rue Royer",
}  # fmt: skip
SON = {
    "given_name": "Benoît", "family_name": "Durand", "birth_date": "1997-05-09",
    "email": "b.durand381@laposte.net", "postcode": "75019", "street": "80 rue Royer",
}  # fmt: skip
SHOP = {
    "given_name": "Benoît", "family_name": "Durand", "email": "b.durand381@laposte.net",
    "postcode": "75019", "street": "80 rue Royer",
}  # fmt: skip


def test_a_linked_record_suggests_no_customer_its_own_customer_contradicts() -> None:
    matcher = Matcher(CONFIG)
    candidates = [_candidate(1, 10, FATHER), _candidate(2, 20, SON)]
    decision = matcher.decide(profile_of(SHOP), candidates, 100_000)
    assert decision.link is not None
    assert decision.link.cluster == 20
    assert decision.link.reason == "shares email"
    # Alone, the father would be a probable match; suggesting him is suggesting to merge the
    # father and the son, whose birth dates differ.
    alone = matcher.decide(profile_of(SHOP), [_candidate(1, 10, FATHER)], 100_000)
    assert alone.link is not None
    assert alone.link.cluster == 10
    assert decision.suggestions == ()


def test_a_linked_record_still_suggests_a_customer_nothing_contradicts() -> None:
    """Without birth dates to tell them apart, the two customers may be one person: the record
    that would link both is shown to a supervisor."""
    father = {k: v for k, v in FATHER.items() if k != "birth_date"}
    matcher = Matcher(CONFIG)
    candidates = [_candidate(1, 10, father), _candidate(2, 20, SON)]
    decision = matcher.decide(profile_of(SHOP), candidates, 100_000)
    assert decision.link is not None
    assert decision.link.cluster == 20
    assert [s.cluster for s in decision.suggestions] == [10]
    assert decision.suggestions[0].reason.startswith("also")


@pytest.mark.parametrize(
    ("incoming", "existing", "why"),
    [
        # Names filed the other way round, one of them with a typo: one person.
        (("Mller", "Aimé"), ("A.", "Muller"), None),
        (("Lleu", "Paul"), ("Paul", "Leleu"), None),
        (("Dupnt", "Marie"), ("Marie", "Dupont"), None),
        # A lone name must be the other record's family name exactly: 'Martine' on Jean
        # Martin's e-mail is someone else.
        (("Martine", None), ("Jean", "Martin"), "different given names"),
        # Both names must fit the swap.
        (("Martine", "Dupont"), ("Jean", "Martin"), "different given names"),
        (("Martin", "Paul"), ("Pierre", "Martine"), "different given names"),
    ],
)
def test_swapped_names_with_a_typo_are_one_person(
    incoming: tuple[str, str | None], existing: tuple[str, str | None], why: str | None
) -> None:
    assert conflict(Identity.of([incoming], []), Identity.of([existing], [])) == why
