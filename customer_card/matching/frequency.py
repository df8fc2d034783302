"""How common each name is in the cache, for term-frequency adjusted name weights.

Two records that both say 'Martin' prove much less than two that both say 'Kerhervé': the u
probability of an exact name agreement is the share of records that carry that value, not
one figure for every name. Counts are kept per key — ``g:`` a given name, ``f:`` a family
name, ``n:`` the pair given|family (names are not independent: Nguyen goes with Thi), ``c:``
a city (two records saying Paris prove less than two saying Vincennes) — plus the number of
records counted (``#``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Protocol

from customer_card.matching.normalise import name_core
from customer_card.matching.profile import Profile

POPULATION_KEY = "#"
# The records whose cities were counted: a cache counted before cities were has names
# counted for every record but cities only for the newest (``match run`` recounts).
CITY_POPULATION_KEY = "#c"


class NameCounts(Protocol):
    def count(self, key: str) -> int: ...


def given_key(given: str) -> str:
    return "g:" + given.replace(" ", "")


def family_key(family: str) -> str:
    return "f:" + name_core(family)


def pair_key(given: str, family: str) -> str:
    return "n:" + given.replace(" ", "") + "|" + name_core(family)


def city_key(city: str) -> str:
    return "c:" + city


def counted_keys(p: Profile) -> tuple[str, ...]:
    """The keys one record adds to the counts (an initial is not a name worth counting;
    every record counts towards the cities counted, city or not)."""
    return counted_name_keys(p.given, p.family, p.city)


@lru_cache(maxsize=1 << 15)  # names repeat
def counted_name_keys(given_name: str, family_name: str, city: str) -> tuple[str, ...]:
    """``counted_keys`` of a record with these names and city."""
    keys = name_keys(given_name, family_name)
    if city:
        keys += (city_key(city),)
    return (*keys, CITY_POPULATION_KEY)


@lru_cache(maxsize=1 << 15)  # every decision asks it of each candidate; names repeat
def name_keys(given_name: str, family_name: str) -> tuple[str, ...]:
    """The name keys (given, family, pair) of ``counted_keys``."""
    keys: list[str] = []
    given = len(given_name.replace(" ", "")) > 1
    family = len(name_core(family_name)) > 1
    if given:
        keys.append(given_key(given_name))
    if family:
        keys.append(family_key(family_name))
    if given and family:
        keys.append(pair_key(given_name, family_name))
    return tuple(keys)


def lookup_keys(p: Profile) -> tuple[str, ...]:
    """Every key scoring ``p`` against earlier records may need (names read either way, and
    the full names its handles spell: ``spelled_pairs``)."""
    keys = {*counted_keys(p)}
    if p.family:
        keys.add(given_key(p.family))
    if p.given:
        keys.add(family_key(p.given))
    if p.given and p.family:
        keys.add(pair_key(p.family, p.given))
    keys.update(pair_key(given, family) for given, family in spelled_pairs(p))
    return tuple(sorted(keys))


# A name read from a handle is at least this long: shorter rests are initials or numbers.
_MIN_SPELLED = 3


def spelled_pairs(p: Profile) -> tuple[tuple[str, str], ...]:
    """(given, family) names the handles or mailbox names of a record without a full name
    spell with the one name it has ('Susanne R.' with @susannerossi or @rossi.susanne:
    susanne, rossi; 'Cécile' alone with @cecilegirard: cecile, girard). The handle is read
    as that name followed or preceded by the family name; ``Matcher`` weighs a handle
    spelling a compared record's full name by how common that full name is."""
    out: dict[tuple[str, str], None] = {}
    if len(p.given.replace(" ", "")) > 1 and len(name_core(p.family)) > 1:
        return ()  # a full name: its handles stand in for nothing
    for word in (p.given, p.family):
        given = word.replace(" ", "")
        if len(given) < _MIN_SPELLED:
            continue
        for alias in p.aliases:
            if alias.startswith(given) and len(alias) - len(given) >= _MIN_SPELLED:
                out[(word, alias[len(given) :])] = None
            if alias.endswith(given) and len(alias) - len(given) >= _MIN_SPELLED:
                out[(word, alias[: -len(given)])] = None
    return tuple(out)


class Frequencies:
    """Counts held in memory: the batch re-run counts records as it replays them, so every
    record is scored with the counts inline matching had when it arrived."""

    def __init__(self, counts: Mapping[str, int] | None = None) -> None:
        self.counts: Counter[str] = Counter(counts or {})

    def count(self, key: str) -> int:
        return self.counts.get(key, 0)

    def add(self, p: Profile) -> None:
        self.counts.update(counted_keys(p))
        self.counts[POPULATION_KEY] += 1

    def add_all(self, profiles: Iterable[Profile]) -> None:
        for p in profiles:
            self.add(p)
