"""Model factory (initial statistics from the training data) and model files."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import torch

from ..model import SOGNet, SOGNetConfig
from ..model.backbones import foreign_backbone_keys
from ..model.neighbors import VesinNeighborList
from .data import Structure, collate
from .integrity import (
    FileFormatError,
    safe_load,
    seal,
    verify_sealed,
    without_integrity,
)
from .reference_energies import composition_matrix

__all__ = [
    "MODEL_FORMAT_VERSION",
    "build_model",
    "load_model",
    "read_model_payload",
    "refit_energy_shifts",
    "save_model",
    "upgrade_optimizer_state",
    "upgrade_state_dict",
    "write_model_payload",
]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}

#: layout of model files: 1 adds format_version, openmm_sog_version, weights_sha256 (a
#: checksum of the state dict, see integrity.py) and ``periodic``; files without are format 0.
#: 2: the local model is ``backbone.*`` (older files' DeepPot-SE keys are renamed on reading,
#: see :func:`upgrade_state_dict`).
MODEL_FORMAT_VERSION = 2
#: Pre-backbone (format <= 1) state-dict names of the DeepPot-SE local model -> names now.
_LEGACY_PREFIXES = (
    ("descriptor_mean", "backbone.mean"),
    ("descriptor_std", "backbone.std"),
    ("descriptor.", "backbone.descriptor."),
    ("pair_readout.", "backbone.pair_readout."),
)
#: what a model file is, for error messages
_MODEL_FILE = "a SOG-Net model file (the model_best.pt written by `sognet train`)"


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
        counts = composition_matrix(labelled, config.atomic_numbers)
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
    if total == 0:
        # Zero features (no pairs within the cutoff) would give NaN statistics and charges.
        raise ValueError(
            f"no atom of the first training structures has a neighbour within model.cutoff = "
            f"{config.cutoff:g} A, so the local model sees nothing: raise model.cutoff "
            "beyond the nearest-neighbour distance of the data"
        )
    config.neighbor_normalization = max(1.0, total / max(atoms, 1))
    model = SOGNet(config, shifts, scale if scale > 0 else 1.0, dtype=_DTYPES[dtype])
    # Recorded in the model file and its export, so that OpenMM runs it as it was trained.
    model.trained_periodic = _periodicity(structures)
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
    dtype, device = model.energy_shifts.dtype, model.energy_shifts.device
    residuals = []
    for start in range(0, len(labelled), batch_size):
        batch = collate(labelled[start : start + batch_size]).to(dtype, device)
        with torch.no_grad():
            out = model(**batch.model_inputs(), compute_forces=False)
        residuals.append((batch.energy - out["energy"]).double().cpu())
    counts = composition_matrix(labelled, model.atomic_numbers)
    residual = torch.cat(residuals)[:, None]
    delta = torch.linalg.lstsq(counts, residual, driver="gelsd").solution[:, 0]
    with torch.no_grad():
        model.energy_shifts.add_(delta.to(dtype=dtype, device=device))
    return float(((counts @ delta) / counts.sum(1)).pow(2).mean().sqrt())


def _periodicity(structures: list[Structure]) -> bool | None:
    """True or False when all ``structures`` are periodic or all are not; None when mixed."""
    flags = {bool(s.pbc) for s in structures}
    return flags.pop() if len(flags) == 1 else None


def model_metadata(model: SOGNet, config: SOGNetConfig, dtype: str) -> dict:
    """Everything needed to rebuild ``model`` apart from its state dict."""
    return {
        "config": config.to_dict(),
        "energy_scale": model.energy_scale,
        "dtype": dtype,
        "units": {"length": "Angstrom", "energy": "eV", "charge": "e"},
        # trained on periodic (True) or non-periodic (False) structures; None: mixed, unknown
        "periodic": getattr(model, "trained_periodic", None),
    }


def save_model(model: SOGNet, config: SOGNetConfig, dtype: str, path: str | Path) -> None:
    """Write a model file (metadata + state dict) readable by :func:`load_model`."""
    config = dataclasses.replace(
        config,
        atomic_numbers=list(model.atomic_numbers),
        neighbor_normalization=model.backbone.neighbor_normalization,
    )
    payload = model_metadata(model, config, dtype)
    payload["state_dict"] = model.state_dict()
    write_model_payload(payload, path)


def seal_model_payload(payload: dict) -> dict:
    """``payload`` with the format version, package version and checksum of its state dict."""
    return seal(payload, MODEL_FORMAT_VERSION, _state_dict_tensors)


def _state_dict_tensors(payload: dict) -> Iterable[tuple[str, torch.Tensor]]:
    """The tensors a model file's checksum covers: its state dict."""
    return payload["state_dict"].items()


