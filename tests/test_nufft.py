"""The torch NUFFT against FINUFFT on the same points and modes."""

import numpy as np
import pytest
import torch

from openmm_sog.nufft import (
    COARSE_GRID_RULE,
    FINE_GRID_RULE,
    PeriodicNUFFT,
    kernel_width_from_tolerance,
    nufft_rule,
)

finufft = pytest.importorskip("finufft", reason="finufft (test extra) is needed for this oracle")


def _points(num_points: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    # Fractional coordinates outside [0, 1) too: the transform is periodic.
    return torch.rand(num_points, 3, generator=gen, dtype=torch.float64) * 3.0 - 1.0


def _hermitian(half: list[int], seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    shape = [2 * k + 1 for k in half]
    c = torch.randn(*shape, generator=gen, dtype=torch.complex128)
    # In FFT order, the mode -m sits at index (-i) mod n.
    return c + c.conj().flip(0, 1, 2).roll((1, 1, 1), (0, 1, 2))


@pytest.mark.parametrize("tolerance", [1e-2, 1e-3, 3e-5, 1e-5, 9e-6, 1e-7, 1e-9])
def test_type1_and_type2_match_finufft(tolerance):
    """Both transforms against FINUFFT at 1e-14, with the modes weighted as SOGLongRange weights
    them: by a kernel that falls to tolerance / 10 at the largest kept mode. The width and shape
    rule is tuned for that weighting (docs/design.md section 2.4): it trades accuracy at the
    highest modes, which the kernel suppresses, for accuracy at the low ones."""
    half = [7, 10, 4]
    s = _points(400, seed=3)
    values = torch.randn(400, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    nufft = PeriodicNUFFT(tolerance)
    grid = [nufft.grid_size(k) for k in half]
    stencil = nufft.weights(s, torch.zeros(400, dtype=torch.long), grid)
    x = [np.ascontiguousarray(2 * np.pi * s[:, d].numpy()) for d in range(3)]
    modes = tuple(2 * k + 1 for k in half)
    m = np.meshgrid(*[np.fft.fftfreq(2 * k + 1, 1.0 / (2 * k + 1)) for k in half], indexing="ij")
    kernel = (0.1 * tolerance) ** sum((m[d] / half[d]) ** 2 for d in range(3))

    ours = nufft.type1(stencil, values, 1, grid, half)[0]
    kept = kernel[:, :, : half[2] + 1]
    for c in range(2):
        ref = finufft.nufft3d1(
            *x, values[:, c].numpy().astype(complex), modes, isign=-1, eps=1e-14, modeord=1
        )[:, :, : half[2] + 1]
        err = np.linalg.norm(kept * (ours[..., c].numpy() - ref)) / np.linalg.norm(kept * ref)
        assert err < 0.1 * tolerance, f"type 1 channel {c}: relative error {err:.2e}"

    coefficients = _hermitian(half, seed=5) * torch.tensor(kernel)
    ours2 = nufft.type2(stencil, coefficients[:, :, : half[2] + 1, None][None], grid, half)
    ref2 = finufft.nufft3d2(*x, coefficients.numpy(), isign=1, eps=1e-14, modeord=1)
    assert np.abs(ref2.imag).max() < 1e-9 * np.abs(ref2.real).max()
    err2 = np.linalg.norm(ours2[:, 0].numpy() - ref2.real) / np.linalg.norm(ref2.real)
    assert err2 < 0.1 * tolerance, f"type 2: relative error {err2:.2e}"


def test_type2_is_the_adjoint_of_type1():
    """<type1(c), F> = <c, type2(F)> exactly for the discrete operators (same weights)."""
    half = [5, 6, 7]
    s = _points(100, seed=6)
    c = torch.randn(100, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    nufft = PeriodicNUFFT(1e-6)
    grid = [nufft.grid_size(k) for k in half]
    stencil = nufft.weights(s, torch.zeros(100, dtype=torch.long), grid)
    full = _hermitian(half, seed=8)
    coeff = full[:, :, : half[2] + 1, None][None]
    lhs_half = nufft.type1(stencil, c, 1, grid, half)
    # Sum over the full spectrum from the half spectrum: m3 > 0 counted twice (real part).
    weight = torch.full((half[2] + 1,), 2.0, dtype=torch.float64)
    weight[0] = 1.0
    lhs = (lhs_half.conj() * coeff).real * weight[None, None, None, :, None]
    rhs = (c * nufft.type2(stencil, coeff, grid, half)).sum()
    assert float(lhs.sum()) == pytest.approx(float(rhs), rel=1e-12)


def test_grid_sizes_are_smooth_even_and_upsampled():
    nufft = PeriodicNUFFT(1e-6)
    for k in range(0, 60):
        n = nufft.grid_size(k)
        assert n % 2 == 0 and n >= 2 * (2 * k + 1) and n >= 2 * nufft.width
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        assert m == 1


def test_loose_tolerances_take_the_coarse_grid():
    """At NUFFT tolerances >= 1e-5 the grid is upsampled 1.25x with beta = 2.3 w and one more
    half decade of width (design §2.4); tighter ones keep upsampling 2 and beta = 2.75 w."""
    assert nufft_rule(1e-5) == COARSE_GRID_RULE and nufft_rule(9.9e-6) == FINE_GRID_RULE
    # widths: ceil(2.5 - log10 tol) coarse, ceil(1.75 - log10 tol) fine
    assert [kernel_width_from_tolerance(t) for t in (1e-2, 4.42e-4, 1e-4, 1e-5)] == [5, 6, 7, 8]
    assert [kernel_width_from_tolerance(t) for t in (9e-6, 1e-6, 1e-9)] == [7, 8, 11]
    coarse = PeriodicNUFFT(6.25e-4)
    assert coarse.upsampling == 1.25 and coarse.beta == 2.3 * coarse.width
    for k in range(0, 60):
        n = coarse.grid_size(k)
        assert n % 2 == 0 and n >= 1.25 * (2 * k + 1) and n >= 2 * coarse.width
        assert n < 2 * (2 * k + 1) or n == 2 * coarse.width or k < 3
