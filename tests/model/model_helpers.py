"""Helpers for the SOG-Net model tests: tiny float64 models and random structures."""

from __future__ import annotations

import torch

from openmm_sog.model import SOGNet, SOGNetConfig

TRICLINIC = [[9.0, 0.0, 0.0], [2.5, 8.5, 0.0], [-1.5, 2.0, 9.5]]


#: Local models the model tests run on: hyper-parameters that select each.
LOCAL_MODELS: dict[str, dict] = {
    "deeppot_se": {},
    "deeppot_se+radial": {"radial_features": True},
    "painn": {"backbone": "painn", "num_features": 8, "num_interactions": 2},
    "painn+pair": {"backbone": "painn", "num_features": 8, "num_interactions": 2, "pair_basis": 8},
    "cace": {
        "backbone": "cace",
        "num_features": 6,
        "num_interactions": 2,
        "species_embedding": 2,
        "radial_channels": 3,
    },
    "cace_l4": {
        "backbone": "cace",
        "num_features": 4,
        "num_interactions": 2,
        "max_l": 4,
        "species_embedding": 2,
        "radial_channels": 3,
    },
}


def small_config(**overrides: object) -> SOGNetConfig:
    """A small but complete configuration (cutoff 3.5 A, two species, two charge channels)."""
    values: dict = dict(
        atomic_numbers=[11, 17],
        cutoff=3.5,
        inner_cutoff=2.5,
        num_radial=6,
        embedding_sizes=[8, 12],
        axis_features=3,
        fitting_sizes=[16],
        charge_sizes=[8],
        num_channels=2,
        num_gaussians=6,
        min_width=0.6,  # the two narrowest Gaussians are summed in real space
        tolerance=1e-7,
    )
    values.update(overrides)
    return SOGNetConfig(**values)


def make_model(seed: int = 0, **overrides: object) -> SOGNet:
    """Random float64 model; charge-head output is scaled up so charges matter."""
    torch.manual_seed(seed)
    model = SOGNet(small_config(**overrides), dtype=torch.float64)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))  # break zero-initialised output biases
        model.fitting[-1].weight.mul_(10.0)  # O(0.1-1) eV/A forces
        if model.long_range:
            model.charge_head[-1].weight.mul_(30.0)  # O(0.1-1) e charges
    return model


def random_structure(
    num_atoms: int, cell: list[list[float]] | None, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Positions with a minimum separation of 1.2 A; ``cell=None`` gives a cluster."""
    gen = torch.Generator().manual_seed(seed)
    box = torch.tensor(cell if cell is not None else [[7.0, 0, 0], [0, 7.0, 0], [0, 0, 7.0]])
    box = box.to(torch.float64)
    points: list[torch.Tensor] = []
    while len(points) < num_atoms:
        trial = torch.rand(3, generator=gen, dtype=torch.float64) @ box
        if all(torch.linalg.norm(trial - p) > 1.2 for p in points):
            points.append(trial)
    positions = torch.stack(points)
    numbers = torch.tensor([11, 17] * (num_atoms // 2) + [11] * (num_atoms % 2))
    return {
        "positions": positions,
        "atomic_numbers": numbers,
        "cell": (box if cell is not None else torch.zeros(3, 3, dtype=torch.float64))[None],
        "pbc": torch.tensor([cell is not None]),
        "batch": torch.zeros(num_atoms, dtype=torch.long),
    }
