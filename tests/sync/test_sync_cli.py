"""The sync commands: run with a summary, status, quarantine with re-ingest after a fixed
mapping, secrets through the keychain, the outbox as JSON lines."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from keyring import get_password

from customer_card import cli
from customer_card.services.outbox import OutboxService
from customer_card.store.cache import Unlock, open_cache

PASSPHRASE = "cli test passphrase"
SOURCES = """
[sources.shop]
type = "csv"
[sources.shop.streams.customers]
kind = "customer"
file = "clients.csv"
id = "id"
[sources.shop.streams.customers.fields]
given_name = "prenom"
family_name = "nom"
birth_date = { column = "naissance", date = "%d/%m/%Y" }
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_status_quarantine_and_reingest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", PASSPHRASE)
    (tmp_path / "clients.csv").write_text(
        "id;prenom;nom;naissance\n1;Ana;Leroy;01/02/1990\n2;Léo;Petit;1990-03-04\n",
        encoding="utf-8",
    )
    (tmp_path / "sources.toml").write_text(SOURCES, encoding="utf-8")
    db = tmp_path / "cache.db"
    base = ("--db", str(db), "--sources", str(tmp_path / "sources.toml"))

    code, out, err = run(capsys, *base, "sync", "run", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["totals"]["inserted"] == 1
    assert summary["totals"]["quarantined"] == 1
    assert summary["streams"][0]["stream"] == "customers"

    code, out, _ = run(capsys, *base, "sync", "quarantine")
    assert code == 0
    assert "shop/customer  2: birth_date: unparseable date '1990-03-04'" in out

    code, out, _ = run(capsys, *base, "sync", "status")
    assert "shop/customers" in out
    assert "1 record(s) in quarantine" in out

    # The supervisor fixes the mapping; the kept row is re-ingested.
    fixed = SOURCES.replace('date = "%d/%m/%Y"', 'date = ["%d/%m/%Y", "%Y-%m-%d"]')
    (tmp_path / "sources.toml").write_text(fixed, encoding="utf-8")
    code, out, _ = run(capsys, *base, "sync", "quarantine", "--reingest")
    assert code == 0
    assert "re-ingested 1 record(s): 1 inserted" in out
    assert "quarantine is empty" not in out
    code, out, _ = run(capsys, *base, "sync", "quarantine")
    assert "quarantine is empty" in out

    code, out, _ = run(capsys, *base, "sync", "run")
    assert code == 0
    assert "shop/customers" in out
    assert "total" in out


def test_bad_sources_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", PASSPHRASE)
    (tmp_path / "sources.toml").write_text(SOURCES.replace('"csv"', '"fax"'), encoding="utf-8")
    code, _, err = run(
        capsys,
        "--db",
        str(tmp_path / "c.db"),
        "--sources",
        str(tmp_path / "sources.toml"),
        "sync",
        "run",
    )
    assert code == 1
    assert err.count("\n") == 1
    assert "sources.toml:3: [sources.shop.type] type is one of" in err


def test_set_secret_reads_stdin_and_never_prints_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("hunter2\n"))
    code, out, err = run(capsys, "sources", "set-secret", "crm-db")
    assert code == 0
    assert "hunter2" not in out + err
    assert get_password("customer-card-sources", "crm-db") == "hunter2"


def test_outbox_export_writes_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", PASSPHRASE)
    db = tmp_path / "cache.db"
    opened = open_cache(db, None, Unlock(passphrase=PASSPHRASE), create=True)
    outbox = OutboxService(opened.database)
    outbox.queue("note", customer_id=None, payload={"text": "rappeler"}, target_source="crm")
    outbox.queue("contact_correction", customer_id=None, payload={"phone": "+33600000000"})
    opened.database.dispose()

    target = tmp_path / "outbox.jsonl"
    code, out, _ = run(capsys, "--db", str(db), "outbox", "export", "--output", str(target))
    assert code == 0
    assert "2 outbox entries written" in out
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [x["action"] for x in lines] == ["note", "contact_correction"]
    assert lines[0]["format"] == "customer-card/outbox"
    assert lines[0]["target_source"] == "crm"
    assert target.stat().st_mode & 0o777 == 0o600, "personal data: owner only"
    # Exported entries are no longer pending: a second export is empty.
    code, out, _ = run(capsys, "--db", str(db), "outbox", "export", "--output", str(target))
    assert "0 outbox entries written" in out
    # A directory given as the output: one line, nothing left behind.
    code, _, err = run(capsys, "--db", str(db), "outbox", "export", "--output", str(tmp_path))
    assert code == 1
    assert err.count("\n") == 1
    assert "is a directory" in err
    assert not list(tmp_path.glob(".*"))
