"""The demo cache: five simulated company systems, filled through the real ingest path."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from customer_card.services.demo_defaults import DEFAULT_CUSTOMERS, DEFAULT_SEED
from customer_card.services.ingest import IngestReport, IngestService
from customer_card.store.database import Database
from sync.demo import DemoConfig, DemoGenerator


def build_demo(
    database: Database,
    *,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    truth_path: Path | None = None,
    progress: Callable[[IngestReport], None] | None = None,
    batch_size: int = 5000,
) -> IngestReport:
    """Generate the demo systems' records and ingest them; write the ground truth (which source
    records are the same person) to ``truth_path`` when given, for measuring matching."""
    generator = DemoGenerator(DemoConfig(customers=customers, seed=seed))
    report = IngestService(database, batch_size=batch_size).ingest(
        generator.records(), progress=progress
    )
    if truth_path is not None:
        write_truth(generator, truth_path)
    return report


def write_truth(generator: DemoGenerator, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "source_id", "person"])
        writer.writerows(generator.truth())
