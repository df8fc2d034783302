"""Block keys: two records are compared only when they share one, so matching never compares
everything with everything. Several keys per record, each robust to a different kind of noise:

``e:`` ``p:`` ``i:`` ``s:``  strong identifiers (e-mail, phone, card or CRM id, social handle);
``n:``  a name spelt as one word — given+family, family+given, given+family initial — which
        meets handles and mailbox names ('jocelynemichu', 'jocelynem');
``d:``  the birth date with both names' initials (typos and swapped names);
``b:``  the family name's sound with the birth year (typos in the given name, new e-mail);
``a:``  the postcode with the family name's sound (movers keep neither phone nor e-mail);
``w:``  both names' sounds, in either order (contacts with a name only).
"""

from __future__ import annotations

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
    return tuple(keys)
