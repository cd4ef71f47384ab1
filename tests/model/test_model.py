"""SOG-Net model: invariances, exact forces and stress, smoothness, batching, scripting.

Oracles: central finite differences of the energy (forces, stress), the brute-force neighbour
list, the analytic 1/r series, and the model's own single-structure evaluations (batching).
"""

from __future__ import annotations

import math

import pytest
import torch
from model_helpers import LOCAL_MODELS, TRICLINIC, make_model, random_structure, small_config

from openmm_sog.model import (
    BruteForceNeighborList,
    SOGNet,
    VesinNeighborList,
    coulomb_initial_kernel,
    smooth_cutoff,
)
from openmm_sog.units import COULOMB_EV_ANGSTROM_PER_E2


def energy(model, s, **kw) -> torch.Tensor:
    return model(**s, compute_forces=False, **kw)["energy"].detach()


@pytest.mark.parametrize("periodic", [True, False])
def test_vesin_matches_brute_force(periodic):
    s = random_structure(30, TRICLINIC if periodic else None, seed=1)
    args = (s["positions"], s["cell"], s["pbc"], s["batch"])
    pairs = []
    for nl in (VesinNeighborList(3.5), BruteForceNeighborList(3.5)):
        i, j, shift = nl(*args)
        pairs.append(sorted(zip(i.tolist(), j.tolist(), map(tuple, shift.tolist()), strict=True)))
    assert pairs[0] == pairs[1]
    assert len(pairs[0]) > 30


