"""Losses and error metrics (labels may be NaN where missing)."""

from __future__ import annotations

import math

import torch
from ase.data import chemical_symbols
from torch import Tensor

from ..model import SOGNet
from .data import Batch, Structure, collate

__all__ = ["evaluate", "loss_terms"]


def _masked_mse(prediction: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over the labelled (non-NaN) targets, 0 without any; computed with a
    mask rather than boolean indexing, so that a training step never waits for the device."""
    mask = ~torch.isnan(target)
    difference = torch.where(mask, prediction - torch.nan_to_num(target), 0.0)
    count = mask.sum().clamp(min=1).to(prediction.dtype)
    return (difference * difference).sum() / count


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
    """Energy RMSE/MAE per atom (meV/atom), energy RMSE per structure (meV), force
    RMSE/MAE per component (meV/A) and, for SOG-Net, the mean and standard deviation of
    the latent charges per species and channel (e), e.g. ``latent_charge_mean_e[Na]``.
    Runs where the model is (its parameters' device)."""
    parameter = next(model.parameters())
    dtype, device = parameter.dtype, parameter.device
    e_err: list[Tensor] = []
    atom_counts: list[Tensor] = []
    f_err: list[Tensor] = []
    charges: list[Tensor] = []
    numbers: list[Tensor] = []
    for start in range(0, len(structures), batch_size):
        batch = collate(structures[start : start + batch_size]).to(dtype, device)
        out = model(**batch.model_inputs(), compute_stress=compute_stress)
        e_err.append((out["energy"].detach() - batch.energy).double())
        atom_counts.append(batch.num_atoms.double())
        f_err.append((out["forces"].detach() - batch.forces).reshape(-1).double())
        if "charges" in out:
            charges.append(out["charges"].detach().double())
            numbers.append(batch.atomic_numbers)
    energy = torch.cat(e_err)
    e_rmse, e_mae = _rmse_mae_milli(energy / torch.cat(atom_counts))
    f_rmse, f_mae = _rmse_mae_milli(torch.cat(f_err))
    metrics = {
        "num_structures": float(len(structures)),
        "energy_rmse_meV_per_atom": e_rmse,
        "energy_mae_meV_per_atom": e_mae,
        "forces_rmse_meV_per_A": f_rmse,
        "forces_mae_meV_per_A": f_mae,
        # Whole-structure energy error, as gas-phase benchmarks such as SPICE quote it.
        "energy_rmse_meV": _rmse_mae_milli(energy)[0],
    }
    if charges:
        metrics.update(_charge_statistics(torch.cat(charges), torch.cat(numbers)))
    return metrics


def _charge_statistics(charges: Tensor, atomic_numbers: Tensor) -> dict[str, float]:
    """Mean and standard deviation of the latent charges ``[N, P]`` per species and channel."""
    stats: dict[str, float] = {}
    for number in torch.unique(atomic_numbers).tolist():
        selected = charges[atomic_numbers == number]
        for channel in range(charges.shape[1]):
            label = chemical_symbols[number] + (f",{channel}" if charges.shape[1] > 1 else "")
            values = selected[:, channel]
            stats[f"latent_charge_mean_e[{label}]"] = float(values.mean())
            stats[f"latent_charge_std_e[{label}]"] = float(values.std()) if len(values) > 1 else 0.0
    return stats


def _rmse_mae_milli(errors: Tensor) -> tuple[float, float]:
    """RMSE and MAE of the labelled (non-NaN) errors, times 1000 (eV -> meV); NaN if none."""
    errors = errors[~torch.isnan(errors)]
    if errors.numel() == 0:
        return math.nan, math.nan
    return 1e3 * float(errors.pow(2).mean().sqrt()), 1e3 * float(errors.abs().mean())
