"""Comparison vectors: how two profiles agree, field by field, as agreement levels.

Level 0 means the value is missing on one side (no evidence either way); level 1 is the
strongest agreement; the last level is a clear disagreement. Level names are in the config.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache, partial

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, Hamming, JaroWinkler, Levenshtein

from customer_card.matching.config import FIELDS, FieldWeights
from customer_card.matching.link import (
    birth_dates_compatible,
    full_forms,
    given_names_compatible,
)
from customer_card.matching.normalise import name_core, national_number
from customer_card.matching.profile import ROLE_MAILBOXES, Profile

FAMILY_SIMILARITY = 0.90
# Family names this long or longer one edit apart (a transposition is one) are close.
_TYPO_FAMILY = 4
STREET_SIMILARITY = 85.0
# Reading given and family names the other way round costs this much evidence (in bits):
# swaps are real (about 3 % of records) but rarer than plain agreement.
SWAP_PENALTY = 1.0

GIVEN, FAMILY, BIRTH, EMAIL, PHONE, CARD, SOCIAL, HANDLE, ADDRESS = range(len(FIELDS))
# E-mail levels: 1 the same address; the same mailbox name at another provider; the same
# letters at the same provider, digits and separators aside ('lprice26@free.fr' and
# 'lprice@free.fr': a second account at one's own provider); different.
_EMAIL_LOCAL_PART, _EMAIL_LETTERS, _EMAIL_DIFFERENT = 2, 3, 4
# Mailbox names with fewer letters than this say little once their digits are dropped.
MAILBOX_LETTERS = 4
# Phone levels: 1 the same number; the same national number under two country codes (one
# record's number written without its code and read as another country's); different.
PHONE_NATIONAL, _PHONE_DIFFERENT = 2, 3
# National numbers shorter than this (short codes, a typing slip) are left out of that.
_NATIONAL_DIGITS = 8
_INITIAL = 3  # the name level of an initial's agreement ('J.' and 'Jocelyne')
_HANDLE_FULL = 1  # the handle level of a handle spelling both names
# Name levels depend on the two names only, and names repeat (Martin, Marie): each pair of
# names is worked out once, then looked up (every candidate compares names four ways).
# Bounded caches (about 10 MB each when full): matching runs in two processes at 1M records.
_NAME_PAIRS_CACHED = 1 << 15
_core = lru_cache(maxsize=1 << 15)(name_core)


# Not frozen: one is made per candidate, and a frozen dataclass's __init__ costs more (each
# field set through object.__setattr__). Treat it as read-only all the same.
@dataclass(slots=True)
class Comparison:
    levels: tuple[int, ...]  # one per field of FIELDS
    swapped: bool  # names agreed best read the other way round


@lru_cache(maxsize=_NAME_PAIRS_CACHED)
def given_level(a: str, b: str) -> int:
    if not a or not b:
        return 0
    if min(len(a.replace(" ", "")), len(b.replace(" ", ""))) == 1:
        # An initial is never an exact agreement, even with the same initial ('A.' and 'A.').
        return 3 if a[0] == b[0] else 4
    if a == b or a.replace(" ", "") == b.replace(" ", ""):
        return 1
    if given_names_compatible(a, b):
        return 3 if min(len(a), len(b)) == 1 else 2
    return 4


@lru_cache(maxsize=_NAME_PAIRS_CACHED)
def family_level(a: str, b: str) -> int:
    if not a or not b:
        return 0
    core_a, core_b = name_core(a), name_core(b)
    if len(core_a) == 1 or len(core_b) == 1:  # an initial: at best an initial's agreement
        return 3 if core_a[:1] == core_b[:1] else 4
    if core_a == core_b or a.replace(" ", "") == b.replace(" ", ""):
        return 1
    if JaroWinkler.similarity(core_a, core_b) >= FAMILY_SIMILARITY:
        return 2
    # One typo in a short name: Jaro-Winkler is strict with few letters ('webb' and 'webv'
    # score .88, as 'ryan' and 'ryah'), while one edit in four letters or more is a typo.
    if min(len(core_a), len(core_b)) >= _TYPO_FAMILY and OSA.distance(core_a, core_b) <= 1:
        return 2
    # Compound names kept whole in one system: 'lefebvredumas' and 'lefebvre'.
    shorter, longer = sorted((core_a, core_b), key=len)
    if len(shorter) >= 4 and (longer.startswith(shorter) or longer.endswith(shorter)):
        return 2
    return 4


def _alias_level(aliases: tuple[str, ...], given: str, family: str) -> int:
    if not aliases:
        return 0
    return _alias_level_of_cores(aliases, _core(given), _core(family))


def _alias_level_of_cores(aliases: tuple[str, ...], g: str, f: str) -> int:
    """``_alias_level`` of the names' cores (``name_core``)."""
    if not aliases or not (g or f):
        return 0
    best = 3
    for alias in aliases:
        # Most aliases neither hold the family name nor open with the given name: then
        # none of the agreements below can hold.
        if not ((len(f) >= 3 and f in alias) or (len(g) >= 3 and f and alias.startswith(g))):
            continue
        if len(g) >= 3 and len(f) >= 3 and g in alias and f in alias:
            return 1
        if len(f) >= 4 and f in alias and (not g or alias.startswith(g[0])):
            best = 2
        elif len(g) >= 3 and f and alias.startswith(g):
            rest = alias[len(g) :][:3]
            if rest and f.startswith(rest):
                best = 2
        elif len(f) >= 3 and len(g) >= 2 and alias.startswith(f) and alias[len(f) :] == g[:2]:
            best = 2
    return best


