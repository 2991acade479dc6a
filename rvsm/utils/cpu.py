"""This machine's CPU as the kernel describes it (``/proc/cpuinfo``), and the training precision
measured fastest on it.

bf16 mixed precision was measured on one CPU kind only (experiments/speed, experiments/
benchmarks.md): an AMD EPYC (Zen 4) with AVX-512 BF16, where it trains faster at float32's
accuracy. Elsewhere (an Intel Xeon with AMX, a CPU without native bf16) it is not measured, and
torch 2.13 has a reported bf16 conv2d slowdown on some CPUs, so those keep float32 until a
measurement says otherwise.
"""

from __future__ import annotations

import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# (vendor_id, a flag it must have): the CPUs on which bf16-mixed was measured faster
BF16_MEASURED_FASTER = (("AuthenticAMD", "avx512_bf16"),)


def cpu_fields(text: str | None = None) -> dict[str, str]:
    """The first processor's fields (``model name``, ``vendor_id``, ``flags``...) of
    ``text`` (default: this machine's /proc/cpuinfo; none where there is no such file)."""
    if text is None:
        text = CPUINFO.read_text() if CPUINFO.is_file() else ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_name(fields: dict[str, str] | None = None) -> str:
    """The CPU a timing was taken on, as the kernel names it (its architecture elsewhere)."""
    fields = cpu_fields() if fields is None else fields
    return fields.get("model name") or platform.machine()


def cpu_precision(fields: dict[str, str] | None = None) -> str:
    """Lightning's ``precision`` for CPU training here: ``bf16-mixed`` on a CPU where it was
    measured faster (``BF16_MEASURED_FASTER``), ``32-true`` elsewhere."""
    fields = cpu_fields() if fields is None else fields
    flags = set(fields.get("flags", "").split())
    vendor = fields.get("vendor_id", "")
    fast = any(vendor == v and flag in flags for v, flag in BF16_MEASURED_FASTER)
    return "bf16-mixed" if fast else "32-true"
