"""The SOG long-range layer (SOG-Net's "Fourier convolution layer").

For per-atom charges q_{i,c} (P channels), a periodic cell h (rows are the cell vectors,
V = det h) and an :class:`~openmm_sog.kernel.SOGKernel` g_c:

    E = sum_c [ 1/(2V) sum_{k != 0} ghat_c(k) |S_c(k)|^2  -  1/2 g_c(0) sum_i q_{i,c}^2 ],
    S_c(k) = sum_j q_{j,c} exp(-i k.r_j),   k = 2 pi h^{-1} m,  m integer,

which equals the lattice sum 1/2 sum'_{i,j,n} q_i q_j g(|r_i - r_j + n h|) minus the
neutralising background Q^2 ghat(0) / (2V). S is evaluated with a type-1 NUFFT on the fractional
cell, and the per-atom potentials dE/dq with a type-2 NUFFT from the same spreading weights.
Units: whatever the kernel uses (Angstrom, eV and e on the torch side).
"""

from __future__ import annotations

import math
import os

import torch
from torch import Tensor, nn

from .exact_products import vector_matrix_product
from .kernel import SOGKernel
from .nufft import PeriodicNUFFT

__all__ = ["SOGLongRange", "host_memory_bytes"]

#: Real numbers held per fine-grid point and channel during one evaluation: the spread grid,
#: its half spectrum (complex) and the potential grid interpolated back.
GRID_VALUES_PER_POINT = 4
#: The NUFFT's share of the tolerance (the k-space truncation leaves tolerance / 10 of the
#: narrowest Gaussian); C++: SOGForceImpl::nufftErrorShare.
NUFFT_ERROR_SHARE = 0.1


