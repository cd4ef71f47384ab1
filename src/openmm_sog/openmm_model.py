"""Run an exported SOG-Net model (``sognet export``) inside OpenMM as a ``PythonForce``.

The whole model, long range included, is evaluated by torch each step (the torch NUFFT layer):
the simplest coupling, in the spirit of openmm-ml. Units are converted here, once: OpenMM's nm
and kJ/mol at the boundary, Angstrom and eV inside the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import openmm
import torch

from .training.export import load_exported
from .units import KJ_PER_MOL_PER_EV, NM_PER_ANGSTROM

__all__ = ["create_sognet_force"]


def create_sognet_force(
    model_path: str | Path, atomic_numbers: Sequence[int], periodic: bool = True
) -> openmm.PythonForce:
    """A ``PythonForce`` with the energy and forces of an exported SOG-Net model.

    :param model_path: file written by ``sognet export``.
    :param atomic_numbers: atomic number of every particle of the System, in order.
    :param periodic: use the System's periodic box (required for the long range of a periodic
        model); ``False`` treats the particles as a free cluster.
    :return: the force; add it to a System with exactly ``len(atomic_numbers)`` particles.
    """
    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"SOG-Net model file not found: {path}")
    try:
        module, metadata = load_exported(path)
    except (RuntimeError, KeyError) as error:
        raise ValueError(f"{path} is not a SOG-Net export (sognet export): {error}") from error
    if not hasattr(module, "short_range_and_charges"):
        raise ValueError(f"{path} does not have the SOG-Net export signature")
    known = set(metadata["atomic_numbers"])
    unknown = sorted(set(atomic_numbers) - known)
    if unknown:
        raise ValueError(
            f"atomic numbers {unknown} are not among the model's species {sorted(known)}"
        )
    numbers = torch.tensor(list(atomic_numbers), dtype=torch.long)
    num_particles = len(atomic_numbers)
    energy_scale = KJ_PER_MOL_PER_EV
    force_scale = KJ_PER_MOL_PER_EV / NM_PER_ANGSTROM

    def compute(state: openmm.State) -> tuple[float, np.ndarray]:
        positions = state.getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer)
        if positions.shape[0] != num_particles:
            raise ValueError(
                f"the System has {positions.shape[0]} particles but the SOG-Net force was "
                f"built for {num_particles}"
            )
        if not np.isfinite(positions).all():
            raise ValueError("SOG-Net force: positions contain NaN or infinite values")
        box = state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(openmm.unit.nanometer)
        energy, forces = module(
            torch.from_numpy(np.ascontiguousarray(positions) / NM_PER_ANGSTROM),
            numbers,
            torch.from_numpy(np.ascontiguousarray(box) / NM_PER_ANGSTROM),
            periodic,
        )
        return float(energy.sum()) * energy_scale, forces.detach().double().numpy() * force_scale

    force = openmm.PythonForce(compute)
    force.setUsesPeriodicBoundaryConditions(periodic)
    force.setName("SOGNet")
    return force
