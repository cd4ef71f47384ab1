"""ASE calculator for trained SOG-Net models: energy, forces and stress of ``ase.Atoms``.

Units are the model's and ASE's: positions and cell in Angstrom, energy in eV, forces in
eV/Angstrom, stress in eV/Angstrom^3 (no conversion at the boundary).

.. code-block:: python

    from openmm_sog.ase_calculator import SOGNetCalculator

    atoms.calc = SOGNetCalculator("runs/my_run/model_best.pt")  # or a `sognet export` file
    atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
"""

from __future__ import annotations

import copy
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.data import chemical_symbols
from torch import nn

from .model import SOGNet

__all__ = ["SOGNetCalculator"]

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


class SOGNetCalculator(Calculator):
    """A SOG-Net as an ASE calculator.

    Energy (eV) and forces (eV/A) come from the model's autograd forces, stress (eV/A^3, ASE's
    Voigt order xx, yy, zz, yz, xz, xy and sign: (1/V) dE/d(strain), i.e. -virial/V, positive
    when the system pulls inwards) from the derivative of the energy with respect to a
    symmetric strain of positions and cell. ``free_energy`` equals ``energy`` (no electronic
    entropy). Per-atom energies are not offered: the long-range energy of the latent charges
    is a property of the whole structure, not a sum of atomic terms.

    Structures are periodic in all three directions (``pbc`` all True, a cell of non-zero
    volume) or in none (molecules, clusters: the cell is ignored and the long range is the
    free-space pair sum). Partially periodic structures are refused, as the model has no
    two-dimensional long range; stress of a non-periodic structure raises
    :class:`PropertyNotImplementedError`. The net charge (e) of a model trained with
    ``neutralize: true`` is read from ``atoms.info["total_charge"]`` (default 0), as
    ``sognet train`` reads it from extxyz files; ASE does not track ``info``, so call
    ``calc.reset()`` after changing it.

    :param model: a model file (``model_best.pt`` or ``checkpoint_last.pt`` of ``sognet
        train``, read with ``load_model``: weights only, checksum verified), a TorchScript
        file of ``sognet export`` (read with ``load_exported``, checksum verified), or a
        :class:`SOGNet` (copied, so the caller's module is left as it is).
    :param device: ``"cpu"`` or ``"cuda"`` (``"cuda:N"``) when torch sees a GPU.
    :param dtype: ``"float64"`` (default: energies of thousands of eV keep meV digits) or
        ``"float32"`` (faster, about 1e-7 relative precision); or the torch dtype.
    :param kwargs: passed on to :class:`ase.calculators.calculator.Calculator`.
    :raises FileNotFoundError: no such file.
    :raises ValueError: a file that is not a SOG-Net model or export
        (``openmm_sog.training.integrity.FileFormatError``, ``CorruptFileError`` when its
        checksum does not match), an unknown device or dtype.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(
        self,
        model: str | os.PathLike[str] | SOGNet,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "float64",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.device = _device(device)
        self.dtype = _dtype(dtype)
        net, self.model_atomic_numbers = _load(model, self.dtype)
        # Inference only: no gradients of the weights, no training-mode behaviour.
        for parameter in net.parameters():
            parameter.requires_grad_(False)
        self.net = net.eval().to(device=self.device, dtype=self.dtype)
        self._known = set(self.model_atomic_numbers)

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: list[str] | None = None,
        system_changes: list[str] = all_changes,
    ) -> None:
        """Fill ``self.results`` with energy, free_energy, forces and, if periodic, stress."""
        properties = ["energy"] if properties is None else properties
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        assert atoms is not None
        periodic = self._periodicity(atoms)
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError(
                "stress is defined for periodic structures only (pbc all True with a cell); "
                "this structure is not periodic"
            )
        self._check_species(atoms.numbers)
        options = {"device": self.device, "dtype": self.dtype}
        positions = torch.tensor(atoms.positions, **options)
        if periodic:
            cell = torch.tensor(atoms.cell.array, **options)
        else:  # the model's convention for molecules and clusters: zero cell
            cell = torch.zeros(3, 3, **options)
        numbers = torch.tensor(atoms.numbers, dtype=torch.long, device=self.device)
        total_charge = torch.tensor([float(atoms.info.get("total_charge", 0.0))], **options)
        # Stress costs one more input of the same backward pass: always computed when defined.
        with torch.enable_grad():
            out = self.net(
                positions,
                numbers,
                cell[None],
                torch.tensor([periodic], device=self.device),
                torch.zeros(len(atoms), dtype=torch.long, device=self.device),
                total_charge,
                True,  # compute_forces
                periodic,  # compute_stress
            )
        energy = float(out["energy"].detach().sum())
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": out["forces"].detach().to(torch.float64).cpu().numpy(),
        }
        if periodic:
            s = out["stress"].detach()[0].to(torch.float64).cpu().numpy()
            self.results["stress"] = np.array(
                [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]]
            )

    @staticmethod
    def _periodicity(atoms: Atoms) -> bool:
        """True for a 3D-periodic structure, False for a non-periodic one; else ValueError."""
        pbc = atoms.pbc
        if pbc.any() and not pbc.all():
            raise ValueError(
                f"partially periodic structure (pbc {pbc.tolist()}): SOG-Net models are periodic "
                "in all three directions or in none; set atoms.pbc = True with a 3D cell, or "
                "False for a molecule or cluster"
            )
        if not pbc.all():
            return False
        volume = abs(float(atoms.cell.volume))
        if not volume > 1e-6:
            raise ValueError(
                f"periodic structure with an empty or singular cell (volume {volume:.3g} A^3): "
                "give atoms a 3D cell (Angstrom), or set atoms.pbc = False for a cluster"
            )
        return True

    def _check_species(self, numbers: np.ndarray) -> None:
        unknown = sorted({int(z) for z in numbers} - self._known)
        if unknown:
            raise ValueError(
                f"the structure has species {_names(unknown)} that the model was not trained on; "
                f"it knows {_names(self.model_atomic_numbers)}"
            )


def _names(numbers: list[int]) -> str:
    """``Na (11), Cl (17)``."""
    return ", ".join(
        f"{chemical_symbols[z] if 0 < z < len(chemical_symbols) else '?'} ({z})" for z in numbers
    )


def _device(device: str | torch.device) -> torch.device:
    """``device`` as a torch device: CPU, or a CUDA GPU that torch can see."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device {device!r} is not a torch device ({error}); use 'cpu' or 'cuda'"
        ) from None
    if parsed.type == "cpu":
        return parsed
    if parsed.type != "cuda":
        raise ValueError(f"device {device!r}: SOGNetCalculator runs on 'cpu' or 'cuda'")
    if not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r}: torch sees no CUDA GPU (torch.cuda.is_available() is False, "
            f"torch {torch.__version__}); use device='cpu' or a CUDA build of torch on a GPU"
        )
    if parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise ValueError(
            f"device {device!r}: torch sees {torch.cuda.device_count()} CUDA device(s), "
            f"numbered from 0"
        )
    return parsed


def _dtype(dtype: str | torch.dtype) -> torch.dtype:
    for name, value in _DTYPES.items():
        if dtype in (name, value):
            return value
    raise ValueError(f"dtype {dtype!r}: use 'float64' (default) or 'float32'")


def _load(
    model: str | os.PathLike[str] | SOGNet, dtype: torch.dtype
) -> tuple[nn.Module, list[int]]:
    """The network to call (``SOGNet.forward``'s arguments) and its species (atomic numbers)."""
    if isinstance(model, SOGNet):
        net = copy.deepcopy(model)
        return net, list(net.atomic_numbers)
    path = Path(model)
    if _is_torchscript(path):
        from .training.export import load_exported

        module, meta = load_exported(path)
        # The scripted SOGNet inside the export: its forward also gives the stress.
        return module.model, [int(z) for z in meta["atomic_numbers"]]
    from .training.model_io import load_model

    name = next(name for name, value in _DTYPES.items() if value == dtype)
    net = load_model(path, name)
    return net, list(net.atomic_numbers)


def _is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (``torch.jit.save``), which holds code."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())
