"""Synthesized regular vs shaky text: the data source and everything it needs.

What the rest of the package may know about the data is what ``TremorTextDataModule`` exposes
(``image_size``, ``describe()``, ``cache_path``) and ``describe_data`` below; nothing outside this
package reads ``data.synth.*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def describe_data(data_cfg: Mapping) -> dict:
    """The data setting named in metrics and reports (kind, tremor severity), from the ``data``
    config of a run; the same as its data module's ``describe()``."""
    if "synth" not in data_cfg:  # a folder of the user's images (rvsm.data.folder)
        return {"data": f"folder:{Path(str(data_cfg.get('root'))).name}", "severity": None}
    synth = data_cfg["synth"]
    severity = synth.get("tremor", {}).get("severity")
    return {
        "data": synth.get("kind"),
        "severity": float(severity) if isinstance(severity, int | float) else severity,
    }
