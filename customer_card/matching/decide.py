"""The decision for one incoming record, shared by inline matching (ingest) and the batch
re-run, so both give the same result on the same data.

The incoming record is scored against every candidate record (earlier records sharing a block
key); candidates are grouped by the customer they belong to. A customer is *linked* when a
candidate shares a strong identifier or scores at least the link threshold, and nothing
clearly disagrees (different birth dates or given names across the customer's candidates —
a family sharing an e-mail or a landline — unless most of the customer's records that tell
agree: one mistyped record of a person). Otherwise a probable customer becomes a *merge
suggestion* with its evidence, and the record starts a new customer.

A customer is scored by its best-agreeing record, completed by the customer's other compared
records where that record is silent (a helpdesk contact has no address: the customer's CRM
record has one). A linked record suggests no other customer whose records contradict its own
customer's: that would be suggesting to merge two people known apart.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from customer_card.matching.compare import (
    ADDRESS,
    BIRTH,
    CARD,
    EMAIL,
    FAMILY,
    GIVEN,
    HANDLE,
    PHONE,
    PHONE_NATIONAL,
    SOCIAL,
    Comparer,
    Comparison,
    cached_name_reader,
    dates_one_slip_apart,
    name_weights,
    national_numbers,
    spells_full_name,
)
from customer_card.matching.config import FieldWeights, MatchConfig
from customer_card.matching.frequency import (
    CITY_POPULATION_KEY,
    NameCounts,
    city_key,
    family_key,
    given_key,
    name_keys,
    pair_key,
    spelled_pairs,
)
from customer_card.matching.link import Identity, conflict
from customer_card.matching.model import Model, Score
from customer_card.matching.model import probability as probability_of
from customer_card.matching.normalise import name_core, national_number
from customer_card.matching.outcome import C, Candidate, Decision, Proposal
from customer_card.matching.profile import Profile

__all__ = ["Candidate", "Decision", "Matcher", "PairScore", "Proposal", "another_person"]

# Strong identifiers, strongest first, to choose among customers that both qualify.
LINK_STRENGTH = {"crm_id": 5, "loyalty_card": 4, "social": 3, "email": 2, "phone": 1}
_STRONG_FIELDS = (("social", SOCIAL), ("email", EMAIL), ("phone", PHONE))
_IDENTIFIER_FIELDS = frozenset({CARD, SOCIAL, EMAIL, PHONE, HANDLE, ADDRESS})
# A suggestion's probability always shows it is below the link threshold.
_BELOW_LINK = 1e-4
# Beyond this a pair is certain (``model.probability`` says 1.0): odds stay finite.
_MAX_LOG2_ODDS = 60.0


# Not frozen: one is made per candidate, and a frozen dataclass's __init__ costs three times
# as much (each field set through object.__setattr__). Treat it as read-only all the same.
@dataclass(slots=True)
class PairScore:
    comparison: Comparison
    strong: tuple[str, ...]  # kinds of strong identifiers the two records share
    # Shares a household's e-mail or phone, and nothing tells which member this is.
    ambiguous: bool
    weight: float  # total log2 odds, prior included
    probability: float
    # What ``score`` needs to explain the weight field by field: a decision compares every
    # candidate but shows the evidence of a few, so it is built only when asked for.
    model: Model = field(repr=False, compare=False)
    population: int
    overrides: Mapping[int, float] | None
    # Fields the customer's other compared records gave (``Matcher._completed``).
    completed: tuple[str, ...] = ()

    @property
    def score(self) -> Score:
        """The weight with its evidence (the same weight: ``Model.total`` adds alike)."""
        return self.model.score(self.comparison.levels, self.population, self.overrides)


class Matcher:
    def __init__(self, config: MatchConfig, model: Model | None = None) -> None:
        self.config = config
        self.model = model or Model(config)
        self._names = (config.fields[GIVEN], config.fields[FAMILY])
        self._read_names = cached_name_reader(name_weights(self._names))
        self._address = config.fields[ADDRESS]

    def pair(
        self,
        a: Profile,
        b: Profile,
        population: int,
        weak: Collection[str] = (),
        counts: NameCounts | None = None,
        household: Collection[str] = (),
        holders: Mapping[str, tuple[int, int]] | None = None,
    ) -> PairScore:
        """Score two records; ``population`` is the number of records ``a`` is matched
        against (the prior of each pair depends on it); ``weak``, phones and e-mail
        addresses so widely used that they prove nothing (a shop's switchboard);
        ``household``, those that records of several customers hold (a family's address or
        landline): they link only a record whose given name or birth date can be checked;
        ``counts``, how common each name is (without it, names weigh the configured average);
        ``holders``, per name key, how many compared records carry it and how many customers
        they make (records of one person repeat the name: the counts count people)."""
        prior = self.model.prior_weight(population)
        incoming = _Incoming(a, Comparer(a, self._read_names), (), household, holders)
        return self._pair(incoming, b, population, prior, weak, counts)

    def _pair(
        self,
        incoming: _Incoming,
        b: Profile,
        population: int,
        prior: float,
        weak: Collection[str],
        counts: NameCounts | None,
    ) -> PairScore:
        """``pair`` with what depends on the incoming record alone worked out once per
        decision (``_Incoming``), the prior weight of ``population`` included."""
        a = incoming.profile
        comparison = incoming.compare(b)
        levels = comparison.levels
        kinds: tuple[str, ...] = ()
        ambiguous = False
        # Most candidates share no identifier: the four levels say so.
        if levels[SOCIAL] == 1 or levels[EMAIL] == 1 or levels[PHONE] == 1 or levels[CARD] == 1:
            strong = [kind for kind, index in _STRONG_FIELDS if levels[index] == 1]
            if levels[CARD] == 1:
                strong.extend(sorted({x.partition(":")[0] for x in set(a.ids) & set(b.ids)}))
            if "phone" in strong or "email" in strong:
                comparison, ambiguous = _shared_contact(
                    a, b, comparison, strong, weak, incoming.household()
                )
                levels = comparison.levels
            kinds = tuple(strong)
        elif levels[PHONE] == PHONE_NATIONAL:
            comparison, ambiguous = _national_contact(a, b, comparison, weak, incoming)
            levels = comparison.levels
        if counts is not None and levels[HANDLE] == _HANDLE_FULL:
            # The handle's weight depends on both records' names: worked out for this pair.
            overrides = self._name_weights(comparison, a, population, counts, incoming)
            handle = self._handle_weight(a, b, counts, incoming.holders())
            if handle is not None:
                overrides = {**(overrides or {}), HANDLE: handle}
            total = self.model.total(levels, prior, overrides)
            probability = probability_of(total)
        else:
            # Otherwise the weight depends on the levels alone within a decision, and
            # candidates repeat levels (most disagree alike): once per levels.
            way = (levels, comparison.swapped)
            known = incoming.weights.get(way)
            if known is None:
                overrides = (
                    self._name_weights(comparison, a, population, counts, incoming)
                    if counts is not None
                    else None
                )
                total = self.model.total(levels, prior, overrides)
                known = incoming.weights[way] = (overrides, total, probability_of(total))
            overrides, total, probability = known
        return PairScore(
            comparison,
            kinds,
            ambiguous,
            total,
            probability,
            self.model,
            population,
            overrides,
        )

    def _name_weights(
        self,
        comparison: Comparison,
        a: Profile,
        population: int,
        counts: NameCounts,
        incoming: _Incoming,
    ) -> dict[int, float] | None:
        """Exact name agreements weighed by how common the shared value is: u is the share
        of earlier records with that value (the pair's share when both names agree, as
        given and family names are not independent), discounted because a name met once in
        the cache is most often rarer than one in the cache's size (absolute discounting).
        A count of records becomes a count of people by the share of distinct customers among
        the compared records that carry the name.
        Names agreeing read the other way round are counted in either role, whichever is
        more common: one of the two records filed them the wrong way. Worked out once per
        way the names agree in a decision (``incoming.name_weights``)."""
        levels = comparison.levels
        given_level, family_level = levels[GIVEN], levels[FAMILY]
        same_city = levels[ADDRESS] == _CITY_LEVEL
        if not (given_level in (1, 2) or family_level in (1, 2) or same_city):
            return None
        # Within one decision only these vary: the rest is the incoming record's.
        way = (given_level, family_level, comparison.swapped, same_city)
        memo = incoming.name_weights
        if (known := memo.get(way)) is not None:
            return known
        given_exact, family_exact = given_level == 1, family_level == 1
        # The values agreed on, as the incoming record ``a`` holds them: the counts looked up
        # for it (``frequency.lookup_keys``) cover them, inline as in the batch.
        given_value, family_value = a.given, a.family
        size = float(max(population, self.config.min_population))

        def share(*keys: str) -> float:
            holders = incoming.holders()
            seen = 0.0
            for key in keys:
                n = float(counts.count(key))
                records, people = holders.get(key, (0, 0)) if holders else (0, 0)
                if records > people > 0:
                    n *= people / records
                seen = max(seen, n)
            return (max(seen, self.config.tf_min_count) - self.config.tf_discount) / size

        given_w, family_w = self._names
        out: dict[int, float] = {}
        u_given = u_family = 1.0
        swapped = comparison.swapped
        if given_level in (1, 2):
            keys = [given_key(given_value)]
            if swapped:
                keys.append(family_key(given_value))
            u_given = share(*keys)
            out[GIVEN] = _tf_weight(given_w, given_level, u_given)
        if family_level in (1, 2):
            keys = [family_key(family_value)]
            if swapped:
                keys.append(given_key(family_value))
            u_family = share(*keys)
            out[FAMILY] = _tf_weight(family_w, family_level, u_family)
        if given_exact and family_exact:
            pairs = [pair_key(given_value, family_value)]
            if swapped:
                pairs.append(pair_key(family_value, given_value))
            u_pair = share(*pairs)
            if u_pair > u_given * u_family:
                out[GIVEN] = math.log2(given_w.m[0] * family_w.m[0] / u_pair) - out[FAMILY]
        if same_city and (city := self._city_weight(a.city, population, counts)) is not None:
            out[ADDRESS] = city
        memo[way] = out
        return out

    def _city_weight(self, city: str, population: int, counts: NameCounts) -> float | None:
        """The weight of two records naming the same city (neither has a postcode to
        compare): log2(m/u) with m the chance one person's records agree on their place
        (all but the configured 'different' share: moves, typos) and u the share of earlier
        records in that city, discounted like names. Paris proves little, Vincennes a lot.
        None (the configured weight) while the counts do not cover the cache's cities (a
        cache counted before they were: ``match run`` counts them)."""
        if counts.count(CITY_POPULATION_KEY) < _COVERED * population:
            return None
        n = counts.count(city_key(city))
        if n <= 0:
            return None
        size = float(max(population, self.config.min_population))
        m_same_place = 1.0 - self._address.m[-1]
        u_city = (max(n, self.config.tf_min_count) - self.config.tf_discount) / size
        return math.log2(m_same_place / min(1.0, u_city))

    def _handle_weight(
        self,
        a: Profile,
        b: Profile,
        counts: NameCounts,
        holders: Mapping[str, tuple[int, int]] | None,
    ) -> float | None:
        """A handle or mailbox name spelling the given and family names of the other record
        ('Susanne R.' or 'Cécile' alone with @susannerossi / @cecilegirard, against Susanne
        Rossi / Cécile Girard) tells the family name its own record lacks or abbreviates,
        while the given name is weighed already. So it weighs what the full name adds to the
        given name: log2 of the share of earlier records with that given name over the share
        with the full name (counted as people and discounted, like names). Namesakes' handles
        spell their names as often as the person's own: it proves no more than the name it
        spells — Rossi little, Kerhervé a lot. Only the incoming record's names and the full
        names its handles spell are counted (``frequency.lookup_keys``: what inline matching
        fetches). None: the configured weight."""
        words: tuple[str, ...]  # ``b``'s names that may be the given name ``a`` agrees on
        if spells_full_name(b.aliases, a.given, a.family):
            pair = (a.given, a.family)
            words = (b.given, b.family)
        else:
            family = name_core(b.family)
            pair = next(
                (
                    (given, rest)
                    for given, rest in spelled_pairs(a)
                    if rest == family and given.replace(" ", "") == b.given.replace(" ", "")
                ),
                ("", ""),
            )
            words = (b.given,)
        given, family = pair
        if len(given.replace(" ", "")) < 2 or len(name_core(family)) < 2:
            return None
        if not any(w.replace(" ", "") == given.replace(" ", "") for w in words if w):
            return None
        tf_min, discount = self.config.tf_min_count, self.config.tf_discount

        def people(key: str) -> float:
            # Records of one person repeat the name: counted as people, like names.
            n = float(counts.count(key))
            records, persons = holders.get(key, (0, 0)) if holders else (0, 0)
            if records > persons > 0:
                n *= persons / records
            return max(n, tf_min) - discount

        return max(0.0, math.log2(people(given_key(given)) / people(pair_key(given, family))))

    def _completed(
        self,
        incoming: Profile,
        best: tuple[Candidate[C], PairScore],
        members: Sequence[tuple[Candidate[C], PairScore]],
        population: int,
        prior: float,
        counts: NameCounts | None,
    ) -> tuple[Candidate[C], PairScore]:
        """The score of the customer's best-agreeing record, completed by its other compared
        records: a field the best record lacks (a helpdesk contact has no address, a loyalty
        record no e-mail) takes the best level the customer's other records give. They are one
        person's records, so a postcode or an e-mail of the customer that disagrees counts
        against, as one that agrees counts for — once, as one field of one person. Names are
        the best record's (they are why it is the best)."""
        candidate, score = best
        if len(members) < 2:
            return best
        levels = list(score.comparison.levels)
        completed: list[str] = []
        members_levels = [s.comparison.levels for _, s in members]
        for index in _COMPLETED_FIELDS:
            if levels[index]:
                continue
            given = [x[index] for x in members_levels if x[index]]
            if given:
                levels[index] = min(given)  # level 1 is the strongest agreement
                completed.append(self.config.fields[index].name)
        if not completed:
            return best
        overrides = score.overrides
        if (
            counts is not None
            and levels[ADDRESS] == _CITY_LEVEL
            and not score.comparison.levels[ADDRESS]
        ):
            # Level 'city': the incoming record's city is the other record's.
            city = self._city_weight(incoming.city, population, counts)
            if city is not None:
                overrides = {**(overrides or {}), ADDRESS: city}
        comparison = Comparison(tuple(levels), score.comparison.swapped)
        total = self.model.total(comparison.levels, prior, overrides)
        return candidate, PairScore(
            comparison,
            score.strong,
            score.ambiguous,
            total,
            probability_of(total),
            score.model,
            population,
            overrides,
            tuple(completed),
        )

    def decide(
        self,
        incoming: Profile,
        candidates: Sequence[Candidate[C]],
        population: int,
        weak_phones: Collection[str] = (),
        counts: NameCounts | None = None,
    ) -> Decision[C]:
        by_cluster: dict[C, list[tuple[Candidate[C], PairScore]]] = {}
        prior = self.model.prior_weight(population)
        scoring = _Incoming(incoming, Comparer(incoming, self._read_names), candidates)
        for candidate in candidates:
            scored = self._pair(scoring, candidate.profile, population, prior, weak_phones, counts)
            by_cluster.setdefault(candidate.cluster, []).append((candidate, scored))

        identity = incoming.identity()
        # Without a shared identifier a customer under both thresholds is neither linked nor
        # suggested, whatever disagrees: most customers compared, not worth checking further.
        floor = min(self.config.suggest_threshold, self.config.link_threshold)
        linkable: list[tuple[tuple[int, float, int], Proposal[C]]] = []
        suggestions: list[Proposal[C]] = []
        bests = {
            cluster: members[0]  # most customers have one compared record: nothing to choose
            if len(members) == 1
            else self._completed(
                incoming,
                max(members, key=lambda cs: (cs[1].probability, -cs[0].key)),
                members,
                population,
                prior,
                counts,
            )
            for cluster, members in by_cluster.items()
        }
        # One person is one customer: the record is at most one of the customers compared,
        # so the odds of each are shared with the others' (a name held by three customers
        # is a third as likely to be any one of them). Suggestions use that share.
        odds = {c: 2.0 ** min(_MAX_LOG2_ODDS, s.weight) for c, (_, s) in bests.items()}
        total_odds = sum(odds.values())
        for order, (cluster, members) in enumerate(by_cluster.items()):
            best_candidate, best = bests[cluster]
            kinds = (
                members[0][1].strong  # a tuple of distinct kinds
                if len(members) == 1
                else {kind for _, s in members for kind in s.strong}
            )
            if not kinds and best.probability < floor:
                continue
            strong = sorted(kinds, key=lambda k: -LINK_STRENGTH[k])
            others = total_odds - odds[cluster]
            exclusive = odds[cluster] / (1.0 + total_odds) if others > 0 else best.probability
            # Every compared record of the customer must agree: one clear disagreement (a
            # sister's given name, a son's birth date) keeps the record apart — unless most
            # of the customer's records that tell agree (one mistyped record of a person).
            why: str | None  # (mypyc infers the names' types from this line alone)
            outweighed: str | None
            why, outweighed = _disagreement([c.profile.identity() for c, _ in members], identity)
            probable = best.probability >= self.config.link_threshold
            if not strong and any(s.ambiguous for _, s in members):
                # A family's e-mail or landline and no given name or birth date to tell
                # which member: a supervisor decides.
                probable = False
                why = why or _HOUSEHOLD
            elif probable and not strong and not corroborated(best.comparison.levels):
                # Names (and what spells them) agree, nothing else does: namesakes do that.
                probable = False
                why = why or _NAMES_ONLY
            if why is None and (strong or probable):
                evidence = _evidence(best_candidate, best, strong, why)
                if outweighed:
                    evidence["outweighed"] = outweighed
                reason = (
                    "shares " + ", ".join(_LABELS[k] for k in strong)
                    if strong
                    else f"probable match ({best.probability:.3f})"
                )
                rank = (max((LINK_STRENGTH[k] for k in strong), default=0), best.probability)
                linkable.append(
                    (
                        (*rank, -order),
                        Proposal(cluster, 1.0 if strong else best.probability, reason, evidence),
                    )
                )
            elif strong:
                # Shared identifier, different person by the rest: a household's e-mail or
                # landline (and its address) explain what is shared, so the probability
                # is that of the personal fields alone.
                levels = tuple(
                    0 if i in _IDENTIFIER_FIELDS else level
                    for i, level in enumerate(best.comparison.levels)
                )
                rest = self.model.score(levels, population).probability
                probability = min(rest, self.config.link_threshold - _BELOW_LINK)
                shared = ", ".join(_LABELS[k] for k in strong)
                evidence = _evidence(best_candidate, best, strong, why)
                suggestions.append(
                    Proposal(cluster, probability, f"shares {shared} but {why}", evidence)
                )
            elif (
                why is None
                or why in (_NAMES_ONLY, _HOUSEHOLD)
                or (why in _NAME_CONFLICTS and _all_but_a_name(best.comparison.levels))
                or (why == _BIRTHS and probable and _all_but_the_birth(best.comparison.levels))
            ):
                # (A clear disagreement without a shared identifier is another person at
                # the same address or with the same name: nothing to review — unless the
                # rest agrees: a name disagreeing while the birth date and the street agree
                # (a name replaced in one system, changed by marriage — or twins), or only
                # the birth date disagreeing where the model would link (a wrong date, or
                # a father and son named alike): a person tells.) A record that
                # shares a household's identifier is one of its members, as a namesake is
                # one of the customers of its name: each member gets its share of the odds
                # (two members fitting alike: under a half each, not worth a review).
                if exclusive < self.config.suggest_threshold:
                    continue
                probability = min(exclusive, self.config.link_threshold - _BELOW_LINK)
                reason = f"possible match ({exclusive:.3f})"
                if exclusive < best.probability:
                    reason = f"possible match ({exclusive:.3f}; other customers fit as well)"
                if why:
                    reason += f": {why}"
                evidence = _evidence(best_candidate, best, strong, why)
                suggestions.append(Proposal(cluster, probability, reason, evidence))

        if not linkable:
            return Decision(None, tuple(suggestions))
        linkable.sort(key=lambda item: item[0], reverse=True)
        chosen = linkable[0][1]
        # Other customers this record would link to: the same person twice, for a supervisor.
        for _, other in linkable[1:]:
            suggestions.append(
                Proposal(
                    other.cluster,
                    self.config.link_threshold - _BELOW_LINK,
                    f"also {other.reason}",
                    other.evidence,
                )
            )
        # Linked, the record is that customer: suggesting another one is suggesting to merge
        # the two customers, which their own records may contradict (a father and his son
        # of the same name and address, a family's e-mail): then there is nothing to review.
        linked = [c.profile.identity() for c, _ in by_cluster[chosen.cluster]]
        kept = tuple(
            s
            for s in suggestions
            if not any(
                _conflict(mine, c.profile.identity())
                for c, _ in by_cluster[s.cluster]
                for mine in linked
            )
        )
        return Decision(chosen, kept)


