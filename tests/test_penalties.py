"""Prox operators against a brute-force numeric minimiser written here, not the code's formulas."""

from __future__ import annotations

import math

import pytest
import torch

from rvsm.methods.penalties import _CHUNK, L0, L1, TL1, NoPenalty


def brute_force_prox(x: torch.Tensor, penalty_fn, lam: float, beta: float) -> torch.Tensor:
    """Minimise lam*P(u) + beta/2 (u-x)^2 per element by a coarse grid and two refinements.

    The minimiser lies in [-|x|, |x|] (any penalty here is even and non-decreasing in |u|), and
    u = 0 is added as a candidate explicitly because l0-like penalties jump there.
    """
    x = x.double()
    objective = lambda u: lam * penalty_fn(u) + 0.5 * beta * (u - x[:, None]) ** 2  # noqa: E731
    span = x.abs()[:, None] + 1e-12
    grid = torch.linspace(-1.0, 1.0, 2001, dtype=torch.float64)[None, :] * span
    best = grid.gather(1, objective(grid).argmin(1, keepdim=True))
    step = 2.0 * span / 2000
    for _ in range(2):
        local = best + torch.linspace(-1.0, 1.0, 401, dtype=torch.float64)[None, :] * step
        best = local.gather(1, objective(local).argmin(1, keepdim=True))
        step = step / 200
    candidates = torch.cat([best, torch.zeros_like(best)], dim=1)
    return candidates.gather(1, objective(candidates).argmin(1, keepdim=True)).squeeze(1)


def p_l0(u):
    return (u != 0).double()


def p_l1(u):
    return u.abs()


def p_tl1(a):
    return lambda u: (a + 1.0) * u.abs() / (a + u.abs())


def objective(u, x, penalty_fn, lam, beta):
    u, x = u.double(), x.double()
    return lam * penalty_fn(u) + 0.5 * beta * (u - x) ** 2


def sample_inputs(threshold: float) -> torch.Tensor:
    """Random values at several scales, plus points just around the threshold."""
    gen = torch.Generator().manual_seed(0)
    rand = torch.cat([torch.randn(400, generator=gen) * s for s in (0.01, 0.1, 1.0, 5.0)])
    eps = torch.tensor([1e-6, 1e-4, 1e-2], dtype=torch.float64)
    near = torch.cat([threshold - eps, threshold + eps, -(threshold - eps), -(threshold + eps)])
    return torch.cat([rand.double(), near, torch.tensor([0.0, threshold, -threshold]).double()])


def check_against_brute_force(penalty, penalty_fn, beta: float, threshold: float) -> None:
    x = sample_inputs(threshold)
    u = penalty.prox(x, beta)
    ref = brute_force_prox(x, penalty_fn, penalty.lam, beta)
    f_u = objective(u, x, penalty_fn, penalty.lam, beta)
    f_ref = objective(ref, x, penalty_fn, penalty.lam, beta)
    # Never worse than the brute-force candidate (up to the grid's resolution).
    assert torch.all(f_u <= f_ref + 1e-9 * (1 + f_ref.abs())), (x[f_u > f_ref + 1e-9], u, ref)
    # And the same point, wherever the minimiser is unique (away from the tie at the threshold).
    unique = (x.abs() - threshold).abs() > 1e-3
    torch.testing.assert_close(u[unique], ref[unique], atol=1e-6, rtol=0)


@pytest.mark.parametrize("lam,beta", [(1e-6, 1e-2), (0.05, 1.0), (0.3, 0.5), (2.0, 1.0)])
def test_l0_prox_matches_brute_force(lam, beta):
    check_against_brute_force(L0(lam), p_l0, beta, math.sqrt(2 * lam / beta))


@pytest.mark.parametrize("lam,beta", [(1e-6, 1e-2), (0.05, 1.0), (0.3, 0.5), (2.0, 1.0)])
def test_l1_prox_matches_brute_force(lam, beta):
    check_against_brute_force(L1(lam), p_l1, beta, lam / beta)


# Both regimes: lam/beta <= a^2/(2(a+1)) (continuous prox) and above it (prox jumps).
TL1_CASES = [
    (0.05, 1.0, 1.0),  # lam_c = 0.25: continuous
    (0.24, 1.0, 1.0),  # just below lam_c
    (0.26, 1.0, 1.0),  # just above lam_c
    (1.0, 1.0, 1.0),  # jump regime
    (0.01, 1.0, 0.1),  # small a, lam_c = 0.0045: jump regime
    (0.002, 1.0, 0.1),  # small a, continuous
    (0.5, 1.0, 10.0),  # large a, continuous
    (1e-6, 1e-2, 1.0),  # the authors' CIFAR setting
]


