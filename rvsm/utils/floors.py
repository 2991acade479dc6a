"""The package's floors, bottom first: a module may import from its own floor and those below,
never from one above. Declared once here; ``tests/test_architecture.py`` checks every import
against it and ``python -m rvsm.utils.floors`` prints the picture the layout docs show.

A part above that a lower floor needs registers itself instead of being imported: the search's
sweeper carries its own command-line check (``ParetoSweeper.precheck``, found by
``rvsm.runtime.precheck`` through ``hydra.sweeper._target_``), and the zero-pattern picture is a
callback of the reporting floor that the config names (``conf/callbacks/default.yaml``).
"""

from __future__ import annotations

# (floor, what lives there, the modules or packages on it)
FLOORS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("utils", "leaf helpers: atomic files, the allocator, argument checks", ("rvsm.utils",)),
    (
        "parts",
        "the math (methods), the networks, slimming and inference, the data",
        ("rvsm.methods", "rvsm.nets", "rvsm.resnet", "rvsm.slim", "rvsm.inference", "rvsm.data"),
    ),
    ("module", "the LightningModule that orchestrates a run", ("rvsm.module",)),
    (
        "runtime",
        "the run's plumbing: checks, building, CLI, checkpoints, launchers",
        ("rvsm.runtime",),
    ),
    (
        "reporting",
        "reports of many runs, and the search over a method's knobs",
        ("rvsm.reporting", "rvsm.search"),
    ),
    (
        "tasks",
        "the commands, loading a trained run, Hydra's plugins",
        (
            "rvsm.train",
            "rvsm.eval",
            "rvsm.severity",
            "rvsm.export",
            "rvsm.report",
            "rvsm.predict",
            "rvsm.trained",
            "rvsm.hydra_plugins",
            "hydra_plugins.rvsm_launcher",
            "hydra_plugins.rvsm_search",
        ),
    ),
)


def floor_of(module: str) -> int | None:
    """The floor (0 = bottom) a module lives on, by its longest declared prefix; None outside."""
    best: tuple[int, int] | None = None
    for level, (_, _, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (level, len(prefix))
    return None if best is None else best[0]


def picture() -> str:
    """The floors, top first, as the layout page shows them."""
    rows = [f"{name:<10} {', '.join(mods)}\n{'':<10} ({what})" for name, what, mods in FLOORS]
    return "\n".join(reversed(rows))


if __name__ == "__main__":
    print(picture())
