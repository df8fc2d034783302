"""Find a customer from whatever the caller or the customer gives: a name with typos, in any
order; an e-mail; a phone in any format or its last digits; a card number; a handle; an id;
a city. FTS5 trigram finds candidates, rapidfuzz ranks them."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler

from customer_card.domain.model import SearchHit
from customer_card.matching import normalise
from customer_card.store.database import Database
from customer_card.store.search_store import Candidate, SearchStore, fts_phrase, fts_prefix

PUBLIC_ID = re.compile(r"^C[0-9A-HJKMNP-TV-Z]{8}$", re.IGNORECASE)
PHONE_LIKE = re.compile(r"^[+()\d][\d\s().+-]*$")
CANDIDATES = 200
VOCABULARY_TTL_S = 30.0
TYPO_SCORE = 80.0
TYPO_WORDS = 5  # closest spellings by similarity, after those one edit away
TYPO_OPTIONS = 6  # spellings tried per word at most
TYPO_MIN_LENGTH = 4


@dataclass(frozen=True, slots=True)
class _Query:
    fts: str | None
    exact_ids: list[int]
    terms: list[str]  # folded words, for ranking


class SearchService:
    def __init__(self, database: Database, *, region: str = normalise.DEFAULT_REGION) -> None:
        self.database = database
        self.region = region
        self._vocabulary: list[str] = []
        self._known_words: frozenset[str] = frozenset()
        self._vocabulary_at = float("-inf")
        self._lock = threading.Lock()

    def search(self, text: str, limit: int = 30) -> list[SearchHit]:
        text = text.strip()
        if not text:
            return []
        with self.database.read() as session:
            store = SearchStore(session)
            query = self._plan(store, text)
            ids: list[int] = list(query.exact_ids)
            if query.terms:
                # Words (short posting lists) first: the words as typed, then their known
                # spellings; substrings anywhere (the trigram index: inside a word, a city, a
                # handle) only when the words found too few.
                for words in (_typed_words(query.terms), self._fuzzy_query(store, query.terms)):
                    if words and len(ids) < limit:
                        ids.extend(i for i in store.match_words(words, CANDIDATES) if i not in ids)
            if query.fts and (not query.terms or len(ids) < limit):
                ids.extend(i for i in store.match(query.fts, CANDIDATES) if i not in ids)
            exact = set(query.exact_ids)
            scores = {i: 100.0 if i in exact else 90.0 for i in ids[:CANDIDATES]}
            if query.terms:
                # Rank on the indexed name variants first; load display rows for the best only.
                wanted = " ".join(query.terms)
                for i, (names, city) in store.indexed(list(scores)).items():
                    if i not in exact:
                        scores[i] = _score(wanted, names, city)
            best = sorted(scores, key=lambda i: -scores[i])[: limit * 2]
            hits = [
                self._hit(c, scores[c.customer_id], c.customer_id in exact)
                for c in store.candidates(best)
            ]
            hits.sort(key=lambda h: (-h.score, h.name))
            hits = hits[:limit]
            # Source badges for the hits shown only: each customer's costs a few page reads.
            sources = store.sources([h.customer_id for h in hits])
        return [replace(h, sources=sources.get(h.customer_id, ())) for h in hits]

    # --- planning -------------------------------------------------------------------------------

    def _plan(self, store: SearchStore, text: str) -> _Query:
        if PUBLIC_ID.match(text):
            return _Query(None, store.by_public_id(text), [])
        if text.startswith("@"):
            handle = normalise.handle(text).value
            return _Query(_column("handles", handle) if len(handle) >= 3 else None, [], [])
        if "@" in text:
            address = normalise.email(text).value
            exact = store.by_contact("email", [address])
            if exact:  # a whole known address: no need for the substring index
                return _Query(None, exact, [])
            return _Query(_column("emails", address) if len(address) >= 3 else None, [], [])
        digits = re.sub(r"\D", "", text)
        if PHONE_LIKE.match(text) and len(digits) >= 3:
            phone = normalise.phone(text, self.region)
            by_phone = store.by_contact("phone", [phone.value]) if phone.valid else []
            if by_phone and len(digits) >= 8:
                return _Query(None, by_phone, [])
            # A fragment: the last digits of a number, or part of a card number.
            fts = f"phones : {fts_phrase(digits)} OR cards : {fts_phrase(digits)}"
            return _Query(fts, by_phone, [])
        terms = normalise.fold(text).split()
        long_terms = [t for t in terms if len(t) >= 3]
        if not long_terms:
            return _Query(None, [], terms)
        return _Query(" AND ".join(fts_phrase(t) for t in long_terms), [], terms)

    def _fuzzy_query(self, store: SearchStore, terms: list[str]) -> str | None:
        """The same words, each widened to the close spellings the cache knows, as a query on
        the word index.

        The alternatives are kept few and telling: a typo swaps, drops or doubles one letter
        (one letter longer or shorter at most), and a 3-letter alternative is too short to
        tell anyone apart. What was typed also counts as the start of a word (type-ahead)."""
        vocabulary = self._words(store)
        groups = []
        for term in terms:
            if len(term) < 3:
                continue
            # One edit away first (a swapped, dropped, doubled or wrong letter: the usual
            # typo, and the cache's vocabulary is full of other people's typos scoring as
            # well as the right spelling), then the closest by similarity.
            known = self._known(store)
            one_edit = sorted(w for w in _one_edit(term) if w in known)
            close = process.extract(
                term, vocabulary, scorer=fuzz.ratio, score_cutoff=TYPO_SCORE, limit=TYPO_WORDS
            )
            ordered = [term, *one_edit, *(word for word, _, _ in close)]
            options = set(
                [
                    w
                    for w in dict.fromkeys(ordered)
                    if len(w) >= TYPO_MIN_LENGTH and abs(len(w) - len(term)) <= 1
                ][:TYPO_OPTIONS]
            ) | {term}
            # Known spellings as whole words; what was typed also as the start of a word.
            words = [fts_prefix(term), *(fts_phrase(o) for o in sorted(options - {term}))]
            groups.append("(" + " OR ".join(words) + ")")
        return " AND ".join(groups) if groups else None

    def _words(self, store: SearchStore) -> list[str]:
        with self._lock:
            if time.monotonic() - self._vocabulary_at > VOCABULARY_TTL_S:
                self._vocabulary = store.vocabulary()
                self._known_words = frozenset(self._vocabulary)
                self._vocabulary_at = time.monotonic()
            return self._vocabulary

    def _known(self, store: SearchStore) -> frozenset[str]:
        self._words(store)
        return self._known_words

    # --- ranking --------------------------------------------------------------------------------

    def _hit(self, c: Candidate, score: float, exact: bool) -> SearchHit:
        name = " ".join(p for p in (c.given_name, c.family_name) if p)
        matched = "exact" if exact else ("contact" if score == 90.0 else "name")
        return SearchHit(
            customer_id=c.customer_id,
            public_id=c.public_id,
            name=name or c.public_id,
            city=c.city,
            birth_year=c.birth_date.year if c.birth_date else None,
            loyalty_tier=c.loyalty_tier,
            vip=c.vip,
            last_contact_at=c.last_contact_at,
            sources=c.sources,
            matched=matched,
            score=round(score, 1),
        )


def _score(wanted: str, names: str, city: str) -> float:
    variants = [v.strip() for v in names.split("|") if v.strip()]
    score = max((_name_score(wanted, v) for v in variants), default=0.0)
    if city and city in wanted:
        score = max(score, 60.0)
    return score


def _name_score(wanted: str, variant: str) -> float:
    # Order-free token match, nudged by Jaro-Winkler so 'michu jocelyne' ≈ 'jocelyne michu'.
    tokens = fuzz.token_sort_ratio(wanted, variant)
    partial = fuzz.token_set_ratio(wanted, variant)
    jw = 100 * JaroWinkler.similarity(wanted, variant)
    return float(max(tokens, 0.9 * partial, 0.95 * jw))


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _typed_words(terms: list[str]) -> str | None:
    """Every word as typed, each the start of a word of the names, in any order."""
    long_terms = [t for t in terms if len(t) >= 3]
    return " AND ".join(fts_prefix(t) for t in long_terms) if long_terms else None


def _one_edit(word: str) -> set[str]:
    """Every spelling one edit away: two neighbours swapped, a letter dropped, added or
    replaced (folded words: lower-case ASCII letters)."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    swaps = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    drops = {a + b[1:] for a, b in splits if b}
    adds = {a + c + b for a, b in splits for c in _LETTERS}
    replaces = {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    return (swaps | drops | adds | replaces) - {word}


def _column(column: str, text: str) -> str:
    return f"{column} : {fts_phrase(text)}"


SearchFn = Callable[[str, int], list[SearchHit]]
