"""rvsm.utils.allocator: freed tensor buffers are reused, so repeated steps stop paying page
faults."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT

# 30 training steps of the default network at batch 64 (each allocates and frees ~60 MB of
# activations and gradients); prints the minor page faults (first touches of a page) that the
# kernel counted during the last 20
CODE = """
import resource, sys, torch
import torch.nn.functional as F
from rvsm.utils.allocator import retain_freed_memory
from rvsm.nets import TremorCNN
if sys.argv[1] == "retain":
    assert retain_freed_memory()
torch.set_num_threads(1)
torch.manual_seed(0)
net = TremorCNN().to(memory_format=torch.channels_last)
optimizer = torch.optim.Adam(net.parameters(), 1e-3)
x = torch.rand(64, 1, 64, 128).contiguous(memory_format=torch.channels_last)
y = torch.randint(0, 2, (64,))
for step in range(30):
    if step == 10:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()
    optimizer.step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def minor_faults(mode: str) -> int:
    run = subprocess.run(
        [sys.executable, "-c", CODE, mode], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return int(run.stdout.strip().splitlines()[-1])


def test_retained_memory_spares_the_training_step_its_page_faults():
    buffer_pages = 64 * 8 * 64 * 128 * 4 // 4096  # the first conv layer's output: 4096 pages
    # glibc's defaults on this machine kind: the step keeps mapping fresh pages (measured
    # 5,000-13,000 faults on most steps), so 20 steps fault far more than one buffer's pages
    assert minor_faults("default") > 5 * buffer_pages
    # retained: after the first steps the buffers come back from the heap; measured 0, 0, 768,
    # 1536 and 4096 faults over the 20 steps in fresh processes (at most one buffer mapped again
    # once), against 48,000-98,000 with the defaults
    assert minor_faults("retain") < 2 * buffer_pages