@pytest.mark.parametrize("local", LOCAL_MODELS)
@pytest.mark.parametrize("periodic", [True, False])
def test_invariances(periodic, local):
    model = make_model(neutralize=True, **LOCAL_MODELS[local])
    s = random_structure(16, TRICLINIC if periodic else None, seed=2)
    ref = model(**s)
    # Rotation of positions and cell; forces rotate with them.
    q, _ = torch.linalg.qr(
        torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    )
    rotated = dict(s, positions=s["positions"] @ q.T, cell=s["cell"] @ q.T)
    out = model(**rotated)
    torch.testing.assert_close(out["energy"], ref["energy"], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(out["forces"], ref["forces"] @ q.T, rtol=1e-8, atol=1e-9)
    # Translation (by a non-lattice vector).
    # The local part is exact; the NUFFT's grid is not translation invariant, so the long
    # range moves by up to its tolerance (1e-7 relative) times the charges' energy.
    moved = dict(s, positions=s["positions"] + torch.tensor([0.3, -1.7, 2.9], dtype=torch.float64))
    parts, ref_parts = model.energy_components(**moved), model.energy_components(**s)
    torch.testing.assert_close(parts["energy_sr"], ref_parts["energy_sr"], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model(**moved)["energy"], ref["energy"], rtol=1e-8, atol=1e-8)
    # Permutation of atoms.
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(4))
    permuted = dict(s, positions=s["positions"][perm], atomic_numbers=s["atomic_numbers"][perm])
    out = model(**permuted)
    torch.testing.assert_close(out["energy"], ref["energy"], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(out["forces"], ref["forces"][perm], rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("local", LOCAL_MODELS)
@pytest.mark.parametrize("periodic", [True, False])
def test_forces_are_minus_gradient_including_charge_chain_rule(periodic, local):
    model = make_model(neutralize=periodic, **LOCAL_MODELS[local])
    s = random_structure(12, TRICLINIC if periodic else None, seed=5)
    out = model(**s)
    step = 1e-5
    for atom, axis in [(0, 0), (3, 1), (7, 2), (11, 0)]:
        plus, minus = s["positions"].clone(), s["positions"].clone()
        plus[atom, axis] += step
        minus[atom, axis] -= step
        fd = -(energy(model, dict(s, positions=plus)) - energy(model, dict(s, positions=minus)))
        fd = fd / (2 * step)
        assert abs(float(fd) - float(out["forces"][atom, axis])) < 1e-6 * max(1.0, abs(float(fd)))
    # Forces at frozen charges miss the chain-rule term; it is 100x above the check tolerance,
    # so the finite-difference comparison above would catch its omission.
    frozen = _forces_at_frozen_charges(model, s)
    tolerance = 1e-7 + 1e-6 * float(out["forces"].abs().max())
    assert float((frozen - out["forces"]).abs().max()) > 100 * tolerance


def _forces_at_frozen_charges(model, s) -> torch.Tensor:
    positions = s["positions"].clone().requires_grad_(True)
    parts = model.energy_components(**dict(s, positions=positions))
    charges = parts["charges"].detach()
    e_lr = model.long_range_energy(positions, charges, s["cell"], s["pbc"], s["batch"])
    total = parts["energy_sr"] + e_lr
    return -torch.autograd.grad(total.sum(), positions)[0]


@pytest.mark.parametrize("local", LOCAL_MODELS)
def test_smooth_at_cutoff(local):
    model = make_model(long_range=False, **LOCAL_MODELS[local])
    cutoff = model.cutoff

    def pair(r: float) -> dict:
        positions = torch.tensor([[0.0, 0.0, 0.0], [r, 0.0, 0.0]], dtype=torch.float64)
        return {
            "positions": positions,
            "atomic_numbers": torch.tensor([11, 17]),
            "cell": torch.zeros(1, 3, 3, dtype=torch.float64),
            "pbc": torch.tensor([False]),
            "batch": torch.zeros(2, dtype=torch.long),
        }

    isolated = float(energy(model, pair(cutoff + 0.5)))
    assert float(energy(model, pair(cutoff + 1e-9))) == pytest.approx(isolated, abs=1e-14)
    for h in (1e-2, 1e-3):
        out = {k: v.detach() for k, v in model(**pair(cutoff - h)).items()}
        # C^2 switching: energy offset O(h^3), force O(h^2).
        assert abs(float(out["energy"]) - isolated) < 50 * h**3
        assert float(out["forces"].abs().max()) < 50 * h**2


@pytest.mark.parametrize("local", ["deeppot_se", "painn", "cace"])
def test_stress_is_strain_derivative(local):
    model = make_model(**LOCAL_MODELS[local])
    s = random_structure(14, TRICLINIC, seed=6)
    stress = model(**s, compute_stress=True)["stress"][0]
    volume = float(torch.linalg.det(s["cell"][0]))
    step = 1e-5
    for a, b in [(0, 0), (1, 2), (2, 2), (0, 1)]:
        values = []
        for sign in (1.0, -1.0):
            eps = torch.zeros(3, 3, dtype=torch.float64)
            eps[a, b] += 0.5 * sign * step
            eps[b, a] += 0.5 * sign * step
            deform = torch.eye(3, dtype=torch.float64) + eps
            strained = dict(s, positions=s["positions"] @ deform, cell=s["cell"] @ deform)
            values.append(float(energy(model, strained)))
        fd = (values[0] - values[1]) / (2 * step) / volume
        assert abs(fd - float(stress[a, b])) < 1e-6 * max(1.0, abs(fd))


@pytest.mark.parametrize("local", ["deeppot_se", "painn", "cace"])
def test_batch_matches_single(local):
    model = make_model(neutralize=True, **LOCAL_MODELS[local])
    parts = [
        random_structure(10, TRICLINIC, seed=7),
        random_structure(7, None, seed=8),
        random_structure(13, [[8.0, 0, 0], [0, 9.0, 0], [0, 0, 10.0]], seed=9),
    ]
    singles = [model(**p, compute_stress=True) for p in parts]
    batched = model(
        positions=torch.cat([p["positions"] for p in parts]),
        atomic_numbers=torch.cat([p["atomic_numbers"] for p in parts]),
        cell=torch.cat([p["cell"] for p in parts]),
        pbc=torch.cat([p["pbc"] for p in parts]),
        batch=torch.cat([p["batch"] + k for k, p in enumerate(parts)]),
        compute_stress=True,
    )
    torch.testing.assert_close(batched["energy"], torch.cat([o["energy"] for o in singles]))
    torch.testing.assert_close(batched["forces"], torch.cat([o["forces"] for o in singles]))
    torch.testing.assert_close(batched["stress"], torch.cat([o["stress"] for o in singles]))


def test_free_space_long_range_is_pair_sum():
    model = make_model()
    s = random_structure(9, None, seed=10)
    q = torch.randn(9, 2, dtype=torch.float64)
    e = model.lr(s["positions"], q, s["cell"], s["pbc"], s["batch"])
    r = torch.cdist(s["positions"], s["positions"])
    g = model.lr.kernel.value(r).detach()  # [N, N, P]
    expected = 0.0
    for i in range(9):
        for j in range(i + 1, 9):
            expected += float((q[i] * q[j] * g[i, j]).sum())
    assert float(e.detach()) == pytest.approx(expected, rel=1e-12)


def test_coulomb_initial_kernel_is_coulomb_in_ev():
    kernel = coulomb_initial_kernel(
        1, min_width=2.0, num_gaussians=14, ratio=2.0, dtype=torch.float64
    )
    sigma_max = 2.0 * 2.0**13
    r = torch.linspace(8.0, 200.0, 300, dtype=torch.float64)
    ratio = kernel.value(r).detach()[:, 0] * r / COULOMB_EV_ANGSTROM_PER_E2
    # Bilateral series with step h = ln 2: relative ripple 2 sqrt(2) exp(-pi^2 / (2 h)) ~ 2e-3;
    # the left-out wider Gaussians (a flat tail, ~ 2h/(sqrt(pi) sigma_max)) cost r times that.
    ripple = 2 * math.sqrt(2) * math.exp(-(math.pi**2) / (2 * math.log(2.0)))
    tail = 2 * math.log(2.0) / math.sqrt(math.pi) * r / sigma_max
    assert bool(((ratio - 1).abs() < 1.2 * ripple + 1.2 * tail).all())
    assert bool(((ratio - 1).abs() > 0.5 * ripple).any())  # the bound is not loose


def test_unknown_species_is_an_error():
    model = make_model()
    s = random_structure(4, None)
    s["atomic_numbers"] = torch.tensor([11, 17, 8, 11])
    with pytest.raises(ValueError, match=r"unknown species.*\[8\]"):
        model(**s)


@pytest.mark.parametrize("local", LOCAL_MODELS)
def test_torchscript_matches_eager(local):
    model = make_model(neutralize=True, **LOCAL_MODELS[local])
    scripted = torch.jit.script(model)
    s = random_structure(10, TRICLINIC, seed=11)
    a = model(**s, compute_stress=True)
    b = scripted(**s, compute_stress=True)
    for key in ("energy", "forces", "stress"):
        torch.testing.assert_close(a[key], b[key])


def test_initial_charges_are_learnable_per_species_offsets():
    model = make_model(initial_charges={11: 1.0, 17: -1.0}, neutralize=True)
    with torch.no_grad():
        model.charge_head[-1].weight.zero_()
        model.charge_head[-1].bias.zero_()
        model.charge_offsets.copy_(torch.tensor([[1.0, 1.0], [-1.0, -1.0]]))
    s = random_structure(8, TRICLINIC, seed=12)
    out = model.energy_components(**s)
    formal = torch.where(s["atomic_numbers"] == 11, 1.0, -1.0).to(torch.float64)
    torch.testing.assert_close(out["charges"], formal[:, None].expand(8, 2))
    expected = model.long_range_energy(
        s["positions"], out["charges"], s["cell"], s["pbc"], s["batch"]
    )
    torch.testing.assert_close(out["energy_lr"], expected)
    fresh = SOGNet(small_config(initial_charges={17: -0.5}), dtype=torch.float64)
    assert fresh.charge_offsets.tolist() == [[0.0, 0.0], [-0.5, -0.5]]
    assert fresh.charge_offsets.requires_grad
    plain = SOGNet(small_config(), dtype=torch.float64)
    assert "charge_offsets" not in dict(plain.named_parameters())
    with pytest.raises(ValueError, match=r"initial_charges names species \[8\]"):
        SOGNet(small_config(initial_charges={8: -2.0}))


def test_charge_init_scale_sets_the_size_of_the_initial_charges():
    s = random_structure(12, TRICLINIC, seed=13)
    spreads = []
    for scale in (0.1, 0.01):
        torch.manual_seed(3)  # the same network up to the scale of its last layer
        model = SOGNet(small_config(charge_init_scale=scale), dtype=torch.float64)
        spreads.append(float(model.energy_components(**s)["charges"].detach().abs().max()))
    assert spreads[0] > 1e-3
    # The last layer's bias starts at 0, so the charges scale linearly with it.
    assert spreads[1] == pytest.approx(0.1 * spreads[0], rel=1e-9)
    with pytest.raises(ValueError, match="charge_init_scale must be > 0"):
        SOGNet(small_config(charge_init_scale=0.0))


def test_refit_energy_shifts_recovers_per_species_constants():
    from openmm_sog.training.data import Structure
    from openmm_sog.training.model_io import refit_energy_shifts

    model = make_model()
    structures = []
    for k, n in enumerate((6, 7, 9, 8, 11)):  # varying Na/Cl composition
        s = random_structure(n, TRICLINIC, seed=20 + k)
        energy = float(model(**s, compute_forces=False)["energy"].detach())
        numbers = s["atomic_numbers"]
        energy += 0.3 * int((numbers == 11).sum()) - 0.2 * int((numbers == 17).sum())
        structures.append(Structure(s["positions"], numbers, s["cell"][0], True, energy=energy))
    before = model.energy_shifts.clone()
    correction = refit_energy_shifts(model, structures)
    torch.testing.assert_close(model.energy_shifts - before, torch.tensor([0.3, -0.2]).double())
    assert 0.04 < correction < 0.1  # per atom: about (0.3 - 0.2) / 2 at ~1:1 Na:Cl
    assert refit_energy_shifts(model, structures) < 1e-10  # already optimal


def test_evaluate_reports_latent_charges_per_species():
    from openmm_sog.training.data import Structure
    from openmm_sog.training.metrics import evaluate

    # Neutral structures with equal Na and Cl counts: neutralised charges of the two species
    # must average to opposite values (channel 0 and 1 separately).
    model = make_model(neutralize=True)
    structures = []
    for k in range(3):
        s = random_structure(8, TRICLINIC, seed=40 + k)
        structures.append(
            Structure(s["positions"], s["atomic_numbers"], s["cell"][0], True, energy=0.0)
        )
    metrics = evaluate(model, structures, batch_size=2)
    for channel in (0, 1):
        na = metrics[f"latent_charge_mean_e[Na,{channel}]"]
        cl = metrics[f"latent_charge_mean_e[Cl,{channel}]"]
        assert abs(na) > 1e-3 and na == pytest.approx(-cl, abs=1e-12)
        assert metrics[f"latent_charge_std_e[Na,{channel}]"] > 0.0
    short_range = evaluate(make_model(long_range=False), structures)
    assert not any(key.startswith("latent_charge") for key in short_range)


def test_radial_features_give_an_exact_pair_sum():
    # With the fitting network silenced, the local energy is the linear readout of the radial
    # sums: sum_i sum_j phi(r_ij) with phi = u . G(r) s(r) / n_norm (standardisation folded in).
    model = make_model(long_range=False, radial_features=True)
    with torch.no_grad():
        model.fitting[-1].weight.zero_()
        model.fitting[-1].bias.zero_()
        model.energy_shifts.zero_()
    s = random_structure(10, None, seed=8)
    total = float(energy(model, s))
    d = model.backbone.descriptor
    expected = 0.0
    m1 = d.num_features
    mean = model.backbone.mean[-m1:]
    std = model.backbone.std[-m1:]
    u = model.backbone.pair_readout.weight[0].detach() / std
    species = model.species_index(s["atomic_numbers"])
    onehot = torch.nn.functional.one_hot(species, 2).double()
    x = s["positions"]
    for i in range(10):
        expected -= float((u * mean).sum())  # the standardisation's constant per atom
        for j in range(10):
            r = torch.linalg.norm(x[j] - x[i])
            if i == j or r >= d.cutoff:
                continue
            radial = torch.exp(-(((r - d.radial_centers) / d.radial_width) ** 2))
            g = d.embedding(torch.cat([radial, onehot[i], onehot[j]])).detach()
            switch = smooth_cutoff(r, d.inner_cutoff, d.cutoff)
            expected += float((u * g).sum() * switch / r) / d.neighbor_normalization
    assert total == pytest.approx(expected * model.energy_scale, rel=1e-10, abs=1e-12)


def test_short_range_export_returns_zero_charge_channels(tmp_path):
    """A short-range-only model's export answers short_range_and_charges with [N, 0] charges
    (it raised a KeyError before), and its energy is the model's."""
    from openmm_sog.training.export import export_model, load_exported

    model = make_model(seed=2, long_range=False)
    export_model(model, tmp_path / "sr.pt")
    module, _ = load_exported(tmp_path / "sr.pt")
    s = random_structure(6, TRICLINIC, seed=3)
    energy, charges = module.short_range_and_charges(
        s["positions"], s["atomic_numbers"], s["cell"][0], True
    )
    assert charges.shape == (6, 0)
    reference = model(**s)["energy"].detach()
    torch.testing.assert_close(energy.detach(), reference)
