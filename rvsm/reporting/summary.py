"""The one line a finished run prints."""

from __future__ import annotations


def _short(value) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def summary_line(metrics: dict, knobs: dict) -> str:
    """One line: the method, the ``knobs`` it names (``SparsityMethod.summary()``), the seed,
    the test numbers (the FLOPs fraction and the conv layers' kept channels among them) and the
    fit time."""
    settings = " ".join(f"{k}={_short(v)}" for k, v in knobs.items())
    results = " ".join(
        f"{k}={metrics[k]:.4f}"
        for k in (
            "test/acc",
            "test/acc_dense",
            "test/sparsity_fc",
            "test/sparsity",
            "test/flops_fraction",
        )
        if k in metrics
    )
    widths = [metrics[k] for k in sorted(metrics) if k.startswith("test/channels_")]
    if widths:
        results += " channels=" + "/".join(f"{w:.0f}" for w in widths)
    return (
        f"rvsm: method={metrics['method']} {settings} seed={metrics['seed']} | {results} "
        f"| fit {metrics['time/fit_s']:.1f}s"
    )
