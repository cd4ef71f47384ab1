"""Periodic type-1 / type-2 non-uniform FFTs on the fractional unit cell, in torch operations.

Points are fractional coordinates s in [0, 1)^3 (so triclinic cells need nothing special);
modes are integer vectors m with |m_d| <= K_d. With grid sizes n_d >= sigma (2 K_d + 1), the
upsampling sigma 2 or, at loose tolerances, 1.25 (`nufft_rule`):

* type 1:  F(m) = sum_j c_j exp(-2 pi i m.s_j)      (spread, FFT, deconvolve)
* type 2:  f(s_j) = sum_m F(m) exp(+2 pi i m.s_j)   (deconvolve, inverse FFT, interpolate)

Both use one set of per-point spreading weights (`SpreadingWeights`), built once per call and
shared by every channel, by spreading and by interpolation. The spreading kernel is the
Kaiser-Bessel window phi(z) = I0(beta sqrt(1 - z^2)) - 1 on |z| <= 1 (it vanishes at the
edge, so weights are continuous in the positions); its Fourier transform is closed-form, and
it is an entire function of 1 - z^2, so weights are smooth to any derivative order (forces,
and the double backward that force training needs).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "NUFFTRule",
    "PeriodicNUFFT",
    "SpreadingWeights",
    "kaiser_bessel_beta",
    "kernel_width_from_tolerance",
    "nufft_rule",
    "smooth_grid_size",
]

MIN_KERNEL_WIDTH = 4
MAX_KERNEL_WIDTH = 16


class NUFFTRule(NamedTuple):
    """Grid upsampling, window shape and error bound of the transform (docs/design.md §2.4).

    With beta = ``beta_per_point`` w the transform's force error is about
    10^(``error_offset`` - w) of the force norm or less, on grids of ``upsampling`` (2K + 1)
    points per dimension, for the widths the rule gives it.
    """

    upsampling: float
    beta_per_point: float
    error_offset: float


#: Tight tolerances: upsampling 2, beta = 2.75 w, error 0.21-1.11 of 10^(1.75 - w) (measured;
#: the Beatty et al. beta pi sqrt((0.75 w)^2 - 0.8), optimal for the window's values, gives
#: 4-40x larger force errors). C++: SOGForceImpl::getNufftRule.
FINE_GRID_RULE = NUFFTRule(2.0, 2.75, 1.75)
#: Loose tolerances: upsampling 1.25, beta = 2.3 w, error at most 10^(2.5 - w) for w <= 7
#: (bench/calibrate_upsampling.py): the same or one more point per dimension than the fine rule
#: on a grid with 4x fewer points. C++: SOGForceImpl::getNufftRule.
COARSE_GRID_RULE = NUFFTRule(1.25, 2.3, 2.5)
#: NUFFT tolerances at least this take the coarse grid: widths up to 8, whose measured error,
#: at most 4.5e-6, is under half of it (past w = 8 the error no longer falls tenfold per point).
COARSE_GRID_MIN_TOLERANCE = 1e-5


def nufft_rule(tolerance: float) -> NUFFTRule:
    """The grid and window rule for a NUFFT (relative force error) ``tolerance``."""
    return COARSE_GRID_RULE if tolerance >= COARSE_GRID_MIN_TOLERANCE else FINE_GRID_RULE


def kernel_width_from_tolerance(tolerance: float) -> int:
    """Spreading kernel width in grid points for a relative force error ``tolerance``."""
    if not 1e-16 < tolerance < 1.0:
        raise ValueError(f"tolerance must lie in (1e-16, 1), got {tolerance}")
    width = math.ceil(nufft_rule(tolerance).error_offset - math.log10(tolerance))
    return min(max(width, MIN_KERNEL_WIDTH), MAX_KERNEL_WIDTH)


def kaiser_bessel_beta(width: int, tolerance: float) -> float:
    """Kaiser-Bessel shape parameter for a width and the rule of a NUFFT ``tolerance``."""
    return nufft_rule(tolerance).beta_per_point * width


def smooth_grid_size(minimum: int) -> int:
    """Smallest even integer >= ``minimum`` whose prime factors are 2, 3 and 5."""
    n = max(2, minimum + (minimum % 2))
    while not _is_smooth(n):
        n += 2
    return n


def _is_smooth(n: int) -> bool:
    for p in [2, 3, 5]:
        while n % p == 0:
            n = n // p
    return n == 1


class SpreadingWeights(NamedTuple):
    """Per-point spreading stencil: flat periodic grid indices and per-dimension weights."""

    #: ``[N * w^3]`` flat indices into a ``[B * n1 * n2 * n3]`` grid.
    index: Tensor
    #: ``[N, 3, w]`` per-dimension kernel weights (differentiable in the positions), rows in
    #: ``order``.
    weights: Tensor
    #: ``[N]`` the order in which points are visited (sorted by grid cell).
    order: Tensor


class PeriodicNUFFT(torch.nn.Module):
    """Type-1 and type-2 NUFFT on the periodic unit cube for batched point sets.

    The kernel width and shape follow from ``tolerance``: the relative force error of transforms
    whose modes are weighted as SOGLongRange weights them (by a kernel that falls to about
    tolerance at the largest kept mode; docs/design.md section 2.4). With every mode weighted
    alike the transforms are less accurate than that. Grid sizes are chosen per call from the
    number of modes.

    :param tolerance: requested relative accuracy in that sense, in (1e-16, 1).
    """

    def __init__(self, tolerance: float) -> None:
        super().__init__()
        self.tolerance = float(tolerance)
        self.width = kernel_width_from_tolerance(tolerance)
        self.upsampling = nufft_rule(tolerance).upsampling
        self.half_width = 0.5 * self.width
        self.beta = kaiser_bessel_beta(self.width, tolerance)
        # Normalise the window to a peak of 1 so float32 stays well scaled.
        self.peak = float(torch.special.i0(torch.tensor(self.beta, dtype=torch.float64))) - 1.0

    def grid_size(self, num_modes_half: int) -> int:
        """Fine grid size for modes ``-K..K`` (``num_modes_half`` = K)."""
        minimum = max(int(math.ceil(self.upsampling * (2 * num_modes_half + 1))), 2 * self.width)
        return smooth_grid_size(minimum)

    def window(self, z: Tensor) -> Tensor:
        """Kaiser-Bessel window phi(z) / peak for |z| <= 1."""
        y = 1.0 - z * z
        # Near the edge sqrt(y) has an infinite derivative although phi is smooth in y:
        # use the power series there (the double-where keeps gradients finite).
        small = 1e-3
        is_big = y > small
        y_big = torch.where(is_big, y, torch.ones_like(y))
        big = torch.special.i0(self.beta * torch.sqrt(y_big)) - 1.0
        t = 0.25 * self.beta * self.beta * y
        series = t * (1.0 + t * (0.25 + t * (1.0 / 36.0 + t * (1.0 / 576.0 + t / 14400.0))))
        return torch.where(is_big, big, series) / self.peak

    def window_fourier(self, omega: Tensor) -> Tensor:
        """Fourier transform of the normalised window, int phi(z) exp(-i omega z) dz / peak."""
        root = torch.sqrt(self.beta * self.beta - omega * omega)
        return (2.0 * torch.sinh(root) / root - 2.0 * torch.sinc(omega / math.pi)) / self.peak

    def deconvolution(self, modes: Tensor, grid: int) -> Tensor:
        """Per-dimension factor alpha * phihat(2 pi m alpha / n) by which type 1 is divided."""
        omega = (2.0 * math.pi * self.half_width / grid) * modes
        return self.half_width * self.window_fourier(omega)

    def weights(self, fractional: Tensor, batch: Tensor, grid: list[int]) -> SpreadingWeights:
        """Spreading stencil of points at fractional coordinates ``[N, 3]`` on grid ``grid``.

        :param fractional: ``[N, 3]`` fractional coordinates (any real values; wrapped here).
        :param batch: ``[N]`` structure index of each point.
        :param grid: fine grid sizes ``[n1, n2, n3]`` shared by all structures.
        """
        w = self.width
        # Grid sizes filled in on the device: a tensor made from host data would be copied to a
        # GPU, and that copy waits for the device.
        sizes = torch.empty(3, dtype=fractional.dtype, device=fractional.device)
        sizes_long = torch.empty(3, dtype=torch.long, device=fractional.device)
        for d in range(3):
            sizes[d] = float(grid[d])
            sizes_long[d] = grid[d]
        wrapped = fractional - torch.floor(fractional.detach())
        u = wrapped * sizes  # grid coordinates in [0, n), [N, 3]
        first = torch.ceil(u.detach() - self.half_width)  # first node of the support, >= -w/2
        offsets = torch.arange(w, dtype=fractional.dtype, device=fractional.device)
        z = (u.unsqueeze(-1) - (first.unsqueeze(-1) + offsets)) / self.half_width  # (-1, 1]
        phi = self.window(z)  # [N, 3, w]
        # Visit points in grid order: neighbouring stencils then share cache lines, which makes
        # the scatter and gather several times faster than in input order.
        first_long = first.long()
        key = ((batch * grid[0] + first_long[:, 0]) * grid[1] + first_long[:, 1]) * grid[
            2
        ] + first_long[:, 2]
        order = torch.argsort(key)
        phi = phi.index_select(0, order)
        # Periodic node indices per dimension; the flat index is built separably.
        t = torch.arange(w, device=fractional.device)
        nodes = torch.remainder(first_long[order].unsqueeze(-1) + t, sizes_long.unsqueeze(-1))
        plane = (batch[order].unsqueeze(-1) * grid[0] + nodes[:, 0]) * grid[1]  # [N, w]
        row = (plane.unsqueeze(-1) + nodes[:, 1].unsqueeze(1)) * grid[2]  # [N, w, w]
        index = (row.unsqueeze(-1) + nodes[:, 2, None, None, :]).reshape(-1)
        return SpreadingWeights(index, phi, order)

    def spread(
        self, stencil: SpreadingWeights, values: Tensor, num_batches: int, grid: list[int]
    ) -> Tensor:
        """Spread ``[N, P]`` values onto a periodic real grid ``[B, n1, n2, n3, P]``."""
        phi = stencil.weights
        values = values.index_select(0, stencil.order)
        size = num_batches * grid[0] * grid[1] * grid[2]
        channels: list[Tensor] = []
        # One channel at a time: 1-D scatters are much faster than row-wise ones.
        for c in range(values.shape[1]):
            source = values[:, c, None] * phi[:, 0]  # [N, w]
            source = source.unsqueeze(2) * phi[:, 1, None, :]  # [N, w, w]
            source = source.unsqueeze(3) * phi[:, 2, None, None, :]  # [N, w, w, w]
            flat = torch.zeros(size, dtype=values.dtype, device=values.device)
            channels.append(flat.index_add(0, stencil.index, source.reshape(-1)))
        grid_values = torch.stack(channels, dim=-1)
        return grid_values.reshape(num_batches, grid[0], grid[1], grid[2], len(channels))

    def interpolate(self, stencil: SpreadingWeights, grid_values: Tensor) -> Tensor:
        """Interpolate a periodic real grid ``[B, n1, n2, n3, P]`` at the points: ``[N, P]``."""
        w = self.width
        phi = stencil.weights
        channels: list[Tensor] = []
        for c in range(grid_values.shape[-1]):
            flat = grid_values[..., c].reshape(-1)
            gathered = flat.index_select(0, stencil.index).reshape(-1, w, w, w)
            # Elementwise, not einsum: a matmul would take reduced-precision inputs in TF32 mode.
            out = (gathered * phi[:, 2, None, None, :]).sum(-1)
            out = (out * phi[:, 1, None, :]).sum(-1)
            channels.append((out * phi[:, 0]).sum(-1))
        sorted_values = torch.stack(channels, dim=-1)
        return torch.zeros_like(sorted_values).index_copy(0, stencil.order, sorted_values)

    def mode_indices(self, half: list[int], device: torch.device) -> list[Tensor]:
        """Integer modes kept along each dimension: ``[0..K, -K..-1]`` twice, then ``[0..K]``."""
        out: list[Tensor] = []
        for d in range(3):
            k = half[d]
            # Made on the device: a copy from the host would wait for it.
            if d < 2:
                m = torch.cat(
                    [torch.arange(0, k + 1, device=device), torch.arange(-k, 0, device=device)]
                )
            else:
                m = torch.arange(0, k + 1, device=device)
            out.append(m)
        return out

    def type1(
        self,
        stencil: SpreadingWeights,
        values: Tensor,
        num_batches: int,
        grid: list[int],
        half: list[int],
    ) -> Tensor:
        """Type-1 transform on the half spectrum: ``[B, 2K1+1, 2K2+1, K3+1, P]`` complex.

        Modes are laid out as in :meth:`mode_indices` (the negative third-dimension modes are
        the complex conjugates of the positive ones, since values are real).
        """
        real_grid = self.spread(stencil, values, num_batches, grid)
        spectrum = torch.fft.rfftn(real_grid, dim=(1, 2, 3))
        spectrum = self._crop(spectrum, grid, half)
        return spectrum / self._deconvolution_3d(grid, half, values.dtype, values.device)

    def type2(
        self, stencil: SpreadingWeights, coefficients: Tensor, grid: list[int], half: list[int]
    ) -> Tensor:
        """Type-2 transform of Hermitian coefficients given on the half spectrum: ``[N, P]``.

        ``coefficients`` has the layout returned by :meth:`type1`; the full spectrum is its
        Hermitian extension, so the result is real.
        """
        dtype = stencil.weights.dtype
        scaled = coefficients / self._deconvolution_3d(grid, half, dtype, coefficients.device)
        padded = self._embed(scaled, grid, half)
        real_grid = torch.fft.irfftn(padded, s=grid, dim=(1, 2, 3), norm="forward")
        return self.interpolate(stencil, real_grid)

    def _deconvolution_3d(
        self, grid: list[int], half: list[int], dtype: torch.dtype, device: torch.device
    ) -> Tensor:
        modes = self.mode_indices(half, device)
        f = [self.deconvolution(modes[d].to(torch.float64), grid[d]) for d in range(3)]
        full = f[0][:, None, None] * f[1][None, :, None] * f[2][None, None, :]
        return full.to(dtype).unsqueeze(-1)

    @staticmethod
    def _crop(spectrum: Tensor, grid: list[int], half: list[int]) -> Tensor:
        k1, k2, k3 = half[0], half[1], half[2]
        n1, n2 = grid[0], grid[1]
        spectrum = torch.cat([spectrum[:, : k1 + 1], spectrum[:, n1 - k1 :]], dim=1)
        spectrum = torch.cat([spectrum[:, :, : k2 + 1], spectrum[:, :, n2 - k2 :]], dim=2)
        return spectrum[:, :, :, : k3 + 1]

    @staticmethod
    def _embed(coefficients: Tensor, grid: list[int], half: list[int]) -> Tensor:
        """Inverse of :meth:`_crop`: zero-pad to the ``[B, n1, n2, n3 // 2 + 1, P]`` half grid."""
        k1, k2, k3 = half[0], half[1], half[2]
        n1, n2, n3 = grid[0], grid[1], grid[2]
        b, p = coefficients.shape[0], coefficients.shape[-1]
        c = coefficients
        dtype, device = c.dtype, c.device
        pad3 = torch.zeros(
            b, 2 * k1 + 1, 2 * k2 + 1, n3 // 2 + 1 - (k3 + 1), p, dtype=dtype, device=device
        )
        c = torch.cat([c, pad3], dim=3)
        pad2 = torch.zeros(
            b, 2 * k1 + 1, n2 - (2 * k2 + 1), c.shape[3], p, dtype=dtype, device=device
        )
        c = torch.cat([c[:, :, : k2 + 1], pad2, c[:, :, k2 + 1 :]], dim=2)
        pad1 = torch.zeros(b, n1 - (2 * k1 + 1), n2, c.shape[3], p, dtype=dtype, device=device)
        return torch.cat([c[:, : k1 + 1], pad1, c[:, k1 + 1 :]], dim=1)
