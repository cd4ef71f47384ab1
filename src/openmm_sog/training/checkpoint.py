"""Training checkpoints: one dataclass state, one IO class that owns the file names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

__all__ = ["CheckpointIO", "TrainingState"]


@dataclass
class TrainingState:
    """Everything needed to resume: model file payload, optimiser, scheduler, counters."""

    model: dict
    optimizer: dict
    scheduler: dict | None
    epoch: int
    best_validation: float
    epochs_without_improvement: int
    elapsed_s: float
    rng_state: torch.Tensor
    history: list[dict] = field(default_factory=list)


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
        """Atomically replace the latest checkpoint."""
        tmp = self.last.with_suffix(".tmp")
        torch.save(state.__dict__, tmp)
        tmp.replace(self.last)

    def load(self) -> TrainingState | None:
        """The latest state, or ``None`` if there is none."""
        if not self.last.is_file():
            return None
        return TrainingState(**torch.load(self.last, map_location="cpu", weights_only=False))