def host_memory_bytes() -> int:
    """Physical memory of this machine, bytes (the bound on one evaluation's grids)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not POSIX: no bound
        return 2**62


class SOGLongRange(nn.Module):
    """Long-range energy of latent charges with a sum-of-Gaussians kernel, via NUFFT.

    Batched: several structures with different atom counts and cells in one call, selected by
    a ``batch`` index. Differentiable to second order in positions, charges, cell and kernel
    parameters (forces, stress, and force-matching training all use autograd).

    :param kernel: the sum-of-Gaussians kernel (P channels).
    :param tolerance: requested relative accuracy of energies and forces against the exact
        lattice sum, in (1e-10, 1e-1). Sets the NUFFT kernel width and the k-space cutoff.
    :param real_space_width: Gaussians no wider than this (length) are left out: the caller
        sums them in real space (:class:`~openmm_sog.model.long_range.LatentLongRange` does,
        over its neighbour list), so that the narrowest width in k-space, which sets the
        grid spacing, is larger. 0 (default): every Gaussian is summed here.
    """

    def __init__(
        self, kernel: SOGKernel, tolerance: float = 1e-5, real_space_width: float = 0.0
    ) -> None:
        super().__init__()
        if not 1e-10 < tolerance < 1e-1:
            raise ValueError(f"tolerance must lie in (1e-10, 1e-1), got {tolerance}")
        if not real_space_width >= 0.0:
            raise ValueError(f"real_space_width must be >= 0, got {real_space_width}")
        self.kernel = kernel
        self.tolerance = float(tolerance)
        self.real_space_width = float(real_space_width)
        # The transform's share of the force error (C++: SOGForceImpl::nufftErrorShare).
        self.nufft = PeriodicNUFFT(NUFFT_ERROR_SHARE * tolerance)
        # ghat(k) ~ exp(-sigma^2 k^2 / 4) must fall below tolerance / 10 at the k-space cutoff.
        self.k_cutoff_times_width = 2.0 * math.sqrt(math.log(10.0 / tolerance))
        #: grids needing more memory than this (bytes) are refused before allocation
        self.max_grid_bytes = host_memory_bytes()
        self.grid_values_per_point = GRID_VALUES_PER_POINT

    def forward(
        self,
        positions: Tensor,
        charges: Tensor,
        cell: Tensor,
        batch: Tensor | None = None,
    ) -> Tensor:
        """Long-range energy per structure.

        :param positions: ``[N, 3]`` Cartesian positions; length.
        :param charges: ``[N, P]`` (or ``[N]`` for P = 1) charges; charge.
        :param cell: ``[3, 3]`` or ``[B, 3, 3]`` cells, rows are cell vectors; length.
        :param batch: ``[N]`` structure index in ``0..B-1`` (``None``: one structure).
        :return: ``[B]`` energies (``[1]`` for one structure); energy.
        """
        energy, _ = self._compute(positions, charges, cell, batch, False)
        return energy

    @torch.jit.export
    def energy_and_potentials(
        self,
        positions: Tensor,
        charges: Tensor,
        cell: Tensor,
        batch: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Energy per structure ``[B]`` and per-atom potentials dE/dq ``[N, P]``.

        The potentials phi_c(r_i) - g_c(0) q_{i,c} come from a type-2 NUFFT that reuses the
        spreading weights of the energy; arguments as in :meth:`forward`.
        """
        energy, potentials = self._compute(positions, charges, cell, batch, True)
        assert potentials is not None
        return energy, potentials

    def _compute(
        self,
        positions: Tensor,
        charges: Tensor,
        cell: Tensor,
        batch: Tensor | None,
        want_potentials: bool,
    ) -> tuple[Tensor, Tensor | None]:
        if charges.dim() == 1:
            charges = charges.unsqueeze(-1)
        cells, batch, num_batches = self._validate(positions, charges, cell, batch)
        dtype, device = positions.dtype, positions.device

        inverse = torch.linalg.inv(cells)  # [B, 3, 3]; s = r h^{-1}
        volume = torch.linalg.det(cells)  # [B]
        fractional = vector_matrix_product(positions, inverse[batch])

        mask = self.kspace_mask()
        lengths, min_width, any_kspace = self._host_geometry(cells, mask)
        if not any_kspace:  # everything is in real space
            zero = torch.zeros(num_batches, dtype=dtype, device=device)
            return zero, (torch.zeros_like(charges) if want_potentials else None)
        half, grid = self._grid_from(lengths, min_width)
        self._refuse_oversized_grid(grid, num_batches, charges.shape[1], dtype, mask)
        stencil = self.nufft.weights(fractional, batch, grid)
        structure = self.nufft.type1(stencil, charges, num_batches, grid, half)  # [B,.,.,.,P]

        # k = 2 pi h^{-1} m on the kept modes; ghat(k) as one multiplier per channel.
        modes = self.nufft.mode_indices(half, device)
        reciprocal = 2.0 * math.pi * inverse  # columns are reciprocal vectors
        m1 = modes[0].to(dtype)[:, None, None, None]
        m2 = modes[1].to(dtype)[None, :, None, None]
        m3 = modes[2].to(dtype)[None, None, :, None]
        kvec = (
            m1 * reciprocal[:, None, None, None, :, 0]
            + m2 * reciprocal[:, None, None, None, :, 1]
            + m3 * reciprocal[:, None, None, None, :, 2]
        )  # [B, K1', K2', K3', 3]
        # Every k != 0 has |k| >= 2 pi / max_d |a_d| (k.a_d = 2 pi m_d).
        longest = max(lengths)
        k_sq_min = (2.0 * math.pi / longest) ** 2
        ghat = self.kernel.fourier((kvec * kvec).sum(-1), k_sq_min, mask)  # [B, K1', K2', K3', P]
        # Half spectrum: a mode with m3 > 0 stands for its conjugate too; k = 0 is excluded.
        multiplicity = torch.full(
            (modes[0].shape[0], modes[1].shape[0], modes[2].shape[0]),
            2.0,
            dtype=dtype,
            device=device,
        )
        multiplicity[:, :, 0] = 1.0
        multiplicity[0, 0, 0] = 0.0
        multiplicity = multiplicity.unsqueeze(-1)

        power = structure.real * structure.real + structure.imag * structure.imag
        kspace = (multiplicity * ghat * power).sum((1, 2, 3)) / (
            2.0 * volume.unsqueeze(-1)
        )  # [B, P]
        g_zero = self.kernel.value_at_zero(mask)  # [P]
        self_term = 0.5 * g_zero * charges * charges  # [N, P]
        self_per_structure = torch.zeros(
            num_batches, charges.shape[1], dtype=dtype, device=device
        ).index_add(0, batch, self_term)
        energy = (kspace - self_per_structure).sum(-1)

        if not want_potentials:
            return energy, None
        # dE/dq = phi(r_i) - g(0) q_i with phi = 1/V sum_{k != 0} ghat S exp(ik.r); the type 2
        # extends the half spectrum to its Hermitian whole itself.
        coefficients = structure * (ghat * (multiplicity > 0))
        coefficients = coefficients / volume[:, None, None, None, None]
        phi = self.nufft.type2(stencil, coefficients, grid, half)
        potentials = phi - g_zero * charges
        return energy, potentials

    def kspace_mask(self) -> Tensor | None:
        """Bool ``[P, M]``: the Gaussians summed here (None: all of them)."""
        if self.real_space_width <= 0.0:
            return None
        return self.kernel.widths().detach() > self.real_space_width

    def _host_geometry(self, cells: Tensor, mask: Tensor | None) -> tuple[list[float], float, bool]:
        """What the host needs to plan the grid, in one transfer from the device: the longest
        cell vector per dimension over the batch (length), the smallest width of a Gaussian
        with non-zero weight summed here (length; the smallest of all if none has) and whether
        any Gaussian is summed here at all."""
        smallest = self.kernel.smallest_width(mask)
        kept = torch.ones((), dtype=torch.bool, device=smallest.device)
        if mask is not None:
            kept = mask.any()
        lengths = torch.linalg.norm(cells.detach(), dim=-1).amax(0)  # [3]
        summary = torch.stack([smallest, kept.to(smallest.dtype)])
        values: list[float] = torch.cat(
            [lengths.to(torch.float64), summary.to(lengths.device, torch.float64)]
        ).tolist()
        return values[:3], values[3], values[4] != 0.0

    def _grid(self, cells: Tensor, mask: Tensor | None = None) -> tuple[list[int], list[int]]:
        """Modes kept per dimension (K_d) and fine grid sizes for cells ``[B, 3, 3]``."""
        lengths, min_width, _ = self._host_geometry(cells, mask)
        return self._grid_from(lengths, min_width)

    def _grid_from(self, lengths: list[float], min_width: float) -> tuple[list[int], list[int]]:
        """Modes kept per dimension (K_d) and fine grid sizes, shared by the whole batch, from
        the longest cell vector per dimension and the narrowest Gaussian (both length).

        Since k.a_d = 2 pi m_d, every mode with |m_d| > k_cut |a_d| / (2 pi) has |k| > k_cut.
        """
        k_cutoff = self.k_cutoff_times_width / min_width
        half: list[int] = []
        grid: list[int] = []
        for d in range(3):
            k = int(math.floor(k_cutoff * lengths[d] / (2.0 * math.pi)))
            half.append(k)
            grid.append(self.nufft.grid_size(k))
        return half, grid

    def _refuse_oversized_grid(
        self,
        grid: list[int],
        num_batches: int,
        num_channels: int,
        dtype: torch.dtype,
        mask: Tensor | None,
    ) -> None:
        """Raise before allocating grids larger than the machine's memory.

        The narrowest Gaussian in k-space sets the grid spacing: a very narrow one asks for
        a grid no machine holds, and belongs in real space instead.
        """
        points = grid[0] * grid[1] * grid[2]
        element = torch.empty(0, dtype=dtype).element_size()
        needed = self.grid_values_per_point * points * num_batches * num_channels * element
        if needed <= self.max_grid_bytes:
            return
        widths = self.kernel.widths().detach()
        used = self.kernel.masked_weights(mask).detach() != 0
        masked = torch.where(used, widths, torch.full_like(widths, float("inf")))
        flat = int(torch.argmin(masked))
        channel, index = flat // widths.shape[1], flat % widths.shape[1]
        width = float(widths.flatten()[flat])
        # TorchScript formats no precision: round to 3 significant digits by hand.
        needed_gib = float(int(needed / 2.0**30 * 100.0)) / 100.0
        limit_gib = float(int(self.max_grid_bytes / 2.0**30 * 100.0)) / 100.0
        raise ValueError(
            f"the Gaussian {index} of channel {channel} (width {width}) needs a {grid[0]} x "
            f"{grid[1]} x {grid[2]} NUFFT grid: {needed_gib} GiB for {num_batches} "
            f"structure(s) and {num_channels} channel(s), more than this machine's "
            f"{limit_gib} GiB; sum Gaussians this narrow in real space "
            "(SOGLongRange(real_space_width=...)), or loosen the tolerance"
        )

    def _validate(
        self,
        positions: Tensor,
        charges: Tensor,
        cell: Tensor,
        batch: Tensor | None,
    ) -> tuple[Tensor, Tensor, int]:
        """Check shapes and values; return cells ``[B, 3, 3]``, batch ``[N]`` and B."""
        if positions.dim() != 2 or positions.shape[1] != 3:
            raise ValueError(f"positions must have shape [N, 3], got {list(positions.shape)}")
        n = positions.shape[0]
        if charges.dim() != 2 or charges.shape[0] != n:
            raise ValueError(
                f"charges must have shape [N, P] or [N] with N = {n}, got {list(charges.shape)}"
            )
        p = self.kernel.num_channels
        if charges.shape[1] != p:
            raise ValueError(f"charges have {charges.shape[1]} channels but the kernel has {p}")
        if charges.dtype != positions.dtype or cell.dtype != positions.dtype:
            raise ValueError(
                f"positions, charges and cell must share a dtype, got {positions.dtype}, "
                f"{charges.dtype} and {cell.dtype}"
            )
        if cell.dim() == 2:
            cell = cell.unsqueeze(0)
        if cell.dim() != 3 or cell.shape[1] != 3 or cell.shape[2] != 3:
            raise ValueError(f"cell must have shape [3, 3] or [B, 3, 3], got {list(cell.shape)}")
        num_batches = cell.shape[0]
        if batch is None:
            if num_batches != 1:
                raise ValueError(f"batch is required when {num_batches} cells are given")
            batch = torch.zeros(n, dtype=torch.long, device=positions.device)
        else:
            if batch.dim() != 1 or batch.shape[0] != n:
                raise ValueError(f"batch must have shape [N] with N = {n}, got {list(batch.shape)}")
            if batch.dtype != torch.long:
                raise ValueError(f"batch must be an int64 tensor, got {batch.dtype}")
        # The value checks, in one transfer to the host: each bool() of a GPU tensor waits for
        # the device, and a step that waits often cannot keep a GPU busy.
        volume = torch.linalg.det(cell.detach())
        scale = torch.linalg.norm(cell.detach(), dim=-1).prod(-1)
        in_range = torch.ones((), dtype=torch.bool, device=positions.device)
        if n > 0:
            in_range = (batch.min() >= 0) & (batch.max() < num_batches)
        flags: list[bool] = torch.stack(
            [
                torch.isfinite(positions).all(),
                torch.isfinite(charges).all(),
                torch.isfinite(cell).all(),
                in_range,
                (volume.abs() <= 1e-8 * scale).any(),
                (volume < 0).any(),
            ]
        ).tolist()
        if not flags[0]:
            raise ValueError("positions contain NaN or infinite values")
        if not flags[1]:
            raise ValueError("charges contain NaN or infinite values")
        if not flags[2]:
            raise ValueError("cell contains NaN or infinite values")
        if not flags[3]:
            raise ValueError(
                f"batch indices must lie in [0, {num_batches - 1}] for {num_batches} cells"
            )
        if flags[4]:
            raise ValueError("cell is singular (its vectors are linearly dependent)")
        if flags[5]:
            raise ValueError("cell is left-handed (negative determinant); reorder its vectors")
        return cell, batch, num_batches
