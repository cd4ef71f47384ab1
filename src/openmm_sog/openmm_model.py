"""Run an exported SOG-Net model (``sognet export``) inside OpenMM.

Two implementations of the same energy:

* ``"native"``: a :class:`~openmm_sog.TorchSOGForce`. The plugin's C++ kernel runs the model's
  short range and latent charges through libtorch, the long range in its native NUFFT engine,
  and couples them by one backward pass (docs/design.md §5). Periodic models only;
  Reference, CPU and OpenCL platforms (on OpenCL the model runs on the host, the long range on
  the device).
* ``"python"``: an ``openmm.PythonForce`` that evaluates the whole model, long range included,
  with torch each step (the torch NUFFT layer, float32 in a float32 model), in the spirit of
  openmm-ml. Any platform, non-periodic (cluster) models and short-range-only models.

The default, ``"auto"``, takes the native force wherever it applies (a periodic model with a
long range, and the TorchSOGForce plugins loaded) and the PythonForce otherwise. The native
force is the faster of the two on CPUs: bench/bench_openmm_model.py measures a median 0.76-0.89x
the PythonForce's time per evaluation at 128-4,096 ions (bench/RESULTS.md).

Periodicity follows the export's metadata (``periodic``: whether the model was trained on
periodic structures), so a model of gas-phase molecules is not run in OpenMM's default box;
exports without the field (format 0, older openmm-sog) are treated as periodic, as before.

Units are converted at the boundary, once: OpenMM's nm and kJ/mol outside, Angstrom and eV
inside the model.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import openmm
import torch

from .training.export import load_exported
from .units import KJ_PER_MOL_PER_EV, NM_PER_ANGSTROM

__all__ = ["IMPLEMENTATIONS", "create_sognet_force"]

#: accepted values of ``create_sognet_force(implementation=...)``
IMPLEMENTATIONS = ("auto", "python", "native")


def create_sognet_force(
    model_path: str | Path,
    atomic_numbers: Sequence[int],
    periodic: bool | None = None,
    implementation: str = "auto",
    tolerance: float | None = None,
) -> openmm.Force:
    """An OpenMM force with the energy and forces of an exported SOG-Net model.

    :param model_path: file written by ``sognet export``.
    :param atomic_numbers: atomic number of every particle of the System, in order.
    :param periodic: use the System's periodic box (required for the long range of a periodic
        model); ``False`` treats the particles as a free cluster (``"python"`` only). Default
        ``None``: as the model was trained (the export's ``periodic`` metadata; periodic for
        exports that do not record it). A value that differs from the metadata is used, with
        a ``UserWarning``.
    :param implementation: ``"native"`` (a ``TorchSOGForce``: the long range in the plugin's
        double-precision engine, or on the device on OpenCL), ``"python"`` (a
        ``PythonForce``), or ``"auto"`` (default: native for a periodic model with a long
        range when its plugins loaded, with a warning if they did not; python otherwise).
    :param tolerance: relative accuracy of the native long range (dimensionless); default the
        model's own NUFFT tolerance. Ignored by ``"python"``, which uses the model's.
    :return: the force, named ``"SOGNet"``; add it to a System with exactly
        ``len(atomic_numbers)`` particles.
    :raises FileNotFoundError: no such file.
    :raises ValueError: not a SOG-Net export, a corrupted or too new one
        (:class:`~openmm_sog.training.integrity.FileFormatError`), unknown species, or an
        implementation that cannot run this model.
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
    path = Path(model_path)
    module, metadata = load_exported(path)
    if not hasattr(module, "short_range_and_charges"):
        raise ValueError(f"{path} does not have the SOG-Net export signature")
    known = set(metadata["atomic_numbers"])
    unknown = sorted(set(atomic_numbers) - known)
    if unknown:
        raise ValueError(
            f"atomic numbers {unknown} are not among the model's species {sorted(known)}"
        )
    periodic = _periodicity(path, metadata.get("periodic"), periodic)
    has_long_range = bool(metadata.get("long_range")) and "sog" in metadata
    if implementation == "auto":
        implementation = "python"
        if periodic and has_long_range:
            if _native_kernels_loaded():
                implementation = "native"
            else:
                warnings.warn(
                    "the TorchSOGForce kernels did not load ("
                    + "; ".join(_native_failures())
                    + "); using the slower PythonForce",
                    stacklevel=2,
                )
    if implementation == "native":
        if not periodic:
            raise ValueError(
                "the native TorchSOGForce needs a periodic System; use "
                "implementation='python' for a non-periodic (cluster) model"
            )
        if not has_long_range:
            raise ValueError(
                f"{path} is a short-range-only model; the native TorchSOGForce "
                "needs a long-range part (use implementation='python')"
            )
        if not _native_kernels_loaded():
            raise RuntimeError(
                "the TorchSOGForce kernels did not load: " + "; ".join(_native_failures())
            )
        return _native_force(path, atomic_numbers, metadata, tolerance)
    return _python_force(module, atomic_numbers, periodic)


