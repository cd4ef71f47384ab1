"""SOGKernel: closed forms against numerical integrals, the Coulomb preset, bad input."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from openmm_sog import CoulombSOGKernel, SOGKernel


@torch.no_grad()
def test_value_and_fourier_transform_match_numerical_integrals(make_kernel):
    kernel = make_kernel(2)
    r = torch.tensor([0.0, 0.7, 2.0, 5.0], dtype=torch.float64)
    w, s = kernel.weights.detach().numpy(), kernel.widths().detach().numpy()
    expected = (w[None] * np.exp(-(r.numpy()[:, None, None] ** 2) / s[None] ** 2)).sum(-1)
    np.testing.assert_allclose(kernel.value(r).detach().numpy(), expected, rtol=1e-14)
    # ghat(k) = int g(r) exp(-i k.r) d^3r = 4 pi / k int r sin(k r) g(r) dr (radial quadrature).
    for k in [1e-3, 0.5, 1.7]:
        for c in range(2):

            def radial(x, k=k, c=c):
                return (
                    float(kernel.value(torch.tensor(x, dtype=torch.float64))[c])
                    * x
                    * math.sin(k * x)
                )

            numeric = 4 * math.pi / k * integrate.quad(radial, 0, 40, limit=200)[0]
            got = float(kernel.fourier(torch.tensor(k * k, dtype=torch.float64))[c])
            assert got == pytest.approx(numeric, rel=1e-8, abs=1e-10)
    np.testing.assert_allclose(
        kernel.value_at_zero().detach(), kernel.value(torch.zeros((), dtype=torch.float64)).detach()
    )
    np.testing.assert_allclose(
        kernel.fourier_at_zero().detach(),
        kernel.fourier(torch.zeros((), dtype=torch.float64)).detach(),
    )


def test_one_channel_shapes_and_positive_widths():
    kernel = SOGKernel(torch.tensor([1.0, 2.0]), torch.tensor([0.5, 1.5]))
    assert kernel.num_channels == 1 and kernel.num_gaussians == 2
    assert kernel.value(torch.ones(4, 3)).shape == (4, 3, 1)
    with torch.no_grad():
        kernel.log_widths -= 100.0  # any log-width still means a positive width
    assert bool((kernel.widths() > 0).all())


@pytest.mark.parametrize("tolerance", [1e-3, 1e-5, 1e-7])
def test_coulomb_preset_splits_one_over_r(tolerance):
    cutoff = 10.0
    kernel = SOGKernel.coulomb(14.4, cutoff, tolerance)
    assert isinstance(kernel, CoulombSOGKernel)
    r = torch.linspace(0.5, 60.0, 5000, dtype=torch.float64)
    total = kernel.value(r)[:, 0] + kernel.short_range(r)
    torch.testing.assert_close(total, 14.4 / r, rtol=1e-12, atol=0)
    # Beyond the cutoff the long-range Gaussians alone are prefactor/r to the tolerance.
    far = r[r >= cutoff]
    rel = (kernel.value(far)[:, 0] * far / 14.4 - 1).abs().max()
    assert float(rel) < tolerance
    assert float((kernel.short_range(far) * far / 14.4).abs().max()) < tolerance


@pytest.mark.parametrize(
    ("weights", "widths", "match"),
    [
        ([1.0, 2.0], [1.0, -1.0], "widths must be > 0"),
        ([1.0, 2.0], [1.0, 0.0], "widths must be > 0"),
        ([1.0, 2.0], [1.0], "same shape"),
        ([1.0, float("nan")], [1.0, 2.0], "finite"),
        ([[[1.0]]], [[[1.0]]], "shape"),
    ],
)
def test_bad_kernel_parameters(weights, widths, match):
    with pytest.raises(ValueError, match=match):
        SOGKernel(torch.tensor(weights), torch.tensor(widths))


def test_bad_coulomb_parameters():
    with pytest.raises(ValueError, match="tolerance"):
        SOGKernel.coulomb(1.0, 10.0, 0.5)
    with pytest.raises(ValueError, match="cutoff"):
        SOGKernel.coulomb(1.0, -1.0, 1e-5)
