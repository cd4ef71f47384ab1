"""Model factory (initial statistics from the training data) and model files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from ..model import SOGNet, SOGNetConfig
from ..model.neighbors import VesinNeighborList
from .data import Structure, collate

__all__ = ["build_model", "load_model", "refit_energy_shifts", "save_model"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def build_model(
    config: SOGNetConfig, structures: list[Structure], dtype: str = "float32"
) -> SOGNet:
    """SOG-Net whose species, energy shifts, energy scale and neighbour count fit the data.

    * species: ``config.atomic_numbers`` or, if empty, every species in ``structures``;
    * per-species energy shifts (eV): least squares of energies on composition;
    * energy scale (eV): RMS force component times 1 Angstrom (1 eV if no forces);
    * neighbour normalisation: mean neighbour count within the cutoff (first 20 structures).
    """
    config = dataclasses.replace(config)
    present = sorted({int(z) for s in structures for z in s.atomic_numbers.tolist()})
    if not config.atomic_numbers:
        config.atomic_numbers = present
    unknown = sorted(set(present) - set(config.atomic_numbers))
    if unknown:
        raise ValueError(
            f"unknown species {unknown} in the data; model has {config.atomic_numbers}"
        )
    labelled = [s for s in structures if s.energy is not None]
    shifts = torch.zeros(len(config.atomic_numbers), dtype=torch.float64)
    if labelled:
        energies = torch.tensor([s.energy for s in labelled], dtype=torch.float64)
        counts = _composition(labelled, config.atomic_numbers)
        shifts = torch.linalg.lstsq(counts, energies[:, None], driver="gelsd").solution[:, 0]
    forces = [s.forces for s in structures if s.forces is not None]
    scale = float(torch.cat(forces).pow(2).mean().sqrt()) if forces else 1.0
    neighbors = VesinNeighborList(config.cutoff)
    total, atoms = 0, 0
    for s in structures[:20]:
        i, _, _ = neighbors(
            s.positions,
            s.cell[None],
            torch.tensor([s.pbc]),
            torch.zeros(s.num_atoms, dtype=torch.long),
        )
        total += int(i.shape[0])
        atoms += s.num_atoms
    config.neighbor_normalization = max(1.0, total / max(atoms, 1))
    model = SOGNet(config, shifts, scale if scale > 0 else 1.0, dtype=_DTYPES[dtype])
    sample = collate(structures[:20]).to(_DTYPES[dtype])
    model.set_descriptor_statistics(
        sample.positions, sample.atomic_numbers, sample.cell, sample.pbc, sample.batch
    )
    return model


def refit_energy_shifts(model: SOGNet, structures: list[Structure], batch_size: int = 8) -> float:
    """Add the least-squares per-species correction of the energy residuals to the shifts.

    The shifts are constants per species, so given the network the optimal ones are a linear
    least-squares problem on composition (what DeePMD-kit's ``change-bias`` does). Gradient
    training leaves part of this constant unfitted when the energy term is a small part of
    the loss. Returns the RMS energy-per-atom correction applied; eV/atom.
    """
    labelled = [s for s in structures if s.energy is not None]
    if not labelled:
        return 0.0
    dtype = model.energy_shifts.dtype
    residuals = []
    for start in range(0, len(labelled), batch_size):
        batch = collate(labelled[start : start + batch_size]).to(dtype)
        with torch.no_grad():
            out = model(**batch.model_inputs(), compute_forces=False)
        residuals.append((batch.energy - out["energy"]).double())
    counts = _composition(labelled, model.atomic_numbers)
    residual = torch.cat(residuals)[:, None]
    delta = torch.linalg.lstsq(counts, residual, driver="gelsd").solution[:, 0]
    with torch.no_grad():
        model.energy_shifts.add_(delta.to(dtype))
    return float(((counts @ delta) / counts.sum(1)).pow(2).mean().sqrt())


def _composition(structures: list[Structure], atomic_numbers: list[int]) -> torch.Tensor:
    """Atom counts per structure and species ``[S, len(atomic_numbers)]`` (float64)."""
    index = {z: k for k, z in enumerate(atomic_numbers)}
    counts = torch.zeros(len(structures), len(atomic_numbers), dtype=torch.float64)
    for row, s in enumerate(structures):
        for z in s.atomic_numbers.tolist():
            counts[row, index[int(z)]] += 1
    return counts


def model_metadata(model: SOGNet, config: SOGNetConfig, dtype: str) -> dict:
    """Everything needed to rebuild ``model`` apart from its state dict."""
    return {
        "config": config.to_dict(),
        "energy_scale": model.energy_scale,
        "dtype": dtype,
        "units": {"length": "Angstrom", "energy": "eV", "charge": "e"},
    }


def save_model(model: SOGNet, config: SOGNetConfig, dtype: str, path: str | Path) -> None:
    """Write a model file (metadata + state dict) readable by :func:`load_model`."""
    config = dataclasses.replace(
        config,
        atomic_numbers=list(model.atomic_numbers),
        neighbor_normalization=model.descriptor.neighbor_normalization,
    )
    payload = model_metadata(model, config, dtype)
    payload["state_dict"] = model.state_dict()
    torch.save(payload, Path(path))


def load_model(path: str | Path, dtype: str | None = None) -> SOGNet:
    """Rebuild a model from :func:`save_model`'s file (or a training checkpoint)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if "model" in payload:  # a training checkpoint
        payload = payload["model"]
    config = SOGNetConfig(**payload["config"])
    dtype = dtype or payload["dtype"]
    model = SOGNet(config, energy_scale=payload["energy_scale"], dtype=_DTYPES[dtype])
    state = {
        k: v.to(_DTYPES[dtype]) if v.is_floating_point() else v
        for k, v in payload["state_dict"].items()
    }
    # Files from before the per-species charge offsets existed: zero offsets.
    state.setdefault("charge_offsets", torch.zeros_like(model.charge_offsets))
    model.load_state_dict(state)
    return model
