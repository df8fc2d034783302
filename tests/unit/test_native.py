"""The compiled matching (``customer_card.native``): used only while built from exactly the
current sources, and deciding exactly as the sources do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from customer_card import native
from tests.helpers.decisions import decisions, digest

ROOT = Path(__file__).resolve().parents[2]


def _manifest(directory: Path, digest_: str) -> None:
    directory.mkdir(parents=True)
    (directory / "compare.so").write_bytes(b"")
    files = {"customer_card.matching.compare": "compare.so"}
    (directory / "manifest.json").write_text(json.dumps({"digest": digest_, "files": files}))


def test_a_build_of_other_sources_is_not_used(tmp_path: Path) -> None:
    _manifest(tmp_path / "old", "0" * 64)
    assert native._built(tmp_path / "old") is None
    _manifest(tmp_path / "current", native.digest())
    assert native._built(tmp_path / "current") == {"customer_card.matching.compare": "compare.so"}


def test_a_half_written_or_missing_build_is_not_used(tmp_path: Path) -> None:
    assert native._built(tmp_path / "none") is None
    _manifest(tmp_path / "half", native.digest())
    (tmp_path / "half" / "compare.so").unlink()
    assert native._built(tmp_path / "half") is None
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "manifest.json").write_text('{"digest": ')
    assert native._built(tmp_path / "garbled") is None


def test_an_edited_source_changes_the_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "customer_card"
    shutil.copytree(ROOT / "customer_card", package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(native, "_PACKAGE", package)
    before = native.digest()
    compare = package / "matching" / "compare.py"
    compare.write_text(compare.read_text() + "\n# edited\n")
    assert native.digest() != before


def test_the_modules_are_not_swapped_once_imported(tmp_path: Path) -> None:
    # (This process imported them long ago: a new build is for the next process.)
    _manifest(tmp_path / "current", native.digest())
    assert not native.install(tmp_path / "current")


@pytest.mark.skipif(
    shutil.which((sysconfig.get_config_var("CC") or "cc").split()[0]) is None,
    reason="no C compiler: the matching runs as plain Python",
)
def test_where_a_compiler_is_found_the_matching_runs_compiled() -> None:
    # packaging/setup-dev.sh builds it (the test set-up fails if that fails).
    assert native._built(native.build_dir()) is not None, "run: python packaging/build_native.py"
    assert native.compiled() or os.environ.get(native.PURE_ENV)


def test_compiled_and_pure_python_decide_alike() -> None:
    lines = decisions(400, 7)
    # Links and suggestions both, with their evidence: the whole decision is compared.
    assert sum('"shares ' in line for line in lines) > 50
    assert sum('"probable match' in line or " but " in line for line in lines) > 5
    here = digest(lines)
    env = {**os.environ, native.PURE_ENV: "1", "PYTHONPATH": str(ROOT)}
    pure = subprocess.run(
        [sys.executable, "-m", "tests.helpers.decisions", "400", "7"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert pure.stdout.strip() == here


def test_a_failed_build_says_why_and_leaves_the_previous_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "src" / "customer_card"
    shutil.copytree(ROOT / "customer_card", package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        ROOT / "sync", tmp_path / "src" / "sync", ignore=shutil.ignore_patterns("__pycache__")
    )
    model = package / "matching" / "model.py"
    model.write_text(model.read_text() + "\n\ndef broken() -> int:\n    return 'not a number'\n")
    monkeypatch.setattr(native, "_PACKAGE", package)
    previous = tmp_path / "build"
    _manifest(previous, "0" * 64)  # (of other sources)
    with pytest.raises(native.BuildError, match=r"model\.py.*Incompatible return value"):
        native.build(previous)
    assert json.loads((previous / "manifest.json").read_text())["digest"] == "0" * 64
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build", "src"]  # nothing half-built
