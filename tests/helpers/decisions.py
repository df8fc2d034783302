"""Every decision of a record-by-record replay of demo customers, as text: what the pure
Python and the compiled matching (``customer_card.native``) must produce alike.

Run as a script (``python -m tests.helpers.decisions PERSONS SEED``) it prints the digest of
the decisions: the tests run it in a process of its own with the compiled modules turned off.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import defaultdict

from customer_card.matching.blocking import block_keys, window_of
from customer_card.matching.config import load_config
from customer_card.matching.decide import Candidate, Matcher
from customer_card.matching.frequency import Frequencies
from customer_card.matching.profile import Profile, profile_of
from customer_card.paths import resources_dir
from sync.demo import DemoConfig, DemoGenerator
from sync.records import RecordKind


def decisions(persons: int, seed: int) -> list[str]:
    """One line per customer record: its decision against the newest records of its block
    keys, with every probability and piece of evidence."""
    config = load_config(resources_dir() / "matching.toml")
    matcher = Matcher(config)
    counts = Frequencies()
    blocks: dict[str, list[int]] = defaultdict(list)
    profiles: list[Profile] = []
    clusters: list[int] = []
    out: list[str] = []
    for record in DemoGenerator(DemoConfig(customers=persons, seed=seed)).records():
        if record.kind != RecordKind.CUSTOMER or record.deleted:
            continue
        seq = len(profiles)
        profile = profile_of(dict(record.fields or {}), "FR")
        keys = block_keys(profile)
        found: set[int] = set()
        for key in keys:
            held = blocks[key]
            found.update(held[len(held) - window_of(key, len(held), 30, 60, 30) :])
        candidates = [
            Candidate(c, clusters[c], profiles[c], ("demo", str(c))) for c in sorted(found)
        ]
        decision = matcher.decide(profile, candidates, seq, (), counts)
        counts.add(profile)
        proposals = [decision.link, *decision.suggestions]
        out.append(
            json.dumps(
                [
                    seq,
                    [
                        None
                        if p is None
                        else [p.cluster, repr(p.probability), p.reason, p.evidence]
                        for p in proposals
                    ],
                ],
                sort_keys=True,
                default=str,
            )
        )
        profiles.append(profile)
        clusters.append(decision.link.cluster if decision.link else seq)
        for key in keys:
            blocks[key].append(seq)
    return out


def digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


if __name__ == "__main__":
    sys.stdout.write(digest(decisions(int(sys.argv[1]), int(sys.argv[2]))) + "\n")
