"""Full names split into given and family names, with the particles and titles real
customer files hold."""

from __future__ import annotations

import pytest

from customer_card.matching.frequency import counted_keys, lookup_keys
from customer_card.matching.link import conflict
from customer_card.matching.normalise import split_full_name
from customer_card.matching.profile import profile_of


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jocelyne Michu", ("Jocelyne", "Michu")),
        ("G. Le Roux", ("G.", "Le Roux")),
        ("M. Da Silva", ("", "Da Silva")),
        ("Mme Le Goff", ("", "Le Goff")),
        ("Le Roux", ("", "Le Roux")),
        ("Jean-Pierre de la Fontaine", ("Jean-Pierre", "de la Fontaine")),
        ("Vincent van Gogh", ("Vincent", "van Gogh")),
        ("Anne-Sophie Dos Santos", ("Anne-Sophie", "Dos Santos")),
        ("Pierre St Clair", ("Pierre", "St Clair")),
        ("Ben Smith", ("Ben", "Smith")),  # a given name, not a particle
        ("Al Pacino", ("Al", "Pacino")),
        ("Marie Le", ("Marie", "Le")),  # a particle alone is the family name
        ("LE ROUX Gabriel", ("Gabriel", "LE ROUX")),
        ("Anne DE LA TOUR", ("Anne", "DE LA TOUR")),
        ("  M.   Jean   Dupont ", ("Jean", "Dupont")),
        ("Mme", ("", "")),
    ],
)
def test_split_full_name(text: str, expected: tuple[str, str]) -> None:
    assert split_full_name(text) == expected


@pytest.mark.parametrize(
    ("fields", "given", "family"),
    [
        ({"full_name": "M. Da Silva"}, "", "da silva"),
        ({"full_name": "G. Le Roux"}, "g", "le roux"),
        ({"full_name": "de_la_tour"}, "", "de la tour"),
        ({"full_name": "jocelyne_michu"}, "jocelyne", "michu"),
        ({"full_name": "Pierre-Yves"}, "", "pierre yves"),
    ],
)
def test_profile_names(fields: dict[str, str], given: str, family: str) -> None:
    p = profile_of(fields)
    assert (p.given, p.family) == (given, family)


def test_an_initial_before_a_particle_is_the_given_names_initial() -> None:
    """'G. Le Roux' on a support ticket is Gabriel Le Roux's initial, not a given name
    'G Le' that clearly differs from Gabriel."""
    ticket = profile_of({"full_name": "G. Le Roux", "phone": "+33 6 53 73 69 25"})
    loyalty = profile_of({"given_name": "Gabriel", "family_name": "LE ROUX"})
    assert conflict(ticket.identity(), loyalty.identity()) is None
    title = profile_of({"full_name": "M. Da Silva"})
    youssef = profile_of({"given_name": "Youssef", "family_name": "Da Silva"})
    assert conflict(title.identity(), youssef.identity()) is None


def test_cities_are_counted_and_looked_up() -> None:
    p = profile_of({"full_name": "Inès Kaddour", "city": "MARSEILLE"})
    assert "c:marseille" in counted_keys(p)
    assert "c:marseille" in lookup_keys(p)
    assert not any(k.startswith("c:") for k in counted_keys(profile_of({"full_name": "Inès"})))
