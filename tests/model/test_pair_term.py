"""The learned pair term (``model.pair_basis``): its energy against a direct pair sum, its forces
against finite differences, zero at initialisation, and the export and config paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from model_helpers import TRICLINIC, make_model, random_structure, small_config
from scipy.interpolate import BSpline

from openmm_sog.model import SOGNet
from openmm_sog.model.pair_term import PAIR_BASIS_FUNCTIONS, PairTerm
from openmm_sog.training.config import ConfigError, load_config
from openmm_sog.training.data import Structure
from openmm_sog.training.pair_fit import RIDGE, PairTermFit, fit_pair_term, pair_force_columns


def _basis_function(function: str, center: float, width: float):
    """One basis function of r from an independent definition: the Gaussian written out, the
    cubic B-spline as scipy's B-spline on the knots centre - 2h ... centre + 2h."""
    if function == "gaussian":
        return lambda r: math.exp(-(((r - center) / width) ** 2))
    knots = center + width * np.arange(-2.0, 3.0)
    element = BSpline.basis_element(knots, extrapolate=False)
    return lambda r: float(np.nan_to_num(element(r)))


def _direct_pair_sum(term: PairTerm, positions: np.ndarray, species: list[int]) -> float:
    """sum over unordered pairs i < j within the cutoff of phi(r), written out from the
    docstring's definition (own switch and basis, numpy, no neighbour list)."""
    weights = term.weights.detach().numpy()
    centers = np.linspace(0.0, term.cutoff, weights.shape[1])
    width = term.cutoff / (weights.shape[1] - 1)
    basis = [_basis_function(term.function, float(c), width) for c in centers]
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
            total += switch * sum(w * b(r) for w, b in zip(weights[pair], basis, strict=True))
    return total


@pytest.mark.parametrize("function", PAIR_BASIS_FUNCTIONS)
def test_pair_term_equals_the_direct_pair_sum(function):
    torch.manual_seed(0)
    term = PairTerm(
        num_species=2, cutoff=3.5, inner_cutoff=2.5, num_basis=12, function=function
    ).double()
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


def test_cubic_bsplines_have_compact_support_and_sum_to_one():
    """Each cubic B-spline is zero two grid steps from its centre, and on the grid's interior
    (inside the switch) the functions sum to 1 (partition of unity), so a constant phi is
    exact there."""
    term = PairTerm(1, cutoff=3.0, inner_cutoff=2.5, num_basis=31, function="cubic_bspline")
    r = torch.linspace(0.25, 2.4, 500, dtype=torch.float64)
    values = term.double().basis(r)
    torch.testing.assert_close(values.sum(-1), torch.ones_like(r), rtol=0, atol=1e-12)
    h = 3.0 / 30
    far = (r.unsqueeze(-1) - term.centers).abs() >= 2.0 * h
    assert float(values[far].abs().max()) == 0.0
    assert int((~far).sum(-1).max()) <= 4


def test_an_unknown_pair_basis_function_is_refused(tmp_path):
    with pytest.raises(ValueError, match="must be one of gaussian, cubic_bspline, got 'spline'"):
        PairTerm(1, cutoff=3.0, inner_cutoff=2.5, num_basis=8, function="spline")
    path = tmp_path / "c.yaml"
    path.write_text("data: {train: x.xyz}\nmodel: {pair_basis: 8, pair_basis_function: bspline}\n")
    with pytest.raises(ConfigError, match="model.pair_basis_function: must be one of gaussian"):
        load_config(path)


@pytest.mark.parametrize("function", PAIR_BASIS_FUNCTIONS)
@pytest.mark.parametrize("cell", [None, TRICLINIC], ids=["cluster", "periodic"])
def test_forces_with_a_pair_term_match_finite_differences(cell, function):
    model = make_model(
        seed=5,
        pair_basis=10,
        pair_basis_function=function,
        long_range=False,
        neighbor_list="brute_force",
    )
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