_LABELS = {k: k for k in LINK_STRENGTH}


class _Unknown:
    """Not worked out yet (None is a value: no holders)."""


_UNKNOWN = _Unknown()


class _Incoming:
    """What one decision works out about its incoming record once for all its candidates: the
    comparer, the name weights by way the names agree, the weights by levels (the prior and
    the counts are the decision's), and — only when a pair asks for them
    (a shared phone or e-mail, an agreeing name) — the identifiers households share and the
    name holders among the candidates."""

    __slots__ = (
        "_candidates",
        "_holders",
        "_household",
        "_national_household",
        "compare",
        "name_weights",
        "profile",
        "weights",
    )

    def __init__(
        self,
        profile: Profile,
        compare: Comparer,
        candidates: Sequence[Candidate[Any]],
        household: Collection[str] | None = None,
        holders: Mapping[str, tuple[int, int]] | _Unknown | None = _UNKNOWN,
    ) -> None:
        """``household`` and ``holders``: as given, or (None, ``_UNKNOWN``) those of the
        ``candidates`` when first asked."""
        self.profile = profile
        self.compare = compare
        self.name_weights: _NameMemo = {}
        # (levels, swapped) -> (weight overrides, total weight, probability)
        self.weights: dict[
            tuple[tuple[int, ...], bool], tuple[dict[int, float] | None, float, float]
        ] = {}
        self._candidates = candidates
        self._household = household
        self._national_household: set[str] | None = None
        self._holders = holders

    def household(self) -> Collection[str]:
        if self._household is None:
            self._household = _household(self.profile, self._candidates)
        return self._household

    def national_household(self) -> set[str]:
        if self._national_household is None:
            self._national_household = _national_household(self.profile, self._candidates)
        return self._national_household

    def holders(self) -> Mapping[str, tuple[int, int]] | None:
        if isinstance(self._holders, _Unknown):
            self._holders = _holders(self.profile, self._candidates)
        return self._holders


