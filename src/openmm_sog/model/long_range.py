"""The long-range part of SOG-Net: a learnable SOG kernel acting on latent charges.

Units: Angstrom, eV, e. With the default initialisation a channel with q = +-1 charges starts
as (the long-range part of) Coulomb's law in vacuum in eV.

Periodic structures use :class:`~openmm_sog.long_range.SOGLongRange` (NUFFT, O(N log N)).
Non-periodic structures (molecules, clusters, dimers) use the exact free-space sum
``sum_{i<j} q_i q_j g(r_ij)``: no image charges, no padding-box artefacts and no box size to
choose, at O(N^2) cost, which is what gas-phase data sets (tens to a few thousand atoms) need.
A padded periodic box would instead add spurious image interactions from the wide Gaussians of
the kernel (their widths reach hundreds of Angstrom) unless the box were larger still.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..kernel import SOGKernel
from ..long_range import SOGLongRange
from ..units import COULOMB_EV_ANGSTROM_PER_E2
from .neighbors import structure_layout

__all__ = ["LatentLongRange", "coulomb_initial_kernel"]


def coulomb_initial_kernel(
    num_channels: int,
    min_width: float,
    num_gaussians: int = 24,
    ratio: float = 2.0**0.5,
    prefactor: float = COULOMB_EV_ANGSTROM_PER_E2,
    dtype: torch.dtype = torch.float32,
) -> SOGKernel:
    """Learnable kernel initialised as the long-range part of an SOG expansion of 1/r.

    The bilateral series 1/r = 2/sqrt(pi) int exp(-r^2 e^{2t} + t) dt discretised with step
    h = ln(ratio) gives Gaussians of widths sigma_l = min_width * ratio^l and weights
    ``prefactor * 2 h / (sqrt(pi) sigma_l)``; for min_width << r << sigma_max it reproduces
    1/r up to a relative ripple 2 sqrt(2) exp(-pi^2 / (2 h)), periodic in ln r. The narrower
    Gaussians it leaves out are the short-range complement, learnt by the local model.

    Why the default ratio is sqrt(2) (ripple 2e-6) and not 2 (ripple 2e-3): the ripple's
    derivative is 2 pi / h times larger than the ripple itself, at every distance, so it
    does not fall off faster than Coulomb and a local model cannot absorb it. On the molten
    salt of docs/design.md §8 with exact charges, ratio 2 misses the PME Coulomb forces by
    36 meV/A RMS (14 meV/A beyond a 5 A cutoff) out of 527, ratio sqrt(2) by 0.1 meV/A.
    Halving the ratio's logarithm doubles the Gaussian count, which costs little: the NUFFT
    grid is set by the narrowest width, not by the number of Gaussians.

    :param num_channels: P; every channel starts from the same kernel.
    :param min_width: narrowest width sigma_1; Angstrom. About half the local cutoff leaves
        < 1e-6 of 1/r at the cutoff to the left-out narrow Gaussians.
    :param num_gaussians: M; the widest width is min_width * ratio^(M-1).
    :param ratio: width ratio b > 1 between consecutive Gaussians.
    :param prefactor: Coulomb constant; eV * Angstrom / e^2 (so q = 1 means e).
    """
    if num_channels < 1 or num_gaussians < 1:
        raise ValueError("num_channels and num_gaussians must be >= 1")
    if not ratio > 1.0 or not min_width > 0.0:
        raise ValueError(f"need ratio > 1 and min_width > 0, got {ratio}, {min_width}")
    step = math.log(ratio)
    widths = min_width * ratio ** torch.arange(num_gaussians, dtype=torch.float64)
    weights = prefactor * 2.0 * step / (math.sqrt(math.pi) * widths)
    widths = widths.expand(num_channels, -1).to(dtype)
    weights = weights.expand(num_channels, -1).to(dtype)
    return SOGKernel(weights.clone(), widths.clone(), learnable=True)


class LatentLongRange(nn.Module):
    """Long-range energy ``[B]`` (eV) of latent charges, periodic or free-space per structure.

    For periodic structures the Gaussians narrow enough to vanish (to ``tolerance`` of their
    amplitude) beyond ``cutoff`` are summed in real space over the model's neighbour list, the
    others with the NUFFT, whose grid spacing is set by the narrowest width it has to resolve:
    splitting off the 1 A and 1.4 A Gaussians of a molten-salt model coarsens the grid by 2 per
    dimension. The sum is the same kernel's lattice sum either way (an Ewald-like split of g,
    exact up to the truncation); which Gaussians go where is decided from the current widths
    at every call, so it follows the widths during training.

    :param kernel: learnable SOG kernel, P channels (weights eV/e^2, widths Angstrom).
    :param tolerance: NUFFT accuracy for periodic structures, and the truncation error of the
        real-space Gaussians at ``cutoff`` relative to their amplitude.
    :param cutoff: reach of the neighbour pairs passed to :meth:`forward`; Angstrom. 0 sums
        every Gaussian in k-space.
    """

    def __init__(self, kernel: SOGKernel, tolerance: float = 1e-4, cutoff: float = 0.0) -> None:
        super().__init__()
        if not cutoff >= 0.0:
            raise ValueError(f"cutoff must be >= 0, got {cutoff}")
        self.cutoff = float(cutoff)
        # exp(-r_c^2 / sigma^2) <= tolerance for every Gaussian summed in real space.
        self.real_space_width = (
            self.cutoff / math.sqrt(math.log(1.0 / tolerance)) if cutoff > 0.0 else 0.0
        )
        self.periodic = SOGLongRange(kernel, tolerance, self.real_space_width)
        self.kernel = kernel

    def forward(
        self,
        positions: Tensor,
        charges: Tensor,
        cell: Tensor,
        pbc: Tensor,
        batch: Tensor,
        pair_i: Tensor | None = None,
        pair_j: Tensor | None = None,
        pair_vectors: Tensor | None = None,
    ) -> Tensor:
        """Energy per structure ``[B]``; eV.

        :param positions: ``[N, 3]`` Angstrom, grouped by structure.
        :param charges: ``[N, P]`` latent charges; e.
        :param cell: ``[B, 3, 3]`` rows are cell vectors; Angstrom (ignored where not periodic).
        :param pbc: ``[B]`` bool.
        :param batch: ``[N]`` structure index.
        :param pair_i: ``[E]`` first atom of every pair within ``cutoff``, periodic images
            included, each pair listed both ways (a full neighbour list); required when
            ``cutoff > 0`` and a structure is periodic. :param pair_j: ``[E]`` second atom.
        :param pair_vectors: ``[E, 3]`` their separation vectors (differentiable); Angstrom.
            Pairs farther than ``cutoff`` may be present and are ignored.
        """
        num_structures = cell.shape[0]
        energy = torch.zeros(num_structures, dtype=positions.dtype, device=positions.device)
        # One transfer of the (tiny) pbc flags instead of a device wait per test of them.
        flags: list[bool] = pbc.tolist()
        any_periodic, all_periodic = False, True
        for flag in flags:
            any_periodic = any_periodic or flag
            all_periodic = all_periodic and flag
        if any_periodic:
            energy = energy + self.real_space_energy(
                charges, cell, pbc, batch, pair_i, pair_j, pair_vectors
            )
        if all_periodic:
            energy = energy + self.periodic(positions, charges, cell, batch)
            return energy
        if any_periodic:
            atom_mask = pbc[batch]
            structures = torch.nonzero(pbc).squeeze(-1)
            new_index = torch.cumsum(pbc.to(torch.long), 0) - 1
            e_periodic = self.periodic(
                positions[atom_mask],
                charges[atom_mask],
                cell[structures],
                new_index[batch[atom_mask]],
            )
            energy = energy.index_add(0, structures, e_periodic)
        return energy + self.free_space(positions, charges, pbc, batch, num_structures)

    def real_space_energy(
        self,
        charges: Tensor,
        cell: Tensor,
        pbc: Tensor,
        batch: Tensor,
        pair_i: Tensor | None,
        pair_j: Tensor | None,
        pair_vectors: Tensor | None,
    ) -> Tensor:
        """The real-space part of :meth:`forward` alone ``[B]`` (eV): the narrow Gaussians'
        lattice sum for periodic structures, zero where nothing is split off. Adding the NUFFT
        lattice sum of the Gaussians in ``periodic.kspace_mask()`` (what a native engine such as
        OpenMM's ``TorchSOGForce`` does) gives the periodic structures' long-range energy."""
        num_structures = cell.shape[0]
        if self.real_space_width <= 0.0:
            return torch.zeros(num_structures, dtype=charges.dtype, device=charges.device)
        if pair_i is None or pair_j is None or pair_vectors is None:
            # (pbc is read here only: with pairs, the sum masks non-periodic structures itself)
            if not bool(pbc.any()):
                return torch.zeros(num_structures, dtype=charges.dtype, device=charges.device)
            raise ValueError(
                "LatentLongRange with a cutoff needs the neighbour pairs of periodic "
                "structures (pair_i, pair_j, pair_vectors)"
            )
        return self.real_space(
            charges, cell, pbc, batch, pair_i, pair_j, pair_vectors, num_structures
        )

    def real_space(
        self,
        charges: Tensor,
        cell: Tensor,
        pbc: Tensor,
        batch: Tensor,
        pair_i: Tensor,
        pair_j: Tensor,
        pair_vectors: Tensor,
        num_structures: int,
    ) -> Tensor:
        """Lattice sum of the narrow Gaussians for the periodic structures ``[B]``; eV.

        ``1/2 sum'_{i,j,n} q_i q_j g_narrow(r)`` minus its neutralising background
        ``Q^2 ghat_narrow(0) / (2V)``: what the k-space sum over these Gaussians would give.
        """
        energy = torch.zeros(num_structures, dtype=charges.dtype, device=charges.device)
        kspace = self.periodic.kspace_mask()
        if kspace is None:
            return energy
        narrow = ~kspace  # [P, M]: the Gaussians the NUFFT leaves out
        if not bool(narrow.any()):
            return energy
        # Few operations per pair (this runs on every pair of every evaluation): r^2 without a
        # square root, masks rather than boolean indexing (no host sync, gather-type backward
        # passes), and for one structure a plain sum instead of a scatter by structure.
        r_sq = (pair_vectors * pair_vectors).sum(-1)  # [E]
        g = self.kernel.value_of_squared(r_sq, narrow)  # [E, P]
        products = charges.index_select(0, pair_i) * charges.index_select(0, pair_j)
        pair_energy = (products * g).sum(-1)
        within = r_sq.detach() < self.cutoff * self.cutoff
        if num_structures == 1:
            keep = within & pbc  # [E] & [1]
            pair_energy = torch.where(keep, pair_energy, torch.zeros_like(pair_energy))
            energy = 0.5 * pair_energy.sum().unsqueeze(0)
        else:
            structure = batch.index_select(0, pair_i)
            keep = pbc.index_select(0, structure) & within
            pair_energy = torch.where(keep, pair_energy, torch.zeros_like(pair_energy))
            energy = energy.index_add(0, structure, 0.5 * pair_energy)
        totals = torch.zeros(
            num_structures, charges.shape[1], dtype=charges.dtype, device=charges.device
        ).index_add(0, batch, charges)  # Q per structure and channel
        volume = torch.where(pbc, torch.linalg.det(cell).abs(), torch.ones_like(energy))
        background = (totals * totals * self.kernel.fourier_at_zero(narrow)).sum(-1)
        return energy - torch.where(pbc, background / (2.0 * volume), torch.zeros_like(energy))

    def free_space(
        self, positions: Tensor, charges: Tensor, pbc: Tensor, batch: Tensor, num_structures: int
    ) -> Tensor:
        """Exact ``sum_{i<j} q_i . q_j g(r_ij)`` for the non-periodic structures ``[B]``; eV."""
        offsets, periodic = structure_layout(batch, pbc, num_structures)  # one read of the device
        zero = torch.zeros((), dtype=positions.dtype, device=positions.device)
        energies: list[Tensor] = []
        for b in range(num_structures):
            start, stop = offsets[b], offsets[b + 1]
            if periodic[b] or stop - start < 2:
                energies.append(zero)
                continue
            pair = torch.triu_indices(stop - start, stop - start, 1, device=positions.device)
            i = pair[0] + start
            j = pair[1] + start
            distance = torch.linalg.norm(positions[j] - positions[i], dim=-1)
            g = self.kernel.value(distance)  # [E, P]
            energies.append((charges[i] * charges[j] * g).sum())
        return torch.stack(energies)
