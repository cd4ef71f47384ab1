"""The real-space / k-space split of SOG-Net's long range (``LatentLongRange`` with a cutoff).

Gaussians narrow enough to vanish beyond the neighbour-list cutoff are summed over the pairs,
the rest with the NUFFT. Oracle: the direct lattice sum of the whole kernel
(:func:`openmm_sog.reference.lattice_sum_energy`, docs/design.md §6), energies and forces.
"""

from __future__ import annotations

import math

import pytest
import torch
from model_helpers import TRICLINIC, make_model, random_structure

from openmm_sog import SOGKernel
from openmm_sog.model import BruteForceNeighborList, LatentLongRange
from openmm_sog.model.neighbors import pair_vectors
from openmm_sog.reference import lattice_sum_energy

CUTOFF = 4.0
TOLERANCE = 1e-6
# Shorter than the cutoff: the pair list holds atoms' own periodic images, several per pair.
SMALL_CELL = [[3.8, 0.0, 0.0], [0.5, 3.9, 0.0], [0.3, -0.4, 3.7]]


def two_channel_kernel() -> SOGKernel:
    """Widths 0.7 and 1.0 A fall below the split width 4 / sqrt(ln 1e6) = 1.08 A."""
    widths = torch.tensor([[0.7, 1.0, 1.6, 2.6, 4.0], [1.0, 1.3, 2.0, 3.0, 5.0]])
    weights = torch.tensor([[3.0, -1.5, 1.0, 0.5, 0.2], [-2.0, 1.0, 0.7, -0.3, 0.1]])
    return SOGKernel(weights.double(), widths.double())


