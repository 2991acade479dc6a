"""Sparsifying methods: each is one small object behind the interface of ``base.SparsityMethod``."""

from rvsm.methods.base import SparsityMethod

__all__ = ["SparsityMethod"]
