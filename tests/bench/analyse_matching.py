"""Why matching misses or confuses records: an in-memory replay of the demo generator's
records through the same decision as inline matching, against its ground truth.

    python tests/bench/analyse_matching.py --records 10000 [--examples 5] [--output FILE.json]
        [--extra-keys] [--dump DECISIONS.jsonl]

Replays the customer records in arrival order (each record against the newest records of
each of its block keys, the configured windows, name counts as they grow), like ``match run``,
without building a cache, so a change to the comparators, the model or the decision can be
judged in seconds. Prints pairwise precision/recall/F1 (links; links + suggestions to review)
and groups the missed true pairs and the wrong suggestions by cause:

- ``no common key``: the two records share no block key (blocking miss);
- ``outside window``: they share a key, but too many newer records hold it;
- ``linked elsewhere``: the later record was linked to another customer (a wrong link);
- ``below suggest``: compared, probability under ``thresholds.suggest``;
- ``kept apart: <why>``: compared and probable, kept apart by a safety rule;
- ``transitive``: compared and linked or suggested with another record of the person, but
  this pair's two customers are not (clusters split); ``alone it is suggested`` also counts
  pairs whose odds other customers shared (a record is at most one of them).

Scores are pairwise, so a suggestion counts once per pair of records of its two customers:
``suggested_pairs_wrong_right_by_kind`` gives, per kind of suggestion, the wrong and right
pairs it adds (what precision is made of).

``--ceiling`` bounds the recall a decision can reach without taking, for each pair it adds, a
wrong pair at least as likely as the right one. A missed pair is *ambiguous* when a record of
another person, of the same normalised given and family name as the pair's fuller record,
agrees with the pair's weaker record (the one with fewer fields) at least as well on every
field (each field's level weighs at least as much: names the same, nothing the weak record
tells contradicted more): no scorer that ranks a field's levels as the configured weights do
can prefer the right one. A pair is *out of reach* when it is ambiguous and no chain of found
or unambiguous pairs of the person joins its two records either (a customer grows through
its other records too). ``recall_ceiling`` is the recall if every other missed pair were
found; rivals of another spelling of the name are not counted, so the bound is generous.

``--dump`` writes every decision (link, suggestions, probabilities to 1e-9, evidence), one
JSON line per record, so two versions of the engine can be compared byte for byte; the
summary gives the CPU time per record of the whole replay and of the decision alone.

Name and place keys held by ``blocking.MAX_BLOCK_RECORDS`` earlier records make no more
candidates, as inline; ``--extra-keys`` adds the block keys proposed in ``extra_keys``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from customer_card.matching.blocking import MAX_BLOCK_RECORDS, block_keys, window_of
from customer_card.matching.config import MatchConfig, load_config
from customer_card.matching.decide import Candidate, Decision, Matcher, Proposal
from customer_card.matching.frequency import Frequencies
from customer_card.matching.link import full_forms
from customer_card.matching.normalise import name_core
from customer_card.matching.profile import Profile, profile_of
from sync.demo import DemoConfig, DemoGenerator
from sync.records import RecordKind

RECORDS_PER_PERSON = 2.3
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "resources" / "matching.toml"


@dataclass
class Replay:
    refs: list[tuple[str, str]] = field(default_factory=list)  # seq -> (source, id)
    fields: list[dict[str, Any]] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)
    person: list[int] = field(default_factory=list)
    cluster: list[int] = field(default_factory=list)
    candidates: list[set[int]] = field(default_factory=list)
    keys: list[tuple[str, ...]] = field(default_factory=list)
    suggestions: list[tuple[int, int, float, str]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)  # one per suggestion
    link_reason: list[str] = field(default_factory=list)
    decide_cpu: float = 0.0  # CPU seconds spent in ``Matcher.decide``
    replay_cpu: float = 0.0  # CPU seconds of the whole replay (records generated included)


def records(persons: int, seed: int) -> Iterator[tuple[tuple[str, str], dict[str, Any], int]]:
    generator = DemoGenerator(DemoConfig(customers=persons, seed=seed))
    truth = {(s, i): p for s, i, p in generator.truth()}
    for record in DemoGenerator(DemoConfig(customers=persons, seed=seed)).records():
        if record.kind == RecordKind.CUSTOMER and not record.deleted:
            ref = (record.source, record.source_id)
            yield ref, dict(record.fields or {}), truth[ref]


def extra_keys(p: Profile) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Block keys proposed for ``blocking.py``, simulated here (``--extra-keys``) to measure
    what they bring before the blocking changes. They are asymmetric — (keys a record looks
    up, keys it is filed under) — so that only a short form meets a full one; two full
    names sharing a prefix or an initial never meet through them:

    ``t``   the first 8 letters of a handle or mailbox name of a record without a full name
            meet the same letters of a name written as one word (given+family,
            family+given): '@buissonel' and Élise Buisson, '@stuartwal' and Stuart Walker;
    ``fi``  a family name with a lone initial meets that family name with a given name of
            that initial, short forms' full names included: 'E. Turpin' and 'Manu Turpin'.

    Measured (seed 42, 100k records, with the handle weighed by its full name's frequency):
    they find 325 of the 963 true pairs without a common key, but the pairs they bring are
    name-only evidence that stays under ``thresholds.suggest`` (links + suggestions recall
    .9521 -> .9522, F1 .9590 -> .9587) for 23 % more pairs scored and 13 % more decision
    time: not worth adding to ``blocking.py``. (Phonetic given name + city and birth date +
    given initial catch fewer still: 51 and 0 of those pairs.)
    """
    lookup: dict[str, None] = {}
    filed: dict[str, None] = {}
    given, family = name_core(p.given), name_core(p.family)
    if len(given) > 1 and len(family) > 1:
        for word in (given + family, family + given):
            if len(word) >= _TRUNCATED:
                lookup["ta:" + word[:_TRUNCATED]] = None
                filed["tn:" + word[:_TRUNCATED]] = None
    for alias in p.aliases if not (len(given) > 1 and len(family) > 1) else ():
        # Only where the handle stands in for a name the record lacks.
        if len(alias) >= _TRUNCATED:
            lookup["tn:" + alias[:_TRUNCATED]] = None
            filed["ta:" + alias[:_TRUNCATED]] = None
    if len(family) > 1 and len(given) == 1:
        lookup[f"fn:{family}:{given}"] = None
        filed[f"fi:{family}:{given}"] = None
    elif len(family) > 1 and len(given) > 1:
        for initial in sorted({given[0]} | {full[0] for full in full_forms(p.given)}):
            lookup[f"fi:{family}:{initial}"] = None
            filed[f"fn:{family}:{initial}"] = None
    return tuple(lookup), tuple(filed)


