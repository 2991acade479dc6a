"""The on-disk cache of generated data sets, keyed by a hash of everything that shapes them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from rvsm.data.fontfiles import digest
from rvsm.utils.io import atomic_open

log = logging.getLogger(__name__)

# Bump when the generator's output changes for the same settings, so old caches are not reused.
# 4: the shaky twin's box fit is capped per axis (synth.FIT_MAX_SCALE).
FORMAT_VERSION = 4
ARRAYS = ("images", "labels", "pair_id", "split")
# debugging: a job that is about to generate a data set (holding its lock) first writes
# ``<file>.held`` and waits until the file named by this variable exists (at most 600 s), so a
# test can act while the lock is held, on any machine
HOLD_VARIABLE = "RVSM_HOLD_GENERATION"


def _hold_before_generating() -> None:
    release = os.environ.get(HOLD_VARIABLE)
    if not release:
        return
    Path(release + ".held").write_text(f"{os.getpid()}\n")
    deadline = time.monotonic() + 600
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def cache_key(settings, seed: int, n_pairs: dict) -> str:
    """A hash of the settings, seed and split sizes. Font files enter by their contents, not
    their paths: a file rewritten at the same path gets a new key, a copy elsewhere the same one.
    Without font files the key is what it was before they existed, so old caches stay valid."""
    fields = dataclasses.asdict(settings)
    fields["font_files"] = [digest(spec) for spec in fields["font_files"]]
    if not fields["font_files"]:
        del fields["font_files"]
    blob = json.dumps(
        {
            "version": FORMAT_VERSION,
            "settings": fields,
            "seed": seed,
            "n_pairs": n_pairs,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in ARRAYS:
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()


def save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the arrays and their checksum atomically."""
    with atomic_open(path, "wb") as f:
        np.savez(f, digest=np.array(_digest(arrays)), **{k: arrays[k] for k in ARRAYS})


def load(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None if the file is missing, truncated or fails its checksum."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ARRAYS}
            stored = str(z["digest"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        log.warning("data cache %s is unreadable (%s); regenerating it", path, err)
        return None
    if _digest(arrays) != stored:
        log.warning("data cache %s fails its checksum; regenerating it", path)
        return None
    return arrays


def load_or_make(path: Path, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays cached at ``path``; the first of several concurrent callers makes and saves them.

    The lock is an OS lock (``flock``, via filelock) on ``<path>.lock``: the kernel drops it when
    its holder dies, even by SIGKILL, so a killed generator never blocks the next job, and a file
    it was writing never appears under the final name (``save`` renames a finished temp file).
    Each data set has its own lock, so jobs on different data never wait for each other.
    """
    arrays = load(path)
    if arrays is not None:
        return arrays
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path.with_name(path.name + ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for %s: another job is generating this data set", lock.lock_file)
        lock.acquire()
    try:
        arrays = load(path)  # made by the job that held the lock
        if arrays is None:
            _hold_before_generating()
            arrays = make()
            save(path, arrays)
        return arrays
    finally:
        lock.release()
