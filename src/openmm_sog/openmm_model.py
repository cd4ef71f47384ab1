"""Run an exported SOG-Net model (``sognet export``) inside OpenMM.

Two implementations of the same energy:

* ``"native"``: a :class:`~openmm_sog.TorchSOGForce`. The plugin's C++ kernel runs the model's
  short range and latent charges through libtorch, the long range in its native engine (the
  NUFFT lattice sum for periodic models, the exact pair sum in free space otherwise), and
  couples them by one backward pass (docs/design.md §5). Reference, CPU and OpenCL platforms
  (on OpenCL the model runs on the host, the periodic long range on the device). It alone has
  the alchemical parameters (``charge_scale_parameter``, ``energy_scale_parameter``).
* ``"python"``: an ``openmm.PythonForce`` that evaluates the whole model, long range included,
  with torch each step (the torch NUFFT layer, float32 in a float32 model), in the spirit of
  openmm-ml. Any platform and short-range-only models.

The default, ``"auto"``, takes the native force wherever it applies (a model with a long range
and the TorchSOGForce plugins loaded) and the PythonForce otherwise. The native force is the
faster of the two on CPUs: bench/bench_openmm_model.py measures a median 0.76-0.89x the
PythonForce's time per evaluation at 128-4,096 ions (bench/RESULTS.md).

``particles=[...]`` models only those particles of a larger System (ML/MM, openmm-ml's
``createMixedSystem``): the model sees them alone, in the System's periodic box for a periodic
model or in free space otherwise.

Periodicity follows the export's metadata (``periodic``: whether the model was trained on
periodic structures), so a model of gas-phase molecules is not run in OpenMM's default box;
exports without the field (format 0, older openmm-sog) are treated as periodic, as before.

Units are converted at the boundary, once: OpenMM's nm and kJ/mol outside, Angstrom and eV
inside the model.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import openmm
import torch

from .memory import keep_freed_memory_for_reuse
from .training.compiled_export import package_metadata, read_compiled_metadata
from .training.export import load_exported, runs_periodic
from .units import KJ_PER_MOL_PER_EV, NM_PER_ANGSTROM

__all__ = ["IMPLEMENTATIONS", "SOGNetComputation", "create_sognet_force"]

#: accepted values of ``create_sognet_force(implementation=...)``
IMPLEMENTATIONS = ("auto", "python", "native")


def create_sognet_force(
    model_path: str | Path,
    atomic_numbers: Sequence[int],
    periodic: bool | None = None,
    implementation: str = "auto",
    tolerance: float | None = None,
    particles: Sequence[int] | None = None,
    charge_scale_parameter: str | None = None,
    charge_scaled_particles: Sequence[int] | None = None,
    energy_scale_parameter: str | None = None,
) -> openmm.Force:
    """An OpenMM force with the energy and forces of an exported SOG-Net model.

    :param model_path: file written by ``sognet export``.
    :param atomic_numbers: atomic number of every particle of the System, in order, or of
        every particle in ``particles``, in that order.
    :param periodic: use the System's periodic box (required for the long range of a periodic
        model); ``False`` treats the particles as a free cluster (the exact free-space sum of the
        model's Gaussians). Default
        ``None``: as the model was trained (the export's ``periodic`` metadata; periodic for
        exports that do not record it). A value that differs from the metadata is used, with
        a ``UserWarning``.
    :param implementation: ``"native"`` (a ``TorchSOGForce``: the long range in the plugin's
        double-precision engine, or on the device on OpenCL/CUDA), ``"python"`` (a
        ``PythonForce``), or ``"auto"`` (default: native for a model with a long range when
        its plugins loaded, with a warning if they did not; python otherwise).
    :param tolerance: relative accuracy of the native long range (dimensionless); default the
        model's own NUFFT tolerance. Ignored by ``"python"``, which uses the model's.
    :param particles: indices of the System's particles to model (default ``None``: all of
        them). The model sees these particles alone (the long range acts among them, in the
        System's box when periodic, else as a free cluster), the other particles get no force
        from it.
    :param charge_scale_parameter: name of a global parameter (default value 1) that multiplies
        the latent charges of ``charge_scaled_particles`` in the long-range energy, not in the
        short range: 0 decouples their learned electrostatics from the rest. Native only.
    :param charge_scaled_particles: System indices of the particles it scales, each one of the
        modelled particles; default: all modelled particles.
    :param energy_scale_parameter: name of a global parameter (default value 1) that multiplies
        the whole energy and forces of the model. Native only.

    Call ``force.addEnergyParameterDerivative(name)`` for either parameter to get the exact
    dU/dlambda from ``State.getEnergyParameterDerivatives()``.
    :return: the force, named ``"SOGNet"``; add it to a System with exactly
        ``len(atomic_numbers)`` particles, or with every index in ``particles``. Native forces
        are :class:`~openmm_sog.TorchSOGForce`, python ones ``openmm.PythonForce``.
    :raises FileNotFoundError: no such file.
    :raises ValueError: not a SOG-Net export, a corrupted or too new one
        (:class:`~openmm_sog.training.integrity.FileFormatError`), unknown species, an
        implementation that cannot run this model, or bad ``particles`` (a negative or repeated
        index, a count other than ``len(atomic_numbers)``; an index beyond the System is
        reported at the first evaluation, where the System's size is known).
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
    subset = None if particles is None else _checked_particles(particles, len(atomic_numbers))
    scaled = _checked_scaling(
        charge_scale_parameter,
        charge_scaled_particles,
        energy_scale_parameter,
        subset,
        len(atomic_numbers),
    )
    path = Path(model_path)
    if package_metadata(path) is not None:
        return _compiled_force(
            path, atomic_numbers, tolerance, periodic, implementation, subset, scaled,
            charge_scale_parameter, energy_scale_parameter,
        )  # fmt: skip
    module, metadata = load_exported(path)
    if not hasattr(module, "short_range_and_charges"):
        raise ValueError(f"{path} does not have the SOG-Net export signature")
    _check_species(atomic_numbers, metadata)
    periodic = _periodicity(path, metadata.get("periodic"), periodic)
    has_long_range = bool(metadata.get("long_range")) and "sog" in metadata
    if implementation == "auto":
        implementation = "python"
        if has_long_range:
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
        if not has_long_range:
            raise ValueError(
                f"{path} is a short-range-only model; the native TorchSOGForce "
                "needs a long-range part (use implementation='python')"
            )
        _require_native_kernels()
        if charge_scale_parameter and not _takes_charge_scale(module):
            raise ValueError(
                f"{path} predates charge scaling (its local_energy_and_charges takes no "
                "charge_scale); export the model again with `sognet export`"
            )
        force = _native_force(path, atomic_numbers, metadata, tolerance, periodic)
        return _configured(force, subset, scaled, charge_scale_parameter, energy_scale_parameter)
    if charge_scale_parameter or energy_scale_parameter:
        raise ValueError(
            "charge_scale_parameter and energy_scale_parameter need the native TorchSOGForce "
            "(implementation='native' or 'auto' with its plugins loaded and a long-range model)"
        )
    return _python_force(SOGNetComputation(path, atomic_numbers, periodic, subset, module))


def _check_species(atomic_numbers: Sequence[int], metadata: dict) -> None:
    """A ValueError naming the atomic numbers the export's model was not trained on."""
    known = set(metadata["atomic_numbers"])
    unknown = sorted(set(atomic_numbers) - known)
    if unknown:
        raise ValueError(
            f"atomic numbers {unknown} are not among the model's species {sorted(known)}"
        )


def _require_native_kernels() -> None:
    """A RuntimeError naming why the TorchSOGForce kernels did not load, if they did not."""
    if not _native_kernels_loaded():
        raise RuntimeError(
            "the TorchSOGForce kernels did not load: " + "; ".join(_native_failures())
        )


def _configured(
    force: openmm.Force,
    subset: tuple[int, ...] | None,
    scaled: tuple[int, ...] | None,
    charge_scale_parameter: str | None,
    energy_scale_parameter: str | None,
) -> openmm.Force:
    """``force`` restricted to ``subset`` with its scale parameters set."""
    if subset is not None:
        force.setParticles(list(subset))
    if charge_scale_parameter:
        force.setChargeScaleParameterName(charge_scale_parameter)
        if scaled is not None:
            force.setChargeScaledParticles(list(scaled))
    if energy_scale_parameter:
        force.setEnergyScaleParameterName(energy_scale_parameter)
    return force


def _compiled_force(
    path: Path,
    atomic_numbers: Sequence[int],
    tolerance: float | None,
    periodic: bool | None,
    implementation: str,
    subset: tuple[int, ...] | None,
    scaled: tuple[int, ...] | None,
    charge_scale_parameter: str | None,
    energy_scale_parameter: str | None,
) -> openmm.Force:
    """The TorchSOGForce of an AOTInductor package (``sognet export --format aotinductor``),
    which runs in the native force only, with the periodicity it was compiled for."""
    metadata = read_compiled_metadata(path)
    if implementation == "python":
        raise ValueError(
            f"{path} is an AOTInductor package, which runs in the native TorchSOGForce only; "
            "use implementation='native' (or 'auto'), or the TorchScript export for 'python'"
        )
    _require_native_kernels()
    _check_species(atomic_numbers, metadata)
    compiled = bool(metadata.get("periodic"))
    if periodic is not None and bool(periodic) != compiled:
        kind = "periodic structures" if compiled else "free structures (no periodic box)"
        raise ValueError(
            f"{path} was compiled for {kind}; export a package with `sognet export --format "
            f"aotinductor --periodic {'true' if periodic else 'false'}`, or use the TorchScript "
            "export, which runs both"
        )
    if not (bool(metadata.get("long_range")) and "sog" in metadata):
        raise ValueError(
            f"{path} is a short-range-only model; the native TorchSOGForce needs a long-range "
            "part (use the TorchScript export with implementation='python')"
        )
    force = _native_force(path, atomic_numbers, metadata, tolerance, compiled)
    return _configured(force, subset, scaled, charge_scale_parameter, energy_scale_parameter)


def _checked_scaling(
    charge_scale_parameter: str | None,
    charge_scaled_particles: Sequence[int] | None,
    energy_scale_parameter: str | None,
    subset: tuple[int, ...] | None,
    num_modelled: int,
) -> tuple[int, ...] | None:
    """The charge-scaled particles (None: every modelled one) after checking the scale
    parameters, or a ValueError naming what is wrong with them."""
    for name in (charge_scale_parameter, energy_scale_parameter):
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValueError(f"a scale parameter name must be a non-empty string, got {name!r}")
    if charge_scale_parameter and charge_scale_parameter == energy_scale_parameter:
        raise ValueError(
            "charge_scale_parameter and energy_scale_parameter are both "
            f"{charge_scale_parameter!r}; give them different names"
        )
    scaled = None
    if charge_scaled_particles is not None:
        if not charge_scale_parameter:
            raise ValueError("charge_scaled_particles needs a charge_scale_parameter")
        scaled = tuple(int(i) for i in charge_scaled_particles)
        modelled = set(range(num_modelled)) if subset is None else set(subset)
        outside = sorted(set(scaled) - modelled)
        if outside:
            where = "particles" if subset is not None else "the System's modelled particles"
            raise ValueError(
                f"charge_scaled_particles {outside} are not among {where}; scale only "
                "particles the model acts on"
            )
        repeated = sorted(i for i, count in Counter(scaled).items() if count > 1)
        if repeated:
            raise ValueError(f"charge_scaled_particles lists {repeated} more than once")
        if not scaled:
            raise ValueError("charge_scaled_particles is empty; give None to scale every particle")
    return scaled


def _takes_charge_scale(module: torch.jit.ScriptModule) -> bool:
    """Whether the export's local_energy_and_charges takes a charge_scale (newer exports)."""
    arguments = module.local_energy_and_charges.schema.arguments
    return any(argument.name == "charge_scale" for argument in arguments)


def _checked_particles(particles: Sequence[int], num_atomic_numbers: int) -> tuple[int, ...]:
    """``particles`` as a tuple of ints, or a ValueError naming what is wrong with them."""
    indices = tuple(int(i) for i in particles)
    if len(indices) != num_atomic_numbers:
        raise ValueError(
            f"particles lists {len(indices)} indices but atomic_numbers has "
            f"{num_atomic_numbers} entries; give one atomic number per listed particle, in order"
        )
    if not indices:
        raise ValueError("particles is empty; list the particles to model, or None for all")
    negative = [i for i in indices if i < 0]
    if negative:
        raise ValueError(f"particles has negative indices {negative}; System indices start at 0")
    repeated = sorted(i for i, count in Counter(indices).items() if count > 1)
    if repeated:
        raise ValueError(f"particles lists indices {repeated} more than once; list each once")
    return indices


def _periodicity(path: Path, trained: object, requested: bool | None) -> bool:
    """The periodicity to run with: the user's, else the training data's, else periodic."""
    if requested is None:
        return runs_periodic(trained)
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
    path: Path,
    atomic_numbers: Sequence[int],
    metadata: dict,
    tolerance: float | None,
    periodic: bool,
) -> openmm.Force:
    """A ``TorchSOGForce``; it reads the export's learned kernel (in OpenMM's units), tolerance
    and species from the export's metadata itself (periodic: the k-space Gaussians, the others
    being in the model's real-space part; free space: all of them)."""
    from .plugin import TorchSOGForce

    if metadata["sog"].get("kspace") is None:
        raise ValueError(f"{path} predates the native force's export format; re-export it")
    force = TorchSOGForce(str(path.resolve()), [int(z) for z in atomic_numbers])
    force.setUsesPeriodicBoundaryConditions(periodic)
    if tolerance is not None:
        force.setTolerance(float(tolerance))
    force.setName("SOGNet")
    return force


def _python_force(computation: SOGNetComputation) -> openmm.PythonForce:
    """A ``PythonForce`` that evaluates the whole exported model with torch."""
    keep_freed_memory_for_reuse()  # as TorchSOGForce does (openmm_sog.memory)
    force = openmm.PythonForce(computation)
    force.setUsesPeriodicBoundaryConditions(computation.periodic)
    force.setName("SOGNet")
    return force


class SOGNetComputation:
    """The PythonForce's function: the exported model on the System's (or a subset's) positions.

    Pickled by the export's path, not its weights, so that a System holding the force can be
    copied (openmm-ml's interpolation deep-copies the ML forces) and saved with XmlSerializer;
    unpickling loads and checks the file again. Part of saved Systems: keep its name.

    The subset is gathered here from the whole State rather than with
    ``PythonForce.setParticles``, which does not check indices against the System (an index
    beyond it reads undefined memory); the gather and scatter cost ~0.4 ms per evaluation at
    50,000 particles.
    """

    def __init__(
        self,
        path: Path,
        atomic_numbers: Sequence[int],
        periodic: bool,
        particles: Sequence[int] | None = None,
        module: torch.jit.ScriptModule | None = None,
    ) -> None:
        """:param path: the export; loaded (and checked) unless ``module`` is given.
        :param atomic_numbers: of the modelled particles, in order.
        :param periodic: run the model in the System's box (else as a free cluster).
        :param particles: System indices of the modelled particles (``None``: all, in order).
        """
        self.path = Path(path).resolve()
        self.atomic_numbers = [int(z) for z in atomic_numbers]
        self.periodic = bool(periodic)
        self.particles = None if particles is None else [int(i) for i in particles]
        self._module = load_exported(self.path)[0] if module is None else module
        self._numbers = torch.tensor(self.atomic_numbers, dtype=torch.long)
        self._subset = None if particles is None else np.array(self.particles, dtype=np.int64)
        self._end = 0 if self._subset is None else int(self._subset.max()) + 1

    def __getstate__(self) -> dict:
        return {
            "path": str(self.path),
            "atomic_numbers": self.atomic_numbers,
            "periodic": self.periodic,
            "particles": self.particles,
        }

    def __setstate__(self, state: dict) -> None:
        self.__init__(
            Path(state["path"]), state["atomic_numbers"], state["periodic"], state["particles"]
        )

    def __call__(self, state: openmm.State) -> tuple[float, np.ndarray]:
        """Energy (kJ/mol) and forces (kJ/mol/nm) of every particle of the System."""
        positions = state.getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer)
        num_system = positions.shape[0]
        if self._subset is None:
            if num_system != len(self.atomic_numbers):
                raise ValueError(
                    f"the System has {num_system} particles but the SOG-Net force was "
                    f"built for {len(self.atomic_numbers)}"
                )
        else:
            if self._end > num_system:
                raise ValueError(
                    f"SOG-Net force: particle index {self._end - 1} is out of range "
                    f"for a System of {num_system} particles; pass indices below {num_system}"
                )
            positions = positions[self._subset]
        if not np.isfinite(positions).all():
            raise ValueError("SOG-Net force: positions contain NaN or infinite values")
        # A non-periodic State has no box vectors to ask for; the model's cell is then zero.
        box = (
            state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(openmm.unit.nanometer)
            if self.periodic
            else np.zeros((3, 3))
        )
        try:
            energy, forces = self._module(
                torch.from_numpy(np.ascontiguousarray(positions) / NM_PER_ANGSTROM),
                self._numbers,
                torch.from_numpy(np.ascontiguousarray(box) / NM_PER_ANGSTROM),
                self.periodic,
            )
            forces = forces.detach().double().numpy()
            failure = None if np.isfinite(forces).all() and torch.isfinite(energy).all() else ""
        except (RuntimeError, ValueError, torch.jit.Error) as error:
            failure = str(error)
        if failure is not None:
            pair = coincident_atoms(positions, box if self.periodic else None)
            if pair is not None:
                if self._subset is not None:
                    pair = (int(self._subset[pair[0]]), int(self._subset[pair[1]]))
                raise ValueError(_coincident_message(*pair))
            raise ValueError(f"SOG-Net force: the model gave non-finite results {failure}")
        forces = forces * (KJ_PER_MOL_PER_EV / NM_PER_ANGSTROM)
        if self._subset is not None:
            # The other particles get no force from this one.
            scattered = np.zeros((num_system, 3))
            scattered[self._subset] = forces
            forces = scattered
        return float(energy.sum()) * KJ_PER_MOL_PER_EV, forces


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
