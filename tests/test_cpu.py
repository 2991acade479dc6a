"""The CPU-dependent default precision: bf16-mixed only where it was measured faster."""

from __future__ import annotations

import pytest

from rvsm.runtime.checks import composed
from rvsm.utils.cpu import cpu_fields, cpu_name, cpu_precision

# /proc/cpuinfo as the kernel writes it (two processors; the first one's fields count)
ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9454 48-Core Processor
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: not the first
"""
SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
"""
ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7763 64-Core Processor
flags\t\t: fpu sse2 avx2 fma
"""


@pytest.mark.parametrize(
    "text,precision",
    [
        (ZEN4, "bf16-mixed"),  # measured: experiments/speed, experiments/benchmarks.md
        (SAPPHIRE_RAPIDS, "32-true"),  # native bf16 (AMX) but not measured
        (ZEN3, "32-true"),  # no native bf16
        ("", "32-true"),  # no /proc/cpuinfo
    ],
)
def test_bf16_is_the_cpu_default_only_where_it_was_measured_faster(text, precision):
    assert cpu_precision(cpu_fields(text)) == precision


def test_the_first_processor_names_the_cpu():
    assert cpu_name(cpu_fields(ZEN4)) == "AMD EPYC 9454 48-Core Processor"
    assert cpu_fields(ZEN4)["flags"].split()[-1] == "avx512_vnni"


def test_training_takes_this_machines_precision_and_a_gpu_float32():
    flags = open("/proc/cpuinfo").read() if cpu_fields() else ""
    native = "AuthenticAMD" in flags and "avx512_bf16" in flags
    assert composed().trainer.precision == ("bf16-mixed" if native else "32-true")
    assert composed(["trainer=gpu"]).trainer.precision == "32-true"
    assert composed(["trainer.precision=32-true"]).trainer.precision == "32-true"
