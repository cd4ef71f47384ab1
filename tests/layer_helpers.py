"""Random periodic systems and kernels for the long-range layer tests."""

from __future__ import annotations

import torch

from openmm_sog import SOGKernel

CUBIC = [[9.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 9.0]]
# Strongly triclinic and not in OpenMM's reduced form: the layer must not care.
TRICLINIC = [[8.0, 0.0, 0.0], [4.5, 7.0, 0.0], [-3.5, 3.0, 8.5]]


def random_system(
    num_atoms: int,
    cell: list[list[float]],
    num_channels: int = 1,
    neutral: bool = True,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positions ``[N, 3]`` uniformly in the cell, charges ``[N, P]``, cell ``[3, 3]``."""
    gen = torch.Generator().manual_seed(seed)
    cell_t = torch.tensor(cell, dtype=torch.float64)
    positions = torch.rand(num_atoms, 3, generator=gen, dtype=torch.float64) @ cell_t
    charges = torch.randn(num_atoms, num_channels, generator=gen, dtype=torch.float64)
    if neutral:
        charges = charges - charges.mean(0)
    return positions.to(dtype), charges.to(dtype), cell_t.to(dtype)


def random_kernel(
    num_channels: int, seed: int = 0, dtype: torch.dtype = torch.float64
) -> SOGKernel:
    """A kernel with mixed-sign weights and widths 0.8-3.5 (cells here are ~9 long)."""
    gen = torch.Generator().manual_seed(100 + seed)
    weights = torch.randn(num_channels, 4, generator=gen, dtype=torch.float64)
    widths = 0.8 + 2.7 * torch.rand(num_channels, 4, generator=gen, dtype=torch.float64)
    return SOGKernel(weights.to(dtype), widths.to(dtype))


def energy_forces(fn, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``fn(positions)`` (summed over structures) and minus its gradient, detached."""
    positions = positions.detach().clone().requires_grad_()
    energy = fn(positions)
    (grad,) = torch.autograd.grad(energy.sum(), positions)
    return energy.detach(), -grad
