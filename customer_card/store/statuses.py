"""The order-status vocabulary (``domain.model``) as SQLite compares it.

SQLite's ``lower()`` folds ASCII letters only: an export in capitals gives "ANNULÉE", which
``lower()`` turns into "annulÉe", not "annulée". A query comparing ``lower(status)`` with the
vocabulary compares it with every form ``lower()`` can give of a word written in any case.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import product

from customer_card.domain import model as d


def sqlite_lowered(words: Iterable[str]) -> tuple[str, ...]:
    """Every form SQLite's ``lower()`` gives of these lower-case words written in any case,
    sorted."""
    forms: set[str] = set()
    for word in words:
        choices = [(c,) if c.isascii() else tuple({c, c.upper()}) for c in word]
        forms.update("".join(letters) for letters in product(*choices))
    return tuple(sorted(forms))


CANCELLED = sqlite_lowered(d.CANCELLED_STATUSES)
RETURNED = sqlite_lowered(d.RETURNED_STATUSES)
VOID = sqlite_lowered(d.VOID_STATUSES)
