"""Training configuration: YAML -> typed dataclasses, every key and type checked.

Unknown keys, values of the wrong type and values out of range raise :class:`ConfigError`
with a message that names the key, the value and what is expected. Paths in the config
(data files, the output folder, ``initialize_from``) are relative to the current working
directory, as for MACE and NequIP, not to the config file's folder.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..model import SOGNetConfig
from ..model.backbones import BACKBONE_KEYS, BACKBONES, foreign_backbone_keys
from ..model.cace import MAX_ANGULAR, MAX_CORRELATION
from ..model.pair_term import PAIR_BASIS_FUNCTIONS
from .device import check_device_name
from .errors import ConfigError

__all__ = [
    "ConfigError",
    "DataConfig",
    "OutputConfig",
    "TrainConfig",
    "TrainingConfig",
    "config_to_dict",
    "load_config",
    "validate_config",
]

#: Data formats ``data.format`` accepts (see ``data.read_dataset``).
DATA_FORMATS = ("auto", "extxyz", "spice", "dimer", "pointcharge")


@dataclass
class DataConfig:
    """Where the data is. Paths are relative to the current working directory."""

    train: str = ""
    format: str = "auto"
    validation: str | None = None
    validation_fraction: float = 0.1
    # Structure selection within a file (see ``data.select_structures``): e.g. "0:80",
    # "0::2" or "0,3,7"; applied before the validation split.
    select: str | None = None
    validation_select: str | None = None
    max_structures: int | None = None
    # extxyz keys of the labels (``info`` / ``arrays`` or the calculator's results), e.g.
    # REF_energy and REF_forces in files written for MACE; energy in eV, forces in eV/A.
    energy_key: str = "energy"
    forces_key: str = "forces"


@dataclass
class TrainingConfig:
    """Optimisation. Loss = w_E MSE(E/atom, eV) + w_F MSE(F, eV/A) + w_S MSE(stress, eV/A^3)
    + w_q mean(q^2, e^2) over the latent charges (SOG-Net only)."""

    epochs: int = 100
    batch_size: int = 4
    # "adam" (mini-batches) or "lbfgs": one L-BFGS step (``lbfgs_iterations`` iterations with
    # a strong-Wolfe line search) per epoch on the full training set, for small data sets;
    # gradients are accumulated over batches of ``batch_size`` structures. Use learning_rate 1.
    # "adamw": Adam with decoupled weight decay (``weight_decay`` per unit learning rate) of
    # the networks' weight matrices only; with "adam", ``weight_decay`` is an L2 term added to
    # every parameter's gradient (the SOG kernel's included).
    optimizer: str = "adam"
    lbfgs_iterations: int = 20
    learning_rate: float = 1e-3
    # Model file or checkpoint to start from instead of a random initialisation: the weights
    # both models share are copied, e.g. a SOG-Net starts from its short-range-only model with
    # its own small charge head (see ``model_io.initialize_from``). The starting model is
    # validated as epoch 0. Not used when resuming from this run's checkpoint.
    initialize_from: str | None = None
    # Learning-rate factor of the SOG kernel's weights and widths (Adam only; 0 freezes them).
    # Adam moves every parameter by about the learning rate per step however weak its
    # gradient, and the Gaussians much wider than the training cells barely enter the loss
    # (their ghat(k) at the cells' k-vectors is ~0): a small factor keeps them near their
    # Coulomb initialisation, which matters for larger cells than those trained on.
    kernel_lr_factor: float = 1.0
    # Learning-rate factor of the pair term's weights (model.pair_basis); 0 keeps them where
    # they start (e.g. at the least-squares fit of pair_term_fit).
    pair_lr_factor: float = 1.0
    weight_decay: float = 0.0
    energy_weight: float = 1.0
    force_weight: float = 10.0
    stress_weight: float = 0.0
    # A prior on the latent charges: w_q times their mean square (e^2) joins the loss, so that
    # a long range the data do not pay for stays switched off (charges at zero) instead of
    # fitting noise; 0 (default) off. Ignored by short-range-only models.
    charge_weight: float = 0.0
    # The same prior in L1 form: w_1 (1/e) times the mean |q|. Its pull toward zero does not
    # fade as the charges shrink, as the mean square's does, and is weak against charges of
    # order 1 e, so one setting switches off a spurious long range and keeps a real one
    # (docs/RESULTS.md (e)).
    charge_l1_weight: float = 0.0
    # Before the first step, set the pair term's weights (model.pair_basis) to the linear
    # least-squares optimum of the training force error, the rest of the model as initialised
    # (see ``pair_fit``): narrow Gaussians that resolve a steep wall are what gradient steps fit
    # slowest.
    pair_term_fit: bool = False
    # With pair_term_fit: fit again after every this many epochs (0: only before the first),
    # so the pair term follows what the network and the long range take over while they train.
    pair_term_refit_interval: int = 0
    scheduler: str = "plateau"  # "plateau", "exponential" or "none"
    scheduler_factor: float = 0.5  # plateau: LR factor; exponential: gamma per epoch
    scheduler_patience: int = 5
    early_stopping_patience: int = 20
    max_time_s: float | None = None
    # Per-species reference energies (eV) the model starts from (its energy shifts), like
    # MACE's E0s: "fit" (least squares of the training energies on composition; undetermined,
    # and warned about, when the training set has fewer distinct compositions than species),
    # "average" (every species the mean energy per atom), or a mapping {atomic number or
    # symbol: eV}, e.g. isolated-atom energies {11: -1.23, 17: -4.56}.
    reference_energies: str | dict[int | str, float] = "fit"
    # After training, refit the per-species energy shifts of the best model to the training
    # energies by least squares (see ``model_io.refit_energy_shifts``).
    refit_energy_shifts: bool = True
    dtype: str = "float32"
    # Exponential moving average of the weights (as MACE and NequIP train), e.g. 0.99: after
    # every optimiser step ema = decay * ema + (1 - decay) * weights; validation, early
    # stopping and model_best.pt use the averaged weights. None: off (Adam only).
    ema_decay: float | None = None
    # Where the model trains: "cpu", "cuda" (this process's GPU; under torchrun the rank's
    # LOCAL_RANK) or "cuda:N". The data move there once; batches are assembled there.
    device: str = "cpu"
    num_threads: int | None = None
    progress: bool = True


@dataclass
class OutputConfig:
    """Where results go (relative to the current working directory)."""

    directory: str = "run"
    # Continue the run in ``directory`` from its checkpoint_last.pt (``sognet train --resume``).
    # Off by default: a folder that already holds a run is refused unless resumed with the same
    # config or ``overwrite`` is set, so a changed config never silently continues old weights.
    resume: bool = False
    # Replace the run in ``directory`` (its checkpoints, log and config) with a fresh one
    # (``sognet train --overwrite``).
    overwrite: bool = False
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

    def resolve(self, path: str) -> Path:
        """A path from the config: absolute, or relative to the current working directory."""
        return Path(path).expanduser()


_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": SOGNetConfig,
    "training": TrainingConfig,
    "output": OutputConfig,
}

#: Keys users reach for that this trainer does not have, with what to do instead.
_NOT_OPTIONS = {
    "gpu": "the training device is training.device (cpu, cuda or cuda:N)",
    "lr": "the learning rate is training.learning_rate",
    "max_epochs": "the number of epochs is training.epochs",
}


def _describe(hint: Any) -> str:
    """What a type hint accepts, in words."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is list:
        return f"a list of ({_describe(args[0])})"
    if origin is dict:
        return f"a mapping of ({_describe(args[0])}) to ({_describe(args[1])})"
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}
    return "null" if hint is type(None) else names.get(hint, getattr(hint, "__name__", str(hint)))


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """``value`` checked against the type hint ``hint`` (ints become floats where a float is
    expected, and a YAML string such as "1e-3" -- YAML 1.1 reads it as a string -- too)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)

    def wrong() -> ConfigError:
        return ConfigError(
            f"config key {key}: expected {_describe(hint)}, got {value!r} ({type(value).__name__})"
        )

    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError:
                continue
        raise wrong()
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise wrong()
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise wrong()
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise wrong() from None
        raise wrong()
    if hint is str:
        if isinstance(value, str):
            return value
        raise wrong()
    if origin is list:
        if not isinstance(value, list | tuple):
            raise wrong()
        return [_coerce(v, args[0], f"{key}[{k}]") for k, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise wrong()
        return {
            _coerce(k, args[0], f"{key} (key {k!r})"): _coerce(v, args[1], f"{key}[{k!r}]")
            for k, v in value.items()
        }
    return value


def _build(cls: type, values: Any, where: str) -> Any:
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(
            f"config section '{where}' must be a mapping of keys to values, got {values!r}"
        )
    known = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for name in values:
        if name not in known:
            prefix = "" if where == "top level" else f"{where}."
            hint = _NOT_OPTIONS.get(str(name))
            close = difflib.get_close_matches(str(name), list(known), n=1)
            advice = hint or (f"did you mean '{close[0]}'?" if close else "")
            raise ConfigError(
                f"unknown config key '{prefix}{name}'"
                + (f" ({advice})" if advice else "")
                + f"; keys of '{where}': {', '.join(sorted(known))}"
            )
    kwargs = {}
    for name, value in values.items():
        key = name if where == "top level" else f"{where}.{name}"
        if cls is TrainConfig and name in _SECTIONS:
            kwargs[name] = _build(_SECTIONS[name], value, name)
        else:
            kwargs[name] = _coerce(value, hints[name], key)
    if cls is SOGNetConfig:
        _check_backbone_keys(kwargs.get("backbone", SOGNetConfig.backbone), kwargs)
    return cls(**kwargs)


def _check_backbone_keys(backbone: str, given: dict[str, Any]) -> None:
    """Refuse a backbone name that does not exist, and another backbone's hyper-parameters."""
    if backbone not in BACKBONES:
        close = difflib.get_close_matches(backbone, list(BACKBONES), n=1)
        raise ConfigError(
            f"config key model.backbone: unknown backbone {backbone!r}"
            + (f" (did you mean '{close[0]}'?)" if close else "")
            + f"; backbones: {', '.join(sorted(BACKBONES))}"
        )
    defaults = SOGNetConfig()
    # A key left at its default changes nothing (and older run folders' config.yaml hold all).
    foreign = [
        k for k in foreign_backbone_keys(backbone, list(given)) if given[k] != getattr(defaults, k)
    ]
    if foreign:
        raise ConfigError(
            f"config key model.{foreign[0]}: backbone {backbone} has no such hyper-parameter "
            f"(its own: {', '.join(BACKBONE_KEYS[backbone])}; shared: cutoff, inner_cutoff, "
            "num_radial)"
        )


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _choice(key: str, value: str, choices: typing.Iterable[str]) -> None:
    choices = tuple(choices)
    _require(value in choices, f"config key {key}: {value!r} is not one of {', '.join(choices)}")