def _holders(incoming: Profile, candidates: Sequence[Candidate[Any]]) -> dict[str, tuple[int, int]]:
    """Per name key the incoming record's name weights may ask for (its names read either
    way), the compared records carrying it and the customers they belong to."""
    wanted = _wanted_keys(incoming.given, incoming.family)
    if spelled := spelled_pairs(incoming):
        wanted = wanted | {pair_key(g, f) for g, f in spelled}
    records: dict[str, int] = {}
    people: dict[str, set[Any]] = {}
    for c in candidates:
        for key in name_keys(c.profile.given, c.profile.family):  # a city is never wanted
            if key in wanted:
                records[key] = records.get(key, 0) + 1
                people.setdefault(key, set()).add(c.cluster)
    return {key: (n, len(people[key])) for key, n in records.items()}


@lru_cache(maxsize=1 << 14)  # asked once per decision; names repeat
def _wanted_keys(given: str, family: str) -> frozenset[str]:
    """The name keys of ``_holders`` for a record with these names (read either way)."""
    return frozenset(
        {
            given_key(given),
            given_key(family),
            family_key(given),
            family_key(family),
            pair_key(given, family),
            pair_key(family, given),
        }
    )


def _disagreement(records: Sequence[Identity], incoming: Identity) -> tuple[str | None, str | None]:
    """Why ``incoming`` is not the person of a customer's compared ``records`` (or None), and
    the disagreement the customer's other records outweighed (or None). A clear disagreement
    with one record (a different birth date, given or family name) keeps the record apart,
    unless more of the customer's records that carry the field in question agree with it in
    everything than disagree: a typo or a wrong birth date in one of a person's records must
    not split a person the others show. A family member's records disagree with the other
    member's on every record that tells, so the majority never joins two members."""
    whys = [_conflict(incoming, record) for record in records]
    why = next((w for w in whys if w), None)
    if why is None:
        return None, None
    agree = disagree = 0
    for record, w in zip(records, whys, strict=True):
        if why == _BIRTHS:
            tells = bool(record.birth_dates and incoming.birth_dates)
        else:
            tells = bool(record.given_names or record.family_names)
        if tells:
            agree, disagree = (agree + 1, disagree) if w is None else (agree, disagree + 1)
    if agree > disagree:
        return None, f"{why} ({disagree} of {agree + disagree} records)"
    return why, None