_TRUNCATED = 8


def replay(
    persons: int,
    seed: int,
    config: MatchConfig,
    limit: int = MAX_BLOCK_RECORDS,
    extra: bool = False,
    dump: TextIO | None = None,
) -> Replay:
    """``limit``: a name or place key held by that many earlier records makes no more
    candidates (``blocking.MAX_BLOCK_RECORDS``, as inline matching does); ``extra``: add
    the proposed ``extra_keys``; ``dump``: write each decision there (``_dump_line``)."""
    started = time.process_time()
    matcher = Matcher(config)
    out = Replay()
    blocks: dict[str, list[int]] = defaultdict(list)
    counts = Frequencies()
    for seq, (ref, fields, person) in enumerate(records(persons, seed)):
        profile = profile_of(fields, "FR")
        keys = block_keys(profile)
        lookup, filed = extra_keys(profile) if extra else ((), ())
        found: set[int] = set()
        weak: set[str] = set()
        for key in keys + lookup:
            held = blocks[key]
            size = window_of(key, len(held), config.window, config.strong_window, limit)
            window = held[len(held) - size :]
            found.update(window)
            if key.startswith("p:") and len(window) >= config.max_phone_records:
                weak.add(key[2:])
        candidates = [
            Candidate(c, out.cluster[c], out.profiles[c], out.refs[c]) for c in sorted(found)
        ]
        before = time.process_time()
        decision = matcher.decide(profile, candidates, seq, weak, counts)
        out.decide_cpu += time.process_time() - before
        if dump is not None:
            dump.write(_dump_line(seq, decision))
        counts.add(profile)
        cluster = decision.link.cluster if decision.link else seq
        out.refs.append(ref)
        out.fields.append(fields)
        out.profiles.append(profile)
        out.person.append(person)
        out.cluster.append(cluster)
        out.candidates.append(found)
        out.keys.append(keys)
        out.link_reason.append(decision.link.reason if decision.link else "new")
        for s in decision.suggestions:
            if s.cluster != cluster:
                out.suggestions.append((cluster, s.cluster, s.probability, s.reason))
                out.evidence.append(s.evidence)
        for key in keys + filed:
            blocks[key].append(seq)
    out.replay_cpu = time.process_time() - started
    return out


