"""Switch an OpenMM System's PME/Ewald electrostatics to SOG Coulomb in one call.

SOG Coulomb splits prefactor/r into long-range Gaussians, evaluated by :class:`SOGForce` with the
native NUFFT kernel, and a short-range complement prefactor/r - g(r) that vanishes beyond the
cutoff (to the tolerance), evaluated in real space by a ``CustomNonbondedForce``:

* particle charges move from the ``NonbondedForce`` to the ``SOGForce`` and the complement;
  Lennard-Jones, its cutoff, switching and dispersion correction stay in the ``NonbondedForce``,
  which becomes ``CutoffPeriodic`` with zero charges;
* exceptions (excluded and scaled 1-4 pairs): the k-space sum includes every pair, so each
  exception pair gets a ``CustomBondForce`` term chargeProd prefactor/r - q_i q_j g(r), which
  removes the Gaussians' share and adds the exception's own Coulomb term (as PME does);
  exception pairs are excluded from the complement.

Units are OpenMM's: nm, kJ/mol, proton charges.
"""

from __future__ import annotations

import math

import openmm
import torch

from .kernel import coulomb_sog_parameters
from .real_space import plane_spacings
from .units import COULOMB_KJ_PER_MOL_NM_PER_E2

__all__ = ["SOGCoulombForces", "use_sog_coulomb"]

#: Gaussians wider than this many cutoffs enter the real-space expressions as a Taylor
#: polynomial in r^2 (exact to ~(cutoff / width)^8 / 24 < 1e-13 of their weight).
_WIDE_FACTOR = 40.0


class SOGCoulombForces:
    """The forces that replace a NonbondedForce's electrostatics (see :func:`use_sog_coulomb`)."""

    def __init__(self, sog, complement, exceptions, nonbonded) -> None:
        #: the long-range ``SOGForce``
        self.sog = sog
        #: ``CustomNonbondedForce``: prefactor/r - g(r) within the cutoff
        self.complement = complement
        #: ``CustomBondForce`` for exception pairs (``None`` if the System has none)
        self.exceptions = exceptions
        #: the original ``NonbondedForce``, now Lennard-Jones only
        self.nonbonded = nonbonded


def _long_range_expression(weights: list[float], widths: list[float], cutoff: float) -> str:
    """Lepton expression of g(r) (kJ/mol/e^2, r in nm), wide Gaussians as a polynomial."""
    terms = []
    c0 = c2 = c4 = c6 = 0.0
    for w, s in zip(weights, widths, strict=True):
        if s > _WIDE_FACTOR * cutoff:
            a = 1.0 / (s * s)
            c0 += w
            c2 -= w * a
            c4 += w * a * a / 2.0
            c6 -= w * a * a * a / 6.0
        else:
            terms.append(f"{w!r}*exp(-(r/{s!r})^2)")
    terms.append(f"({c0!r}+r^2*({c2!r}+r^2*({c4!r}+r^2*{c6!r})))")
    return "(" + "+".join(terms) + ")"


def _smallest_plane_spacing_nm(system: openmm.System) -> float:
    """Smallest distance between opposite faces of the default periodic box, nm."""
    box = [v.value_in_unit(openmm.unit.nanometer) for v in system.getDefaultPeriodicBoxVectors()]
    return min(plane_spacings(torch.tensor(box, dtype=torch.float64)))