def _conflict(incoming: Identity, existing: Identity) -> str | None:
    """``link.conflict``, where birth dates one slip of the keyboard apart
    (``dates_one_slip_apart``) are not a disagreement: one person's records carry such
    typos, and the names must still agree."""
    why = conflict(incoming, existing)
    if why == _BIRTHS and any(
        dates_one_slip_apart(a, b) for a in incoming.birth_dates for b in existing.birth_dates
    ):
        why = conflict(replace(incoming, birth_dates=existing.birth_dates), existing)
    return why


def another_person(incoming: Profile, existing: Profile) -> bool:
    """Whether two records name two people: their birth dates or their given names clearly
    disagree (a typo, a nickname or a date one slip apart do not; a family name alone does
    not either: a married name). Records without a given name or a birth date name no one."""
    return _conflict(incoming.identity(), existing.identity()) in (_BIRTHS, _GIVEN)


def _all_but_a_name(levels: tuple[int, ...]) -> bool:
    """Whether the birth date and the street agree (a name disagrees): what makes a name's
    disagreement worth a review rather than another person."""
    return levels[BIRTH] == 1 and levels[ADDRESS] == 1


def _all_but_the_birth(levels: tuple[int, ...]) -> bool:
    """Whether both names and the street agree (the birth dates disagree)."""
    return levels[GIVEN] in (1, 2) and levels[FAMILY] in (1, 2) and levels[ADDRESS] == 1


