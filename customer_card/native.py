"""Compiled copies of the matching's hot path, used only while they match their sources.

Deciding a record compares it with each of its candidates through a few hundred lines of
Python (:mod:`customer_card.matching.compare`, ``decide``, ``model``, ``link``, ``frequency``,
``blocking``): most of a ``match run`` and a fifth of a sync's customer pass. mypyc compiles
those same modules to C extensions, which decide alike (the same code, the same floats) in a
quarter to a third less time. Not ``profile``: its frozen dataclass, compiled, cannot be
unpickled, and profiles travel between a sync's processes.

It needs a C compiler, so it is optional: ``python packaging/build_native.py`` builds them
(``packaging/setup-dev.sh`` does, where it can) into ``build/native/`` beside the package,
with a manifest of the sources they were built from. At import, ``install`` serves the
compiled modules only when every source is exactly the one they were built from: an edited
source is used as it is, never shadowed by an older build. ``CUSTOMER_CARD_PURE_PYTHON=1``
keeps to the sources whatever is built.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

MODULES = (
    "customer_card.matching.blocking",
    "customer_card.matching.compare",
    "customer_card.matching.decide",
    "customer_card.matching.frequency",
    "customer_card.matching.link",
    "customer_card.matching.model",
)
PURE_ENV = "CUSTOMER_CARD_PURE_PYTHON"
_MANIFEST = "manifest.json"
_PACKAGE = Path(__file__).resolve().parent


def build_dir() -> Path:
    """Where this interpreter's build goes: ``build/native/<platform tag>`` beside the
    package (in a checkout, at the project's top)."""
    tag = sysconfig.get_config_var("SOABI") or sys.implementation.cache_tag
    return _PACKAGE.parent / "build" / "native" / str(tag)


def digest(modules: Sequence[str] = MODULES) -> str:
    """What a build is valid for: the interpreter and every compiled module's source."""
    h = hashlib.sha256(sys.version.encode())
    for name in modules:
        h.update(name.encode())
        h.update(_source(name).read_bytes())
    return h.hexdigest()


def _source(name: str) -> Path:
    return _PACKAGE.parent.joinpath(*name.split(".")).with_suffix(".py")


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the compiled modules (and mypyc's shared runtime module) in a build."""

    def __init__(self, directory: Path, files: dict[str, str]) -> None:
        self.directory = directory
        self.files = files

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        file = self.files.get(fullname)
        if file is None:
            return None
        return importlib.util.spec_from_file_location(fullname, self.directory / file)


def _built(directory: Path) -> dict[str, str] | None:
    """The files of the build in ``directory`` if it is one of the current sources."""
    try:
        manifest = json.loads((directory / _MANIFEST).read_text(encoding="utf-8"))
        files = {str(name): str(file) for name, file in manifest["files"].items()}
        if manifest["digest"] != digest():
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # no build here, or half of one
    return files if all((directory / file).is_file() for file in files.values()) else None


def install(directory: Path | None = None) -> bool:
    """Serve the compiled modules from ``directory`` (``build_dir()``) if it holds a build of
    the current sources and none of them is imported yet; True if it does."""
    if os.environ.get(PURE_ENV) or any(name in sys.modules for name in MODULES):
        return False
    files = _built(directory or build_dir())
    if files is None:
        return False
    sys.meta_path.insert(0, _Finder(directory or build_dir(), files))
    return True


def compiled() -> bool:
    """Whether the matching runs compiled in this process."""
    module = sys.modules.get(MODULES[0])
    loader = getattr(module, "__loader__", None)
    return isinstance(loader, importlib.machinery.ExtensionFileLoader)


class BuildError(Exception):
    pass


def build(directory: Path | None = None) -> bool:
    """Compile ``MODULES`` with mypyc into ``directory`` (``build_dir()``); False when the
    build there is already of the current sources. A copy of the package is compiled in a
    temporary directory (mypyc writes its output beside the sources) and the result replaces
    the old build whole, so a build interrupted half-way leaves the old one or none."""
    directory = directory or build_dir()
    if _built(directory) is not None:
        return False
    wanted = digest()
    directory.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="customer-card-native-") as tmp:
        work = Path(tmp)
        # (With ``sync``, which the compiled modules' imports reach for types.)
        for package in (_PACKAGE, _PACKAGE.parent / "sync"):
            if package.is_dir():
                shutil.copytree(
                    package,
                    work / package.name,
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"),
                )
        paths = [str(_source(name).relative_to(_PACKAGE.parent)) for name in MODULES]
        done = subprocess.run(
            [sys.executable, "-m", "mypyc", *paths],
            cwd=work,
            capture_output=True,
            text=True,
            env={**os.environ, "MYPYC_OPT_LEVEL": "3"},
            check=False,
        )
        if done.returncode != 0:
            raise BuildError(_last_lines(done.stdout + done.stderr))
        suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
        files = {name: name.split(".")[-1] + suffix for name in MODULES}
        files.update({p.name[: -len(suffix)]: p.name for p in work.glob(f"*__mypyc{suffix}")})
        staged = Path(tempfile.mkdtemp(prefix=directory.name + ".", dir=directory.parent))
        for name, file in files.items():
            built = work.joinpath(*name.split(".")[:-1], file) if name in MODULES else work / file
            shutil.copy2(built, staged / file)
        (staged / _MANIFEST).write_text(
            json.dumps({"digest": wanted, "files": files}, indent=1), encoding="utf-8"
        )
    old = directory.with_name(directory.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        directory.rename(old)
    staged.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
    return True


def _last_lines(text: str, n: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status 0 when a current build is in place, 1 when building failed, 2 when there
    is no C compiler to build with."""
    parser = argparse.ArgumentParser(
        prog="python packaging/build_native.py",
        description="Compile the matching's hot path with mypyc (optional: needs a C compiler).",
    )
    parser.add_argument("--status", action="store_true", help="say whether a current build exists")
    args = parser.parse_args(argv)
    directory = build_dir()
    if args.status:
        state = "current" if _built(directory) is not None else "missing or out of date"
        print(f"compiled matching in {directory}: {state}")
        return 0
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        _say(f"no C compiler ({compiler}) found: the matching runs as plain Python")
        return 2
    if _built(directory) is not None:
        return 0
    _say("compiling the matching with mypyc (about 30 s, once per change of its sources)...")
    try:
        build(directory)
    except BuildError as error:
        _say(f"compiling the matching failed, it runs as plain Python:\n{error}")
        return 1
    return 0


def _say(text: str) -> None:
    print(f"customer-card: {text}", file=sys.stderr)
