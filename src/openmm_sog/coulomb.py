"""Switch an OpenMM System's PME/Ewald electrostatics to SOG Coulomb in one call.

SOG Coulomb splits prefactor/r into long-range Gaussians, evaluated by :class:`SOGForce` with the
native NUFFT kernel, and a short-range complement prefactor/r - g(r) that vanishes beyond the
cutoff (to the tolerance), evaluated in real space by a ``CustomNonbondedForce``:

* particle charges move from the ``NonbondedForce`` to the ``SOGForce`` and the complement;
  Lennard-Jones, its cutoff, switching and dispersion correction stay in the ``NonbondedForce``,
  which becomes ``CutoffPeriodic`` with zero charges (a NonbondedForce that carries no
  Lennard-Jones terms is removed from the System: it would compute nothing at full cost);
* exceptions (excluded and scaled 1-4 pairs): the k-space sum includes every pair, so each
  exception pair gets a ``CustomBondForce`` term chargeProd prefactor/r - q_i q_j g(r), which
  removes the Gaussians' share and adds the exception's own Coulomb term (as PME does);
  exception pairs are excluded from the complement.

Units are OpenMM's: nm, kJ/mol, proton charges.
"""

from __future__ import annotations

import math

import numpy as np
import openmm
import torch

from .kernel import coulomb_sog_parameters
from .real_space import plane_spacings
from .units import COULOMB_KJ_PER_MOL_NM_PER_E2

__all__ = ["SOGCoulombForces", "use_sog_coulomb"]

#: Accuracy of the polynomial that replaces the wide Gaussians, as a fraction of the SOG
#: tolerance (in units of prefactor/cutoff for values, prefactor/cutoff^2 for slopes).
_POLYNOMIAL_ERROR_FRACTION = 0.01
_MAX_POLYNOMIAL_DEGREE = 20
#: Largest sum |c_k| (r/cutoff)^2k over the largest value: bounds the round-off of the
#: polynomial in single precision (mixed-precision GPU kernels) to that of a few exponentials.
_MAX_CANCELLATION = 4.0


class SOGCoulombForces:
    """The forces that replace a NonbondedForce's electrostatics (see :func:`use_sog_coulomb`)."""

    def __init__(self, sog, complement, exceptions, nonbonded) -> None:
        #: the long-range ``SOGForce``
        self.sog = sog
        #: ``CustomNonbondedForce``: prefactor/r - g(r) within the cutoff
        self.complement = complement
        #: ``CustomBondForce`` for exception pairs (``None`` if the System has none)
        self.exceptions = exceptions
        #: the original ``NonbondedForce``, now Lennard-Jones only; ``None`` if it had no
        #: Lennard-Jones terms, in which case it was removed from the System
        self.nonbonded = nonbonded


def _wide_polynomial(
    weights: list[float], widths: list[float], cutoff: float, value_error: float
) -> list[float] | None:
    """Coefficients c_k of sum_k c_k r^(2k) within ``value_error`` of sum w exp(-(r/s)^2).

    The error bound is checked on [0, cutoff] for the values and, scaled by 1/cutoff, for the
    slopes (forces); ``None`` if no polynomial of degree <= 20 meets it without cancellation
    between its terms. Fitting in x = (r/rc)^2
    at Chebyshev nodes keeps the fit well conditioned; the sum is entire in x, so the error
    falls factorially with the degree once the widths exceed the cutoff.
    """
    w = np.asarray(weights, dtype=np.float64)
    a = (cutoff / np.asarray(widths, dtype=np.float64)) ** 2

    def exact(x: np.ndarray) -> np.ndarray:
        return np.exp(-np.multiply.outer(x, a)) @ w

    r = np.linspace(0.0, cutoff, 2001)
    x = (r / cutoff) ** 2
    gaussians = np.exp(-np.multiply.outer(x, a))  # [points, Gaussians]
    target = gaussians @ w
    slope = -(2.0 * r / cutoff**2) * (gaussians @ (w * a))
    for degree in range(1, _MAX_POLYNOMIAL_DEGREE + 1):
        fit = np.polynomial.Chebyshev.interpolate(exact, degree, domain=[0.0, 1.0])
        power = fit.convert(kind=np.polynomial.Polynomial, domain=[0.0, 1.0], window=[0.0, 1.0])
        c = power.coef
        value = np.polynomial.polynomial.polyval(x, c)
        dvalue = (2.0 * r / cutoff**2) * np.polynomial.polynomial.polyval(
            x, np.polynomial.polynomial.polyder(c)
        )
        if (
            np.max(np.abs(value - target)) <= value_error
            and np.max(np.abs(dvalue - slope)) * cutoff <= value_error
            # Little cancellation between the terms: single precision stays accurate.
            and np.sum(np.abs(c)) <= _MAX_CANCELLATION * np.max(np.abs(target))
        ):
            return [float(ck / cutoff ** (2 * k)) for k, ck in enumerate(c)]
    return None


def _long_range_expression(
    weights: list[float], widths: list[float], cutoff: float, max_error: float
) -> str:
    """Lepton expression of g(r) (kJ/mol/e^2, r in nm) for r <= ``cutoff``.

    Per pair in real space, every exp costs: the Gaussians that are smooth on [0, cutoff] (the
    widest first, as many as a polynomial of degree <= 20 in r^2 reproduces within
    ``max_error`` kJ/mol/e^2, slopes within ``max_error``/cutoff) become one polynomial, the
    rest stay exponentials.
    """
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    # Fold as many Gaussians as possible, the widest ones, into the polynomial.
    for first_wide in range(len(order) + 1):
        wide = order[first_wide:]
        coefficients = _wide_polynomial(
            [weights[i] for i in wide], [widths[i] for i in wide], cutoff, max_error
        )
        if coefficients is not None or not wide:
            break
    terms = [f"{weights[i]!r}*exp(-(r/{widths[i]!r})^2)" for i in order[:first_wide]]
    if wide and coefficients is not None:
        horner = repr(coefficients[-1])
        for ck in reversed(coefficients[:-1]):
            horner = f"{ck!r}+r^2*({horner})"
        terms.append(f"({horner})")
    return "(" + "+".join(terms or ["0"]) + ")"


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

    nonbonded = [
        i for i, f in enumerate(system.getForces()) if isinstance(f, openmm.NonbondedForce)
    ]
    if len(nonbonded) != 1:
        raise ValueError(
            f"expected exactly one NonbondedForce in the System, found {len(nonbonded)}"
        )
    nb_index = nonbonded[0]
    nb = system.getForce(nb_index)
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
    max_error = _POLYNOMIAL_ERROR_FRACTION * tolerance * prefactor / cutoff
    long_range = _long_range_expression(weights, widths, cutoff, max_error)

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
    zero_epsilon = 0.0 * openmm.unit.kilojoule_per_mole
    has_lennard_jones = any(epsilon != zero_epsilon for _, _, epsilon in parameters)
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
            has_lennard_jones = has_lennard_jones or epsilon != zero_epsilon

    nb.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
    group = nb.getForceGroup()
    for force in (sog, complement, exceptions):
        if force is not None:
            force.setForceGroup(group)
            system.addForce(force)
    if not has_lennard_jones:
        # Nothing is left for it to compute, but its pair loop would still run every step.
        system.removeForce(nb_index)
        nb = None
    return SOGCoulombForces(sog, complement, exceptions, nb)
