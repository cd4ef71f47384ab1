"""Per-species reference energies (eV) a model starts from: fitted, averaged or given (E0s).

A SOG-Net's energy is sum_i (eps_i + E0[Z_i]) + E_lr; the per-species constants E0 (the
model's ``energy_shifts``) are set before training. The least-squares fit of the training
energies on composition is what ``build_model`` does, but it is undetermined when the training
set has fewer independent compositions than species -- one composition for a molten salt or
a liquid: the split of the energy over the species is then arbitrary, and so are predictions
for any other composition (an isolated atom, another stoichiometry). MACE asks for isolated-
atom energies (``E0s``) for this reason; ``training.reference_energies`` takes them too.
"""

from __future__ import annotations

import warnings

import torch
from ase.data import atomic_numbers as symbol_numbers
from ase.data import chemical_symbols

from .data import Structure
from .errors import ConfigError

__all__ = ["composition_matrix", "reference_energies"]


def composition_matrix(structures: list[Structure], atomic_numbers: list[int]) -> torch.Tensor:
    """Atom counts per structure and species ``[S, len(atomic_numbers)]`` (float64)."""
    index = {z: k for k, z in enumerate(atomic_numbers)}
    counts = torch.zeros(len(structures), len(atomic_numbers), dtype=torch.float64)
    for row, s in enumerate(structures):
        for z in s.atomic_numbers.tolist():
            counts[row, index[int(z)]] += 1
    return counts


def _label(z: int) -> str:
    return f"{chemical_symbols[z]} ({z})"


def _given(values: dict[int | str, float], atomic_numbers: list[int]) -> torch.Tensor:
    """Energies given per atomic number or chemical symbol, in the model's species order."""
    by_number: dict[int, float] = {}
    for key, energy in values.items():
        number = key if isinstance(key, int) else symbol_numbers.get(str(key).strip())
        if number is None:
            raise ConfigError(
                f"config key training.reference_energies: {key!r} is neither an atomic number "
                "nor a chemical symbol"
            )
        by_number[number] = float(energy)
    missing = [z for z in atomic_numbers if z not in by_number]
    if missing:
        raise ConfigError(
            "config key training.reference_energies: no energy (eV) for "
            + ", ".join(_label(z) for z in missing)
            + f"; give one for every species of the model ({atomic_numbers})"
        )
    return torch.tensor([by_number[z] for z in atomic_numbers], dtype=torch.float64)


def reference_energies(
    structures: list[Structure], atomic_numbers: list[int], spec: str | dict = "fit"
) -> torch.Tensor:
    """Per-species reference energies ``[len(atomic_numbers)]`` in eV (float64).

    :param structures: the training structures (those without an energy are skipped).
    :param spec: ``"fit"``: least squares of the energies on composition (minimum-norm where
        undetermined, with a ``UserWarning`` that names the problem and the remedies);
        ``"average"``: the mean energy per atom for every species; or a mapping
        ``{atomic number or symbol: eV}`` (e.g. isolated-atom energies).
    """
    if isinstance(spec, dict):
        return _given(spec, atomic_numbers)
    labelled = [s for s in structures if s.energy is not None]
    if not labelled:
        return torch.zeros(len(atomic_numbers), dtype=torch.float64)
    energies = torch.tensor([s.energy for s in labelled], dtype=torch.float64)
    counts = composition_matrix(labelled, atomic_numbers)
    if spec == "average":
        per_atom = float((energies / counts.sum(1)).mean())
        return torch.full((len(atomic_numbers),), per_atom, dtype=torch.float64)
    if spec != "fit":
        raise ConfigError(
            f"config key training.reference_energies: {spec!r} is not 'fit', 'average' or a "
            "mapping {atomic number: eV}"
        )
    rank = int(torch.linalg.matrix_rank(counts))
    if rank < len(atomic_numbers):
        compositions = len({tuple(row.tolist()) for row in counts})
        warnings.warn(
            f"per-species reference energies are undetermined: the {len(labelled)} labelled "
            f"training structures have {compositions} distinct composition(s) spanning {rank} "
            f"of the {len(atomic_numbers)} species' dimensions, so the least-squares fit "
            "(training.reference_energies: fit) splits the energy over the species arbitrarily "
            "and energies of other compositions (other stoichiometries, isolated atoms) will "
            "be off. Give training.reference_energies as a mapping of atomic number to eV "
            "(e.g. isolated-atom energies, like MACE's E0s) or 'average', or add structures "
            "of other compositions",
            UserWarning,
            stacklevel=2,
        )
    return torch.linalg.lstsq(counts, energies[:, None], driver="gelsd").solution[:, 0]