def spells_full_name(aliases: tuple[str, ...], given: str, family: str) -> bool:
    """Whether one of the handles or mailbox names spells both names ('susannerossi' for
    Susanne Rossi): the handle level 'full'."""
    return _alias_level(aliases, given, family) == 1


# The weight of each level (0 = missing) of the given and family names.
NameWeights = tuple[tuple[float, ...], tuple[float, ...]]


def name_weights(names: tuple[FieldWeights, FieldWeights]) -> NameWeights:
    """``compare_weighed``'s tables of the given- and family-name weights, made once."""
    return (
        tuple(names[0].weight(level) for level in range(len(names[0].levels) + 1)),
        tuple(names[1].weight(level) for level in range(len(names[1].levels) + 1)),
    )


def compare(a: Profile, b: Profile, names: tuple[FieldWeights, FieldWeights]) -> Comparison:
    """The comparison vector of two profiles; ``names`` (the given- and family-name weights)
    pick the reading of the names, straight or swapped, that agrees best."""
    return compare_weighed(a, b, name_weights(names))


def compare_weighed(a: Profile, b: Profile, names: NameWeights) -> Comparison:
    """``compare`` with the name weights as tables (``name_weights``)."""
    return Comparer(a, partial(name_reading, names))(b)


# The name levels of two records (given and family names: a's, then b's), whether they were
# read swapped, and whether both names agree.
NameReading = tuple[tuple[int, int], bool, bool]
NameReader = Callable[[str, str, str, str], NameReading]


def name_reading(
    names: NameWeights, a_given: str, a_family: str, b_given: str, b_family: str
) -> NameReading:
    """The name levels of two records read straight or swapped, whichever agrees best by the
    weights ``names`` (``name_weights``)."""
    straight = (given_level(a_given, b_given), family_level(a_family, b_family))
    crossed = (given_level(a_given, b_family), family_level(a_family, b_given))
    given_w, family_w = names
    straight_w = given_w[straight[0]] + family_w[straight[1]]
    crossed_w = given_w[crossed[0]] + family_w[crossed[1]] - SWAP_PENALTY
    swapped = crossed_w > straight_w
    levels = crossed if swapped else straight
    return levels, swapped, levels[0] in (1, 2) and levels[1] in (1, 2)


def cached_name_reader(names: NameWeights) -> NameReader:
    """``name_reading`` with ``names``, remembered: pairs of full names repeat (a matcher
    makes one and keeps it)."""
    return lru_cache(maxsize=_NAME_PAIRS_CACHED)(partial(name_reading, names))


