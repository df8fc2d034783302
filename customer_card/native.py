"""Compiled copies of the matching's hot path, used only while they match their sources.

Deciding a record compares it with each of its candidates through a few hundred lines of
Python (:mod:`customer_card.matching.compare`, ``decide``, ``model``, ``link``, ``frequency``,
``blocking``, and the ``profile`` they read): most of a ``match run`` and a fifth of a sync's
customer pass. mypyc compiles those same modules to C extensions, which decide alike (the
same code, the same floats) in a quarter to a third less time.

It needs a C compiler and Python's headers, so it is optional: ``python
packaging/build_native.py`` builds them (``packaging/setup-dev.sh`` does, where it can) under
``build/native/`` beside the package, with a manifest of the sources mypyc read (the compiled
modules and everything of the project they import). At import, ``install`` loads the compiled
modules only from a build of exactly those sources: an edited module is used as it is, never
shadowed by an older build. ``CUSTOMER_CARD_PURE_PYTHON=1`` keeps to the sources whatever is
built.

Compiled, the classes of these modules differ in one way the tests would not show: their
objects cannot be pickled or deep-copied, except ``Profile``, which a sync's extractor sends
to the writing process and which says so to mypyc (``mypyc_attr(serializable=True)``; mypyc
cannot restore a frozen dataclass, so it is not frozen). Nothing else crosses a process
boundary (match run's workers send plain tuples).
"""

from __future__ import annotations

import argparse
import ast
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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

try:
    import fcntl
except ImportError:  # (Windows: builds there do not take turns)
    fcntl = None  # type: ignore[assignment]

MODULES = (
    "customer_card.matching.blocking",
    "customer_card.matching.compare",
    "customer_card.matching.decide",
    "customer_card.matching.frequency",
    "customer_card.matching.link",
    "customer_card.matching.model",
    "customer_card.matching.profile",
)
PURE_ENV = "CUSTOMER_CARD_PURE_PYTHON"
_MANIFEST = "manifest.json"
_PACKAGE = Path(__file__).resolve().parent
_FIRST_PARTY = ("customer_card", "sync")
_KEEP_BUILDS = 3  # (switching branches back and forth finds its build still there)


def build_root() -> Path:
    """Where this interpreter's builds go: ``build/native/<platform tag>`` beside the package
    (in a checkout, at the project's top), one directory per digest of their sources."""
    tag = sysconfig.get_config_var("SOABI") or sys.implementation.cache_tag
    return _PACKAGE.parent / "build" / "native" / str(tag)


def sources() -> list[str]:
    """The project's modules mypyc reads to compile ``MODULES`` (as paths from the project's
    top): those, the modules they import, and so on, with the packages around them. What it
    compiles depends on all of them (a field's type in ``profile`` is checked at run time)."""
    top = _PACKAGE.parent
    seen: set[str] = set()
    wanted = list(MODULES)
    while wanted:
        name = wanted.pop()
        path = _module_path(top, name)
        if path is None or str(path) in seen:
            continue
        seen.add(str(path))
        parts = name.split(".")
        wanted.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # its packages
        tree = ast.parse(path.read_bytes())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                wanted.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                wanted.append(node.module)
                wanted.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return sorted(str(Path(p).relative_to(top)) for p in seen)


def _module_path(top: Path, name: str) -> Path | None:
    if name.split(".")[0] not in _FIRST_PARTY:
        return None
    base = top.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def digest(paths: Sequence[str]) -> str:
    """What a build is valid for: the interpreter and the sources it was compiled from."""
    top = _PACKAGE.parent
    h = hashlib.sha256(sys.version.encode())
    for path in paths:
        h.update(path.encode() + b"\0")
        h.update(hashlib.sha256((top / path).read_bytes()).digest())
    return h.hexdigest()


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


def _builds(root: Path) -> list[Path]:
    """The build directories under ``root``, newest first (staged ones and the lock aside)."""
    builds = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
    return sorted(builds, key=lambda d: d.stat().st_mtime, reverse=True)


def current(root: Path | None = None) -> tuple[Path, dict[str, str]] | None:
    """The build under ``root`` (``build_root()``) of exactly the current sources, with its
    files by module name; None when there is none."""
    try:
        builds = _builds(root or build_root())
    except OSError:
        return None
    for directory in builds:
        try:
            manifest = json.loads((directory / _MANIFEST).read_text(encoding="utf-8"))
            files = {str(name): str(file) for name, file in manifest["files"].items()}
            if manifest["digest"] != digest([str(p) for p in manifest["sources"]]):
                continue
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # half of one, or of sources since removed
        if all((directory / file).is_file() for file in files.values()):
            return directory, files
    return None


