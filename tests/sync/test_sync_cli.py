"""The sync commands: run with a summary, status, quarantine with re-ingest after a fixed
mapping, secrets through the keychain, the outbox as JSON lines."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from keyring import get_password

from customer_card import cli
from customer_card.services.outbox import OutboxService
from customer_card.store.cache import Unlock, open_cache
from tests.helpers.processes import gone
from tests.sync.conftest import WRAPPER
from tests.sync.test_singer_source import STREAMS  # the fake tap's streams, mapped

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


def test_reingest_counts_rows_still_rejected_and_tells_the_reason_of_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row the mapping still rejects stays in quarantine once, with what is wrong now, and
    the re-ingest says so instead of 're-ingested 0 record(s)'."""
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", PASSPHRASE)
    (tmp_path / "clients.csv").write_text(
        "id;prenom;nom;naissance\n1;Ana;Leroy;01/02/1990\n2;Léo;Petit;1990-03-04\n",
        encoding="utf-8",
    )
    sources = tmp_path / "sources.toml"
    sources.write_text(SOURCES, encoding="utf-8")
    base = ("--db", str(tmp_path / "cache.db"), "--sources", str(sources))
    code, _, err = run(capsys, *base, "sync", "run")
    assert code == 0, err

    code, out, _ = run(capsys, *base, "sync", "quarantine", "--reingest")
    assert code == 0
    assert "re-ingested 1 record(s): 0 inserted, 0 updated, 0 unchanged, 1 still quarantined" in out
    assert out.count("shop/customer  2: ") == 1
    assert "(expected %d/%m/%Y)" in out

    # A second guess at the format, still wrong: the row now says what this mapping expects.
    sources.write_text(SOURCES.replace("%d/%m/%Y", "%Y/%m/%d"), encoding="utf-8")
    code, out, _ = run(capsys, *base, "sync", "quarantine", "--reingest")
    assert code == 0
    assert "1 still quarantined" in out
    code, out, _ = run(capsys, *base, "sync", "quarantine", "--json")
    rows = json.loads(out)
    assert [(r["source_id"], r["reason"]) for r in rows] == [
        ("2", "birth_date: unparseable date '1990-03-04' (expected %Y/%m/%d)")
    ]


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


def test_the_quarantine_can_be_read_without_a_usable_sources_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It is where a supervisor looks when the sources file is broken; re-ingesting needs it."""
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", PASSPHRASE)
    (tmp_path / "clients.csv").write_text("id;prenom;nom;naissance\n;Ana;Leroy;\n", "utf-8")
    sources = tmp_path / "sources.toml"
    sources.write_text(SOURCES, encoding="utf-8")
    base = ("--db", str(tmp_path / "cache.db"), "--sources", str(sources))
    code, _, err = run(capsys, *base, "sync", "run")
    assert code == 0, err

    broken = SOURCES + "\n[broken\n"
    sources.write_text(broken, encoding="utf-8")
    code, out, err = run(capsys, *base, "sync", "quarantine")
    assert code == 0, err
    assert "shop/customer  (no id): no id" in out
    code, _, err = run(capsys, *base, "sync", "quarantine", "--reingest")
    assert code == 1
    line = broken.splitlines().index("[broken") + 1
    assert f"{sources}:{line}: not valid TOML" in err


def test_a_file_with_nothing_to_run_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", PASSPHRASE)
    sources = tmp_path / "sources.toml"
    sources.write_text(SOURCES.replace('type = "csv"', 'type = "csv"\nenabled = false'), "utf-8")
    code, out, err = run(
        capsys, "--db", str(tmp_path / "c.db"), "--sources", str(sources), "sync", "run"
    )
    assert (code, out) == (1, "")
    assert err == f"customer-card: {sources}: no enabled source to run\n"


@pytest.mark.parametrize("wrapped", [False, True], ids=["tap", "tap-behind-a-wrapper"])
@pytest.mark.parametrize("ending", ["ctrl-c", "sigterm"])
def test_ctrl_c_during_a_sync_is_one_line_and_the_next_run_resumes(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    wrapped: bool,
    ending: str,
) -> None:
    """The tap runs in a process group of its own (so that a cancel ends what a wrapper
    started): a terminal's Ctrl-C reaches only the sync, which ends the tap on its way out.
    So does a SIGTERM to the sync alone (``timeout``, a scheduler stopping the job)."""
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", PASSPHRASE)
    tap = Path(__file__).with_name("fake_tap.py")
    (tmp_path / "tap.json").write_text('{"api_key": "tap-key"}', encoding="utf-8")
    pid_file = tmp_path / "tap.pid"
    # One committed batch of customers (500) before the tap stops to wait.
    command = [sys.executable, str(tap), "--config", str(tmp_path / "tap.json"), "--extra", "488"]
    sources = tmp_path / "sources.toml"
    hanging = json.dumps([*(WRAPPER if wrapped else []), *command, "--hang", str(pid_file)])
    sources.write_text(
        f'[sources.eshop]\ntype = "singer"\ncommand = {hanging}\n' + STREAMS,
        encoding="utf-8",
    )
    base = ("--db", str(tmp_path / "cache.db"), "--sources", str(sources))
    process = subprocess.Popen(
        [sys.executable, "-m", "customer_card.cli", *base, "sync", "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as in a terminal
        # As in a terminal, Ctrl-C is not ignored: a job started in the background (a CI
        # runner's) inherits SIGINT ignored, and Python then never installs its handler.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stderr is not None
        # The tap has sent its customers and waits; the sync has committed them and waits too.
        for line in process.stderr:
            if line.startswith("progress eshop/tap: "):
                break
        else:
            pytest.fail("the sync never reported progress")
        deadline = time.monotonic() + 30
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        tap_pid = int(pid_file.read_text(encoding="utf-8"))
        if ending == "ctrl-c":
            os.killpg(process.pid, signal.SIGINT)  # the terminal's foreground group
        else:
            os.kill(process.pid, signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert (out, err) == ("", "customer-card: interrupted\n")
    deadline = time.monotonic() + 5  # (a wrapper's tap is reaped by whoever adopts it)
    while not gone(tap_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not gone(tap_pid):
        os.kill(tap_pid, signal.SIGKILL)
        pytest.fail("the tap outlived the interrupted sync")

    # The next run starts from the tap's last committed state: nothing lost, nothing twice.
    sources.write_text(
        f'[sources.eshop]\ntype = "singer"\ncommand = {json.dumps(command)}\n' + STREAMS,
        encoding="utf-8",
    )
    code, out, err = run(capsys, *base, "sync", "run", "--json")
    assert code == 0, err
    totals = json.loads(out)["totals"]
    assert totals["read"] < 500 + 20, "resumed, not started again"
    assert totals["quarantined"] == 0
    code, out, _ = run(capsys, *base, "info", "--json")
    assert json.loads(out)["sources"]["eshop"] == {
        "customers": 500,
        "interactions": 20,
        "consents": 0,
    }


def test_a_failed_source_is_one_line_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not also the runner's log of it (in a real process: pytest captures logging)."""
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", PASSPHRASE)
    sources = tmp_path / "sources.toml"
    sources.write_text(SOURCES, encoding="utf-8")  # clients.csv is missing
    base = ["--db", str(tmp_path / "c.db"), "--sources", str(sources)]
    result = subprocess.run(
        [sys.executable, "-m", "customer_card.cli", *base, "sync", "run"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 1
    assert "FAILED" in result.stdout
    missing = tmp_path / "clients.csv"
    assert (
        result.stderr == f"customer-card: source shop failed: shop/customers: no file {missing}\n"
    )