@pytest.mark.parametrize("lam,beta,a", TL1_CASES)
def test_tl1_prox_matches_brute_force(lam, beta, a):
    penalty = TL1(lam, a)
    lam_eff, lam_c = lam / beta, a * a / (2 * (a + 1))
    # Threshold from the definition, computed independently of the module's formula:
    # the smallest |x| at which the brute-force minimiser is non-zero.
    xs = torch.linspace(0, 4 * math.sqrt(2 * lam_eff * (a + 1)) + 1e-3, 4001, dtype=torch.float64)
    nonzero = brute_force_prox(xs, p_tl1(a), lam, beta).abs() > 1e-9
    brute_threshold = xs[nonzero][0].item()
    assert penalty.threshold(beta) == pytest.approx(brute_threshold, abs=2 * (xs[1] - xs[0]).item())
    check_against_brute_force(penalty, p_tl1(a), beta, penalty.threshold(beta))
    if lam_eff > lam_c:
        # Jump regime: the prox leaps from 0 to a clearly non-zero value at the threshold.
        t = penalty.threshold(beta)
        assert penalty.prox(torch.tensor([t + 1e-9], dtype=torch.float64), beta).abs() > 1e-3


def test_tl1_large_a_is_soft_thresholding():
    """a -> infinity: Tl1 -> l1, prox -> soft threshold at lam/beta (written out here)."""
    lam, beta = 0.3, 1.0
    x = torch.linspace(-3, 3, 1001, dtype=torch.float64)
    soft = torch.sign(x) * torch.clamp(x.abs() - lam / beta, min=0)
    torch.testing.assert_close(TL1(lam, a=1e6).prox(x, beta), soft, atol=1e-4, rtol=0)


def test_tl1_small_a_is_hard_thresholding():
    """a -> 0: Tl1 -> l0, prox -> hard threshold at sqrt(2 lam / beta) (written out here)."""
    lam, beta = 0.3, 1.0
    x = torch.linspace(-3, 3, 1001, dtype=torch.float64)
    t = math.sqrt(2 * lam / beta)
    hard = torch.where(x.abs() > t, x, torch.zeros_like(x))
    away = (x.abs() - t).abs() > 0.01
    torch.testing.assert_close(TL1(lam, a=1e-6).prox(x, beta)[away], hard[away], atol=1e-3, rtol=0)


def test_none_is_identity_and_zero():
    w = torch.randn(50)
    torch.testing.assert_close(NoPenalty().prox(w, 0.1), w)
    assert NoPenalty().value(w).item() == 0.0


@pytest.mark.parametrize("penalty", [L0(0.1), L1(0.1), TL1(0.1, 1.0), NoPenalty()])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_prox_keeps_dtype_device_and_shape(penalty, dtype):
    w = torch.randn(3, 4, 5).to(dtype)
    u = penalty.prox(w, 0.5)
    assert u.dtype == dtype and u.device == w.device and u.shape == w.shape
    assert torch.isfinite(u.float()).all()


@pytest.mark.parametrize(
    "penalty,p",
    [(L0(0.7), p_l0), (L1(0.7), p_l1), (TL1(0.7, 2.0), p_tl1(2.0))],
)
def test_value_is_lam_times_sum_of_p(penalty, p):
    u = torch.tensor([0.0, -0.5, 2.0, 0.0, 3.0], dtype=torch.float64)
    assert penalty.value(u).item() == pytest.approx(0.7 * p(u).sum().item())


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: L0(-1.0), "^lam must"),
        (lambda: TL1(0.1, 0.0), "^a must"),
        (lambda: TL1(0.1, -2.0), "^a must"),
        (lambda: L1(0.1).prox(torch.ones(2), 0.0), "^beta must"),
    ],
)
def test_bad_parameters_name_the_key(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_tl1_prox_of_a_tensor_larger_than_one_chunk():
    """Values tiled past the chunk size get the brute-force answer in every chunk, any shape."""
    penalty, beta = TL1(0.01, 0.1), 1.0
    base = sample_inputs(penalty.threshold(beta))
    unique = (base.abs() - penalty.threshold(beta)).abs() > 1e-3
    base = base[unique].float()
    ref = brute_force_prox(base, p_tl1(0.1), penalty.lam, beta).float()
    reps = 2 * _CHUNK // base.numel() + 3
    u = penalty.prox(base.repeat(reps).reshape(reps, -1).t(), beta)  # non-contiguous input
    torch.testing.assert_close(u, ref.repeat(reps).reshape(reps, -1).t(), atol=1e-5, rtol=1e-5)