@pytest.mark.parametrize("function", PAIR_BASIS_FUNCTIONS)
def test_export_with_a_pair_term_equals_the_model(tmp_path, function):
    from openmm_sog.training.export import export_model, load_exported

    model = make_model(seed=7, pair_basis=8, pair_basis_function=function)
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


def _structure(raw: dict[str, torch.Tensor], forces: torch.Tensor | None) -> Structure:
    return Structure(
        positions=raw["positions"],
        atomic_numbers=raw["atomic_numbers"],
        cell=raw["cell"][0],
        pbc=bool(raw["pbc"][0]),
        forces=forces,
    )


@pytest.mark.parametrize("function", PAIR_BASIS_FUNCTIONS)
@pytest.mark.parametrize("cell", [None, TRICLINIC], ids=["cluster", "periodic"])
def test_pair_force_columns_are_the_pair_terms_autograd_forces(cell, function):
    """Column k of the design matrix times any weights = the model's forces from those weights
    minus its forces without them (autograd through the whole model is the oracle)."""
    model = make_model(
        seed=9, pair_basis=12, pair_basis_function=function, neighbor_list="brute_force"
    )
    raw = random_structure(10, cell, seed=10)
    weights = torch.randn_like(model.pair_term.weights)
    with torch.no_grad():
        model.pair_term.weights.zero_()
    without = model(**raw)["forces"].detach()
    with torch.no_grad():
        model.pair_term.weights.copy_(weights)
    expected = model(**raw)["forces"].detach() - without
    columns = pair_force_columns(model, raw)
    assert columns.shape == (10, 3, 3, 12)
    predicted = torch.einsum("nxpk,pk->nx", columns, weights.double())
    torch.testing.assert_close(predicted, expected, rtol=1e-10, atol=1e-12)
    assert float(expected.abs().max()) > 1e-2


def test_fit_pair_term_recovers_a_pair_potential_and_reports_its_residual():
    """Labels made by the model with known pair weights: starting from other weights, the fit
    returns the labels exactly (the rest of the model unchanged); with noise added, the
    reported residual is the model's own force RMSE and the gradient of the ridge-regularised
    objective w.r.t. the pair weights vanishes (its optimum)."""
    model = make_model(seed=11, pair_basis=10, neighbor_list="brute_force")
    raws = [random_structure(12, TRICLINIC, seed=20 + k) for k in range(4)]
    labels = [model(**r)["forces"].detach() for r in raws]
    noise = [0.05 * torch.randn_like(f) for f in labels]
    structures = [_structure(r, f + e) for r, f, e in zip(raws, labels, noise, strict=True)]
    structures.append(_structure(random_structure(6, TRICLINIC, seed=30), None))  # unlabelled
    with torch.no_grad():
        model.pair_term.weights.normal_()
    report = fit_pair_term(model, structures, batch_size=3)
    assert report["columns"] == 30
    predicted = [model(**r)["forces"].detach() for r in raws]
    rmse = (
        torch.cat(
            [(p - f - e).reshape(-1) for p, f, e in zip(predicted, labels, noise, strict=True)]
        )
        .pow(2)
        .mean()
        .sqrt()
    )
    assert report["force_rmse_after"] == pytest.approx(float(rmse), rel=1e-9)
    assert report["force_rmse_after"] < report["force_rmse_before"]
    loss = sum(
        (model(**r, create_graph=True)["forces"] - f - e).pow(2).sum()
        for r, f, e in zip(raws, labels, noise, strict=True)
    )
    (gradient,) = torch.autograd.grad(loss, model.pair_term.weights)
    fitter = PairTermFit(model, structures)
    ridge = RIDGE * float(torch.linalg.eigvalsh(fitter.normal).max())
    # d/dw (|A w - y|^2 + mu |w|^2) = 2 A^T (A w - y) + 2 mu w = 0
    regularised = gradient + 2.0 * ridge * model.pair_term.weights.detach()
    scale = sum(float(pair_force_columns(model, r).abs().sum()) for r in raws) * float(rmse)
    assert float(regularised.abs().max()) < 1e-8 * scale
    assert float(gradient.abs().max()) > 1e3 * float(regularised.abs().max())  # ridge is seen
    # Without noise the exact weights' forces come back (weights themselves may differ along
    # directions no pair distance probes).
    exact = [_structure(r, f) for r, f in zip(raws, labels, strict=True)]
    report = fit_pair_term(model, exact)
    # The ridge's bias and the normal equations' rounding: ~1e-7 of the force scale.
    force_scale = float(torch.cat(labels).pow(2).mean().sqrt())
    assert report["force_rmse_after"] < 1e-6 * force_scale < 1e-3 * report["force_rmse_before"]
    for r, f in zip(raws, labels, strict=True):
        torch.testing.assert_close(
            model(**r)["forces"].detach(), f, rtol=0, atol=1e-5 * force_scale
        )