class Comparer:
    """``compare_weighed`` of one record ``a`` with many (a decision's candidates), the
    matcher's hot path: what depends on ``a`` alone is worked out once; ``read_names``
    (``name_reading`` with the name weights, or ``cached_name_reader``) gives the name levels,
    and ``a``'s handles are compared once per pair of names (candidates repeat names: most
    were found through them)."""

    __slots__ = (
        "_a",
        "_births",
        "_emails",
        "_family_core",
        "_given_core",
        "_id_kinds",
        "_ids",
        "_letters",
        "_letters_alone",
        "_locals",
        "_mine",
        "_phone_ends",
        "_phones",
        "_read_names",
        "_social",
        "_social_kinds",
    )

    def __init__(self, a: Profile, read_names: NameReader) -> None:
        self._a = a
        self._read_names = read_names
        # (b.given, b.family) -> the level of a's handles with those names
        self._mine: dict[tuple[str, str], int] = {}
        self._emails = frozenset(a.emails)
        self._locals = _locals(a.emails)
        self._letters = _mailbox_letters(a.emails)
        self._letters_alone = frozenset(letters for _, letters in self._letters)
        self._phones = frozenset(a.phones)
        self._phone_ends = frozenset(x[-_NATIONAL_DIGITS:] for x in a.phones)
        self._births = frozenset(a.births)
        self._ids, self._id_kinds = frozenset(a.ids), _kinds(a.ids)
        self._social, self._social_kinds = frozenset(a.social), _kinds(a.social)
        self._given_core, self._family_core = _core(a.given), _core(a.family)

    def __call__(self, b: Profile) -> Comparison:
        a = self._a
        name_levels, swapped, names_agree = self._read_names(a.given, a.family, b.given, b.family)

        email = 0
        if a.emails and b.emails:
            email = _EMAIL_DIFFERENT if self._emails.isdisjoint(b.emails) else 1
            if email == _EMAIL_DIFFERENT:
                shared = self._locals & _locals(b.emails)
                # A mailbox name that only spells the names ('jean.dupont@' at two
                # providers) says nothing the names have not said: namesakes have it too.
                if shared and any(not (_spells_names(x, a) or _spells_names(x, b)) for x in shared):
                    email = _EMAIL_LOCAL_PART
                elif (
                    # (Most pairs share no letters: the aliases, which hold each mailbox's
                    # letters, tell without reading the addresses.)
                    not self._letters_alone.isdisjoint(b.aliases)
                    and not self._letters.isdisjoint(_mailbox_letters(b.emails))
                ):
                    email = _EMAIL_LETTERS
        phone = 0
        if a.phones and b.phones:
            phone = 1
            if self._phones.isdisjoint(b.phones):
                phone = _PHONE_DIFFERENT
                # (Most numbers end otherwise: their last digits tell without reading them.)
                if any(x[-_NATIONAL_DIGITS:] in self._phone_ends for x in b.phones) and not (
                    national_numbers(a.phones).isdisjoint(national_numbers(b.phones))
                ):
                    phone = PHONE_NATIONAL
        # (Calls only where both records have a value: most have no card or social account.)
        card = _id_level_with(self._ids, self._id_kinds, b.ids) if a.ids and b.ids else 0
        social = (
            _id_level_with(self._social, self._social_kinds, b.social)
            if a.social and b.social
            else 0
        )
        birth = self._birth_level(b) if a.births and b.births else 0
        handle = 0
        # Handles and mailbox names stand in for missing names (a social account's display
        # name): when both names already agree they add nothing independent.
        if email != 1 and social != 1 and not names_agree:
            # The strongest agreement of either side's aliases; missing only if both are.
            mine = self._alias_level_with(b.given, b.family) if a.aliases else 0
            theirs = _alias_level_of_cores(b.aliases, self._given_core, self._family_core)
            # The agreeing one, the stronger (lower level) of two.
            handle = mine if not theirs else theirs if not mine else min(theirs, mine)
            if handle == _HANDLE_FULL:
                # A handle spelling both names spells the initials too: an initial's
                # agreement ('Karim B.' and Karim Benali) is part of what it proves, not
                # more evidence.
                given, family = name_levels
                name_levels = (
                    0 if given == _INITIAL else given,
                    0 if family == _INITIAL else family,
                )
        return Comparison(
            (
                *name_levels,
                birth,
                email,
                phone,
                card,
                social,
                handle,
                _address(a, b),
            ),
            swapped,
        )

    def _alias_level_with(self, given: str, family: str) -> int:
        """``a``'s handles against a record named ``given`` ``family``, remembered for the next
        record so named."""
        level = self._mine.get((given, family))
        if level is None:
            level = self._mine[(given, family)] = _alias_level(self._a.aliases, given, family)
        return level

    def _birth_level(self, b: Profile) -> int:
        """Birth dates: the same (first reading) 1; a common reading or day and month
        swapped 2; one slip of the keyboard apart (``dates_one_slip_apart``) 3; the same
        year 4; else 5; 0 when one side has none."""
        births_a, births_b = self._a.births, b.births
        if not births_a or not births_b:
            return 0
        first_a, first_b = births_a[0], births_b[0]
        if first_a == first_b:
            return 1
        if not self._births.isdisjoint(births_b) or birth_dates_compatible(first_a, first_b):
            return 2
        if dates_one_slip_apart(first_a, first_b):
            return 3
        if first_a.year == first_b.year:
            return 4
        return 5