def write_model_payload(payload: dict, path: str | Path) -> None:
    """Write a payload of :func:`model_metadata` plus ``state_dict`` as a checked model file.

    Written to a temporary file first, so that an interrupted write leaves the old file.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(seal_model_payload(payload), tmp)
    tmp.replace(path)


def load_model(path: str | Path, dtype: str | None = None) -> SOGNet:
    """Rebuild a model from :func:`save_model`'s file (or a training checkpoint)."""
    return model_from_payload(read_model_payload(path), dtype)


def read_model_payload(path: str | Path) -> dict:
    """Metadata and state dict of a model file, or of a training checkpoint's model.

    The file is read with ``torch.load(weights_only=True)`` (a file with pickled code is
    refused, not run) and its checksum is verified; the returned payload is without the
    file's integrity fields, so a caller that changes and saves it writes a consistent file.

    :raises FileNotFoundError: no such file.
    :raises FileFormatError: not a model file (an export, a text file, unsafe pickle), or from
        a newer openmm-sog; ``CorruptFileError`` (a subclass) when the checksum does not match.
    """
    from .checkpoint import verify_checkpoint

    payload = safe_load(path, _MODEL_FILE)
    if isinstance(payload, dict) and "model" in payload and "optimizer" in payload:
        verify_checkpoint(payload, path)
        payload = payload["model"]
    if not isinstance(payload, dict) or not isinstance(payload.get("state_dict"), dict):
        raise FileFormatError(f"{path} is not {_MODEL_FILE}: it has no state_dict")
    missing = [key for key in ("config", "energy_scale", "dtype") if key not in payload]
    if missing:
        raise FileFormatError(f"{path} is not {_MODEL_FILE}: it lacks {', '.join(missing)}")
    verify_sealed("model file", path, payload, MODEL_FORMAT_VERSION, _state_dict_tensors)
    return without_integrity(payload)


def model_from_payload(payload: dict, dtype: str | None = None) -> SOGNet:
    """The model of :func:`read_model_payload`'s ``payload``, in ``dtype`` (default: its own)."""
    config = SOGNetConfig(**payload["config"])
    dtype = dtype or payload["dtype"]
    model = SOGNet(config, energy_scale=payload["energy_scale"], dtype=_DTYPES[dtype])
    state = {
        k: v.to(_DTYPES[dtype]) if v.is_floating_point() else v
        for k, v in upgrade_state_dict(payload["state_dict"]).items()
    }
    # Files from before the per-species charge offsets existed: zero offsets.
    state.setdefault("charge_offsets", torch.zeros_like(model.charge_offsets))
    model.load_state_dict(state)
    model.trained_periodic = payload.get("periodic")  # None in format-0 files
    return model


def upgrade_state_dict(state: dict) -> dict:
    """``state`` with the names of model files from before backbones (format <= 1) renamed.

    Those files held the DeepPot-SE local model at the top level (``descriptor.*``,
    ``descriptor_mean``, ``descriptor_std``, ``pair_readout.*``); it is now ``backbone.*``.
    Current names pass unchanged, so this is safe on any state dict.
    """
    renamed = {}
    for key, value in state.items():
        for old, new in _LEGACY_PREFIXES:
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        renamed[key] = value
    return renamed


def upgrade_optimizer_state(
    optimizer_state: dict, old_names: list[str], optimizer: torch.optim.Optimizer, model: SOGNet
) -> dict:
    """Adam state of a pre-backbone checkpoint, renumbered for ``optimizer``'s parameter order.

    Optimiser states are keyed by parameter position (group by group). Moving the DeepPot-SE
    model into ``backbone`` moved its radial pair readout ahead of the fitting network, so
    positions are mapped by name: within each of ``optimizer``'s groups (the checkpoint's
    optimiser had the same groups) the old order is that of ``old_names``, the old state dict's
    keys.

    :raises ValueError: an L-BFGS state (its history is one flat vector) whose order changed.
    """
    name_of = {id(p): name for name, p in model.named_parameters()}
    rank = {name: k for k, name in enumerate(upgrade_state_dict(dict.fromkeys(old_names)))}
    groups = [[name_of[id(p)] for p in group["params"]] for group in optimizer.param_groups]
    new = [name for group in groups for name in group]
    old = [name for group in groups for name in sorted(group, key=rank.__getitem__)]
    if old == new:
        return optimizer_state
    if "state" not in optimizer_state or any(
        "params" not in g for g in optimizer_state.get("param_groups", [])
    ):
        raise ValueError("not an optimiser state")
    if isinstance(optimizer, torch.optim.LBFGS):
        raise ValueError(
            "an L-BFGS checkpoint from before backbones cannot be resumed with a radial pair "
            "readout; start a new run with training.initialize_from pointing at its model"
        )
    position = {name: k for k, name in enumerate(new)}
    state = {position[old[k]]: value for k, value in optimizer_state["state"].items()}
    return dict(optimizer_state, state=state)


