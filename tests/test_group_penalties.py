"""Group prox operators against a brute-force minimiser over the plane, and the channel layout of
the groups (a conv's input slices, the classifier's per-channel column blocks)."""

from __future__ import annotations

import math

import pytest
import torch

from rvsm.methods.penalties import TL1, GroupL0, GroupL1, GroupTL1
from rvsm.methods.structure import LayerSpec

# P_scalar of each group penalty on a group's norm, written here from the definitions
SCALAR = {
    GroupL0: lambda r: (r > 0).double(),
    GroupL1: lambda r: r,
    GroupTL1: lambda r: 1.01 * r / (0.01 + r),  # a = 0.01
}


def make(kind, lam):
    return kind(lam, a=0.01) if kind is GroupTL1 else kind(lam)


def brute_force_groups(w: torch.Tensor, scalar, lam: float, beta: float) -> torch.Tensor:
    """Per row w_g of ``w`` (groups x 2), argmin over u in R^2 of
    lam P(||u||) + beta/2 ||u - w_g||^2: a 201 x 201 grid on the box [-|w_g|_inf, |w_g|_inf]^2
    (the minimiser is no farther from 0 than w_g), refined three times around the best point,
    with u = 0 as an explicit candidate (l0 jumps there)."""
    w = w.double()[:, None, :]

    def objective(u):
        return lam * scalar(u.norm(dim=-1)) + 0.5 * beta * ((u - w) ** 2).sum(-1)

    step = w.abs().amax(dim=(1, 2))[:, None, None] + 1e-12
    center = torch.zeros_like(w)
    axis = torch.linspace(-1.0, 1.0, 201, dtype=torch.float64)
    offsets = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).view(1, -1, 2)
    for _ in range(4):
        grid = center + offsets * step
        best = objective(grid).argmin(dim=1)
        center = grid[torch.arange(len(w)), best][:, None, :]
        step = step / 50
    candidates = torch.cat([center, torch.zeros_like(center)], dim=1)
    pick = objective(candidates).argmin(dim=1)
    return candidates[torch.arange(len(w)), pick]


def group_objective(u, w, scalar, lam, beta):
    u, w = u.double(), w.double()
    return lam * scalar(u.norm(dim=-1)) + 0.5 * beta * ((u - w) ** 2).sum(-1)


@pytest.mark.parametrize("kind", [GroupL0, GroupL1, GroupTL1])
@pytest.mark.parametrize("lam,beta", [(1e-3, 0.1), (0.05, 1.0), (0.3, 0.5)])
def test_group_prox_matches_a_brute_force_minimiser(kind, lam, beta):
    """Groups of two weights (a 2-output 1x1 conv reading 24 channels) at several scales, some
    placed just around the threshold; each group's prox is no worse than the plane's best."""
    penalty, scalar = make(kind, lam), SCALAR[kind]
    gen = torch.Generator().manual_seed(1)
    t = penalty.threshold(beta)
    groups = torch.randn(24, 2, generator=gen, dtype=torch.float64)
    groups = groups / groups.norm(dim=1, keepdim=True)
    radii = torch.cat(
        [
            torch.rand(16, generator=gen, dtype=torch.float64) * 3 * max(t, 0.1),
            t + torch.tensor([-1e-3, 1e-3, -1e-2, 1e-2, -0.1, 0.1, 0.0, 2.0]) * t,
        ]
    )
    groups = (groups * radii[:, None]).float()
    w = groups.T.reshape(2, 24, 1, 1).contiguous()
    u = penalty.prox(w, beta, LayerSpec("conv2", (2, 24, 1, 1), (24,)))
    got, w_g = u[:, :, 0, 0].T, w[:, :, 0, 0].T
    ref = brute_force_groups(w_g, scalar, lam, beta)
    f_u = group_objective(got, w_g, scalar, lam, beta)
    f_ref = group_objective(ref, w_g, scalar, lam, beta)
    assert torch.all(f_u <= f_ref + 1e-6 * (1 + f_ref.abs())), (w_g, got, ref)
    unique = (w_g.norm(dim=1) - t).abs() > 1e-2 * max(t, 1e-3)  # away from the tie at t
    torch.testing.assert_close(got[unique].double(), ref[unique], atol=1e-5, rtol=0)


