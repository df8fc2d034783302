"""Writing files that hold personal data: private (0600) from the first byte, all or nothing."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


class ExportError(Exception):
    """The export file cannot be written; ``str(error)`` is the one-line message."""


@contextmanager
def private_text_file(path: Path, *, newline: str | None = None) -> Iterator[TextIO]:
    """Yield a text handle on a temporary file beside ``path``, readable by its owner only;
    on success it replaces ``path`` atomically, on any error it is removed."""
    if path.is_dir():
        raise ExportError(f"{path} is a directory; give a file name")
    if not path.parent.is_dir():
        raise ExportError(f"no directory {path.parent}")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        raise ExportError(f"cannot write in {path.parent}: {error.strerror}") from error
    tmp = Path(tmp_name)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {error.strerror}") from error
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
