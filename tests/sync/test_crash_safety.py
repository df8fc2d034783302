"""A sync killed mid-run (SIGKILL) resumes without loss or duplicates: the cache after the rerun
equals the cache of one clean run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from customer_card.services.demo_files import export_demo
from customer_card.store import models as m
from customer_card.store.cache import Unlock, open_cache

PASSPHRASE = "crash test passphrase"


def sync_command(db: Path, sources: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "customer_card.cli",
        "--db",
        str(db),
        "--sources",
        str(sources),
        "sync",
        "run",
    ]


def run_to_end(db: Path, sources: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        sync_command(db, sources),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def snapshot(db: Path) -> dict[str, object]:
    """Everything that must match: each table's records by their source keys, and which
    source records were grouped into one customer."""
    database = open_cache(db, None, Unlock(passphrase=PASSPHRASE)).database
    try:
        with database.read() as session:
            sr = session.execute(
                select(
                    m.SourceRecord.source,
                    m.SourceRecord.source_id,
                    m.SourceRecord.customer_id,
                    m.SourceRecord.content_hash,
                    m.SourceRecord.deleted,
                )
            ).all()
            groups: dict[int, set[tuple[str, str]]] = {}
            for source, sid, cid, _, _ in sr:
                groups.setdefault(cid, set()).add((source, sid))
            interactions = session.execute(
                select(m.Interaction.source, m.Interaction.source_id, m.Interaction.content_hash)
            ).all()
            consents = session.execute(
                select(m.Consent.source, m.Consent.source_id, m.Consent.content_hash)
            ).all()
            quarantine = session.execute(
                select(m.Quarantine.source, m.Quarantine.source_id, m.Quarantine.reason)
            ).all()
            states = session.execute(
                select(m.SyncState.source, m.SyncState.stream, m.SyncState.state)
            ).all()
        return {
            "records": sorted((s, i, h, d) for s, i, _, h, d in sr),
            "groups": sorted(sorted(g) for g in groups.values()),
            "interactions": sorted(tuple(r) for r in interactions),
            "interaction_count": len(interactions),
            "consents": sorted(tuple(r) for r in consents),
            "quarantine": sorted(tuple(map(str, r)) for r in quarantine),
            "states": sorted((s, n, st.get("fingerprint"), st.get("done")) for s, n, st in states),
        }
    finally:
        database.dispose()


@pytest.mark.slow
def test_killed_sync_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    # Enough customers for the CRM's customers stream to take two transactions.
    rows = export_demo(exports, customers=700, seed=5)
    sources = exports / "sources.toml"
    env = {**os.environ, "CUSTOMER_CARD_PASSPHRASE": PASSPHRASE}

    killed = tmp_path / "killed.db"
    process = subprocess.Popen(
        sync_command(killed, sources),
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    killed_at = ""
    for line in process.stderr:
        # One line per committed batch ("progress crm/customers: 500 records (500 in all)");
        # kill at the first that leaves its stream half-read.
        found = re.match(r"progress (\w+)/(\w+): ([\d,]+) records", line)
        if found and int(found[3].replace(",", "")) < rows[f"{found[1]}-{found[2]}.csv"]:
            killed_at = line
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    process.stderr.close()
    assert killed_at, "the sync ended before it could be killed in the middle of a stream"
    assert process.returncode == -signal.SIGKILL

    partial = snapshot(killed)
    run_to_end(killed, sources, env)
    clean = tmp_path / "clean.db"
    run_to_end(clean, sources, env)

    resumed = snapshot(killed)
    assert int(partial["interaction_count"]) > 0 or partial["records"]
    assert partial != resumed
    assert resumed == snapshot(clean)