def test_group_l0_zeroes_conv_input_slices_at_sqrt_2_lam_over_beta():
    """A conv weight (out, in, 3, 3): group i is w[:, i], all of it, and nothing else."""
    lam, beta = 2e-3, 0.1
    t = math.sqrt(2 * lam / beta)
    w = torch.randn(16, 8, 3, 3, generator=torch.Generator().manual_seed(0))
    target = {1: 0.5 * t, 4: 0.99 * t, 6: 1.01 * t, 7: 5 * t}
    for i, norm in target.items():
        w[:, i] *= norm / w[:, i].norm()
    u = GroupL0(lam).prox(w, beta, LayerSpec("conv2", (16, 8, 3, 3), (8,)))
    zero = [i for i in range(8) if (u[:, i] == 0).all()]
    assert zero == [1, 4]
    kept = [i for i in range(8) if i not in zero]
    assert torch.equal(u[:, kept], w[:, kept])  # l0 leaves a kept group as it is


def test_group_l1_on_the_classifier_zeroes_the_columns_of_one_channel():
    """The FC layer reads C x H x W flattened: channel i is columns i*H*W .. (i+1)*H*W - 1."""
    c, h, wd = 4, 2, 3
    w = torch.randn(2, c * h * wd, generator=torch.Generator().manual_seed(0))
    cols = slice(2 * h * wd, 3 * h * wd)  # channel 2
    w[:, cols] *= 1e-3
    lam, beta = 0.02, 0.1
    u = GroupL1(lam).prox(w, beta, LayerSpec("fc", tuple(w.shape), (c, h, wd)))
    assert (u[:, cols] == 0).all()
    dead = [i for i in range(c * h * wd) if (u[:, i] == 0).all()]
    assert dead == list(range(cols.start, cols.stop))
    for i in (0, 1, 3):  # survivors shrink by lam / beta along their direction
        g, v = w[:, i * h * wd : (i + 1) * h * wd], u[:, i * h * wd : (i + 1) * h * wd]
        torch.testing.assert_close(v, g * (1 - lam / beta / g.norm()))


def test_group_tl1_of_a_single_weight_group_is_the_scalar_tl1_prox():
    """A group of one weight: the group prox must reduce to the element-wise one."""
    x = torch.linspace(-0.2, 0.2, 81)
    w = x.view(1, 81, 1, 1)
    grouped = GroupTL1(1.8e-5, a=0.01).prox(w, 0.1, LayerSpec("conv2", (1, 81, 1, 1), (81,)))
    torch.testing.assert_close(grouped.flatten(), TL1(1.8e-5, a=0.01).prox(x, 0.1))


REFUSED = {
    "image channel": (LayerSpec("conv1", (8, 1, 3, 3), (1,)), (8, 1, 3, 3), "conv1 reads 1"),
    "no spec": (None, (8, 4, 3, 3), "no known input shape"),
    "shape": (LayerSpec("fc", (2, 10), (4, 2, 2)), (2, 10), "does not read"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_group_penalty_on_a_layer_without_channels_is_one_line_naming_the_key(case):
    spec, shape, said = REFUSED[case]
    with pytest.raises(ValueError) as err:
        GroupL0(1e-3).prox(torch.ones(shape), 0.1, spec)
    message = str(err.value)
    assert message.startswith("layers: penalty=group_l0") and said in message
    assert "\n" not in message


@pytest.mark.parametrize("kind", [GroupL0, GroupL1, GroupTL1])
def test_negative_lambda_is_refused_naming_the_key(kind):
    with pytest.raises(ValueError, match=r"^lam must be a number >= 0, got -0\.1$"):
        make(kind, -0.1)
