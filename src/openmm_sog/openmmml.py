"""SOG-Net as an openmm-ml potential: ``MLPotential("sognet", modelPath=FILE)``.

openmm-ml (the ``openmmml`` package, 1.8) finds this module through the entry point ``sognet``
in the group ``openmmml.potentials`` (pyproject.toml). Both of its ways to build a System work:

* ``createSystem(topology)``: the whole Topology is modelled (by default the native
  ``TorchSOGForce`` for a model with a long range, see
  :func:`~openmm_sog.openmm_model.create_sognet_force`);
* ``createMixedSystem(topology, mmSystem, mlAtoms, ...)``: the ML atoms alone are modelled
  (the native force's ML region, ``TorchSOGForce.setParticles``), in the System's box for a
  periodic model and as a free cluster otherwise.
  :meth:`SOGNetPotentialImpl.getMLLongRange` tells openmm-ml's mechanical embedding whether
  the model's long range covers the ML atoms' periodic images, so that it removes the MM force
  field's Coulomb among them (images included) instead of counting it twice.

Options (``modelPath`` is required): ``periodic`` (default: as the model was trained),
``implementation`` (``"auto"``, ``"python"``, ``"native"``) and ``tolerance`` (native long range,
relative) may be given to ``MLPotential`` as defaults and to ``createSystem`` /
``createMixedSystem`` for one System. Positions reach the model in Angstrom and energies leave
it in kJ/mol: ``create_sognet_force`` converts.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import openmm
import openmm.app
from openmmml.mlpotential import MLPotentialImpl, MLPotentialImplFactory

__all__ = ["SOGNetPotentialImpl", "SOGNetPotentialImplFactory"]

#: options of ``MLPotential("sognet", ...)`` besides ``modelPath``; also accepted per System
_OPTIONS = ("periodic", "implementation", "tolerance")


class SOGNetPotentialImplFactory(MLPotentialImplFactory):
    """Creates :class:`SOGNetPotentialImpl` for ``MLPotential("sognet", modelPath=FILE)``."""

    def createImpl(self, name: str, **args: object) -> SOGNetPotentialImpl:
        unknown = sorted(set(args) - {"modelPath", *_OPTIONS})
        if unknown:
            raise TypeError(
                f"MLPotential({name!r}) got unknown options {unknown}; it accepts modelPath "
                f"and {', '.join(_OPTIONS)}"
            )
        model_path = args.get("modelPath")
        if model_path is None:
            raise ValueError(
                f"MLPotential({name!r}) needs modelPath=FILE, a file written by `sognet export`"
            )
        return SOGNetPotentialImpl(
            Path(str(model_path)), **{key: args[key] for key in _OPTIONS if key in args}
        )


class SOGNetPotentialImpl(MLPotentialImpl):
    """An exported SOG-Net (``sognet export``) as an openmm-ml potential."""

    def __init__(
        self,
        model_path: Path,
        periodic: bool | None = None,
        implementation: str = "auto",
        tolerance: float | None = None,
    ) -> None:
        """Load and check the export once, so a bad file fails here, not at createSystem.

        :param model_path: file written by ``sognet export`` (TorchScript, or an AOTInductor
            package, which runs in the native force with the periodicity it was compiled for).
        :param periodic: default periodicity (``None``: as the model was trained).
        :param implementation: default ``create_sognet_force`` implementation.
        :param tolerance: default relative accuracy of the native long range.
        """
        from .openmm_model import IMPLEMENTATIONS
        from .training.compiled_export import package_metadata, read_compiled_metadata
        from .training.export import load_exported, runs_periodic

        if implementation not in IMPLEMENTATIONS:
            raise ValueError(
                f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}"
            )
        self.model_path = model_path
        if package_metadata(model_path) is not None:  # sognet export --format aotinductor
            metadata = read_compiled_metadata(model_path)
        else:
            metadata = load_exported(model_path)[1]
        self.periodic = periodic
        self.implementation = implementation
        self.tolerance = tolerance
        trained = metadata.get("periodic")
        self._runs_periodic = runs_periodic(trained) if periodic is None else bool(periodic)
        self._has_long_range = bool(metadata.get("long_range")) and "sog" in metadata

    def addForces(
        self,
        topology: openmm.app.Topology,
        system: openmm.System,
        atoms: Iterable[int] | None,
        forceGroup: int,
        **args: object,
    ) -> None:
        """Add the SOG-Net force for ``atoms`` (``None``: every atom) of ``topology``.

        ``args`` may override ``periodic``, ``implementation`` and ``tolerance``; openmm-ml
        passes its embedding's options here too, which are not the model's and are ignored.
        """
        from .openmm_model import create_sognet_force

        periodic = args.get("periodic", self.periodic)
        runs_periodic = self._runs_periodic if periodic is None else bool(periodic)
        if atoms is not None and runs_periodic != self._runs_periodic:
            # getMLLongRange() (no arguments) already told the embedding the other answer.
            raise ValueError(
                f"periodic={periodic} for an ML subset differs from the periodicity the "
                "embedding was told; pass it to MLPotential('sognet', modelPath=..., "
                f"periodic={periodic}) instead"
            )
        if runs_periodic and topology.getPeriodicBoxVectors() is None:
            raise ValueError(
                f"{self.model_path} is run periodic but the Topology has no periodic box; "
                "set it (topology.setPeriodicBoxVectors) or pass periodic=False for a cluster"
            )
        every_atom = list(topology.atoms())
        indices = list(range(len(every_atom))) if atoms is None else [int(i) for i in atoms]
        out_of_range = [i for i in indices if not 0 <= i < len(every_atom)]
        if out_of_range:
            raise ValueError(
                f"ML atoms {out_of_range} are not atoms of the Topology "
                f"({len(every_atom)} atoms, indices from 0)"
            )
        without_element = [i for i in indices if every_atom[i].element is None]
        if without_element:
            raise ValueError(
                f"atoms {without_element} of the Topology have no element; SOG-Net needs the "
                "atomic number of every atom it models"
            )
        force = create_sognet_force(
            self.model_path,
            [every_atom[i].element.atomic_number for i in indices],
            periodic=periodic,
            implementation=str(args.get("implementation", self.implementation)),
            tolerance=args.get("tolerance", self.tolerance),
            particles=None if atoms is None else indices,
        )
        force.setForceGroup(forceGroup)
        system.addForce(force)

    def getMLLongRange(self) -> bool:
        """Whether the model's interactions reach the periodic images of the ML atoms.

        True for a periodic model with a long range: its learned kernel acts among the ML
        atoms and all their images, so openmm-ml's mechanical embedding removes the MM Coulomb
        among them. False for a short-range-only model (interactions end at its cutoff) and for
        a model run as a free cluster (the MM charges then stand in for the images).
        """
        return self._runs_periodic and self._has_long_range