#: Hyper-parameters that define the local (short-range) model's function: a model whose weights
#: are copied from another must agree on these (the long-range ones may differ). Fields of a
#: backbone the model does not use are compared too: they keep their defaults.
LOCAL_MODEL_FIELDS = (
    "atomic_numbers",
    "backbone",
    "cutoff",
    "inner_cutoff",
    "num_radial",
    "embedding_sizes",
    "axis_features",
    "fitting_sizes",
    "radial_features",
    "pair_basis",
    "pair_basis_function",
    "num_features",
    "num_interactions",
    "max_l",
    "correlation",
    "species_embedding",
    "radial_channels",
)


def initialize_from(model: SOGNet, config: SOGNetConfig, path: str | Path) -> dict[str, list[str]]:
    """Start ``model`` from the weights of a trained model (warm start, fine-tuning).

    Every parameter and buffer the two models share by name is copied, together with the
    scalars that fix the local model's function (energy scale, neighbour normalisation):
    the local model, the descriptor statistics and the energy shifts. What only ``model``
    has keeps its initialisation: started from a short-range-only model, a SOG-Net keeps its
    small-scale charge head (``charge_init_scale``) and Coulomb kernel, so it starts next to
    the short-range model's function and its training loss starts near that model's optimum.

    :param config: ``model``'s hyper-parameters.
    :param path: a model file or training checkpoint (``model_best.pt``, ``checkpoint_last.pt``).
    :return: ``{"copied": names, "kept": names}``.
    :raises ValueError: the local models differ (hyper-parameters or tensor shapes), or the
        source has weights ``model`` has no place for (e.g. a SOG-Net into a short-range model).
    """
    payload = read_model_payload(path)
    source = model_from_payload(payload, _dtype_name(model.energy_shifts.dtype))
    source_config = SOGNetConfig(**payload["config"]).to_dict()  # older files: defaults
    mine = dict(config.to_dict(), atomic_numbers=list(model.atomic_numbers))
    differ = [
        f"{name} ({source_config[name]!r} in the file, {mine[name]!r} here)"
        for name in LOCAL_MODEL_FIELDS
        if name not in foreign_backbone_keys(mine["backbone"], [name])
        and _normalised(source_config[name]) != _normalised(mine[name])
    ]
    if differ:
        raise ValueError(
            f"training.initialize_from: {path} has another local model: " + "; ".join(differ)
        )
    if source.long_range and not model.long_range:
        raise ValueError(
            f"training.initialize_from: {path} is a SOG-Net; its charge head and kernel have no "
            "place in this short-range-only model (model.long_range: false)"
        )
    target = model.state_dict()
    copied = []
    with torch.no_grad():
        for name, value in source.state_dict().items():
            if name not in target:
                if value.numel() == 0:  # e.g. a short-range model's empty charge offsets
                    continue
                raise ValueError(
                    f"training.initialize_from: {path} has weights {name!r} this model lacks"
                )
            if target[name].shape != value.shape:
                if value.numel() == 0:
                    continue
                raise ValueError(
                    f"training.initialize_from: {name!r} has shape {tuple(value.shape)} in "
                    f"{path} and {tuple(target[name].shape)} here"
                )
            target[name].copy_(value)
            copied.append(name)
    kept = [name for name in target if name not in copied]
    set_local_scales(model, payload)
    return {"copied": copied, "kept": kept}


def set_local_scales(model: SOGNet, payload: dict) -> None:
    """Give ``model`` the energy scale and neighbour normalisation of a model file's payload.

    ``build_model`` sets both from the training data; a model that continues or starts from
    another one must carry that one's instead, or its local energies would be rescaled.
    """
    model.energy_scale = float(payload["energy_scale"])
    model.backbone.set_neighbor_normalization(
        float(payload["config"].get("neighbor_normalization", SOGNetConfig.neighbor_normalization))
    )


def _normalised(value):
    if isinstance(value, str):
        return value
    return [float(v) for v in value] if isinstance(value, list | tuple) else float(value)


def _dtype_name(dtype: torch.dtype) -> str:
    return next(name for name, d in _DTYPES.items() if d == dtype)