def _positive(key: str, value: float | None, allow_zero: bool = False) -> None:
    if value is None:
        return
    ok = value >= 0 if allow_zero else value > 0
    bound = ">= 0" if allow_zero else "> 0"
    _require(ok and math.isfinite(value), f"config key {key}: must be {bound}, got {value!r}")


def validate_config(config: TrainConfig) -> TrainConfig:
    """Check the values of a built config (ranges, choices, combinations); returns it."""
    d, t, m, o = config.data, config.training, config.model, config.output
    _require(
        bool(d.train), "config key data.train (the training data file) is required; e.g. train.xyz"
    )
    _choice("data.format", d.format, DATA_FORMATS)
    _require(
        0.0 <= d.validation_fraction < 1.0,
        f"config key data.validation_fraction: must lie in [0, 1), got {d.validation_fraction}",
    )
    if d.max_structures is not None:
        _positive("data.max_structures", d.max_structures)
    for key in ("epochs", "batch_size", "lbfgs_iterations"):
        value = getattr(t, key)
        _require(value >= 1, f"config key training.{key}: must be >= 1, got {value}")
    for key in ("scheduler_patience", "early_stopping_patience"):
        value = getattr(t, key)
        _require(value >= 0, f"config key training.{key}: must be >= 0, got {value}")
    _positive("training.learning_rate", t.learning_rate)
    _positive("training.scheduler_factor", t.scheduler_factor)
    _positive("training.max_time_s", t.max_time_s)
    for key in (
        "kernel_lr_factor",
        "pair_lr_factor",
        "weight_decay",
        "energy_weight",
        "force_weight",
    ):
        _positive(f"training.{key}", getattr(t, key), allow_zero=True)
    _positive("training.stress_weight", t.stress_weight, allow_zero=True)
    _positive("training.charge_weight", t.charge_weight, allow_zero=True)
    _positive("training.charge_l1_weight", t.charge_l1_weight, allow_zero=True)
    _require(
        t.energy_weight + t.force_weight + t.stress_weight > 0,
        "config: training.energy_weight, force_weight and stress_weight are all 0: nothing to fit",
    )
    _choice("training.dtype", t.dtype, ("float32", "float64"))
    check_device_name(t.device)
    _choice("training.scheduler", t.scheduler, ("plateau", "exponential", "none"))
    _choice("training.optimizer", t.optimizer, ("adam", "adamw", "lbfgs"))
    if t.num_threads is not None:
        _positive("training.num_threads", t.num_threads)
    if isinstance(t.reference_energies, str):
        _choice("training.reference_energies", t.reference_energies, ("fit", "average"))
    if t.optimizer == "lbfgs" and t.weight_decay:
        raise ConfigError("training.weight_decay is not supported with the lbfgs optimizer")
    if t.ema_decay is not None:
        _require(
            0.0 < t.ema_decay < 1.0,
            f"config key training.ema_decay: must lie in (0, 1) (e.g. 0.99), got {t.ema_decay}",
        )
        if t.optimizer == "lbfgs":
            raise ConfigError("training.ema_decay is not supported with the lbfgs optimizer")
    for key in ("kernel_lr_factor", "pair_lr_factor"):
        if t.optimizer == "lbfgs" and getattr(t, key) != 1.0:
            raise ConfigError(f"training.{key} is not supported with the lbfgs optimizer")
    _positive("output.checkpoint_interval_s", o.checkpoint_interval_s, allow_zero=True)
    _require(bool(o.directory), "config key output.directory: must not be empty")
    _require(
        not (o.resume and o.overwrite),
        "config: output.resume and output.overwrite (--resume, --overwrite) exclude each other",
    )
    _positive("model.cutoff", m.cutoff)
    _require(
        0.0 <= m.inner_cutoff < m.cutoff,
        f"config key model.inner_cutoff: must lie in [0, cutoff = {m.cutoff}), "
        f"got {m.inner_cutoff}",
    )
    for key in (
        "num_radial",
        "axis_features",
        "num_channels",
        "num_gaussians",
        "num_features",
        "num_interactions",
        "species_embedding",
        "radial_channels",
        "correlation",
    ):
        value = getattr(m, key)
        _require(value >= 1, f"config key model.{key}: must be >= 1, got {value}")
    _require(
        0 <= m.max_l <= MAX_ANGULAR,
        f"config key model.max_l: must lie in 0..{MAX_ANGULAR}, got {m.max_l}",
    )
    _require(
        m.correlation <= MAX_CORRELATION,
        f"config key model.correlation: must lie in 1..{MAX_CORRELATION}, got {m.correlation}",
    )
    for key in ("embedding_sizes", "fitting_sizes", "charge_sizes"):
        sizes = getattr(m, key)
        _require(
            bool(sizes) and all(n >= 1 for n in sizes),
            f"config key model.{key}: must be a non-empty list of layer widths >= 1, got {sizes}",
        )
    _require(
        m.axis_features <= m.embedding_sizes[-1],
        f"config key model.axis_features: must not exceed the last embedding width "
        f"({m.embedding_sizes[-1]}), got {m.axis_features}",
    )
    _require(
        all(1 <= z <= 118 for z in m.atomic_numbers),
        f"config key model.atomic_numbers: must be atomic numbers 1-118, got {m.atomic_numbers}",
    )
    _require(m.width_ratio > 1.0, f"config key model.width_ratio: must be > 1, got {m.width_ratio}")
    _require(
        m.pair_basis == 0 or m.pair_basis >= 2,
        f"config key model.pair_basis: must be 0 (no pair term) or >= 2, got {m.pair_basis}",
    )
    _require(
        m.pair_basis_function in PAIR_BASIS_FUNCTIONS,
        "config key model.pair_basis_function: must be one of "
        f"{', '.join(PAIR_BASIS_FUNCTIONS)}, got {m.pair_basis_function!r}",
    )
    _require(
        t.pair_term_refit_interval >= 0,
        "config key training.pair_term_refit_interval: must be >= 0 (epochs; 0: no refit), "
        f"got {t.pair_term_refit_interval}",
    )
    _require(
        t.pair_term_fit or not t.pair_term_refit_interval,
        "config key training.pair_term_refit_interval refits the pair term's least-squares "
        "fit; set training.pair_term_fit: true as well",
    )
    if t.pair_term_fit:
        _require(
            m.pair_basis > 0,
            "config key training.pair_term_fit: the model has no pair term to fit; set "
            "model.pair_basis (e.g. 96) or switch pair_term_fit off",
        )
        _require(
            t.force_weight > 0,
            "config key training.pair_term_fit fits the pair term to the forces, but "
            "training.force_weight is 0",
        )
    _positive("model.min_width", m.min_width)
    _positive("model.charge_init_scale", m.charge_init_scale)
    _require(
        0.0 < m.tolerance < 1.0,
        f"config key model.tolerance: must lie in (0, 1), got {m.tolerance}",
    )
    _choice("model.neighbor_list", m.neighbor_list, ("vesin", "brute_force"))
    return config


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a YAML training configuration.

    :raises FileNotFoundError: no such file.
    :raises ConfigError: not YAML, an unknown key, a value of the wrong type or out of range.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(error, "problem", None) or "syntax error"
        raise ConfigError(f"{path} is not valid YAML{line}: {problem}") from None
    config = _build(TrainConfig, values, "top level")
    return validate_config(config)


def config_to_dict(config: TrainConfig) -> dict:
    """The config as plain YAML-able values (what a run folder's config.yaml holds), without
    the hyper-parameters of backbones the model does not use (so that it loads again)."""
    values = dataclasses.asdict(config)
    model = values["model"]
    for key in foreign_backbone_keys(model["backbone"], list(model)):
        del model[key]
    return values