def dates_one_slip_apart(a: date, b: date) -> bool:
    """Whether two dates written as digits (YYYYMMDD) differ by one typed digit or two
    neighbouring digits typed the other way round: 1961-04-13 and 1961-04-18, 1951 and
    1952, the 13th and the 31st. One person's records carry such slips; two people's
    dates rarely sit so close (twins share the date, siblings are born months apart), and
    those that do still need their names to agree."""
    # Most dates compared differ in their year and their day, digits too far apart for one
    # slip: told without writing the digits.
    if a.year != b.year and a.day != b.day:
        return False
    return one_slip_apart(_digits(a), _digits(b))


def one_slip_apart(x: str, y: str) -> bool:
    """Whether two codes of one length (a postcode, a date's digits) differ by one character
    or by two neighbouring characters typed the other way round: '69003' and '69008',
    '2272' and '2227'. Not a similarity: a code's characters are not a word's letters."""
    # (Asked of most pairs compared: differing postcodes, differing dates. Hamming's C code
    # answers most with a mismatch count over 2.)
    if len(x) != len(y):
        return False
    differ = Hamming.distance(x, y, score_cutoff=2)
    return differ == 1 or (differ == 2 and OSA.distance(x, y, score_cutoff=1) == 1)


@lru_cache(maxsize=1 << 14)
def _digits(d: date) -> str:
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


@lru_cache(maxsize=1 << 14)  # asked of both records of most pairs with different e-mails
def _locals(emails: tuple[str, ...]) -> frozenset[str]:
    return frozenset(e.partition("@")[0].partition("+")[0].replace(".", "") for e in emails)


_NOT_LETTERS = re.compile(r"[^a-z]")


def national_numbers(phones: tuple[str, ...]) -> frozenset[str]:
    """The phones' national numbers (``normalise.national_number``), long ones only."""
    return frozenset(n for n in map(national_number, phones) if len(n) >= _NATIONAL_DIGITS)


