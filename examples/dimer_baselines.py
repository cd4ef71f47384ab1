"""Trivial baselines for the dimer binding curves: what a model scores that learns no interaction.

    python3 examples/dimer_baselines.py [--seed 0]

Each BFDb curve moves two rigid monomers apart, so every atom's force is a constant
intramolecular part plus an interaction that varies along the curve. Two predictors that know
nothing of the interaction set the scale against which the models of
``reproduce_paper.py --tasks dimers dimers_far dimers_paper`` are read:

* *zero force*: the RMS of the force labels themselves;
* *training mean*: each atom's force averaged over the training structures of the protocol
  (it carries the intramolecular part exactly and no interaction).

Printed per curve and protocol (the same splits as ``reproduce_paper.py``): force RMSE in meV/A
over the protocol's error set (held-out separations; the whole curve for ``paper``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reproduce_paper import DIMER_FILES, DIMER_PROTOCOLS, SHARED  # noqa: E402

from openmm_sog.training.config import DataConfig, TrainConfig  # noqa: E402
from openmm_sog.training.data import Structure, read_dataset, select_structures  # noqa: E402
from openmm_sog.training.loop import load_training_data  # noqa: E402

EV_TO_MEV = 1000.0


def _forces(structures: list[Structure]) -> np.ndarray:
    """Forces ``[S, N, 3]`` in eV/A (the curves' structures share one atom order)."""
    return np.stack([s.forces.numpy() for s in structures])


def _rmse_mev(predicted: np.ndarray, labels: np.ndarray) -> float:
    return EV_TO_MEV * float(np.sqrt(np.mean((labels - predicted) ** 2)))


def baselines(path: str, protocol: str, seed: int) -> tuple[float, float]:
    """(zero force, training mean) force RMSE in meV/A of one curve under ``protocol``."""
    train_select, test_select, _, validation = DIMER_PROTOCOLS[protocol]
    if protocol == "paper":
        config = TrainConfig(seed=seed, data=DataConfig(train=path, validation_fraction=validation))
        train, held_out = load_training_data(config)
        evaluated = _forces(train + held_out)  # errors over the whole curve
    else:
        structures = read_dataset(path)
        train = select_structures(structures, train_select)
        evaluated = _forces(select_structures(structures, test_select))
    mean = _forces(train).mean(axis=0, keepdims=True)
    return _rmse_mev(np.zeros_like(evaluated), evaluated), _rmse_mev(mean, evaluated)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="split seed of the paper protocol")
    args = parser.parse_args(argv)
    print("| curve | protocol | zero force (meV/A) | training mean (meV/A) |")
    print("|---|---|---|---|")
    for protocol in ("odd", "far", "paper"):
        for label, name in DIMER_FILES.items():
            zero, mean = baselines(str(SHARED / name), protocol, args.seed)
            print(f"| {label} | {protocol} | {zero:.3g} | {mean:.3g} |")


if __name__ == "__main__":
    main()
