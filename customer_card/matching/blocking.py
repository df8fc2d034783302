"""Block keys: two records are compared only when they share one, so matching never compares
everything with everything. Several keys per record, each robust to a different kind of noise:

``e:`` ``p:`` ``i:`` ``s:``  strong identifiers (e-mail, phone, card or CRM id, social handle);
``n:``  a name spelt as one word — given+family, family+given, given+family initial — which
        meets handles and mailbox names ('jocelynemichu', 'jocelynem');
``d:``  the birth date with both names' initials (typos and swapped names);
``b:``  the family name's sound with the birth year (typos in the given name, new e-mail);
``a:``  the postcode with the family name's sound (movers keep neither phone nor e-mail);
``w:``  both names' sounds, in either order (contacts with a name only);
``dp:`` the birth date with the postcode, and ``dg:`` the birth date with the given name's
        sound: the only keys left when the family name is replaced or missing (marriage, a
        record holding a given name only), measured on FEBRL as about half the pairs no
        other key brought together. Placeholder-looking dates make neither (below).
"""

from __future__ import annotations

from datetime import date

from customer_card.matching.normalise import name_core, phonetic
from customer_card.matching.profile import Profile

STRONG_PREFIXES = ("e:", "p:", "i:", "s:")

# A name or place key already held by this many earlier records makes no more candidates:
# hundreds of 'Jean Martin' prove nothing about each other, and the few newest of them a
# window holds are namesakes by chance (like ``max_phone_records`` for switchboards).
# Strong identifiers are never pruned. Inline and batch matching both apply it to the count
# of earlier records, so they keep deciding alike. Measured on the demo's ground truth at
# 100k records: pairs scored per record 15.6 -> 12.4, links unchanged, links + suggestions
# recall -0.0002; at 1M it halves the window pairs (49.9 -> 24.6 per record).
MAX_BLOCK_RECORDS = 30


# Dates systems write when the real one is unknown: the first of January (a year known
# alone, or an epoch: 1900-01-01, 1970-01-01, 2000-01-01), anything before 1900 (1899-12-30
# and 1899-12-31 are spreadsheet epochs, 1753-01-01 a database's smallest date) and far
# future sentinels (9999-12-31). In a large cache thousands of records share one of them:
# keyed with only a postcode or a given name's sound, each would make a block that the
# ``MAX_BLOCK_RECORDS`` limit silences for every later record — rows kept for nothing, and
# the few records that first filled it compared as namesakes by chance. Real births on
# such a date keep the name-based keys (``d:``, ``b:``).
_FIRST_REAL_YEAR, _LAST_REAL_YEAR = 1900, 2099


def placeholder_birth(day: date) -> bool:
    """Whether a birth date looks like a stand-in for an unknown one."""
    return (
        (day.month == 1 and day.day == 1)
        or day.year < _FIRST_REAL_YEAR
        or day.year > _LAST_REAL_YEAR
    )


def is_strong(key: str) -> bool:
    return key.startswith(STRONG_PREFIXES)


def window_of(key: str, earlier: int, window: int, strong_window: int, limit: int) -> int:
    """How many of the newest of ``earlier`` records sharing ``key`` a new record meets."""
    if is_strong(key):
        return min(earlier, strong_window)
    return 0 if earlier >= limit else min(earlier, window)


def block_keys(p: Profile) -> tuple[str, ...]:
    keys: dict[str, None] = {}
    for email in p.emails:
        keys["e:" + email] = None
    for phone in p.phones:
        keys["p:" + phone] = None
    for ident in p.ids:
        keys["i:" + ident] = None
    for handle in p.social:
        keys["s:" + handle] = None

    given, family = name_core(p.given), name_core(p.family)
    if len(given) > 1 and family:
        keys["n:" + given + family] = None
        keys["n:" + given + family[0]] = None
        if len(family) > 1:
            keys["n:" + family + given] = None
    for alias in p.aliases:
        keys["n:" + alias] = None

    sound_given, sound_family = phonetic(p.given), phonetic(p.family)
    if given and family:
        initials = "".join(sorted((given[0], family[0])))
        for birth in p.births:
            keys[f"d:{birth.isoformat()}:{initials}"] = None
    if len(family) > 1:
        for birth in p.births:
            keys[f"b:{sound_family}:{birth.year}"] = None
        if p.postcode:
            keys[f"a:{p.postcode}:{sound_family}"] = None
    if len(given) > 1 and len(family) > 1:
        keys["w:" + ":".join(sorted((sound_given, sound_family)))] = None
    # The first reading only: a second one (day and month swapped) would double the rows for
    # the rare record whose two systems disagree on the format.
    if p.births and not placeholder_birth(p.births[0]):
        first = p.births[0].isoformat()
        if p.postcode:
            keys[f"dp:{first}:{p.postcode}"] = None
        if len(given) > 1 and sound_given:
            keys[f"dg:{first}:{sound_given}"] = None
    return tuple(keys)