def install(root: Path | None = None) -> bool:
    """Load the compiled modules from the build of the current sources under ``root``
    (``build_root()``), if there is one and none of them is imported yet; True if it did.
    All of them at once: a process never mixes two builds, nor a build and the sources."""
    if os.environ.get(PURE_ENV) or any(name in sys.modules for name in MODULES):
        return False
    found = current(root)
    if found is None:
        return False
    finder = _Finder(*found)
    sys.meta_path.insert(0, finder)
    try:
        for name in MODULES:
            importlib.import_module(name)
    except (ImportError, OSError):
        # (A build removed or damaged meanwhile: the sources, all of them.)
        sys.meta_path.remove(finder)
        for name in (*MODULES, *finder.files):
            sys.modules.pop(name, None)
        return False
    return True


def compiled() -> bool:
    """Whether the matching runs compiled in this process."""
    return all(
        isinstance(
            getattr(sys.modules.get(name), "__loader__", None),
            importlib.machinery.ExtensionFileLoader,
        )
        for name in MODULES
    )


class BuildError(Exception):
    pass


def build(root: Path | None = None) -> Path:
    """Compile ``MODULES`` with mypyc into a directory of its own under ``root``
    (``build_root()``), unless the current sources are built already; returns the build's
    directory. A copy of the sources is compiled in a temporary directory (mypyc writes its
    output beside them) and moved into place whole: a build stopped half-way leaves none.
    Concurrent builds take turns (the second finds the first's)."""
    root = root or build_root()
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / ".lock"):
        found = current(root)
        if found is not None:
            return found[0]
        paths = sources()
        wanted = digest(paths)
        with tempfile.TemporaryDirectory(prefix="customer-card-native-") as tmp:
            work = Path(tmp)
            for path in paths:
                (work / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(_PACKAGE.parent / path, work / path)
            done = subprocess.run(
                [sys.executable, "-m", "mypyc", *(_module_file(name) for name in MODULES)],
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
            staged = Path(tempfile.mkdtemp(prefix=".staged-", dir=root))
            for name, file in files.items():
                where = work.joinpath(*name.split(".")[:-1]) if name in MODULES else work
                shutil.copy2(where / file, staged / file)
            manifest = {"digest": wanted, "sources": paths, "files": files}
            (staged / _MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        directory = root / wanted[:16]
        shutil.rmtree(directory, ignore_errors=True)  # (a damaged build of the same sources)
        staged.rename(directory)
        _prune(root, directory)
        return directory


def _module_file(name: str) -> str:
    return str(Path(*name.split(".")).with_suffix(".py"))


def _prune(root: Path, keep: Path) -> None:
    """Remove all but the newest builds, and what interrupted builds left."""
    for d in [*_builds(root)[_KEEP_BUILDS:], *root.glob(".staged-*")]:
        if d != keep:
            shutil.rmtree(d, ignore_errors=True)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as file:
        if fcntl is not None:
            fcntl.flock(file, fcntl.LOCK_EX)
        yield


def _last_lines(text: str, n: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def _cannot_build() -> str | None:
    """Why no build can be made here (None if one can): a C compiler and Python's headers
    are needed."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler}) found"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return "Python's C headers (Python.h) are not installed"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status 0 when a current build is in place, 1 when building failed, 2 when
    nothing can be built here (no C compiler or no Python headers)."""
    parser = argparse.ArgumentParser(
        prog="python packaging/build_native.py",
        description="Compile the matching's hot path with mypyc (optional: needs a C compiler).",
    )
    parser.add_argument("--status", action="store_true", help="say whether a current build exists")
    args = parser.parse_args(argv)
    found = current()
    if args.status:
        print(f"compiled matching: {found[0] if found else 'no build of the current sources'}")
        return 0
    if found is not None:
        return 0
    why = _cannot_build()
    if why is not None:
        _say(f"{why}: the matching runs as plain Python")
        return 2
    _say("compiling the matching with mypyc (about 30 s, once per change of its sources)...")
    try:
        build()
    except (BuildError, OSError) as error:
        _say(f"compiling the matching failed, it runs as plain Python:\n{error}")
        return 1
    return 0


def _say(text: str) -> None:
    print(f"customer-card: {text}", file=sys.stderr)
