"""Dense training: the reference every sparsifying method is measured against.

Nothing is sparsified; the split layers train like the rest and are evaluated as they are.
"""

from __future__ import annotations

from rvsm.methods.base import SparsityMethod


class Dense(SparsityMethod):
    name = "dense"
    dense_twin = False
