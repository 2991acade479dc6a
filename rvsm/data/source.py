"""The contract between a data source and the rest of the package.

Everything outside ``rvsm.data`` reads a data module through ``DataSource`` alone; what only some
sources can do (draw the same data at another tremor severity, in one font at a time) is an
optional capability, checked with ``capable`` before it is used, so a task refuses a source
that lacks it in one line before any data are made.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class DataSource(Protocol):
    """A LightningDataModule of labelled images, batches (N, 1, H, W) with ink = 1, paper = 0."""

    #: class names, label i = the i-th
    classes: tuple[str, ...]
    #: the hash of everything that determines the cached arrays
    cache_key: str
    #: the config key that sets ``image_size``, for errors
    image_size_key: str

    @property
    def image_size(self) -> tuple[int, int]: ...

    @property
    def num_classes(self) -> int: ...

    def describe(self) -> dict:
        """``{"data": <name>, "severity": <float or None>}`` for metrics and reports."""
        ...

    def test_only(self) -> DataSource:
        """The source with only what a test reads drawn."""
        ...

    def prepared_as(self, image_size, invert) -> DataSource:
        """The source prepared as a trained network's data were (its size and ink)."""
        ...


@runtime_checkable
class AtSeverity(Protocol):
    """A source whose tremor severity can change (the synthesized data)."""

    def at_severity(self, severity: float) -> DataSource: ...


@runtime_checkable
class InFonts(Protocol):
    """A source drawn in fonts (the synthesized data): each alone, or its font files alone."""

    fonts: tuple[str, ...]

    def per_font(self) -> list[tuple[str, DataSource]]: ...

    def font_files_only(self) -> DataSource: ...


NEEDS = {AtSeverity: "draws its images at any tremor severity", InFonts: "draws text in fonts"}


def capable(source: object, capability: type, what: str) -> None:
    """Refuse, in one line, a source without ``capability`` (one of the protocols above) for
    ``what`` the caller is about to do."""
    if not isinstance(source, capability):
        name = source.describe()["data"] if isinstance(source, DataSource) else type(source)
        raise ValueError(
            f"{what} needs data that {NEEDS[capability]}, which {name} data cannot: use "
            "synthesized data (data=mixed, fonts, handwriting or handwriting_fonts)"
        )