def _dump_line(seq: int, decision: Decision[int]) -> str:
    def proposal(p: Proposal[int]) -> list[Any]:
        return [p.cluster, round(p.probability, 9), p.reason, p.evidence]

    link = proposal(decision.link) if decision.link else None
    line = [seq, link, [proposal(s) for s in decision.suggestions]]
    return json.dumps(line, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def _pairs(groups: dict[int, list[int]]) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for members in groups.values():
        ordered = sorted(members)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                out.add((a, b))
    return out


def _prf(found: set[tuple[int, int]], truth: set[tuple[int, int]]) -> dict[str, float]:
    tp = len(found & truth)
    p = tp / len(found) if found else 1.0
    r = tp / len(truth) if truth else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def analyse(
    run: Replay, config: MatchConfig, examples: int, ceiling: bool = False
) -> dict[str, Any]:
    matcher = Matcher(config)
    by_person: dict[int, list[int]] = defaultdict(list)
    by_cluster: dict[int, list[int]] = defaultdict(list)
    for seq, (person, cluster) in enumerate(zip(run.person, run.cluster, strict=True)):
        by_person[person].append(seq)
        by_cluster[cluster].append(seq)
    truth = _pairs(by_person)
    linked = _pairs(by_cluster)
    review = [s for s in run.suggestions if s[2] >= config.suggest_threshold]
    patterns: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (a, b, probability, _), evidence in zip(run.suggestions, run.evidence, strict=True):
        if probability >= config.suggest_threshold:
            pattern = " ".join(f"{f['field']}={f['level']}" for f in evidence["fields"])
            patterns[pattern][run.person[a] == run.person[b]] += 1
    suggested_clusters = {(min(a, b), max(a, b)) for a, b, _, _ in review}
    with_suggestions = set(linked)
    for a, b in suggested_clusters:
        for x in by_cluster[a]:
            for y in by_cluster[b]:
                with_suggestions.add((min(x, y), max(x, y)))

    # Missed true pairs, by cause (the later record's view of the earlier one).
    causes: Counter[str] = Counter()
    samples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    counts = Frequencies()
    counts.add_all(run.profiles)
    for a, b in sorted(truth - with_suggestions):
        cause = _cause(run, matcher, a, b, counts)
        causes[cause] += 1
        if len(samples[cause]) < examples:
            samples[cause].append(
                {"a": _show(run, a), "b": _show(run, b), "cluster_b": run.link_reason[b]}
            )

    bound = _ceiling(run, matcher, truth, with_suggestions, counts) if ceiling else None

    wrong: Counter[str] = Counter()
    # Pairwise scores count a suggestion once per pair of records of the two customers: what
    # each kind of suggestion adds in wrong and right pairs (a wrong one between two customers
    # of three records each is nine false pairs).
    pairs_by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for a, b, _, reason in review:
        kind = _suggestion_kind(reason)
        for x in by_cluster[a]:
            for y in by_cluster[b]:
                pairs_by_kind[kind][run.person[x] == run.person[y]] += 1
    wrong_samples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a, b, probability, reason in review:
        if run.person[a] == run.person[b]:
            continue
        kind = reason.split("(")[0].split(":")[-1].strip() if "(" in reason else reason
        kind = kind if len(kind) < 60 else kind[:60]
        wrong[kind] += 1
        if len(wrong_samples[kind]) < examples:
            wrong_samples[kind].append(
                {
                    "p": round(probability, 3),
                    "reason": reason,
                    "a": _show(run, a),
                    "b": _show(run, b),
                }
            )
    wrong_links: Counter[str] = Counter()
    wrong_link_samples: list[dict[str, Any]] = []
    for seq, cluster in enumerate(run.cluster):
        if cluster != seq and run.person[cluster] != run.person[seq]:
            wrong_links[run.link_reason[seq].split("(")[0].strip()] += 1
            if len(wrong_link_samples) < examples * 3:
                wrong_link_samples.append(
                    {"reason": run.link_reason[seq], "a": _show(run, cluster), "b": _show(run, seq)}
                )
    result = {
        "records": len(run.person),
        "persons": len(by_person),
        "customers": len(by_cluster),
        "true_pairs": len(truth),
        "compared_per_record": round(sum(map(len, run.candidates)) / max(1, len(run.person)), 2),
        "links": _prf(linked, truth),
        "with_suggestions": _prf(with_suggestions, truth),
        "suggestions_to_review": len(review),
        "suggestions_all": len(run.suggestions),
        "missed_by_cause": dict(causes.most_common()),
        "wrong_suggestions_by_reason": dict(wrong.most_common()),
        "suggested_pairs_wrong_right_by_kind": dict(
            sorted(pairs_by_kind.items(), key=lambda kv: -kv[1][0])
        ),
        "wrong_links_by_reason": dict(wrong_links.most_common()),
        "review_patterns_wrong_right": dict(
            sorted(patterns.items(), key=lambda kv: -kv[1][0] - kv[1][1])
        ),
        "missed_examples": samples,
        "wrong_suggestion_examples": wrong_samples,
        "wrong_link_examples": wrong_link_samples,
    }
    if bound is not None:
        ambiguous, rivals, out_of_reach = bound
        result["missed_ambiguous"] = ambiguous
        result["missed_ambiguous_by_rival_persons"] = dict(sorted(rivals.items()))
        result["missed_out_of_reach"] = out_of_reach
        result["recall_ceiling"] = round((len(truth) - out_of_reach) / max(1, len(truth)), 4)
    return result


def _ceiling(
    run: Replay,
    matcher: Matcher,
    truth: set[tuple[int, int]],
    found: set[tuple[int, int]],
    counts: Frequencies,
) -> tuple[int, Counter[int], int]:
    """How many missed pairs are ambiguous (see the module's ``--ceiling``), how many other
    persons' records rival each of them (10 stands for 10 or more), and how many missed pairs
    are out of reach."""
    by_name: dict[tuple[str, str], list[int]] = defaultdict(list)
    for seq, p in enumerate(run.profiles):
        by_name[(name_core(p.given), name_core(p.family))].append(seq)

    weights = [
        [f.weight(level) for level in range(len(f.levels) + 1)] for f in matcher.config.fields
    ]

    def levels_of(weak: Profile, other: Profile, seq: int) -> tuple[int, ...]:
        return matcher.pair(weak, other, seq, (), counts).comparison.levels

    def told(seq: int) -> int:
        return sum(1 for value in run.fields[seq].values() if value)

    ambiguous: set[tuple[int, int]] = set()
    rivals: Counter[int] = Counter()
    for a, b in truth - found:
        weak, full = (b, a) if told(b) <= told(a) else (a, b)
        weak_profile = run.profiles[weak]
        right = levels_of(weak_profile, run.profiles[full], weak)
        name = (name_core(run.profiles[full].given), name_core(run.profiles[full].family))
        others = {
            run.person[r]
            for r in by_name[name]
            if run.person[r] != run.person[weak]
            and all(
                w[rival] >= w[level]
                for w, rival, level in zip(
                    weights, levels_of(weak_profile, run.profiles[r], weak), right, strict=True
                )
            )
        }
        if others:
            ambiguous.add((a, b))
            rivals[min(10, len(others))] += 1

    # Records joined by found or unambiguous pairs end up in one customer: their pairs are
    # within reach, ambiguous or not.
    parent = list(range(len(run.person)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in truth - ambiguous:
        parent[root(a)] = root(b)
    out_of_reach = sum(1 for a, b in ambiguous if root(a) != root(b))
    return len(ambiguous), rivals, out_of_reach


def _suggestion_kind(reason: str) -> str:
    """A suggestion's reason without its figures: 'possible match (shared odds)',
    'possible match (household)', 'also shares email', 'shares email but …'."""
    if " but " in reason:
        return reason.split(" (")[0]
    kind = reason.split(" (")[0]
    if "other customers fit as well" in reason:
        kind += " (shared odds)"
    if reason.endswith(_HOUSEHOLD_REASON):
        kind += " (household)"
    return kind


_HOUSEHOLD_REASON = "shares an identifier of several customers"


def _cause(run: Replay, matcher: Matcher, a: int, b: int, counts: Frequencies) -> str:
    if run.cluster[b] != b and run.person[run.cluster[b]] != run.person[b]:
        return "linked elsewhere"
    if a not in run.candidates[b]:
        if set(run.keys[a]) & set(run.keys[b]):
            return "outside window"
        return "no common key"
    scored = matcher.pair(run.profiles[b], run.profiles[a], b, (), counts)
    decision = matcher.decide(
        run.profiles[b], [Candidate(a, a, run.profiles[a], run.refs[a])], b, (), counts
    )
    if decision.link is not None:
        return "transitive (alone it links)"
    if decision.suggestions:
        s = decision.suggestions[0]
        if s.probability >= matcher.config.suggest_threshold:
            return "transitive (alone it is suggested)"
        if "but" in s.reason:
            return "kept apart: " + s.reason.split(" but ")[1]
    conflict = None
    if scored.probability >= matcher.config.suggest_threshold:
        from customer_card.matching.link import conflict as why

        conflict = why(run.profiles[b].identity(), run.profiles[a].identity())
        return f"kept apart: {conflict}"
    return "below suggest"


def _show(run: Replay, seq: int) -> dict[str, Any]:
    f = run.fields[seq]
    keep = (
        "given_name",
        "family_name",
        "full_name",
        "birth_date",
        "email",
        "phone",
        "postcode",
        "city",
        "street",
        "loyalty_card",
        "twitter",
        "instagram",
    )
    return {"ref": ":".join(run.refs[seq]), **{k: f[k] for k in keep if k in f}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--examples", type=int, default=3)
    parser.add_argument("--output", type=Path, help="write the full analysis (JSON) here")
    parser.add_argument(
        "--extra-keys", action="store_true", help="simulate the proposed extra block keys"
    )
    parser.add_argument(
        "--ceiling", action="store_true", help="bound the recall any decision can reach"
    )
    parser.add_argument(
        "--dump", type=Path, help="write every decision here (JSON lines), to compare runs"
    )
    args = parser.parse_args()
    config = load_config(args.config)
    started = time.perf_counter()
    persons = max(10, round(args.records / RECORDS_PER_PERSON))
    if args.dump:
        with args.dump.open("w", encoding="utf-8") as dump:
            run = replay(persons, args.seed, config, extra=args.extra_keys, dump=dump)
    else:
        run = replay(persons, args.seed, config, extra=args.extra_keys)
    result = analyse(run, config, args.examples, args.ceiling)
    records = max(1, len(run.person))
    result["replay_cpu_ms_per_record"] = round(1000 * run.replay_cpu / records, 4)
    result["decide_cpu_ms_per_record"] = round(1000 * run.decide_cpu / records, 4)
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.output:
        args.output.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    summary = {k: v for k, v in result.items() if not k.endswith("examples") and "pattern" not in k}
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
