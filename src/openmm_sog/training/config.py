"""Training configuration: YAML -> typed dataclasses; unknown keys are errors."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..model import SOGNetConfig

__all__ = ["DataConfig", "OutputConfig", "TrainConfig", "TrainingConfig", "load_config"]


@dataclass
class DataConfig:
    """Where the data is. Paths are relative to the config file's folder."""

    train: str = ""
    format: str = "auto"
    validation: str | None = None
    validation_fraction: float = 0.1
    # Structure selection within a file (see ``data.select_structures``): e.g. "0:80",
    # "0::2" or "0,3,7"; applied before the validation split.
    select: str | None = None
    validation_select: str | None = None
    max_structures: int | None = None


@dataclass
class TrainingConfig:
    """Optimisation. Loss = w_E MSE(E/atom, eV) + w_F MSE(F, eV/A) + w_S MSE(stress, eV/A^3)."""

    epochs: int = 100
    batch_size: int = 4
    # "adam" (mini-batches) or "lbfgs": one L-BFGS step (``lbfgs_iterations`` iterations with
    # a strong-Wolfe line search) per epoch on the full training set, for small data sets;
    # gradients are accumulated over batches of ``batch_size`` structures. Use learning_rate 1.
    optimizer: str = "adam"
    lbfgs_iterations: int = 20
    learning_rate: float = 1e-3
    # Model file or checkpoint to start from instead of a random initialisation (relative to
    # the config's folder): the weights both models share are copied, e.g. a SOG-Net starts
    # from its short-range-only model with its own small charge head (see
    # ``model_io.initialize_from``). Not used when resuming from this run's checkpoint.
    initialize_from: str | None = None
    # Learning-rate factor of the SOG kernel's weights and widths (Adam only; 0 freezes them).
    # Adam moves every parameter by about the learning rate per step however weak its
    # gradient, and the Gaussians much wider than the training cells barely enter the loss
    # (their ghat(k) at the cells' k-vectors is ~0): a small factor keeps them near their
    # Coulomb initialisation, which matters for larger cells than those trained on.
    kernel_lr_factor: float = 1.0
    weight_decay: float = 0.0
    energy_weight: float = 1.0
    force_weight: float = 10.0
    stress_weight: float = 0.0
    scheduler: str = "plateau"  # "plateau", "exponential" or "none"
    scheduler_factor: float = 0.5  # plateau: LR factor; exponential: gamma per epoch
    scheduler_patience: int = 5
    early_stopping_patience: int = 20
    max_time_s: float | None = None
    # After training, refit the per-species energy shifts of the best model to the training
    # energies by least squares (see ``model_io.refit_energy_shifts``).
    refit_energy_shifts: bool = True
    dtype: str = "float32"
    num_threads: int | None = None
    progress: bool = True


@dataclass
class OutputConfig:
    """Where results go (relative to the config file's folder)."""

    directory: str = "run"
    resume: bool = True
    # Seconds between writes of checkpoint_last.pt and model_best.pt (both are also written
    # when training stops): epochs of small data sets take milliseconds.
    checkpoint_interval_s: float = 30.0


@dataclass
class TrainConfig:
    """Top-level configuration of ``sognet train``."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: SOGNetConfig = field(default_factory=SOGNetConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    base_dir: str = "."

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(path)
        return p if p.is_absolute() else Path(self.base_dir) / p


def _build(cls: type, values: Any, where: str) -> Any:
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValueError(f"config section '{where}' must be a mapping, got {type(values).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known) - {"base_dir"})
    if unknown:
        raise ValueError(f"unknown config key(s) in '{where}': {unknown}; known: {sorted(known)}")
    kwargs = {}
    for name, value in values.items():
        nested = {
            "data": DataConfig,
            "model": SOGNetConfig,
            "training": TrainingConfig,
            "output": OutputConfig,
        }
        if cls is TrainConfig and name in nested:
            value = _build(nested[name], value, name)
        kwargs[name] = value
    return cls(**kwargs)


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a YAML training configuration."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    values = yaml.safe_load(path.read_text()) or {}
    config = _build(TrainConfig, values, "top level")
    config.base_dir = str(path.parent)
    if not config.data.train:
        raise ValueError("config: data.train (the training data file) is required")
    if config.training.epochs < 1 or config.training.batch_size < 1:
        raise ValueError("training.epochs and training.batch_size must be >= 1")
    if config.training.dtype not in ("float32", "float64"):
        raise ValueError(f"training.dtype must be float32 or float64, got {config.training.dtype}")
    if config.training.scheduler not in ("plateau", "exponential", "none"):
        raise ValueError("training.scheduler must be plateau, exponential or none")
    if config.training.optimizer not in ("adam", "lbfgs"):
        raise ValueError(
            f"training.optimizer must be adam or lbfgs, got {config.training.optimizer!r}"
        )
    if config.training.optimizer == "lbfgs" and config.training.weight_decay:
        raise ValueError("training.weight_decay is not supported with the lbfgs optimizer")
    if config.training.optimizer == "lbfgs" and config.training.kernel_lr_factor != 1.0:
        raise ValueError("training.kernel_lr_factor is not supported with the lbfgs optimizer")
    if config.training.kernel_lr_factor < 0:
        raise ValueError("training.kernel_lr_factor must be >= 0")
    if not 0.0 <= config.data.validation_fraction < 1.0:
        raise ValueError("data.validation_fraction must lie in [0, 1)")
    return config
