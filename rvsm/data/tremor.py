"""A tremor model for pen paths, grounded in the clinical facts of tremor-synthesis.md.

The pen path is walked in drawing order and its arc length (pen-up travel included) stands for
time. Tremor is an oscillation of 4-12 Hz, which at the assumed pen speed becomes a number of
cycles per body height, along one dominant axis per word (with a small perpendicular component),
with an amplitude given peak-to-peak as a fraction of the body height, and with slow drift of both
frequency and amplitude.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TremorSettings:
    """Ranges the per-word tremor parameters are drawn from (Hydra: ``data.tremor``)."""

    amplitude_pp: tuple[float, float] = (0.15, 0.3)  # peak-to-peak, fraction of body height
    freq_hz: tuple[float, float] = (4.0, 12.0)
    pen_speed: float = 3.0  # body heights per second (about 1.8 cm/s at 6 mm body height)
    axis_deg: float = 0.0  # mean direction of the dominant axis (0 = horizontal)
    axis_spread_deg: float = 30.0  # the axis is drawn uniformly within +- this
    minor_ratio: tuple[float, float] = (0.0, 0.3)  # perpendicular / dominant amplitude
    drift: float = 0.2  # relative slow modulation of frequency and amplitude
    drift_period: float = 4.0  # body heights of pen path per drift cycle
    severity: float = 1.0  # multiplies the amplitude


@dataclass(frozen=True)
class Tremor:
    """One word's tremor."""

    amplitude_pp: float  # fraction of body height
    cycles_per_body: float
    axis: float  # radians
    minor_ratio: float
    drift: float
    drift_period: float
    phases: tuple[float, float, float]  # oscillation, frequency drift, amplitude drift


def sample_tremor(rng: np.random.Generator, s: TremorSettings) -> Tremor:
    freq = rng.uniform(*s.freq_hz)
    return Tremor(
        amplitude_pp=rng.uniform(*s.amplitude_pp) * s.severity,
        cycles_per_body=freq / s.pen_speed,
        axis=np.deg2rad(s.axis_deg + rng.uniform(-s.axis_spread_deg, s.axis_spread_deg)),
        minor_ratio=rng.uniform(*s.minor_ratio),
        drift=s.drift,
        drift_period=s.drift_period,
        phases=tuple(rng.uniform(0, 2 * np.pi, size=3)),
    )


def path_length(paths: list[np.ndarray]) -> float:
    """Total drawn length (pen-down only)."""
    return float(sum(np.linalg.norm(np.diff(p, axis=0), axis=1).sum() for p in paths))


def apply_tremor(paths: list[np.ndarray], body: float, tremor: Tremor) -> list[np.ndarray]:
    """Displace every point by the tremor at its time (arc length) along the whole pen path.

    ``paths`` must be densely sampled (several points per tremor cycle); ``body`` is the body
    height in the paths' units.
    """
    flat = np.concatenate(paths)
    steps = np.linalg.norm(np.diff(flat, axis=0), axis=1)  # includes pen-up jumps
    s = np.concatenate([[0.0], np.cumsum(steps)]) / body  # in body heights
    osc_phase, freq_phase, amp_phase = tremor.phases
    drift_arg = 2 * np.pi * s / tremor.drift_period
    freq = tremor.cycles_per_body * (1 + tremor.drift * np.sin(drift_arg + freq_phase))
    phase = osc_phase + 2 * np.pi * np.concatenate([[0.0], np.cumsum(freq[:-1] * np.diff(s))])
    amp = 0.5 * tremor.amplitude_pp * body * (1 + tremor.drift * np.sin(drift_arg + amp_phase))
    major = np.array([np.cos(tremor.axis), np.sin(tremor.axis)])
    minor = np.array([-major[1], major[0]])
    shift = amp[:, None] * (
        np.sin(phase)[:, None] * major + tremor.minor_ratio * np.cos(phase)[:, None] * minor
    )
    moved = flat + shift
    return np.split(moved, np.cumsum([len(p) for p in paths])[:-1])


def densify(paths: list[np.ndarray], spacing: float) -> list[np.ndarray]:
    """Insert points so no segment is longer than ``spacing``; original vertices are kept."""
    out = []
    for p in paths:
        seg = np.diff(p, axis=0)
        n = np.maximum(1, np.ceil(np.linalg.norm(seg, axis=1) / spacing).astype(int))
        starts = np.repeat(np.cumsum(n) - n, n)
        t = (np.arange(n.sum()) - starts) / np.repeat(n, n)  # 0, 1/k, ..., (k-1)/k per segment
        start = np.repeat(p[:-1], n, axis=0)
        out.append(np.vstack([start + np.repeat(seg, n, axis=0) * t[:, None], p[-1:]]))
    return out