def _household(incoming: Profile, candidates: Sequence[Candidate[Any]]) -> set[str]:
    """E-mail addresses and phones of the incoming record that earlier records of two or more
    customers hold: a family's address or landline, not one person's."""
    mine = {*incoming.emails, *incoming.phones}
    holders: dict[str, set[Any]] = {}
    for c in candidates:
        for value in (*c.profile.emails, *c.profile.phones):
            if value in mine:
                holders.setdefault(value, set()).add(c.cluster)
    return {value for value, clusters in holders.items() if len(clusters) > 1}


def _national_household(incoming: Profile, candidates: Sequence[Candidate[Any]]) -> set[str]:
    """National numbers of the incoming record's phones that compared records of two or more
    customers hold, under any country code."""
    mine = national_numbers(incoming.phones)
    holders: dict[str, set[Any]] = {}
    for c in candidates:
        for number in national_numbers(c.profile.phones) & mine:
            holders.setdefault(number, set()).add(c.cluster)
    return {number for number, clusters in holders.items() if len(clusters) > 1}


def _shared_contact(
    a: Profile,
    b: Profile,
    comparison: Comparison,
    strong: list[str],
    weak: Collection[str],
    household: Collection[str],
) -> tuple[Comparison, bool]:
    """A shared phone or e-mail address that proves nothing (``weak``: dropped from the
    comparison) or that a household shares (``household``: ambiguous when nothing tells
    which member ``a`` is); removes such kinds from ``strong``."""
    levels = list(comparison.levels)
    ambiguous = False
    checkable = _checkable(a)
    for kind, index, mine, theirs in (
        ("phone", PHONE, a.phones, b.phones),
        ("email", EMAIL, a.emails, b.emails),
    ):
        if kind not in strong:
            continue
        common = set(mine) & set(theirs)
        if common <= set(weak):
            strong.remove(kind)
            levels[index] = 0
        elif common <= set(weak) | set(household) and not checkable:
            strong.remove(kind)
            ambiguous = True
    if tuple(levels) != comparison.levels:
        comparison = Comparison(tuple(levels), comparison.swapped)
    return comparison, ambiguous


