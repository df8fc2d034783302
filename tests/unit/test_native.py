"""The compiled matching (``customer_card.native``): used only while built from exactly the
current sources, and deciding exactly as the sources do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from customer_card import native
from tests.helpers.decisions import decisions, digest

ROOT = Path(__file__).resolve().parents[2]
MODEL = "customer_card/matching/model.py"


def _fake_build(root: Path, name: str, digest_: str, sources: list[str]) -> Path:
    directory = root / name
    directory.mkdir(parents=True)
    (directory / "compare.so").write_bytes(b"")
    files = {"customer_card.matching.compare": "compare.so"}
    manifest = {"digest": digest_, "sources": sources, "files": files}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's packages, which ``native`` takes for its sources."""
    for package in ("customer_card", "sync"):
        shutil.copytree(
            ROOT / package, tmp_path / "src" / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    monkeypatch.setattr(native, "_PACKAGE", tmp_path / "src" / "customer_card")
    return tmp_path / "src"


def test_the_sources_are_what_mypyc_reads_for_the_compiled_modules() -> None:
    sources = native.sources()
    for module in native.MODULES:
        assert module.replace(".", "/") + ".py" in sources
    # What they import for types (a profile's field types are checked at run time), and
    # the packages around them; nothing they do not reach.
    for needed in (
        "customer_card/matching/profile.py",
        "customer_card/matching/outcome.py",
        "customer_card/matching/normalise.py",
        "customer_card/matching/__init__.py",
        "customer_card/__init__.py",
        "sync/mapping.py",
    ):
        assert needed in sources
    assert not any(s.startswith(("customer_card/ui/", "customer_card/services/")) for s in sources)


def test_a_build_of_other_sources_is_not_used(tmp_path: Path) -> None:
    sources = native.sources()
    _fake_build(tmp_path, "old", "0" * 64, sources)
    assert native.current(tmp_path) is None
    fresh = _fake_build(tmp_path, "fresh", native.digest(sources), sources)
    assert native.current(tmp_path) == (fresh, {"customer_card.matching.compare": "compare.so"})


def test_editing_a_module_the_compiled_ones_import_makes_their_build_stale(
    checkout: Path, tmp_path: Path
) -> None:
    sources = native.sources()
    _fake_build(tmp_path / "builds", "b", native.digest(sources), sources)
    assert native.current(tmp_path / "builds") is not None
    profile = checkout / "customer_card" / "matching" / "profile.py"  # (not compiled itself)
    profile.write_text(profile.read_text() + "\n# edited\n")
    assert native.current(tmp_path / "builds") is None


def test_a_half_written_or_missing_build_is_not_used(tmp_path: Path) -> None:
    assert native.current(tmp_path / "none") is None
    sources = native.sources()
    half = _fake_build(tmp_path / "a", "half", native.digest(sources), sources)
    (half / "compare.so").unlink()
    assert native.current(tmp_path / "a") is None
    (tmp_path / "b" / "garbled").mkdir(parents=True)
    (tmp_path / "b" / "garbled" / "manifest.json").write_text('{"digest": ')
    assert native.current(tmp_path / "b") is None


def test_the_modules_are_not_swapped_once_imported(tmp_path: Path) -> None:
    # (This process imported them long ago: a new build is for the next process.)
    sources = native.sources()
    _fake_build(tmp_path, "fresh", native.digest(sources), sources)
    assert not native.install(tmp_path)


@pytest.mark.skipif(native._cannot_build() is not None, reason="no compiler: plain Python")
def test_where_a_build_can_be_made_the_matching_runs_compiled() -> None:
    # packaging/setup-dev.sh builds it (the test set-up fails if that fails).
    assert native.current() is not None, "run: python packaging/build_native.py"
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
    checkout: Path, tmp_path: Path
) -> None:
    model = checkout / MODEL
    model.write_text(model.read_text() + "\n\ndef broken() -> int:\n    return 'not a number'\n")
    builds = tmp_path / "builds"
    previous = _fake_build(builds, "previous", "0" * 64, [MODEL])
    with pytest.raises(native.BuildError, match=r"model\.py.*Incompatible return value"):
        native.build(builds)
    assert sorted(p.name for p in builds.iterdir()) == [".lock", "previous"]  # nothing half-built
    assert json.loads((previous / "manifest.json").read_text())["digest"] == "0" * 64