# Asked once per incoming record, and of the few candidates whose aliases (``profile_of``
# files each mailbox's letters there) share its letters.
@lru_cache(maxsize=1 << 14)
def _mailbox_letters(emails: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    """(provider, the mailbox name's letters) of each address: 'lprice26@free.fr' and
    'l.price@free.fr' both give ('free.fr', 'lprice'). Mailboxes of fewer than
    ``MAILBOX_LETTERS`` letters (digits mostly) and role mailboxes ('contact2@') give none."""
    out: set[tuple[str, str]] = set()
    for address in emails:
        local, _, provider = address.partition("@")
        letters = _NOT_LETTERS.sub("", local.partition("+")[0])
        if len(letters) >= MAILBOX_LETTERS and letters not in ROLE_MAILBOXES:
            out.add((provider, letters))
    return frozenset(out)


def _spells_names(local: str, p: Profile) -> bool:
    """Whether a mailbox name (dots removed) is made only of the record's names and their
    initials, with no digit or other word: 'jeanpierre.vidal', 'jpvidal', 'vidal.j'. A name
    of five letters or more may differ by one typo on either side ('cdijoux' for Christophe
    Dijox), and a short given name stands for its full forms ('danielsimon' for Dany Simon):
    the mailbox still spells nothing but the names."""
    return _spells(local, p.given, p.family)


# Pure in the mailbox name and the two names, and asked again of each candidate with a mailbox
# of that name (namesakes' 'jean.dupont' at other providers): worked out once.
@lru_cache(maxsize=1 << 14)
def _spells(local: str, given: str, family_name: str) -> bool:
    """``_spells_names`` of a record named ``given`` ``family_name``."""
    if not local or any(c.isdigit() for c in local):
        return False
    letters = _NOT_LETTERS.sub("", local)
    family = name_core(family_name)
    if len(given) == 1 and len(family) > 1:
        # An initial stands for any given name of that letter: 'jean.dijoux' spells
        # 'J. Dijoux' as much as 'jdijoux' does.
        for rest in (letters.removesuffix(family), letters.removeprefix(family)):
            if len(rest) < len(letters) and rest.startswith(given):
                return True
    words = [*given.split(), *family_name.split()]
    forms = [name_core(x) for x in full_forms(given)]
    pieces = {x for x in (name_core(given), name_core(family_name), *words, *forms) if x}
    pieces |= {x[0] for x in pieces}
    if not pieces:
        return False
    reachable = [True] + [False] * len(letters)
    for end in range(1, len(letters) + 1):
        reachable[end] = any(_spelt_at(letters, end, x, reachable) for x in pieces)
    return reachable[-1]


def _spelt_at(letters: str, end: int, piece: str, reachable: list[bool]) -> bool:
    """Whether ``piece`` ends at ``end`` of ``letters`` after a reachable start: exactly,
    or for a piece of ``_TYPO_PIECE`` letters or more, within one edit."""
    size = len(piece)
    if size <= end and reachable[end - size] and letters.endswith(piece, 0, end):
        return True
    if size < _TYPO_PIECE:
        return False
    return any(
        reachable[start] and Levenshtein.distance(letters[start:end], piece, score_cutoff=1) <= 1
        for start in range(max(0, end - size - 1), min(end, end - size + 2))
    )


# A name this long or longer may carry one typo in a mailbox name and still be that name.
_TYPO_PIECE = 5


def _id_level_with(mine: frozenset[str], kinds: frozenset[str], b: tuple[str, ...]) -> int:
    """Identifiers ``mine`` (of those ``kinds``) and ``b``: the same identifier: 1; the same
    kind of identifier with different values: 2; else 0."""
    if not mine or not b:
        return 0
    if not mine.isdisjoint(b):
        return 1
    return 2 if any(x.partition(":")[0] in kinds for x in b) else 0


def _kinds(ids: tuple[str, ...]) -> frozenset[str]:
    """The kinds of identifiers: 'loyalty_card' of 'loyalty_card:2904…'."""
    return frozenset(x.partition(":")[0] for x in ids)


def _address(a: Profile, b: Profile) -> int:
    """The street with the same postcode 1; the postcode alone 2; the city alone (a
    postcode missing) 3; else 4. A postcode one slip from the other's ('2272', '2227') is
    the same when the street and the city agree: one person's address mistyped, not two
    people living at the same number of the same street in neighbouring towns."""
    if a.postcode and b.postcode:
        if a.postcode != b.postcode:
            if (
                _cities_agree(a.city, b.city)
                and one_slip_apart(a.postcode, b.postcode)
                and streets_agree(a.street, b.street)
            ):
                return 1
            return 4
        if not (a.street and b.street):
            return 2
        # (Most agreeing streets agree word for word: the fallbacks are for the rest.)
        if fuzz.token_set_ratio(a.street, b.street) >= STREET_SIMILARITY:
            return 1
        return 1 if _streets_agree_otherwise(a.street, b.street) else 2
    if a.city and b.city:
        return 3 if a.city == b.city else 4
    return 0


def streets_agree(a: str, b: str) -> bool:
    """Whether two (normalised) street lines are one address: the same words in any order,
    one line holding more ('12 rue des lilas' and '12 rue des lilas bat c'), typos — or the
    same letters with the spaces typed elsewhere ('bannerstreet', 'banner street')."""
    if not a or not b:
        return False
    return fuzz.token_set_ratio(a, b) >= STREET_SIMILARITY or _streets_agree_otherwise(a, b)


def _streets_agree_otherwise(a: str, b: str) -> bool:
    """``streets_agree`` of lines whose words do not agree as they are."""
    if fuzz.ratio(a.replace(" ", ""), b.replace(" ", "")) >= STREET_SIMILARITY:
        return True
    return _words_found(a.split(), b.split(), STREET_SIMILARITY)


def _words_found(a: list[str], b: list[str], at_least: float) -> bool:
    """Whether the words of the shorter line are found among the other's well enough: each
    word's best similarity, averaged (the Monge-Elkan measure), at least ``at_least``, so that
    a typo in one word and a word more on one side ('23 bennelong cescent' and '23 bennelong
    crescent roskhill') still agree. Numbers must be found as they are: '12' and '14' are two
    houses. Numbers are looked at first and the words stop once the average can no longer
    get there: most lines compared name other houses (a big cache's candidates share a
    postcode), and their number already tells."""
    shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
    if not shorter:
        return False
    needed = at_least * len(shorter)
    left = 100.0 * len(shorter)  # the most the words not looked at yet can add
    total = 0.0
    words = sorted(shorter, key=str.isdigit, reverse=True)  # numbers first
    for word in words:
        left -= 100.0
        if word.isdigit():
            total += 100.0 if word in longer else 0.0
        else:
            total += max(fuzz.ratio(word, other) for other in longer)
        if total + left < needed:
            return False
    return total >= needed


@lru_cache(maxsize=1 << 14)  # asked of most pairs with different postcodes; cities repeat
def _cities_agree(a: str, b: str) -> bool:
    """Cities that may be one (one may be missing): the same, or one typo apart."""
    if not a or not b or a == b:
        return True
    return OSA.distance(a.replace(" ", ""), b.replace(" ", ""), score_cutoff=1) <= 1
