"""Losses and error metrics (labels may be NaN where missing)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..model import SOGNet
from .data import Batch, Structure, collate

__all__ = ["evaluate", "loss_terms"]


def _masked_mse(prediction: Tensor, target: Tensor) -> Tensor:
    mask = ~torch.isnan(target)
    if not bool(mask.any()):
        return torch.zeros((), dtype=prediction.dtype)
    return ((prediction[mask] - target[mask]) ** 2).mean()


def loss_terms(output: dict[str, Tensor], batch: Batch) -> dict[str, Tensor]:
    """MSE of energy per atom (eV^2), force components (eV^2/A^2) and stress (eV^2/A^6)."""
    atoms = batch.num_atoms.to(output["energy"].dtype)
    terms = {
        "energy": _masked_mse(output["energy"] / atoms, batch.energy / atoms),
        "forces": _masked_mse(output["forces"], batch.forces),
    }
    if "stress" in output:
        terms["stress"] = _masked_mse(output["stress"], batch.stress)
    return terms


def evaluate(
    model: SOGNet,
    structures: list[Structure],
    batch_size: int = 8,
    compute_stress: bool = False,
) -> dict[str, float]:
    """Energy RMSE/MAE per atom (meV/atom), energy RMSE per structure (meV) and force
    RMSE/MAE per component (meV/A)."""
    dtype = next(model.parameters()).dtype
    e_err: list[Tensor] = []
    e_total_err: list[Tensor] = []
    f_err: list[Tensor] = []
    for start in range(0, len(structures), batch_size):
        batch = collate(structures[start : start + batch_size]).to(dtype)
        out = model(**batch.model_inputs(), compute_stress=compute_stress)
        atoms = batch.num_atoms.to(dtype)
        e_err.append(((out["energy"].detach() - batch.energy) / atoms).double())
        e_total_err.append((out["energy"].detach() - batch.energy).double())
        f_err.append((out["forces"].detach() - batch.forces).reshape(-1).double())
    metrics: dict[str, float] = {"num_structures": float(len(structures))}
    for name, errors in (("energy", torch.cat(e_err)), ("forces", torch.cat(f_err))):
        errors = errors[~torch.isnan(errors)]
        unit = "meV_per_atom" if name == "energy" else "meV_per_A"
        if errors.numel() == 0:
            metrics[f"{name}_rmse_{unit}"] = math.nan
            metrics[f"{name}_mae_{unit}"] = math.nan
        else:
            metrics[f"{name}_rmse_{unit}"] = 1000.0 * float(errors.pow(2).mean().sqrt())
            metrics[f"{name}_mae_{unit}"] = 1000.0 * float(errors.abs().mean())
    # Whole-structure energy error (meV), as gas-phase benchmarks such as SPICE quote it.
    total = torch.cat(e_total_err)
    total = total[~torch.isnan(total)]
    metrics["energy_rmse_meV"] = (
        1000.0 * float(total.pow(2).mean().sqrt()) if total.numel() else math.nan
    )
    return metrics
