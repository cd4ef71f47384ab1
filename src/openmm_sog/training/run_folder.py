"""A training run's output folder: fresh run, resume or overwrite, decided from its config.

The folder (``output.directory``) keeps the config of its run in ``config.yaml`` next to
``checkpoint_last.pt``, ``model_best.pt`` and ``log.csv``. A fresh run refuses a folder that
already holds a run (unless ``output.overwrite``), so a changed config never goes on from old
weights, and a finished run is not silently re-reported; ``output.resume`` continues the run
only if the config is the same apart from :data:`RESUMABLE_KEYS`.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import yaml

from ..model import SOGNetConfig
from .checkpoint import CheckpointIO, TrainingState
from .config import TrainConfig, config_to_dict
from .distributed import Context
from .errors import RunFolderError

__all__ = [
    "CONFIG_NAME",
    "RESUMABLE_KEYS",
    "check_run_folder",
    "config_differences",
    "write_run_folder",
]

#: The run's config in its folder.
CONFIG_NAME = "config.yaml"
#: Config keys a resumed run may change: how long to go on and how to show it, not what is
#: trained (``initialize_from`` is not used when resuming; ``output`` is where the run lives).
RESUMABLE_KEYS = (
    "training.epochs",
    "training.max_time_s",
    "training.early_stopping_patience",
    "training.progress",
    "training.num_threads",
    "training.initialize_from",
    "output.",
)
#: Model hyper-parameters that ``build_model`` fills in from the data.
_DATA_DERIVED = ("model.atomic_numbers", "model.neighbor_normalization")


def comparable_config(config: TrainConfig) -> dict:
    """The config as plain values with its paths made absolute (stored in ``config.yaml``)."""
    values = config_to_dict(config)
    for section, key in (
        ("data", "train"),
        ("data", "validation"),
        ("training", "initialize_from"),
        ("output", "directory"),
    ):
        if values[section][key]:
            values[section][key] = str(config.resolve(values[section][key]).absolute())
    return values


def _flatten(values: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and key in ("data", "model", "training", "output"):
            flat.update(_flatten(value, f"{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return float(a) == float(b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def config_differences(stored: dict, current: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """``key (stored value in the folder, current value here)`` for each key that differs,
    skipping keys that start with one of ``ignore``."""
    old, new = _flatten(stored), _flatten(current)
    differ = []
    for key in sorted(set(old) | set(new)):
        if key.startswith(ignore):
            continue
        if key not in old or key not in new or not _same(old[key], new[key]):
            there, here = old.get(key, "<not set>"), new.get(key, "<not set>")
            differ.append(f"{key} ({there!r} in the folder, {here!r} now)")
    return differ


def _stored_config(directory: Path) -> dict | None:
    path = directory / CONFIG_NAME
    if not path.is_file():
        return None
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        raise RunFolderError(
            f"{path} (the config of the run in that folder) is not valid YAML: restore it, or "
            "use --overwrite or another output.directory"
        ) from None
    return values if isinstance(values, dict) else None


def _finished(state: TrainingState, config: TrainConfig) -> str | None:
    """Why the checkpoint's run has nothing left to do under ``config``, or ``None``."""
    t = config.training
    if state.epoch >= t.epochs:
        return f"it has run all {t.epochs} epochs of training.epochs (raise it to go on)"
    if state.epochs_without_improvement >= t.early_stopping_patience:
        return (
            f"it stopped early after {state.epochs_without_improvement} epochs without "
            "improvement (raise training.early_stopping_patience to go on)"
        )
    if t.max_time_s is not None and state.elapsed_s > t.max_time_s:
        return f"it reached training.max_time_s = {t.max_time_s:g} s (raise it to go on)"
    return None


def check_run_folder(config: TrainConfig, is_main: bool) -> TrainingState | None:
    """The state to resume from (``None``: a fresh run) after checking ``config``'s run folder;
    reads the folder, changes nothing (:func:`write_run_folder` does, after the data loaded).

    A fresh run (neither ``output.resume`` nor ``output.overwrite``) needs a folder without a
    run; ``resume`` loads ``checkpoint_last.pt`` and checks that the config matches the
    folder's ``config.yaml`` and that the run has epochs left; ``overwrite`` takes any folder.

    :raises RunFolderError: the folder holds another run, or nothing is left to resume; the
        message names the keys that differ and the remedies.
    """
    o = config.output
    folder = config.resolve(o.directory).absolute()
    last, best = folder / "checkpoint_last.pt", folder / "model_best.pt"  # CheckpointIO's names
    current = comparable_config(config)
    has_run = last.is_file() or best.is_file()
    if o.resume and last.is_file():
        io = CheckpointIO(folder)
        differ = _resume_differences(_stored_config(folder), current, io)
        if differ:
            raise RunFolderError(
                f"cannot resume the run in {folder}: its config differs in "
                + "; ".join(differ)
                + f". Resume with the config it was started with ({folder / CONFIG_NAME}) "
                "or start this config in a new output.directory"
            )
        state = io.load()
        why = _finished(state, config)
        if why is not None:
            raise RunFolderError(
                f"nothing to resume in {folder}: {why}; or start a new run in another "
                "output.directory"
            )
        if is_main:
            print(
                f"resuming the run in {folder} at epoch {state.epoch + 1} of "
                f"{config.training.epochs}",
                file=sys.stderr,
                flush=True,
            )
        return state
    if o.resume and not has_run:
        if is_main:
            print(f"nothing to resume in {folder} (no checkpoint): a new run", file=sys.stderr)
    elif has_run and not o.overwrite:  # also --resume of a folder with model_best.pt only
        stored = _stored_config(folder)
        differ = config_differences(stored, current, ("output.",)) if stored else []
        what = (
            "a run with a different config (" + "; ".join(differ) + ")"
            if differ
            else "a run" + (" of the same config" if stored else "")
        )
        previous = CheckpointIO(folder).load() if last.is_file() else None
        if previous is not None:
            why = _finished(previous, config)
            what += f", at epoch {previous.epoch}" + (" and finished" if why else "")
        raise RunFolderError(
            f"output folder {folder} already holds {what}: use a new output.directory, "
            "--resume (config output.resume: true) to continue that run with its own config, or "
            "--overwrite (config output.overwrite: true) to replace it"
        )
    return None


def write_run_folder(config: TrainConfig, ctx: Context) -> CheckpointIO:
    """Create the run folder (after :func:`check_run_folder` on every rank): the main process
    deletes the old run's files (``output.overwrite``) and writes ``config.yaml``."""
    ctx.barrier()  # every rank has read the folder before rank 0 changes it
    io = CheckpointIO(config.resolve(config.output.directory))
    if ctx.is_main:
        if config.output.overwrite:
            for path in (io.last, io.best, io.directory / "log.csv", io.directory / CONFIG_NAME):
                path.unlink(missing_ok=True)
        text = yaml.safe_dump(comparable_config(config), sort_keys=False)
        (io.directory / CONFIG_NAME).write_text(text)
    ctx.barrier()
    return io


def _resume_differences(stored: dict | None, current: dict, io: CheckpointIO) -> list[str]:
    """What differs between the folder's run and ``current`` (keys a resume may not change)."""
    if stored is not None:
        return config_differences(stored, current, RESUMABLE_KEYS)
    # A folder from before config.yaml: the checkpoint still has the model's hyper-parameters.
    state = io.load()
    model = {"model": SOGNetConfig(**state.model["config"]).to_dict()} if state else {}
    mine = {"model": current["model"]}
    return config_differences(model, mine, _DATA_DERIVED + ("model.initial_charges",))