def _national_contact(
    a: Profile, b: Profile, comparison: Comparison, weak: Collection[str], incoming: _Incoming
) -> tuple[Comparison, bool]:
    """A phone agreeing by its national number only (``PHONE_NATIONAL``: one number read
    under two country codes) held to the checks of a shared one: it proves nothing when the
    incoming record's number is ``weak`` (dropped from the comparison), and it is ambiguous
    when customers of two or more compared records hold that national number (a family's
    landline) and nothing tells which member ``a`` is."""
    shared = national_numbers(a.phones) & national_numbers(b.phones)
    mine = [x for x in a.phones if national_number(x) in shared]
    if all(x in weak for x in mine):
        levels = list(comparison.levels)
        levels[PHONE] = 0
        return Comparison(tuple(levels), comparison.swapped), False
    ambiguous = not _checkable(a) and shared <= incoming.national_household()
    return comparison, ambiguous


def _checkable(a: Profile) -> bool:
    """Whether a record tells which member of a household it is: a birth date or a given
    name longer than an initial."""
    return bool(a.births) or len(a.given.replace(" ", "")) > 1


# Name (and city) weights of one decision's incoming record, by (given level, family level,
# swapped, same city).
_NameMemo = dict[tuple[int, int, bool, bool], dict[int, float]]

