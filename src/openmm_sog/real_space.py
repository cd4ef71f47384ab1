"""Brute-force real-space pair sums under the minimum-image convention.

O(N^2) memory and time: meant for the Coulomb real-space complement in tests, examples and
small systems (a few thousand atoms). Requires every cutoff sphere to fit in the cell.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .exact_products import vector_matrix_product

__all__ = ["minimum_image_pairs", "plane_spacings", "real_space_energy"]


def plane_spacings(cell: Tensor) -> list[float]:
    """Distances between opposite faces of the cell ``[3, 3]`` (rows are cell vectors); length."""
    cell = cell.detach()
    volume = float(torch.linalg.det(cell).abs())
    return [
        volume / float(torch.linalg.norm(torch.linalg.cross(cell[(d + 1) % 3], cell[(d + 2) % 3])))
        for d in range(3)
    ]


def minimum_image_pairs(
    positions: Tensor, cell: Tensor, cutoff: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Pairs i < j closer than ``cutoff`` under the minimum-image convention.

    :param positions: ``[N, 3]``; length.
    :param cell: ``[3, 3]``, rows are cell vectors; length.
    :param cutoff: pair cutoff; length. Must be at most half the smallest plane spacing.
    :return: ``(i, j, distance)`` with distances differentiable in positions and cell.
    """
    spacing = min(plane_spacings(cell))
    if cutoff > 0.5 * spacing:
        raise ValueError(
            f"cutoff {cutoff} exceeds half the cell's smallest plane spacing {spacing:.4g}; "
            "the minimum-image convention needs a larger cell"
        )
    inverse = torch.linalg.inv(cell)
    i, j = torch.triu_indices(positions.shape[0], positions.shape[0], 1, device=positions.device)
    diff = positions[i] - positions[j]
    frac = vector_matrix_product(diff, inverse)
    diff = vector_matrix_product(frac - torch.round(frac.detach()), cell)
    # Triclinic cells: the rounded image is within the cutoff whenever any image is, because
    # cutoff <= half the plane spacing in every direction.
    distance = torch.linalg.norm(diff, dim=-1)
    keep = distance.detach() < cutoff
    return i[keep], j[keep], distance[keep]


def real_space_energy(
    positions: Tensor,
    charges: Tensor,
    cell: Tensor,
    pair_function: Callable[[Tensor], Tensor],
    cutoff: float,
) -> Tensor:
    """sum_{i<j, r_ij < cutoff} q_i q_j f(r_ij) for one channel (scalar tensor).

    :param charges: ``[N]`` or ``[N, 1]``; charge.
    :param pair_function: f(r), e.g. ``CoulombSOGKernel.short_range``; energy/charge^2.
    """
    if charges.dim() == 2:
        charges = charges[:, 0]
    i, j, distance = minimum_image_pairs(positions, cell, cutoff)
    return (charges[i] * charges[j] * pair_function(distance)).sum()
