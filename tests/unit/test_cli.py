"""The headless commands: output shapes, exit statuses, one-line errors."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from customer_card import app, cli
from tests.conftest import DEMO_SEED, TEST_PASSPHRASE


@pytest.fixture
def demo_db(demo_cache_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", TEST_PASSPHRASE)
    return demo_cache_file


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_search_json_has_the_documented_shape(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--db", str(demo_db), "search", "Jocelyne Michu", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["format"] == "customer-card/search"
    assert payload["version"] == 1
    first = payload["results"][0]
    assert first["name"] == "Jocelyne Michu"
    assert set(first) == {
        "id",
        "name",
        "city",
        "birth_year",
        "loyalty_tier",
        "vip",
        "last_contact_at",
        "sources",
        "matched",
        "score",
    }


def test_show_json_round_trips_a_search_hit(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "--db", str(demo_db), "search", "michu jocelyne", "--json")
    public_id = json.loads(out)["results"][0]["id"]
    code, out, _ = run(capsys, "--db", str(demo_db), "show", public_id, "--json")
    assert code == 0
    card = json.loads(out)
    assert card["format"] == "customer-card/card"
    assert card["customer"]["public_id"] == public_id
    assert card["customer"]["family_name"] == "Michu"
    assert card["contact_points"], "contact points with their provenance"
    assert all(cp["provenance"] for cp in card["contact_points"])
    assert card["latest_interactions"], "the latest interactions, newest first"
    stamps = [i["occurred_at"] for i in card["latest_interactions"]]
    assert stamps == sorted(stamps, reverse=True)
    assert card["products"], "Jocelyne's orders carry lines"
    assert card["products_total"] >= len(card["products"])
    bought = [p["last_bought_at"] for p in card["products"]]
    assert bought == sorted(bought, reverse=True)
    assert all(p["name"] and p["quantity"] > 0 and p["last_source"] for p in card["products"])


def test_info_counts_every_table(demo_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--db", str(demo_db), "info", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["schema_version"]
    assert info["tables"]["customer"] > 0
    assert info["tables"]["interaction"] > 0
    assert set(info["sources"]) == {"crm", "eshop", "loyalty", "support", "social"}


def test_unknown_customer_is_a_one_line_error(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--db", str(demo_db), "show", "CZZZZZZZZ")
    assert code == cli.EXIT_NOT_FOUND
    assert out == ""
    assert err.count("\n") == 1
    assert "no customer" in err


def test_missing_cache_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--db", str(tmp_path / "nope.db"), "info")
    assert code == cli.EXIT_ERROR
    assert err.count("\n") == 1
    assert "No cache" in err
    assert not (tmp_path / "nope.db").exists(), "a missing cache is never created by a read"


def test_wrong_passphrase_is_a_one_line_error(
    demo_db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMER_CARD_PASSPHRASE", "not the passphrase")
    before = demo_db.read_bytes()
    code, _, err = run(capsys, "--db", str(demo_db), "search", "michu")
    assert code == cli.EXIT_ERROR
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert demo_db.read_bytes() == before


def test_demo_builds_once_then_reuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "demo.db"
    args = ["--db", str(db), "demo", "--customers", "40", "--seed", str(DEMO_SEED), "--no-window"]
    code, _, err = run(capsys, *args)
    assert code == 0
    assert "demo cache built" in err
    assert (tmp_path / "demo-truth.csv").exists(), "ground truth kept for measuring matching"
    code, _, err = run(capsys, *args)
    assert code == 0
    assert "demo cache built" not in err, "an existing demo cache is reused"


def test_demo_refuses_a_cache_that_is_not_a_demo(
    database: object, cache_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--db", str(cache_path), "demo", "--no-window")
    assert code == cli.EXIT_ERROR
    assert "not a demo cache" in err


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--customers", "zero"])
    assert exit_info.value.code == 2


def test_console_script_runs_headless_in_a_subprocess(demo_db: Path) -> None:
    """The real entry point, as a telephony script would call it."""
    result = subprocess.run(
        [sys.executable, "-m", "customer_card", "--db", str(demo_db), "search", "@jocelynemichu"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Michu" in result.stdout


def test_global_options_work_after_the_command(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "search", "Jocelyne Michu", "--db", str(demo_db), "--json")
    assert code == 0
    assert json.loads(out)["results"][0]["name"] == "Jocelyne Michu"


EXPORTS = [("links", "export"), ("suggestions", "export"), ("outbox", "export", "--all", "--keep")]


@pytest.mark.parametrize("command", EXPORTS)
def test_an_export_into_a_pipe_is_written_into_it_and_its_summary_goes_to_stderr(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    """``--output /dev/stdout`` or a shell's ``>(gzip > f)`` is a pipe: the export goes into
    it (moving a file over it would replace the pipe, or as root ``/dev/full`` itself), and the
    one-line summary goes to stderr, where it cannot end up inside the data."""
    expected = tmp_path / "expected"
    assert run(capsys, "--db", str(demo_db), *command, "--output", str(expected))[0] == 0
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()), daemon=True)
    reader.start()
    try:
        code, out, err = run(capsys, "--db", str(demo_db), *command, "--output", str(pipe))
    finally:
        if reader.is_alive():  # the export never opened the pipe: end the reader's wait
            with suppress(OSError):
                os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=30)
    assert code == 0
    assert received == [expected.read_bytes()]
    if command[0] != "outbox":  # (the demo cache has no outbox entries)
        assert received[0].count(b"\n") > 1
    assert out == ""
    assert err.endswith(f" written to {pipe}\n")
    assert pipe.is_fifo(), "still the pipe it was"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="Linux's always-full device")
def test_an_export_into_a_full_device_is_one_clear_error_and_the_device_stays(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--db", str(demo_db), "links", "export", "--output", "/dev/full")
    assert code == cli.EXIT_ERROR
    assert err == "customer-card: cannot write /dev/full: No space left on device\n"
    assert out == ""
    assert stat.S_ISCHR(Path("/dev/full").stat().st_mode)


def test_an_export_over_a_link_replaces_the_link_never_its_target(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A link planted where an export goes (a shared directory) must not get the export
    written into whatever it points at."""
    target = tmp_path / "elsewhere" / "authorized_keys"
    target.parent.mkdir()
    target.write_text("precious\n")
    link = tmp_path / "links.csv"
    link.symlink_to(target)
    code, out, _ = run(capsys, "--db", str(demo_db), "links", "export", "--output", str(link))
    assert code == 0
    assert out.endswith(f" written to {link}\n")
    assert not link.is_symlink()
    assert link.read_text().startswith("source,")
    assert target.read_text() == "precious\n"


