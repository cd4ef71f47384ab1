"""Training checkpoints: one dataclass state, one IO class that owns the file names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from .integrity import (
    FileFormatError,
    flatten_tensors,
    safe_load,
    seal,
    verify_sealed,
    without_integrity,
)

__all__ = ["CHECKPOINT_FORMAT_VERSION", "CheckpointIO", "TrainingState", "verify_checkpoint"]

#: layout of checkpoint_last.pt: 1 adds format_version, openmm_sog_version and weights_sha256
#: (over every tensor: model, optimiser and scheduler state, RNG state); without: format 0.
#: 2: the model's local part is ``backbone.*`` and the optimiser state follows its parameter
#: order (format-1 checkpoints are renamed and renumbered on resuming, see model_io).
CHECKPOINT_FORMAT_VERSION = 2
_CHECKPOINT = "a training checkpoint (the checkpoint_last.pt written by `sognet train`)"


@dataclass
class TrainingState:
    """Everything needed to resume: model file payload, optimiser, scheduler, counters.

    Only tensors, numbers, strings, lists and dicts, so that the file loads with
    ``torch.load(weights_only=True)``.
    """

    model: dict
    optimizer: dict
    scheduler: dict | None
    epoch: int
    best_validation: float
    epochs_without_improvement: int
    elapsed_s: float
    rng_state: torch.Tensor
    history: list[dict] = field(default_factory=list)
    #: the exponential moving average of the weights (``training.ema_decay``): its model
    #: payload's state_dict and n_averaged; None without EMA (and in older checkpoints)
    ema: dict | None = None


class CheckpointIO:
    """Owns ``checkpoint_last.pt`` (resume) and ``model_best.pt`` (a model file) in a folder."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    @property
    def last(self) -> Path:
        """Latest training state."""
        return self.directory / "checkpoint_last.pt"

    @property
    def best(self) -> Path:
        """Model file with the best validation loss."""
        return self.directory / "model_best.pt"

    def save(self, state: TrainingState) -> None:
        """Atomically replace the latest checkpoint (with format version and checksum)."""
        from .model_io import seal_model_payload

        body = dict(state.__dict__)
        if isinstance(body["model"], dict) and "state_dict" in body["model"]:
            body["model"] = seal_model_payload(body["model"])  # readable as a model file
        tmp = self.last.with_suffix(".tmp")
        torch.save(seal(body, CHECKPOINT_FORMAT_VERSION, flatten_tensors), tmp)
        tmp.replace(self.last)

    def load(self) -> TrainingState | None:
        """The latest state, or ``None`` if there is none.

        :raises FileFormatError: unsafe, unreadable or newer file; ``CorruptFileError`` when
            the checksum does not match.
        """
        if not self.last.is_file():
            return None
        payload = safe_load(self.last, _CHECKPOINT)
        if not isinstance(payload, dict):
            raise FileFormatError(f"{self.last} is not {_CHECKPOINT}")
        verify_checkpoint(payload, self.last)
        body = without_integrity(payload)
        if isinstance(body.get("model"), dict):
            body["model"] = without_integrity(body["model"])
        try:
            return TrainingState(**body)
        except TypeError as error:
            raise FileFormatError(f"{self.last} is not {_CHECKPOINT}: {error}") from None


def verify_checkpoint(payload: dict, path: str | Path) -> None:
    """Refuse a checkpoint payload from a newer openmm-sog or whose tensors were corrupted."""
    verify_sealed("checkpoint", path, payload, CHECKPOINT_FORMAT_VERSION, flatten_tensors)