def pairs(structure: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    s = structure
    i, j, shifts = BruteForceNeighborList(CUTOFF)(s["positions"], s["cell"], s["pbc"], s["batch"])
    return i, j, pair_vectors(s["positions"], s["cell"], s["batch"], i, j, shifts)


@pytest.mark.parametrize("cell", [TRICLINIC, SMALL_CELL], ids=["triclinic", "small"])
@pytest.mark.parametrize("neutral", [True, False])
def test_split_matches_direct_lattice_sum(cell, neutral):
    kernel = two_channel_kernel()
    layer = LatentLongRange(kernel, TOLERANCE, CUTOFF)
    assert layer.real_space_width == pytest.approx(CUTOFF / math.sqrt(math.log(1e6)))
    mask = layer.periodic.kspace_mask()
    assert mask is not None and mask.tolist() == [
        [False, False, True, True, True],
        [False] + [True] * 4,
    ]

    n = 14 if cell is TRICLINIC else 6
    s = random_structure(n, cell, seed=3)
    gen = torch.Generator().manual_seed(5)
    charges = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    if neutral:
        charges = charges - charges.mean(0)
    positions = s["positions"].clone().requires_grad_(True)
    s["positions"] = positions
    i, j, vectors = pairs(s)
    assert bool((i == j).any()) == (cell is SMALL_CELL)  # self images only in the small cell

    energy = layer(positions, charges, s["cell"], s["pbc"], s["batch"], i, j, vectors)[0]
    (forces,) = torch.autograd.grad(-energy, positions)
    reference = lattice_sum_energy(positions, charges, s["cell"][0], kernel)
    (reference_forces,) = torch.autograd.grad(-reference, positions)
    scale = float(reference_forces.abs().max())
    energy, reference = float(energy.detach()), float(reference.detach())
    assert abs(energy - reference) < 1e-5 * max(1.0, abs(reference))
    assert float((forces - reference_forces).abs().max()) < 1e-5 * scale


def test_batch_of_periodic_and_free_structures_matches_each_alone():
    """One call on a batch (two periodic cells and a cluster: the per-structure sums of the
    pairs) gives each structure's energy and forces alone (the one-structure sums, checked
    against the lattice sum above), in any order of the batch."""
    kernel = two_channel_kernel()
    layer = LatentLongRange(kernel, TOLERANCE, CUTOFF)
    parts = [
        random_structure(14, TRICLINIC, seed=3),
        random_structure(7, None, seed=8),
        random_structure(6, SMALL_CELL, seed=2),
    ]
    gen = torch.Generator().manual_seed(6)
    charges = [
        torch.randn(len(p["positions"]), 2, generator=gen, dtype=torch.float64) for p in parts
    ]
    alone_energy, alone_forces = [], []
    for part, q in zip(parts, charges, strict=True):
        positions = part["positions"].clone().requires_grad_(True)
        i, j, vectors = pairs({**part, "positions": positions})
        energy = layer(positions, q, part["cell"], part["pbc"], part["batch"], i, j, vectors)
        alone_energy.append(float(energy[0].detach()))
        alone_forces.append(torch.autograd.grad(-energy.sum(), positions)[0])
    batch = {
        "positions": torch.cat([p["positions"] for p in parts]).requires_grad_(True),
        "cell": torch.cat([p["cell"] for p in parts]),
        "pbc": torch.cat([p["pbc"] for p in parts]),
        "batch": torch.cat([torch.full((len(p["positions"]),), b) for b, p in enumerate(parts)]),
    }
    i, j, vectors = pairs(batch)
    energy = layer(
        batch["positions"],
        torch.cat(charges),
        batch["cell"],
        batch["pbc"],
        batch["batch"],
        i,
        j,
        vectors,
    )
    (forces,) = torch.autograd.grad(-energy.sum(), batch["positions"])
    torch.testing.assert_close(energy.detach(), torch.tensor(alone_energy, dtype=torch.float64))
    torch.testing.assert_close(forces, torch.cat(alone_forces))


def test_split_coarsens_the_grid():
    kernel = two_channel_kernel()
    cells = torch.tensor(TRICLINIC, dtype=torch.float64)[None]
    whole = LatentLongRange(kernel, TOLERANCE).periodic
    split = LatentLongRange(kernel, TOLERANCE, CUTOFF).periodic
    assert whole.kspace_mask() is None
    _, grid_whole = whole._grid(cells)
    _, grid_split = split._grid(cells, split.kspace_mask())
    # The narrowest k-space width goes from 0.7 to 1.3 A: about half the grid per dimension.
    for a, b in zip(grid_whole, grid_split, strict=True):
        assert b <= 0.6 * a


def test_energy_is_continuous_where_a_width_crosses_the_split():
    """A learnt width moving across the split width changes the energy by < tolerance."""
    s = random_structure(12, TRICLINIC, seed=4)
    charges = torch.randn(12, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    charges = charges - charges.mean(0)
    i, j, vectors = pairs(s)
    energies = []
    split_width = CUTOFF / math.sqrt(math.log(1.0 / TOLERANCE))
    for width in (split_width * (1 - 1e-9), split_width * (1 + 1e-9)):
        kernel = SOGKernel(torch.tensor([2.0, 1.0]).double(), torch.tensor([width, 2.5]).double())
        layer = LatentLongRange(kernel, TOLERANCE, CUTOFF)
        e = layer(s["positions"], charges, s["cell"], s["pbc"], s["batch"], i, j, vectors)
        energies.append(float(e[0].detach()))
    kernel_scale = 2.0 * float((charges * charges).sum())
    assert abs(energies[0] - energies[1]) < 2 * TOLERANCE * kernel_scale


def test_split_needs_the_pairs():
    layer = LatentLongRange(two_channel_kernel(), TOLERANCE, CUTOFF)
    s = random_structure(6, TRICLINIC, seed=1)
    with pytest.raises(ValueError, match="neighbour pairs"):
        layer(
            s["positions"], torch.zeros(6, 2, dtype=torch.float64), s["cell"], s["pbc"], s["batch"]
        )


def test_model_with_narrow_gaussians_matches_the_unsplit_layer():
    """SOG-Net forces and stress are those of the all-k-space layer, to the tolerance."""
    model = make_model(min_width=0.6, neutralize=True, tolerance=1e-7)
    assert model.lr is not None
    assert bool((model.lr.kernel.widths().detach() <= model.lr.real_space_width).any())
    s = random_structure(12, TRICLINIC, seed=7)
    split = model(**s, compute_stress=True)
    model.lr = LatentLongRange(model.lr.kernel, 1e-7)  # every Gaussian in k-space
    whole = model(**s, compute_stress=True)
    for key in ("energy", "forces", "stress"):
        scale = float(whole[key].detach().abs().max())
        torch.testing.assert_close(split[key], whole[key], rtol=0.0, atol=1e-6 * scale)
