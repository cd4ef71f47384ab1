"""Slow, exact references for the SOG long-range energy (docs/design.md §6).

* :func:`lattice_sum_energy`: the direct real-space lattice sum
  1/2 sum'_{i,j,n} q_i q_j g(|r_i - r_j + n h|) - Q^2 ghat(0) / (2V); converges fast for
  Gaussians, so it is exact to round-off once enough images are summed.
* :func:`kspace_sum_energy`: the dense k-space (Ewald-like) sum with explicit structure factors,
  O(N K^3): the same energy without any NUFFT approximation.

Both are written with plain torch operations so forces follow by autograd. They share nothing
with :mod:`openmm_sog.long_range` beyond the kernel's closed-form values.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor

from .kernel import SOGKernel
from .real_space import plane_spacings

__all__ = ["kspace_sum_energy", "lattice_sum_energy"]


def lattice_sum_energy(
    positions: Tensor, charges: Tensor, cell: Tensor, kernel: SOGKernel, accuracy: float = 1e-16
) -> Tensor:
    """Direct lattice sum of one structure (scalar tensor), differentiable.

    :param positions: ``[N, 3]``; length.
    :param charges: ``[N, P]`` or ``[N]``; charge.
    :param cell: ``[3, 3]``, rows are cell vectors; length.
    :param kernel: SOG kernel (widths should be at most a few cell lengths, or this is slow).
    :param accuracy: images are summed out to where every Gaussian is below this fraction.
    """
    if charges.dim() == 1:
        charges = charges.unsqueeze(-1)
    volume = torch.linalg.det(cell)
    sigma_max = float(kernel.widths().detach().max())
    radius = sigma_max * math.sqrt(math.log(1.0 / accuracy))
    # Images n with |n h| possibly < radius + diameter of the wrapped cell.
    heights = plane_spacings(cell)
    reach = [int(math.ceil(radius / float(h))) + 1 for h in heights]
    fractional = positions @ torch.linalg.inv(cell)
    wrapped = (fractional - torch.floor(fractional.detach())) @ cell
    diff = wrapped[:, None, :] - wrapped[None, :, :]  # [N, N, 3]
    n = positions.shape[0]
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=positions.device)
    pair_charge = charges[:, None, :] * charges[None, :, :]  # [N, N, P]
    energy = torch.zeros((), dtype=positions.dtype, device=positions.device)
    for image in itertools.product(*[range(-r, r + 1) for r in reach]):
        shift = torch.tensor(image, dtype=cell.dtype, device=cell.device) @ cell
        vec = diff + shift
        dist_sq = (vec * vec).sum(-1)
        if image == (0, 0, 0):
            dist_sq = torch.where(off_diagonal, dist_sq, torch.ones_like(dist_sq))
        g = kernel.value(torch.sqrt(dist_sq))  # [N, N, P]
        if image == (0, 0, 0):
            g = g * off_diagonal.unsqueeze(-1)
        energy = energy + 0.5 * (pair_charge * g).sum()
    total_charge = charges.sum(0)  # [P]
    background = (total_charge * total_charge * kernel.fourier_at_zero()).sum() / (2.0 * volume)
    return energy - background


def kspace_sum_energy(
    positions: Tensor, charges: Tensor, cell: Tensor, kernel: SOGKernel, half: list[int]
) -> Tensor:
    """Dense k-space sum over modes |m_d| <= half[d], m != 0 (scalar tensor), differentiable.

    :param half: the number of modes K_d per dimension on each side of zero.
    """
    if charges.dim() == 1:
        charges = charges.unsqueeze(-1)
    inverse = torch.linalg.inv(cell)
    volume = torch.linalg.det(cell)
    grids = [torch.arange(-k, k + 1, dtype=positions.dtype, device=positions.device) for k in half]
    m = torch.stack(torch.meshgrid(grids[0], grids[1], grids[2], indexing="ij"), -1).reshape(-1, 3)
    m = m[(m != 0).any(-1)]
    kvec = 2.0 * math.pi * m @ inverse.T  # [K, 3]
    phase = positions @ kvec.T  # [N, K]
    cos_sum = charges.T @ torch.cos(phase)  # [P, K]
    sin_sum = charges.T @ torch.sin(phase)
    ghat = kernel.fourier((kvec * kvec).sum(-1)).T  # [P, K]
    kspace = (ghat * (cos_sum * cos_sum + sin_sum * sin_sum)).sum() / (2.0 * volume)
    self_term = 0.5 * (kernel.value_at_zero() * (charges * charges).sum(0)).sum()
    return kspace - self_term