def _periodicity(path: Path, trained: object, requested: bool | None) -> bool:
    """The periodicity to run with: the user's, else the training data's, else periodic."""
    if requested is None:
        return True if trained is None else bool(trained)
    if trained is not None and bool(trained) != bool(requested):
        data = "periodic" if trained else "non-periodic (molecules, clusters)"
        run = "periodic" if requested else "non-periodic"
        warnings.warn(
            f"{path} was trained on {data} structures but is run {run} (periodic="
            f"{bool(requested)}); leave periodic=None to follow the training data",
            UserWarning,
            stacklevel=3,
        )
    return bool(requested)


def _native_failures() -> list[str]:
    from .plugin import plugin_load_failures

    return [m for m in plugin_load_failures() if "libOpenMMSOGTorchReference" in m]


def _native_kernels_loaded() -> bool:
    from .plugin import PLUGIN_DIR

    library = Path(PLUGIN_DIR) / "libOpenMMSOGTorchReference.so"
    return library.is_file() and not _native_failures()


def _native_force(
    path: Path, atomic_numbers: Sequence[int], metadata: dict, tolerance: float | None
) -> openmm.Force:
    """A ``TorchSOGForce`` with the export's learned kernel (metadata in OpenMM's units)."""
    from .plugin import TorchSOGForce

    sog = metadata["sog"]
    weights = sog["weights_kj_per_mol_per_e2"]
    widths = sog["widths_nm"]
    # The narrow Gaussians are in the model's local_energy_and_charges (real space).
    kspace = sog.get("kspace")
    if kspace is None:
        raise ValueError(f"{path} predates the native force's export format; re-export it")
    force = TorchSOGForce(str(path.resolve()), [int(z) for z in atomic_numbers], len(weights))
    for channel, channel_gaussians in enumerate(zip(weights, widths, kspace, strict=True)):
        for weight, width, in_kspace in zip(*channel_gaussians, strict=True):
            if in_kspace:
                force.addGaussian(float(weight), float(width), channel)
    force.setTolerance(float(sog["tolerance"] if tolerance is None else tolerance))
    force.setName("SOGNet")
    return force


def _python_force(
    module: torch.jit.ScriptModule, atomic_numbers: Sequence[int], periodic: bool
) -> openmm.PythonForce:
    """A ``PythonForce`` that evaluates the whole exported model with torch."""
    numbers = torch.tensor(list(atomic_numbers), dtype=torch.long)
    num_particles = len(atomic_numbers)
    energy_scale = KJ_PER_MOL_PER_EV
    force_scale = KJ_PER_MOL_PER_EV / NM_PER_ANGSTROM
    no_box = np.zeros((3, 3))  # the model's cell of a non-periodic structure

    def compute(state: openmm.State) -> tuple[float, np.ndarray]:
        positions = state.getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer)
        if positions.shape[0] != num_particles:
            raise ValueError(
                f"the System has {positions.shape[0]} particles but the SOG-Net force was "
                f"built for {num_particles}"
            )
        if not np.isfinite(positions).all():
            raise ValueError("SOG-Net force: positions contain NaN or infinite values")
        # A non-periodic State has no box vectors to ask for.
        box = (
            state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(openmm.unit.nanometer)
            if periodic
            else no_box
        )
        try:
            energy, forces = module(
                torch.from_numpy(np.ascontiguousarray(positions) / NM_PER_ANGSTROM),
                numbers,
                torch.from_numpy(np.ascontiguousarray(box) / NM_PER_ANGSTROM),
                periodic,
            )
            forces = forces.detach().double().numpy()
            failure = None if np.isfinite(forces).all() and torch.isfinite(energy).all() else ""
        except (RuntimeError, ValueError, torch.jit.Error) as error:
            failure = str(error)
        if failure is not None:
            pair = coincident_atoms(positions, box if periodic else None)
            if pair is not None:
                raise ValueError(_coincident_message(*pair))
            raise ValueError(f"SOG-Net force: the model gave non-finite results {failure}")
        return float(energy.sum()) * energy_scale, forces * force_scale

    force = openmm.PythonForce(compute)
    force.setUsesPeriodicBoundaryConditions(periodic)
    force.setName("SOGNet")
    return force


def coincident_atoms(
    positions: np.ndarray, box: np.ndarray | None, distance: float = 1e-6
) -> tuple[int, int] | None:
    """The first pair of atoms closer than ``distance`` (nm; minimum image in ``box``), or None.

    Used only to explain a failed evaluation (O(N^2), in blocks to bound memory): the model's
    descriptors are not defined for two atoms at one position, which gives NaN charges.
    """
    positions = np.asarray(positions, dtype=np.float64)
    inverse = None if box is None else np.linalg.inv(box)
    for start in range(0, len(positions), 256):
        delta = positions[start : start + 256, None, :] - positions[None, :, :]
        if inverse is not None:
            fractional = delta @ inverse
            delta = (fractional - np.round(fractional)) @ box
        close = np.argwhere((delta**2).sum(-1) < distance**2)
        close = close[close[:, 0] + start < close[:, 1]]
        if len(close):
            return int(close[0, 0] + start), int(close[0, 1])
    return None


def _coincident_message(i: int, j: int) -> str:
    return (
        f"SOG-Net force: atoms {i} and {j} are at the same position (closer than 1e-6 nm), "
        "where the model is not defined; check the initial positions (duplicated atoms?)"
    )
