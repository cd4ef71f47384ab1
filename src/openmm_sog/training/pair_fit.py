"""The pair term's weights by linear least squares on the training forces (``pair_term_fit``).

A model's forces are linear in the pair term's weights (``model.pair_term``, E = 1/2 sum over
the full neighbour list of phi(r), phi linear in a fine basis of Gaussians or cubic
B-splines). With everything else held as it stands, the weights that minimise the summed
squared force error are therefore one linear least-squares problem, solved here before
gradient training starts and, with ``pair_term_refit_interval``, again every few epochs
(alternating with Adam on the rest, so the pair term follows what the long range and the
network take over). Narrow basis functions are what steep pair walls need (a WCA wall's
force kink is resolved to ~12 meV/A by Gaussians of width 0.025 A and to ~280 meV/A by width
0.1), and they are the slowest for a gradient optimiser to fit.

The design matrix is formed analytically, per edge (i, j) with r = |r_j - r_i|: for basis
function k of the edge's species pair, dE/d(r_j - r_i) = 1/2 s B_k'(r) (r_j - r_i) / r, where
B_k is the switched basis function and s the model's energy scale. Only its normal equations are
kept (columns x columns), so memory does not grow with the data set.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..model.sognet import SOGNet
from .data import Structure, collate
from .errors import ConfigError

__all__ = ["PairTermFit", "fit_pair_term", "pair_force_columns"]

#: Ridge on the pair weights, relative to the normal matrix's largest eigenvalue: the fit
#: minimises |A w - r|^2 + RIDGE lambda_max |w|^2. Gaussians centred where the training set
#: has few pair distances (the closest contacts of a steep wall) are otherwise fitted to those
#: few pairs with weights that are wild in between: on the point charges with 192 Gaussians
#: (width 0.016 A) the unregularised fit gave 157 meV/A on the training forces and 1956 on
#: held-out ones; 1e-9 gave 159 held out and left the well-sampled 128-Gaussian fit as it was
#: (23.7 meV/A held out); 1e-8 already cost 14 % there, 1e-7 a factor 5.
RIDGE = 1e-9


def _edges(model: SOGNet, inputs: dict[str, Tensor]) -> tuple[Tensor, ...]:
    """The neighbour list of one batch as the fit needs it (float64): centre ``i``, neighbour
    ``j``, ``r_j - r_i`` ``[E, 3]`` and its length ``r`` ``[E]``, every basis slope dB_k/dr
    ``[E, K]`` and the edge's species-pair index ``[E]``."""
    pair = model.pair_term
    species = model.species_index(inputs["atomic_numbers"])
    with torch.no_grad():
        i, j, vectors = model._pairs(
            inputs["positions"], inputs["cell"], inputs["pbc"], inputs["batch"]
        )
    vectors = vectors.double()
    distances = torch.linalg.norm(vectors, dim=-1)
    # Each basis value depends on its own edge's distance only, so one forward-mode pass with
    # a tangent of ones gives every dB_k/dr.
    _, slopes = torch.func.jvp(pair.basis, (distances,), (torch.ones_like(distances),))
    types = pair.pair_index[species.index_select(0, i), species.index_select(0, j)]
    return i, j, vectors, distances, slopes, types


def pair_force_columns(model: SOGNet, batch_inputs: dict[str, Tensor]) -> Tensor:
    """Forces (eV/A) of every pair-term weight at unit value, ``[N, 3, P, K]`` in float64
    (P species pairs, K basis functions), for one batch's ``model_inputs()``."""
    pair = model.pair_term
    if pair is None:
        raise ValueError("the model has no pair term (model.pair_basis: 0)")
    i, j, vectors, distances, slopes, types = _edges(model, batch_inputs)
    unit = vectors / distances.unsqueeze(-1)
    num_atoms = batch_inputs["positions"].shape[0]
    num_pairs, num_basis = pair.weights.shape
    columns = torch.zeros(
        num_atoms, 3, num_pairs, num_basis, dtype=torch.float64, device=unit.device
    )
    for p in range(num_pairs):
        edges = torch.nonzero(types == p).squeeze(-1)
        if edges.numel() == 0:
            continue
        # dE/d(r_j - r_i) per edge and basis function: [E_p, 3, K]
        grad = 0.5 * model.energy_scale * unit[edges].unsqueeze(-1) * slopes[edges].unsqueeze(1)
        block = torch.zeros(num_atoms, 3, num_basis, dtype=torch.float64, device=unit.device)
        # F = -dE/dx; x_j enters r_j - r_i with +, x_i with -.
        block.index_add_(0, j[edges], -grad)
        block.index_add_(0, i[edges], grad)
        columns[:, :, p, :] = block
    return columns