def test_an_export_to_stdout_appended_to_a_file_keeps_what_the_file_held(
    demo_db: Path, tmp_path: Path
) -> None:
    """``--output /dev/stdout >> exports.csv``: stdout is a file opened for appending; opened
    again by name (or replaced) it would lose what it held."""
    exports = tmp_path / "exports.csv"
    exports.write_text("earlier export\n")
    command = [sys.executable, "-m", "customer_card", "--db", str(demo_db), "links", "export"]
    with exports.open("a") as appended:
        done = subprocess.run(
            [*command, "--output", "/dev/stdout"],
            stdout=appended,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, CUSTOMER_CARD_PASSPHRASE=TEST_PASSPHRASE),
            check=False,
        )
    assert done.returncode == 0, done.stderr
    text = exports.read_text()
    assert text.startswith("earlier export\nsource,source_id,customer_id\n")
    assert done.stderr.endswith(" links written to /dev/stdout\n")


def test_an_outbox_export_into_a_pipe_needs_keep(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exported entries are marked, and a pipe cannot tell whether they were read."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    code, out, err = run(capsys, "--db", str(demo_db), "outbox", "export", "--output", str(pipe))
    assert code == cli.EXIT_ERROR
    assert "add --keep" in err
    assert err.count("\n") == 1
    assert out == ""


@pytest.mark.parametrize(
    ("kind", "device"), [("block", os.makedev(0, 0)), ("character", os.makedev(1, 5))]
)
def test_an_export_onto_a_disk_or_other_device_is_refused(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, device: int
) -> None:
    """A raw disk is a block device on Linux and a character one on macOS: only pipes,
    terminals, /dev/null and /dev/full are written into."""
    node = tmp_path / "disk"
    mode = stat.S_IFBLK if kind == "block" else stat.S_IFCHR
    try:  # a node of no disk (block 0:0) or of /dev/zero: harmless even if this test failed
        os.mknod(node, 0o600 | mode, device)
    except PermissionError:
        pytest.skip("making a device node needs root")
    code, out, err = run(capsys, "--db", str(demo_db), "links", "export", "--output", str(node))
    assert code == cli.EXIT_ERROR
    assert err == f"customer-card: {node} is a device or other special file; give a file name\n"
    assert out == ""
    assert node.is_block_device() if kind == "block" else node.is_char_device()


def test_an_interrupted_demo_build_is_finished_by_the_next_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The window's first start builds the demo; closed half-way, the next start finishes it
    (ingest is idempotent) instead of opening a half-built cache for good."""
    db = tmp_path / "demo.db"
    assert app.demo_unfinished(db), "nothing there yet"
    args = ["--db", str(db), "demo", "--customers", "40", "--seed", str(DEMO_SEED), "--no-window"]
    assert run(capsys, *args)[0] == 0
    assert not app.demo_unfinished(db)
    marker = app.demo_marker(db)
    marker.write_text(marker.read_text().replace('"complete": true', '"complete": false'))
    assert app.demo_unfinished(db)


def test_a_cache_that_is_not_a_demo_is_never_built_over(database: object, cache_path: Path) -> None:
    assert not app.demo_unfinished(cache_path)


def test_a_first_start_killed_while_the_cache_is_created_is_still_a_demo_to_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the file exists but before anything else: the next start must finish the
    demo, not take the file for a user's cache (which the demo passphrase would not open)."""
    db = tmp_path / "demo.db"
    real_open = app.open_services

    def killed(path: Path, **options: Any) -> app.Services:
        real_open(path, **options).close()
        raise KeyboardInterrupt  # as a kill at that point would end the build

    monkeypatch.setattr(app, "open_services", killed)
    with pytest.raises(KeyboardInterrupt):
        app.ensure_demo(db, customers=40, seed=DEMO_SEED)
    assert db.exists()
    assert app.demo_unfinished(db)
    monkeypatch.setattr(app, "open_services", real_open)
    services, report = app.ensure_demo(db, customers=40, seed=DEMO_SEED)
    services.close()
    assert report is not None
    assert report.customers_created > 0
    assert not app.demo_unfinished(db)
