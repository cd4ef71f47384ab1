"""The learned pair term (``model.pair_basis``): its energy against a direct pair sum, its forces
against finite differences, zero at initialisation, and the export and config paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from model_helpers import TRICLINIC, make_model, random_structure, small_config

from openmm_sog.model import SOGNet
from openmm_sog.model.pair_term import PairTerm
from openmm_sog.training.config import ConfigError, load_config


def _direct_pair_sum(term: PairTerm, positions: np.ndarray, species: list[int]) -> float:
    """sum over unordered pairs i < j within the cutoff of phi(r), written out from the
    docstring's definition (own switch and basis, numpy, no neighbour list)."""
    weights = term.weights.detach().numpy()
    centers = np.linspace(0.0, term.cutoff, weights.shape[1])
    width = term.cutoff / (weights.shape[1] - 1)
    total = 0.0
    for a in range(len(species)):
        for b in range(a + 1, len(species)):
            r = float(np.linalg.norm(positions[a] - positions[b]))
            if r >= term.cutoff:
                continue
            lo, hi = sorted((species[a], species[b]))
            pair = {(0, 0): 0, (0, 1): 1, (1, 1): 2}[(lo, hi)]
            x = min(max((r - term.inner_cutoff) / (term.cutoff - term.inner_cutoff), 0.0), 1.0)
            switch = 1.0 - 10 * x**3 + 15 * x**4 - 6 * x**5
            total += switch * sum(
                w * math.exp(-(((r - c) / width) ** 2))
                for w, c in zip(weights[pair], centers, strict=True)
            )
    return total


def test_pair_term_equals_the_direct_pair_sum():
    torch.manual_seed(0)
    term = PairTerm(num_species=2, cutoff=3.5, inner_cutoff=2.5, num_basis=12).double()
    with torch.no_grad():
        term.weights.normal_()
    s = random_structure(10, None, seed=4)
    species = (s["atomic_numbers"] == 17).long()
    model = SOGNet(small_config(neighbor_list="brute_force"), dtype=torch.float64)
    i, j, vectors = model._pairs(s["positions"], s["cell"], s["pbc"], s["batch"])
    atomic = term(torch.linalg.norm(vectors, dim=-1), i, j, species)
    expected = _direct_pair_sum(term, s["positions"].numpy(), species.tolist())
    assert float(atomic.detach().sum()) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert expected != 0.0


@pytest.mark.parametrize("cell", [None, TRICLINIC], ids=["cluster", "periodic"])
def test_forces_with_a_pair_term_match_finite_differences(cell):
    model = make_model(seed=5, pair_basis=10, long_range=False, neighbor_list="brute_force")
    assert model.pair_term is not None and bool(model.pair_term.weights.abs().sum() > 0)
    s = random_structure(8, cell, seed=6)
    forces = model(**s)["forces"].detach()
    h = 1e-5
    for atom, d in [(0, 0), (3, 1), (7, 2)]:
        energies = []
        for sign in (1, -1):
            moved = dict(s, positions=s["positions"].clone())
            moved["positions"][atom, d] += sign * h
            energies.append(float(model(**moved, compute_forces=False)["energy"].detach().sum()))
        numeric = -(energies[0] - energies[1]) / (2 * h)
        assert float(forces[atom, d]) == pytest.approx(numeric, rel=1e-6, abs=1e-8)


def test_a_new_pair_term_changes_nothing():
    torch.manual_seed(1)
    plain = SOGNet(small_config(), dtype=torch.float64)
    torch.manual_seed(1)
    paired = SOGNet(small_config(pair_basis=16), dtype=torch.float64)
    missing, unexpected = paired.load_state_dict(plain.state_dict(), strict=False)
    assert set(missing) == {"pair_term.weights", "pair_term.centers", "pair_term.pair_index"}
    assert unexpected == []
    s = random_structure(8, TRICLINIC, seed=2)
    torch.testing.assert_close(paired(**s)["energy"], plain(**s)["energy"], rtol=0, atol=0)


def test_export_with_a_pair_term_equals_the_model(tmp_path):
    from openmm_sog.training.export import export_model, load_exported

    model = make_model(seed=7, pair_basis=8)
    export_model(model, tmp_path / "m.pt")
    module, _ = load_exported(tmp_path / "m.pt")
    s = random_structure(6, TRICLINIC, seed=8)
    energy, _ = module.local_energy_and_charges(
        s["positions"], s["atomic_numbers"], s["cell"][0], True
    )
    expected = model.energy_components(**s, real_space_only=True)
    torch.testing.assert_close(
        energy.detach(), (expected["energy_sr"] + expected["energy_lr"]).detach()
    )


@pytest.mark.parametrize("value", [-1, 1])
def test_pair_basis_must_be_zero_or_at_least_two(tmp_path, value):
    path = tmp_path / "c.yaml"
    path.write_text(f"data: {{train: x.xyz}}\nmodel: {{pair_basis: {value}}}\n")
    with pytest.raises(ConfigError, match="model.pair_basis: must be 0 .* or >= 2"):
        load_config(path)