def test_a_reused_fit_equals_a_fresh_one_after_the_network_moved():
    """PairTermFit keeps the normal matrix of the structures; after the rest of the model
    has changed, applying it again gives the weights a fresh fit gives."""
    model = make_model(seed=14, pair_basis=10, neighbor_list="brute_force")
    raws = [random_structure(12, TRICLINIC, seed=40 + k) for k in range(3)]
    structures = [_structure(r, torch.randn(12, 3, dtype=torch.float64)) for r in raws]
    fitter = PairTermFit(model, structures, batch_size=2)
    fitter(model)
    with torch.no_grad():
        for p in model.fitting.parameters():
            p.add_(0.1 * torch.randn_like(p))
        start = model.pair_term.weights.detach().clone()
    reused = fitter(model)
    after_reuse = model.pair_term.weights.detach().clone()
    with torch.no_grad():
        model.pair_term.weights.copy_(start)
    fresh = fit_pair_term(model, structures, batch_size=3)
    fresh_weights = model.pair_term.weights.detach()
    # The same normal equations summed in another batch order; the ridge bounds their condition
    # number by 1 / RIDGE, so round-off (eps ~ 2e-16) may move the weights by up to ~2e-7 of the
    # largest (seen: 2.2e-9 on an Intel Xeon, below 1e-9 on an AMD EPYC).
    bound = torch.finfo(torch.float64).eps / RIDGE
    torch.testing.assert_close(
        after_reuse, fresh_weights, rtol=1e-6, atol=bound * float(fresh_weights.abs().max())
    )
    assert reused["force_rmse_after"] == pytest.approx(fresh["force_rmse_after"], rel=1e-9)


def test_fit_pair_term_refuses_a_model_without_one_or_data_without_forces():
    model = make_model(seed=12)
    raw = random_structure(6, TRICLINIC, seed=13)
    with pytest.raises(ConfigError, match="set model.pair_basis"):
        fit_pair_term(model, [_structure(raw, torch.zeros(6, 3))])
    paired = make_model(seed=12, pair_basis=6)
    with pytest.raises(ConfigError, match="no training structure has any"):
        fit_pair_term(paired, [_structure(raw, None)])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("training: {pair_term_fit: true}", "no pair term to fit; set model.pair_basis"),
        (
            "model: {pair_basis: 8}\ntraining: {pair_term_fit: true, force_weight: 0}",
            "training.force_weight is 0",
        ),
        ("training: {pair_lr_factor: -1}", "pair_lr_factor"),
        (
            "model: {pair_basis: 8}\ntraining: {pair_term_refit_interval: 5}",
            "set training.pair_term_fit: true as well",
        ),
        (
            "model: {pair_basis: 8}\ntraining: {pair_term_fit: true, pair_term_refit_interval: -1}",
            "pair_term_refit_interval: must be >= 0",
        ),
        (
            "training: {optimizer: lbfgs, learning_rate: 1, pair_lr_factor: 0.5}",
            "pair_lr_factor is not supported with the lbfgs optimizer",
        ),
    ],
)
def test_pair_term_fit_config_errors(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text("data: {train: x.xyz}\n" + text + "\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)