# The address level of two records compared on their cities only (no postcode on one side).
_CITY_LEVEL = 3
# Counts cover a cache when they count at least this share of its records (as the service's
# check of the name counts).
_COVERED = 0.9
# Fields a customer's other records complete: what a person has, not how records name them.
_COMPLETED_FIELDS = (BIRTH, EMAIL, PHONE, CARD, SOCIAL, ADDRESS)
_HANDLE_FULL = 1  # the handle level of a handle spelling both names
_NAMES_ONLY = "only the names agree"
_BIRTHS = "different birth dates"
_GIVEN = "different given names"
_NAME_CONFLICTS = ("different given names", "different family names")
_BIRTH_TYPO = 3  # the birth-date level of dates one slip apart
_HOUSEHOLD = "shares an identifier of several customers"


def _tf_weight(weights: FieldWeights, level: int, u_value: float) -> float:
    """The weight of a name agreement given ``u_value``, the share of earlier records
    carrying the incoming record's name. Exact: log2(m / u_value). Close (a typo, a short
    form): the configured weight, lowered by as much as the name is more common than the
    configured exact u — near-misses of 'Martin' (Martine, Martins) are as common as
    Martin is, while a rare name (or a typo of one) keeps the configured weight."""
    if level == 1:
        return math.log2(weights.m[0] / u_value)
    return weights.weight(level) + min(0.0, math.log2(weights.u[0] / u_value))


