"""The pair term's weights by linear least squares on the training forces (``pair_term_fit``).

A model's forces are linear in the pair term's weights (``model.pair_term``, E = 1/2 sum over
the full neighbour list of phi(r), phi linear in a fine Gaussian basis). With everything else
held as it stands, the weights that minimise the summed squared force error are therefore one
linear least-squares problem, solved here before gradient training starts. Narrow basis
functions are what steep pair walls need (a WCA wall's force kink is resolved to ~12 meV/A by
Gaussians of width 0.025 A and to ~280 meV/A by width 0.1), and they are the slowest for a
gradient optimiser to fit; starting from their optimum leaves Adam the many-body remainder.

The design matrix is formed analytically, per edge (i, j) with r = |r_j - r_i|: for basis
function k of the edge's species pair, dE/d(r_j - r_i) = 1/2 s B_k'(r) (r_j - r_i) / r, where
B_k is the switched Gaussian and s the model's energy scale. Only its normal equations are
kept (columns x columns), so memory does not grow with the data set.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..model.sognet import SOGNet
from .data import Structure, collate
from .errors import ConfigError

__all__ = ["fit_pair_term", "pair_force_columns"]

#: Eigenvalues of the normal matrix below this fraction of the largest are dropped: basis
#: functions no training pair distance reaches (below the closest contact) and near-degenerate
#: combinations of neighbouring Gaussians get no weight (the minimum-norm solution) instead of
#: large cancelling ones that would amplify noise.
EIGENVALUE_CUTOFF = 1e-12


def pair_force_columns(model: SOGNet, batch_inputs: dict[str, Tensor]) -> Tensor:
    """Forces (eV/A) of every pair-term weight at unit value, ``[N, 3, P, K]`` in float64
    (P species pairs, K basis functions), for one batch's ``model_inputs()``."""
    pair = model.pair_term
    if pair is None:
        raise ValueError("the model has no pair term (model.pair_basis: 0)")
    species = model.species_index(batch_inputs["atomic_numbers"])
    with torch.no_grad():
        i, j, vectors = model._pairs(
            batch_inputs["positions"], batch_inputs["cell"], batch_inputs["pbc"],
            batch_inputs["batch"],
        )  # fmt: skip
    vectors = vectors.double()
    distances = torch.linalg.norm(vectors, dim=-1)
    # Each basis value depends on its own edge's distance only, so one forward-mode pass with
    # a tangent of ones gives every dB_k/dr.
    _, slopes = torch.func.jvp(pair.basis, (distances,), (torch.ones_like(distances),))
    types = pair.pair_index[species.index_select(0, i), species.index_select(0, j)]
    num_pairs, num_basis = pair.weights.shape
    columns = torch.zeros(
        species.shape[0], 3, num_pairs, num_basis, dtype=torch.float64, device=vectors.device
    )
    unit = vectors / distances.unsqueeze(-1)
    for p in range(num_pairs):
        edges = torch.nonzero(types == p).squeeze(-1)
        if edges.numel() == 0:
            continue
        # dE/d(r_j - r_i) per edge and basis function: [E_p, 3, K]
        grad = 0.5 * model.energy_scale * unit[edges].unsqueeze(-1) * slopes[edges].unsqueeze(1)
        block = torch.zeros(species.shape[0], 3, num_basis, dtype=torch.float64,
                            device=vectors.device)  # fmt: skip
        # F = -dE/dx; x_j enters r_j - r_i with +, x_i with -.
        block.index_add_(0, j[edges], -grad)
        block.index_add_(0, i[edges], grad)
        columns[:, :, p, :] = block
    return columns


def fit_pair_term(model: SOGNet, structures: list[Structure], batch_size: int = 8) -> dict:
    """Set ``model.pair_term`` to the least-squares optimum of the training force error with
    the rest of the model as it stands (the weights' current values are the starting point,
    so a model started from another keeps its part). Structures without forces are skipped.

    :return: ``{"force_rmse_before": eV/A, "force_rmse_after": eV/A, "rank": int,
        "columns": int}`` over the labelled force components.
    """
    pair = model.pair_term
    if pair is None:
        raise ConfigError(
            "training.pair_term_fit needs a pair term: set model.pair_basis (e.g. 96)"
        )
    labelled = [s for s in structures if s.forces is not None]
    if not labelled:
        raise ConfigError(
            "training.pair_term_fit fits the pair term to forces, and no training structure "
            "has any; switch it off or add force labels"
        )
    parameter = pair.weights
    dtype, device = parameter.dtype, parameter.device
    size = pair.weights.numel()
    normal = torch.zeros(size, size, dtype=torch.float64, device=device)
    rhs = torch.zeros(size, dtype=torch.float64, device=device)
    squared, count = 0.0, 0
    for start in range(0, len(labelled), batch_size):
        batch = collate(labelled[start : start + batch_size]).to(dtype, device)
        inputs = batch.model_inputs()
        out = model(**inputs, compute_forces=True)
        residual = (batch.forces - out["forces"].detach()).double().reshape(-1)
        design = pair_force_columns(model, inputs).reshape(residual.shape[0], size)
        rows = torch.isfinite(residual)
        design, residual = design[rows], residual[rows]
        normal += design.T @ design
        rhs += design.T @ residual
        squared += float((residual * residual).sum())
        count += int(residual.numel())
    values, vectors = torch.linalg.eigh(normal)
    keep = values > EIGENVALUE_CUTOFF * values.max().clamp_min(1e-300)
    inverse = torch.where(keep, 1.0 / values.clamp_min(1e-300), torch.zeros_like(values))
    delta = vectors @ (inverse * (vectors.T @ rhs))
    # |A delta - r|^2 from the normal equations, so the rows need not be kept.
    after = squared + float(delta @ (normal @ delta) - 2.0 * (delta @ rhs))
    with torch.no_grad():
        pair.weights.add_(delta.reshape(pair.weights.shape).to(dtype))
    return {
        "force_rmse_before": (squared / count) ** 0.5,
        "force_rmse_after": (max(after, 0.0) / count) ** 0.5,
        "rank": int(keep.sum()),
        "columns": size,
    }