def use_sog_coulomb(
    system: openmm.System, tolerance: float = 1e-5, cutoff: float | None = None
) -> SOGCoulombForces:
    """Replace the PME or Ewald electrostatics of ``system``'s NonbondedForce by SOG Coulomb.

    :param system: an ``openmm.System`` with one ``NonbondedForce`` using ``PME`` or ``Ewald``;
        modified in place.
    :param tolerance: relative accuracy of the SOG split and of the NUFFT (``SOGForce``).
    :param cutoff: real-space cutoff in nm; the NonbondedForce's cutoff by default.
    :return: the forces that now carry the electrostatics.
    """
    from .plugin import SOGForce

    nonbonded = [f for f in system.getForces() if isinstance(f, openmm.NonbondedForce)]
    if len(nonbonded) != 1:
        raise ValueError(
            f"expected exactly one NonbondedForce in the System, found {len(nonbonded)}"
        )
    nb = nonbonded[0]
    if nb.getNonbondedMethod() not in (openmm.NonbondedForce.PME, openmm.NonbondedForce.Ewald):
        raise ValueError(
            "use_sog_coulomb needs a periodic NonbondedForce with the PME or Ewald method, got "
            f"method {nb.getNonbondedMethod()}"
        )
    if nb.getNumParticleParameterOffsets() or nb.getNumExceptionParameterOffsets():
        raise ValueError(
            "NonbondedForce parameter offsets are not supported; use SOGForce's charge-scale "
            "parameter for alchemical changes of the charges"
        )
    cutoff = (
        nb.getCutoffDistance().value_in_unit(openmm.unit.nanometer) if cutoff is None else cutoff
    )
    if not 0.0 < cutoff:
        raise ValueError(f"cutoff must be > 0 nm, got {cutoff}")
    spacing = _smallest_plane_spacing_nm(system)
    if 2.0 * cutoff > spacing:
        raise ValueError(
            f"the periodic box (smallest plane spacing {spacing:.4g} nm) is smaller than twice the "
            f"real-space cutoff {cutoff:.4g} nm that SOG Coulomb needs; use a larger box or a "
            "smaller cutoff"
        )
    prefactor = COULOMB_KJ_PER_MOL_NM_PER_E2
    weights, widths = coulomb_sog_parameters(prefactor, cutoff, 0.1 * tolerance)
    long_range = _long_range_expression(weights, widths, cutoff)

    sog = SOGForce()
    for w, s in zip(weights, widths, strict=True):
        sog.addGaussian(w, s)
    sog.setTolerance(tolerance)

    complement = openmm.CustomNonbondedForce(f"q1*q2*({prefactor!r}/r-{long_range})")
    complement.addPerParticleParameter("q")
    complement.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffPeriodic)
    complement.setCutoffDistance(cutoff)
    complement.setUseSwitchingFunction(False)
    complement.setUseLongRangeCorrection(False)
    complement.setName("SOGCoulombComplement")

    # Validate every charge before the System is touched, so that an error leaves it intact.
    parameters = [nb.getParticleParameters(i) for i in range(nb.getNumParticles())]
    charges = [q.value_in_unit(openmm.unit.elementary_charge) for q, _, _ in parameters]
    for i, q in enumerate(charges):
        if not math.isfinite(q):
            raise ValueError(f"particle {i} has a non-finite charge {q}")
    for i, (q, (_, sigma, epsilon)) in enumerate(zip(charges, parameters, strict=True)):
        sog.addParticle(q)
        complement.addParticle([q])
        nb.setParticleParameters(i, 0.0, sigma, epsilon)

    exceptions = None
    if nb.getNumExceptions():
        exceptions = openmm.CustomBondForce(f"chargeProd*{prefactor!r}/r-qq*{long_range}")
        exceptions.addPerBondParameter("chargeProd")
        exceptions.addPerBondParameter("qq")
        exceptions.setUsesPeriodicBoundaryConditions(True)
        exceptions.setName("SOGCoulombExceptions")
        for k in range(nb.getNumExceptions()):
            i, j, charge_prod, sigma, epsilon = nb.getExceptionParameters(k)
            charge_prod = charge_prod.value_in_unit(openmm.unit.elementary_charge**2)
            exceptions.addBond(i, j, [charge_prod, charges[i] * charges[j]])
            complement.addExclusion(i, j)
            nb.setExceptionParameters(k, i, j, 0.0, sigma, epsilon)

    nb.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
    group = nb.getForceGroup()
    for force in (sog, complement, exceptions):
        if force is not None:
            force.setForceGroup(group)
            system.addForce(force)
    return SOGCoulombForces(sog, complement, exceptions, nb)
