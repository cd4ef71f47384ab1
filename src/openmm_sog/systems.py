"""OpenMM Systems used across the project: the molten-NaCl toy system of docs/design.md §8.

Na+ (q = +1, 22.99 u) and Cl- (q = -1, 35.45 u) with Joung-Cheatham (SPC/E) Lennard-Jones
parameters, Lorentz-Berthelot mixing, LJ truncated at 0.7 nm without shift, switching or
dispersion correction; Coulomb in vacuum by PME; 0.032 ions per A^3 (32 per nm^3). OpenMM units.
"""

from __future__ import annotations

import math

import numpy as np
import openmm
import torch

from .units import NM_PER_ANGSTROM

__all__ = [
    "LJ_FORCE_GROUP",
    "MOLTEN_NACL_DENSITY_PER_NM3",
    "NACL_LJ_CUTOFF_NM",
    "molten_nacl",
    "molten_nacl_model_inputs",
]

#: ions per nm^3 (0.032 per A^3)
MOLTEN_NACL_DENSITY_PER_NM3 = 32.0
#: Lennard-Jones cutoff, nm
NACL_LJ_CUTOFF_NM = 0.7
#: force group of the separate Lennard-Jones force used when the Coulomb cutoff is not 0.7 nm
LJ_FORCE_GROUP = 2
#: (charge e, mass u, sigma nm, epsilon kJ/mol)
_ION_PARAMETERS = {
    "Na": (1.0, 22.99, 0.2160, 1.4755),
    "Cl": (-1.0, 35.45, 0.4830, 0.0535),
}


def molten_nacl(
    num_ions: int,
    seed: int = 0,
    ewald_error_tolerance: float = 1e-6,
    coulomb_cutoff_nm: float = NACL_LJ_CUTOFF_NM,
) -> tuple[openmm.System, np.ndarray, list[str]]:
    """The molten-NaCl System with PME Coulomb, ions on a jittered partly filled rock-salt lattice.

    The start is not equilibrated: minimise and heat it (1300 K melts it in a few ps).

    :param num_ions: even number of ions (half Na+, half Cl-).
    :param seed: seed of the initial arrangement.
    :param ewald_error_tolerance: PME accuracy (docs/design.md §8 labels use <= 1e-6).
    :param coulomb_cutoff_nm: PME real-space cutoff, nm; also the LJ cutoff of the NonbondedForce
        when it equals 0.7 nm. A different Coulomb cutoff moves LJ to a CustomNonbondedForce
        truncated at 0.7 nm (in force group ``LJ_FORCE_GROUP``) so that the potential stays the
        same.
    :return: ``(system, positions_nm [N, 3], species)``.
    """
    if num_ions < 2 or num_ions % 2:
        raise ValueError(f"num_ions must be even and >= 2, got {num_ions}")
    box = (num_ions / MOLTEN_NACL_DENSITY_PER_NM3) ** (1.0 / 3.0)
    if 2.0 * max(coulomb_cutoff_nm, NACL_LJ_CUTOFF_NM) > box:
        raise ValueError(
            f"a box of {box:.3f} nm ({num_ions} ions) is smaller than twice the cutoff"
        )
    # Rock-salt parity on a partly filled cubic lattice: unlike ions are nearest neighbours.
    rng = np.random.default_rng(seed)
    per_side = 2 * math.ceil(0.5 * num_ions ** (1.0 / 3.0))
    sites = np.stack(np.meshgrid(*[np.arange(per_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    parity = sites.sum(-1) % 2
    half = num_ions // 2
    chosen = np.concatenate([rng.permutation(np.flatnonzero(parity == p))[:half] for p in (0, 1)])
    species = ["Na"] * half + ["Cl"] * half
    jitter = rng.uniform(-0.1, 0.1, (num_ions, 3))
    positions = (sites[chosen] + 0.5 + jitter) * (box / per_side)

    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(
        openmm.Vec3(box, 0, 0), openmm.Vec3(0, box, 0), openmm.Vec3(0, 0, box)
    )
    nonbonded = openmm.NonbondedForce()
    nonbonded.setNonbondedMethod(openmm.NonbondedForce.PME)
    nonbonded.setCutoffDistance(coulomb_cutoff_nm)
    nonbonded.setEwaldErrorTolerance(ewald_error_tolerance)
    nonbonded.setUseSwitchingFunction(False)
    nonbonded.setUseDispersionCorrection(False)
    separate_lj = not math.isclose(coulomb_cutoff_nm, NACL_LJ_CUTOFF_NM)
    lj = None
    if separate_lj:
        lj = openmm.CustomNonbondedForce(
            "4*eps*((sig/r)^12-(sig/r)^6); sig=0.5*(s1+s2); eps=sqrt(e1*e2)"
        )
        lj.addPerParticleParameter("s")
        lj.addPerParticleParameter("e")
        lj.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffPeriodic)
        lj.setCutoffDistance(NACL_LJ_CUTOFF_NM)
        lj.setUseLongRangeCorrection(False)
        # GPU platforms need one cutoff per force group.
        lj.setForceGroup(LJ_FORCE_GROUP)
    for name in species:
        charge, mass, sigma, epsilon = _ION_PARAMETERS[name]
        system.addParticle(mass)
        if lj is None:
            nonbonded.addParticle(charge, sigma, epsilon)
        else:
            nonbonded.addParticle(charge, 1.0, 0.0)
            lj.addParticle([sigma, epsilon])
    system.addForce(nonbonded)
    if lj is not None:
        system.addForce(lj)

    return system, positions, species


def molten_nacl_model_inputs(
    num_ions: int, seed: int = 0, dtype: torch.dtype = torch.float64
) -> dict[str, torch.Tensor]:
    """Keyword inputs of a SOG-Net model (Angstrom) for one :func:`molten_nacl` box."""
    system, positions_nm, species = molten_nacl(num_ions, seed=seed)
    box_nm = system.getDefaultPeriodicBoxVectors()[0][0].value_in_unit(openmm.unit.nanometer)
    return {
        "positions": torch.tensor(positions_nm / NM_PER_ANGSTROM, dtype=dtype),
        "atomic_numbers": torch.tensor([{"Na": 11, "Cl": 17}[name] for name in species]),
        "cell": torch.eye(3, dtype=dtype).unsqueeze(0) * (box_nm / NM_PER_ANGSTROM),
        "pbc": torch.tensor([True]),
        "batch": torch.zeros(num_ions, dtype=torch.long),
    }
