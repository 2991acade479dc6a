"""Atomic file writes: a reader never sees a half-written cache, metrics file or report."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Write to a temporary file beside ``path``, then rename it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; caches and results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, data: dict, sort_keys: bool = True) -> None:
    """``sort_keys=False`` keeps the order of ``data`` (metrics.json: a method's knobs in the
    order it describes them, which reports follow)."""
    with atomic_open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=sort_keys)
        f.write("\n")


def write_lines(path: str | os.PathLike, lines: Sequence[str]) -> None:
    """A generated text page (a record's table, a benchmark's results), one line each, written
    atomically: a reader never sees half of it."""
    with atomic_open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_csv(path: str | os.PathLike, rows: Sequence[dict], fieldnames: Sequence[str]) -> None:
    """Rows of a table as CSV with a header line (missing values empty), written atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fieldnames))
    writer.writeheader()
    writer.writerows(rows)
    with atomic_open(path, "w") as f:
        f.write(buf.getvalue())


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