class PairTermFit:
    """Least-squares fits of ``model.pair_term`` on fixed training structures, repeatable.

    The normal matrix depends only on the structures (their pair distances), the basis and the
    energy scale, so it is formed and decomposed once; each fit then costs one force
    evaluation of the model and a pass over the edges for the right-hand side A^T r, which is
    sum over edges of 1/2 s B_k'(r) u . (r_i - r_j) with u the edge's unit vector and r_i the
    residual force on atom i.

    :param model: the model whose pair term is fitted (its scales and basis are read here).
    :param structures: training structures; those without forces are skipped.
    :param batch_size: structures per model evaluation.
    """

    def __init__(self, model: SOGNet, structures: list[Structure], batch_size: int = 8):
        pair = model.pair_term
        if pair is None:
            raise ConfigError(
                "training.pair_term_fit needs a pair term: set model.pair_basis (e.g. 96)"
            )
        self.labelled = [s for s in structures if s.forces is not None]
        if not self.labelled:
            raise ConfigError(
                "training.pair_term_fit fits the pair term to forces, and no training "
                "structure has any; switch it off or add force labels"
            )
        self.batch_size = int(batch_size)
        device = pair.weights.device
        size = pair.weights.numel()
        normal = torch.zeros(size, size, dtype=torch.float64, device=device)
        for batch in self._batches(model):
            inputs = batch.model_inputs()
            design = pair_force_columns(model, inputs).reshape(-1, size)
            design = design[torch.isfinite(batch.forces.reshape(-1))]
            normal += design.T @ design
        values, vectors = torch.linalg.eigh(normal)
        ridge = RIDGE * float(values.max().clamp_min(1e-300))
        self.normal = normal
        self.vectors = vectors
        self.inverse = 1.0 / (values.clamp_min(0.0) + ridge)
        # Directions the data determine more than the ridge does.
        self.rank = int((values > ridge).sum())

    def _batches(self, model: SOGNet):
        parameter = model.pair_term.weights
        for start in range(0, len(self.labelled), self.batch_size):
            chosen = self.labelled[start : start + self.batch_size]
            yield collate(chosen).to(parameter.dtype, parameter.device)

    def __call__(self, model: SOGNet) -> dict:
        """Move ``model``'s pair weights to the least-squares optimum of the force error
        with the rest of the model as it now stands.

        :return: ``{"force_rmse_before": eV/A, "force_rmse_after": eV/A, "rank": int,
            "columns": int}`` over the labelled force components; ``rank``: the directions of
            weight space the data determine more than the ridge does.
        """
        pair = model.pair_term
        num_pairs, num_basis = pair.weights.shape
        rhs = torch.zeros(num_pairs, num_basis, dtype=torch.float64, device=self.normal.device)
        squared, count = 0.0, 0
        for batch in self._batches(model):
            inputs = batch.model_inputs()
            out = model(**inputs, compute_forces=True)
            residual = (batch.forces - out["forces"].detach()).double()
            finite = torch.isfinite(residual)
            squared += float(residual[finite].pow(2).sum())
            count += int(finite.sum())
            residual = torch.where(finite, residual, torch.zeros_like(residual))
            i, j, vectors, distances, slopes, types = _edges(model, inputs)
            along = ((residual[i] - residual[j]) * vectors).sum(-1) / distances
            rhs.index_add_(0, types, 0.5 * model.energy_scale * along.unsqueeze(-1) * slopes)
        rhs = rhs.reshape(-1)
        # The ridge acts on the weights, not on the step: w = (N + mu)^-1 (A^T r + N w0), so
        # weights no data support decay toward zero instead of keeping earlier values.
        start = pair.weights.detach().double().reshape(-1)
        target = rhs + self.normal @ start
        delta = self.vectors @ (self.inverse * (self.vectors.T @ target)) - start
        # |A delta - r|^2 from the normal equations, so the rows need not be kept.
        after = squared + float(delta @ (self.normal @ delta) - 2.0 * (delta @ rhs))
        with torch.no_grad():
            pair.weights.add_(delta.reshape(pair.weights.shape).to(pair.weights.dtype))
        return {
            "force_rmse_before": (squared / count) ** 0.5,
            "force_rmse_after": (max(after, 0.0) / count) ** 0.5,
            "rank": self.rank,
            "columns": int(rhs.numel()),
        }


def fit_pair_term(model: SOGNet, structures: list[Structure], batch_size: int = 8) -> dict:
    """One least-squares fit of ``model.pair_term`` on ``structures`` (see :class:`PairTermFit`)
    with the rest of the model as it stands; returns the fit's report."""
    return PairTermFit(model, structures, batch_size)(model)
