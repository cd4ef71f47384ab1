"""Labelled structures and readers for the project's data formats (converted to eV, Angstrom).

Every reader declares the units of its file and converts to the torch-side units once, here:
positions and cells in Angstrom, energies in eV, forces in eV/Angstrom, stress in eV/Angstrom^3.

* extxyz (ASE): eV and Angstrom (ASE convention), e.g. ``nacl_shortrange_only_test.xyz`` and
  the output of ``sognet generate electrolyte``.
* ``spice``: SPICE HDF5 groups ``c*`` (Bohr, Hartree, Hartree/Bohr); the total charge is the
  rounded sum of the MBIS charges.
* ``dimer``: BFDb dimer HDF5 (eV, Angstrom); species labels 1=C, 2=N, 3=H, 4=O, 0 = padding.
* ``pointcharge``: reduced units, cubic box L = 10, taken as Angstrom/eV without conversion;
  '+' charges become species 11 (Na) and '-' charges 17 (Cl) as labels only. Its energies
  do not match its forces, so energies are dropped (train on forces only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .errors import SognetError

__all__ = [
    "BOHR_ANGSTROM",
    "HARTREE_EV",
    "Batch",
    "Structure",
    "collate",
    "read_dataset",
    "select_structures",
]

#: Hartree in eV (CODATA 2018).
HARTREE_EV = 27.211386245988
#: Bohr radius in Angstrom (CODATA 2018).
BOHR_ANGSTROM = 0.529177210903

_DIMER_SPECIES = {1: 6, 2: 7, 3: 1, 4: 8}


@dataclass
class Structure:
    """One labelled structure (float64; Angstrom, eV, e).

    :param positions: ``[n, 3]``; Angstrom.
    :param atomic_numbers: ``[n]`` int64.
    :param cell: ``[3, 3]`` rows are cell vectors; Angstrom (zeros if not periodic).
    :param pbc: periodic in all three directions (partial periodicity is not supported).
    :param energy: total energy; eV (``None`` if unlabelled).
    :param forces: ``[n, 3]``; eV/Angstrom (``None`` if unlabelled).
    :param stress: ``[3, 3]``; eV/Angstrom^3, ASE sign convention (``None`` if unlabelled).
    :param total_charge: net charge; e.
    """

    positions: Tensor
    atomic_numbers: Tensor
    cell: Tensor
    pbc: bool
    energy: float | None = None
    forces: Tensor | None = None
    stress: Tensor | None = None
    total_charge: float = 0.0

    def __post_init__(self) -> None:
        n = self.positions.shape[0]
        if self.positions.shape != (n, 3) or self.atomic_numbers.shape != (n,):
            raise ValueError(
                f"positions must be [n, 3] and atomic_numbers [n], got "
                f"{tuple(self.positions.shape)} and {tuple(self.atomic_numbers.shape)}"
            )
        if not bool(torch.isfinite(self.positions).all()):
            raise ValueError("positions contain NaN or infinite values")
        if self.forces is not None and self.forces.shape != (n, 3):
            raise ValueError(f"forces must be [{n}, 3], got {tuple(self.forces.shape)}")
        if self.cell.shape != (3, 3):
            raise ValueError(f"cell must be [3, 3], got {tuple(self.cell.shape)}")
        volume = abs(float(torch.linalg.det(self.cell)))
        if self.pbc and not volume > 1e-6:
            raise ValueError(
                "inconsistent cell and pbc: the structure is periodic but its cell is empty "
                f"or singular (volume {volume:.3g} A^3)"
            )
        if not self.pbc and bool(self.cell.ne(0).any()):
            raise ValueError(
                "inconsistent cell and pbc: a non-periodic structure must have a zero cell"
            )

    @property
    def num_atoms(self) -> int:
        """Number of atoms n."""
        return int(self.positions.shape[0])


@dataclass
class Batch:
    """Structures concatenated along the atom axis, as :class:`~openmm_sog.model.SOGNet` takes.

    Labels are NaN where a structure has none (``energy`` ``[B]`` eV, ``forces`` ``[N, 3]``
    eV/A, ``stress`` ``[B, 3, 3]`` eV/A^3).
    """

    positions: Tensor
    atomic_numbers: Tensor
    cell: Tensor
    pbc: Tensor
    batch: Tensor
    total_charge: Tensor
    num_atoms: Tensor
    energy: Tensor
    forces: Tensor
    stress: Tensor

    def model_inputs(self) -> dict[str, Tensor]:
        """Keyword arguments for ``SOGNet.forward``."""
        return {
            "positions": self.positions,
            "atomic_numbers": self.atomic_numbers,
            "cell": self.cell,
            "pbc": self.pbc,
            "batch": self.batch,
            "total_charge": self.total_charge,
        }

    def to(self, dtype: torch.dtype, device: torch.device | str | None = None) -> Batch:
        """Floating-point fields in ``dtype``; every field on ``device`` if given."""

        def move(tensor: Tensor, float_type: torch.dtype | None = dtype) -> Tensor:
            return tensor.to(device=device, dtype=float_type)

        return Batch(
            move(self.positions),
            move(self.atomic_numbers, None),
            move(self.cell),
            move(self.pbc, None),
            move(self.batch, None),
            move(self.total_charge),
            move(self.num_atoms, None),
            move(self.energy),
            move(self.forces),
            move(self.stress),
        )


def collate(structures: list[Structure]) -> Batch:
    """Concatenate structures into a :class:`Batch`."""
    nan3 = torch.full((3, 3), math.nan, dtype=torch.float64)
    return Batch(
        positions=torch.cat([s.positions for s in structures]),
        atomic_numbers=torch.cat([s.atomic_numbers for s in structures]),
        cell=torch.stack([s.cell for s in structures]),
        pbc=torch.tensor([s.pbc for s in structures]),
        batch=torch.cat(
            [torch.full((s.num_atoms,), k, dtype=torch.long) for k, s in enumerate(structures)]
        ),
        total_charge=torch.tensor([s.total_charge for s in structures], dtype=torch.float64),
        num_atoms=torch.tensor([s.num_atoms for s in structures]),
        energy=torch.tensor(
            [math.nan if s.energy is None else s.energy for s in structures], dtype=torch.float64
        ),
        forces=torch.cat(
            [
                s.forces if s.forces is not None else torch.full((s.num_atoms, 3), math.nan)
                for s in structures
            ]
        ).to(torch.float64),
        stress=torch.stack([s.stress if s.stress is not None else nan3 for s in structures]),
    )


def _t(array: np.ndarray, dtype: torch.dtype = torch.float64) -> Tensor:
    return torch.as_tensor(np.asarray(array), dtype=dtype)


def read_extxyz(
    path: Path, energy_key: str = "energy", forces_key: str = "forces"
) -> list[Structure]:
    """extxyz via ASE (energies eV, forces eV/A, stress eV/A^3 -- ASE's units).

    The labels are read from the calculator's results or from ``info`` (energy) and ``arrays``
    (forces) under ``energy_key`` and ``forces_key``, e.g. ``REF_energy`` and ``REF_forces``.

    :raises SognetError: no frame has either label, or a label is missing under its key while
        the file holds it under another (say ``REF_energy``): the message names the keys.
    """
    import ase.io

    structures = []
    found = {"energy": False, "forces": False}
    other_keys: dict[str, set[str]] = {"energy": set(), "forces": set()}
    for k, atoms in enumerate(ase.io.read(str(path), index=":")):
        calc = atoms.calc
        results = calc.results if calc is not None else {}
        energy = results.get(energy_key, atoms.info.get(energy_key))
        forces = results.get(forces_key, atoms.arrays.get(forces_key))
        stress = results.get("stress", atoms.info.get("stress"))
        found["energy"] |= energy is not None
        found["forces"] |= forces is not None
        for kind, names in (
            ("energy", [*results, *atoms.info]),
            ("forces", [*results, *atoms.arrays]),
        ):
            other_keys[kind].update(name for name in names if kind[:5] in name.lower())
        pbc = atoms.pbc
        if pbc.any() and not pbc.all():
            raise ValueError(f"{path}: partially periodic structures are not supported")
        if stress is not None:
            stress = np.asarray(stress)
            if stress.shape == (6,):  # Voigt xx yy zz yz xz xy
                xx, yy, zz, yz, xz, xy = stress
                stress = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
        periodic = bool(pbc.all())
        try:
            structure = Structure(
                positions=_t(atoms.positions),
                atomic_numbers=_t(atoms.numbers, torch.long),
                cell=_t(atoms.cell.array) if periodic else torch.zeros(3, 3, dtype=torch.float64),
                pbc=periodic,
                energy=None if energy is None else float(energy),
                forces=None if forces is None else _t(forces),
                stress=None if stress is None else _t(stress).reshape(3, 3),
                total_charge=float(atoms.info.get("total_charge", 0.0)),
            )
        except (ValueError, TypeError) as error:
            raise ValueError(f"{path}, frame {k}: {error}") from None
        structures.append(structure)
    _check_labels(path, found, other_keys, {"energy": energy_key, "forces": forces_key})
    return structures


def _check_labels(
    path: Path, found: dict[str, bool], other_keys: dict[str, set[str]], keys: dict[str, str]
) -> None:
    """Refuse a file whose labels are not under the keys asked for (see :func:`read_extxyz`)."""
    options = {
        "energy": "--energy-key (config data.energy_key)",
        "forces": "--forces-key (config data.forces_key)",
    }
    for kind in ("energy", "forces"):
        candidates = sorted(other_keys[kind] - {keys[kind]})
        if not found[kind] and candidates:
            raise SognetError(
                f"{path}: no frame has {kind} labels under the key {keys[kind]!r}, but the file "
                f"has {', '.join(map(repr, candidates))}: name it with {options[kind]}, e.g. "
                f"{options[kind].split()[0]} {candidates[0]}"
            )
    if not found["energy"] and not found["forces"]:
        raise SognetError(
            f"{path}: no labels: no frame has an energy ({keys['energy']!r}) or forces "
            f"({keys['forces']!r}); name the keys with {options['energy']} and {options['forces']}"
        )


def read_spice(path: Path) -> list[Structure]:
    """SPICE dipeptide HDF5 (Bohr, Hartree, Hartree/Bohr -> Angstrom, eV, eV/A)."""
    import h5py

    structures = []
    with h5py.File(path, "r") as f:
        names = sorted(f.keys(), key=lambda name: int(name[1:]) if name[1:].isdigit() else 0)
        for name in names:
            g = f[name]
            structures.append(
                Structure(
                    positions=_t(g["positions"][()]) * BOHR_ANGSTROM,
                    atomic_numbers=_t(g["atomic_numbers"][()], torch.long),
                    cell=torch.zeros(3, 3, dtype=torch.float64),
                    pbc=False,
                    energy=float(g["energy"][0]) * HARTREE_EV,
                    forces=_t(g["force"][()]) * (HARTREE_EV / BOHR_ANGSTROM),
                    total_charge=float(round(float(np.sum(g["mbis_charges"][()])))),
                )
            )
    return structures


def read_dimer(path: Path) -> list[Structure]:
    """BFDb dimer binding curves (eV, Angstrom); padding atoms (label 0) are dropped."""
    import h5py

    with h5py.File(path, "r") as f:
        points, forces = f["points"][()], f["forces"][()]
        energy, labels = f["energy"][()], f["charges"][()][..., 0].astype(int)
    structures = []
    for k in range(points.shape[0]):
        keep = labels[k] != 0
        numbers = [_DIMER_SPECIES[int(v)] for v in labels[k][keep]]
        structures.append(
            Structure(
                positions=_t(points[k][keep]),
                atomic_numbers=torch.tensor(numbers, dtype=torch.long),
                cell=torch.zeros(3, 3, dtype=torch.float64),
                pbc=False,
                energy=float(energy[k, 0]),
                forces=_t(forces[k][keep]),
            )
        )
    return structures


def read_pointcharge(path: Path) -> list[Structure]:
    """Point-charge set (reduced units, box 10): forces only, see the module docstring."""
    import h5py

    with h5py.File(path, "r") as f:
        points, forces, charges = f["points"][()], f["forces"][()], f["charges"][()]
    cell = torch.eye(3, dtype=torch.float64) * 10.0
    structures = []
    for k in range(points.shape[2]):
        numbers = np.where(charges[:, k] > 0, 11, 17)
        structures.append(
            Structure(
                positions=_t(points[:, :, k].T),
                atomic_numbers=_t(numbers, torch.long),
                cell=cell.clone(),
                pbc=True,
                energy=None,
                forces=_t(forces[:, :, k].T),
            )
        )
    return structures


_READERS = {
    "extxyz": read_extxyz,
    "spice": read_spice,
    "dimer": read_dimer,
    "pointcharge": read_pointcharge,
}


def detect_format(path: Path) -> str:
    """Guess the format from the extension and, for HDF5, the layout."""
    suffix = path.suffix.lower()
    if suffix in (".xyz", ".extxyz"):
        return "extxyz"
    if suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as f:
            keys = set(f.keys())
            if {"points", "forces", "charges"} <= keys:
                return (
                    "dimer"
                    if f["points"].ndim == 3 and f["points"].shape[2] == 3
                    else ("pointcharge")
                )
            if keys and all(k.startswith("c") for k in keys):
                return "spice"
        raise ValueError(f"{path}: unrecognised HDF5 layout (keys {sorted(keys)[:5]})")
    raise ValueError(f"{path}: unknown data format (use .xyz/.extxyz or .h5)")


def read_dataset(
    path: str | Path,
    data_format: str = "auto",
    energy_key: str = "energy",
    forces_key: str = "forces",
) -> list[Structure]:
    """Read all structures of a file, converted to Angstrom and eV.

    :param data_format: ``auto``, ``extxyz``, ``spice``, ``dimer`` or ``pointcharge``.
    :param energy_key: extxyz key of the energies (eV); the other formats have fixed layouts.
    :param forces_key: extxyz key of the forces (eV/A).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    if data_format == "auto":
        data_format = detect_format(path)
    if data_format not in _READERS:
        raise ValueError(f"unknown data format {data_format!r}; choose from {sorted(_READERS)}")
    if data_format == "extxyz":
        structures = read_extxyz(path, energy_key, forces_key)
    else:
        structures = _READERS[data_format](path)
    if not structures:
        raise ValueError(f"{path}: no structures")
    return structures


def select_structures(structures: list[Structure], spec: str | None) -> list[Structure]:
    """The structures picked by ``spec``: a Python slice ``"start:stop[:step]"`` (``"0:80"``,
    ``"1::2"``) or comma-separated indices (``"0,3,7"``; negative ones count from the end).
    ``None`` or ``""`` keeps all of them.
    """
    if spec is None or not str(spec).strip():
        return structures
    spec = str(spec).strip()
    try:
        if ":" in spec:
            parts = [int(p) if p.strip() else None for p in spec.split(":")]
            if len(parts) > 3:
                raise ValueError
            picked = structures[slice(*parts)]
        else:
            indices = [int(p) for p in spec.split(",")]
            for k in indices:
                if not -len(structures) <= k < len(structures):
                    raise IndexError(
                        f"selection {spec!r}: index {k} out of range for {len(structures)} "
                        "structures"
                    )
            picked = [structures[k] for k in indices]
    except ValueError:
        raise ValueError(
            f"bad structure selection {spec!r}: use 'start:stop[:step]' or 'i,j,k'"
        ) from None
    if not picked:
        raise ValueError(f"selection {spec!r} picks none of the {len(structures)} structures")
    return picked