def corroborated(levels: tuple[int, ...]) -> bool:
    """Whether something besides the names agrees: the birth date (or its day/month
    reading, or the date one typo away), the street, a phone (or its national number under
    another country's code), an e-mail address or a mailbox name that is more than the
    names, a card or a social account. Without it a probable match stays a suggestion."""
    return (
        levels[BIRTH] in (1, 2, _BIRTH_TYPO)
        or levels[ADDRESS] == 1
        or levels[PHONE] in (1, PHONE_NATIONAL)
        or levels[EMAIL] in (1, 2)
        or levels[CARD] == 1
        or levels[SOCIAL] == 1
    )


def _evidence(
    candidate: Candidate[Any], best: PairScore, strong: list[str], why: str | None
) -> dict[str, Any]:
    score = best.score
    evidence: dict[str, Any] = {
        "probability": round(score.probability, 6),
        "weight": round(score.weight, 2),
        "record": {"source": candidate.ref[0], "source_id": candidate.ref[1]},
        "fields": [e.as_dict() for e in score.evidence],
    }
    if strong:
        evidence["shared"] = strong
    if best.comparison.swapped:
        evidence["names_swapped"] = True
    if best.completed:
        evidence["from_customer"] = list(best.completed)
    if why:
        evidence["conflict"] = why
    return evidence
