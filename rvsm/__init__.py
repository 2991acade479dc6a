"""rvsm: sparse CNNs by the Relaxed Variable Splitting Method (Xue & Xin, WCGO 2019)."""

__version__ = "0.1.0"
