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
  exception pairs are excluded from the complement;
* net charge: like Ewald, the energy leaves out a neutralising background. The SOGForce removes
  the Gaussians' share itself and the complement's share through its background integral
  (:func:`complement_volume_integral`), so any net charge gives Ewald's energy;
* alchemical scaling (``scaled_particles``): one global parameter multiplies the chosen charges
  in all of the above at once, with dU/dlambda from every force.

``real_space="native"`` replaces the ``CustomNonbondedForce`` and the ``CustomBondForce`` by one
:class:`SOGCoulombRealSpaceForce` (same terms, same split of g), with kernels on the Reference,
CPU, OpenCL and CUDA platforms, as the default ``"custom"`` has. The native
force also takes over Lennard-Jones (particles, exceptions, switching function, dispersion
correction) and the ``NonbondedForce`` is removed, so that each pair is visited once per step;
only when the complement's cutoff differs from the ``NonbondedForce``'s does Lennard-Jones stay
there (at its own cutoff).

Units are OpenMM's: nm, kJ/mol, proton charges.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import openmm
import torch

from .kernel import coulomb_sog_parameters
from .real_space import plane_spacings
from .units import COULOMB_KJ_PER_MOL_NM_PER_E2

__all__ = ["SOGCoulombForces", "complement_volume_integral", "use_sog_coulomb"]

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
        #: prefactor/r - g(r) within the cutoff: a ``CustomNonbondedForce``, or with
        #: ``real_space="native"`` a ``SOGCoulombRealSpaceForce`` that also holds the exceptions
        self.complement = complement
        #: ``CustomBondForce`` for exception pairs (``None`` if the System has none, or with
        #: ``real_space="native"``)
        self.exceptions = exceptions
        #: the original ``NonbondedForce``, now Lennard-Jones only; ``None`` if it was removed
        #: from the System: it had no Lennard-Jones terms, or with ``real_space="native"`` the
        #: native force took them over (unless its cutoff differs from the NonbondedForce's)
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


def _long_range_terms(
    weights: list[float], widths: list[float], cutoff: float, max_error: float
) -> tuple[list[tuple[float, float]], list[float]]:
    """The real-space form of g(r) for r <= ``cutoff``: Gaussians plus a polynomial in r^2.

    Per pair in real space, every exp costs: the Gaussians that are smooth on [0, cutoff] (the
    widest first, as many as a polynomial of degree <= 20 in r^2 reproduces within
    ``max_error`` kJ/mol/e^2, slopes within ``max_error``/cutoff) become one polynomial, the
    rest stay exponentials. This is the one place that decides the split; the Lepton
    expression (:func:`_long_range_expression`) and :class:`SOGCoulombRealSpaceForce` both
    evaluate what it returns.

    :return: ``(gaussians, coefficients)``: (weight kJ/mol/e^2, width nm) of the Gaussians kept
        as exponentials, narrowest first, and c_k in kJ/mol/e^2/nm^(2k) of sum_k c_k r^(2k)
        (empty if no Gaussian is folded).
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
    gaussians = [(weights[i], widths[i]) for i in order[:first_wide]]
    return gaussians, (coefficients if wide and coefficients is not None else [])


def _long_range_expression(
    weights: list[float], widths: list[float], cutoff: float, max_error: float
) -> str:
    """Lepton expression of g(r) (kJ/mol/e^2, r in nm) for r <= ``cutoff`` (see
    :func:`_long_range_terms`)."""
    return _terms_expression(*_long_range_terms(weights, widths, cutoff, max_error))


def _terms_expression(gaussians: list[tuple[float, float]], coefficients: list[float]) -> str:
    """Lepton expression of the g(r) that :func:`_long_range_terms` returned."""
    terms = [f"{weight!r}*exp(-(r/{width!r})^2)" for weight, width in gaussians]
    if coefficients:
        horner = repr(coefficients[-1])
        for ck in reversed(coefficients[:-1]):
            horner = f"{ck!r}+r^2*({horner})"
        terms.append(f"({horner})")
    return "(" + "+".join(terms or ["0"]) + ")"


def _smallest_plane_spacing_nm(system: openmm.System) -> float:
    """Smallest distance between opposite faces of the default periodic box, nm."""
    box = [v.value_in_unit(openmm.unit.nanometer) for v in system.getDefaultPeriodicBoxVectors()]
    return min(plane_spacings(torch.tensor(box, dtype=torch.float64)))


def complement_volume_integral(
    prefactor: float, weights: list[float], widths: list[float], cutoff: float
) -> float:
    """Integral of the real-space complement prefactor/r - g(r) over the sphere r < ``cutoff``.

    A lattice sum of a pair function f over all images implicitly contains its k = 0 Fourier
    component Q^2 fhat(0) / (2V); Ewald's convention (a neutralising background) removes it. For
    the Gaussians SOGForce removes it itself; for the complement, summed in real space up to
    the cutoff, fhat(0) is this integral, handed to ``SOGForce.setBackgroundIntegral``.

    :param prefactor: Coulomb constant, energy*length/charge^2 (kJ/mol nm/e^2 in OpenMM).
    :param weights: Gaussian weights of g, energy/charge^2.
    :param widths: Gaussian widths of g, length.
    :param cutoff: real-space cutoff, length.
    :return: energy*length^3/charge^2 (kJ/mol nm^3/e^2 in OpenMM's units).
    """
    gaussians = sum(
        weight * _gaussian_ball_integral(width, cutoff)
        for weight, width in zip(weights, widths, strict=True)
    )
    return 2.0 * math.pi * prefactor * cutoff**2 - gaussians


def _gaussian_ball_integral(width: float, radius: float) -> float:
    """4 pi int_0^radius r^2 exp(-r^2/width^2) dr (length^3), accurate for any width.

    The closed form pi s^3 [sqrt(pi) erf(x) - 2 x exp(-x^2)] (x = radius/width) cancels
    catastrophically for wide Gaussians (x << 1, the widest are 1e8 cutoffs wide), so small x
    uses the series 4 pi radius^3 sum_n (-x^2)^n / (n! (2n + 3)).
    """
    x = radius / width
    if x >= 1.0:
        return math.pi * width**3 * (math.sqrt(math.pi) * math.erf(x) - 2.0 * x * math.exp(-x * x))
    total, term, n = 0.0, 1.0, 0  # term = (-x^2)^n / n!
    while abs(term) > 1e-17 * abs(total) or n == 0:
        total += term / (2 * n + 3)
        n += 1
        term *= -x * x / n
    return 4.0 * math.pi * radius**3 * total


#: Forces whose pair lists OpenMM's GPU platforms share within a force group; all of them must
#: use one cutoff there ("All Forces in a single force group must use the same cutoff").
_CUTOFF_FORCE_TYPES = (
    openmm.NonbondedForce,
    openmm.CustomNonbondedForce,
    openmm.CustomGBForce,
    openmm.CustomHbondForce,
)


def _cutoff_nm(force: openmm.Force) -> float | None:
    """The pair cutoff a force uses on GPU platforms, nm; ``None`` without one."""
    if not isinstance(force, _CUTOFF_FORCE_TYPES):
        return None
    if isinstance(force, openmm.NonbondedForce):
        uses_cutoff = force.getNonbondedMethod() != openmm.NonbondedForce.NoCutoff
    else:
        uses_cutoff = force.getNonbondedMethod() != 0  # NoCutoff is 0 in every Custom*Force
    if not uses_cutoff:
        return None
    return force.getCutoffDistance().value_in_unit(openmm.unit.nanometer)


def _complement_force_group(system: openmm.System, group: int, cutoff: float) -> int:
    """``group`` unless a force there uses another cutoff; then the lowest unused group."""
    clashes = [
        f"{type(force).__name__} ({other:.4g} nm)"
        for force in system.getForces()
        if force.getForceGroup() == group
        and (other := _cutoff_nm(force)) is not None
        and abs(other - cutoff) > 1e-12
    ]
    if not clashes:
        return group
    used = {force.getForceGroup() for force in system.getForces()}
    free = [g for g in range(32) if g not in used]
    if not free:
        raise ValueError(
            f"the SOG complement's cutoff {cutoff:.4g} nm differs from that of "
            f"{', '.join(clashes)} in force group {group}, and no force group is free to hold "
            "it; pass force_group= or use the NonbondedForce's cutoff"
        )
    warnings.warn(
        f"use_sog_coulomb: the real-space complement (cutoff {cutoff:.4g} nm) goes to force "
        f"group {free[0]}: force group {group} holds {', '.join(clashes)}, and OpenMM's GPU "
        "platforms need one cutoff per force group; pass force_group= to choose the group",
        stacklevel=3,
    )
    return free[0]


def _charge_factor(flag: str, parameter: str) -> str:
    """Lepton expression of a particle's charge factor: 1, or ``parameter`` when flagged."""
    return f"(1+{flag}*({parameter}-1))"


def use_sog_coulomb(
    system: openmm.System,
    tolerance: float = 1e-5,
    cutoff: float | None = None,
    *,
    scaled_particles: Sequence[int] | None = None,
    scale_parameter: str = "lambda_electrostatics",
    force_group: int | None = None,
    real_space: str = "custom",
) -> SOGCoulombForces:
    """Replace the PME or Ewald electrostatics of ``system``'s NonbondedForce by SOG Coulomb.

    The energy equals Ewald's to ``tolerance`` for any net charge: both the Gaussians' and the
    real-space complement's share of the neutralising background are removed.

    :param system: an ``openmm.System`` with one ``NonbondedForce`` using ``PME`` or ``Ewald``;
        modified in place.
    :param tolerance: relative accuracy of the SOG split and of the NUFFT (``SOGForce``).
    :param cutoff: real-space cutoff in nm; the NonbondedForce's cutoff by default.
    :param scaled_particles: particles whose charges the global parameter ``scale_parameter``
        multiplies (alchemical decoupling of electrostatics); ``None`` adds no parameter. The
        parameter (default 1) scales those charges consistently in the k-space Gaussians, the
        real-space complement, the exception pairs and the net-charge background, exactly as a
        NonbondedForce with scaled charges would (PME), and ``dU/dlambda`` is reported by
        ``State.getEnergyParameterDerivatives()``.
    :param scale_parameter: name of that global parameter (dimensionless).
    :param force_group: force group of the real-space complement; by default the
        NonbondedForce's, or the lowest unused group when a force there uses another cutoff
        (OpenMM's GPU platforms need one cutoff per force group; a warning says so).
    :param real_space: how the real-space complement and the exceptions are evaluated:
        ``"custom"`` (a ``CustomNonbondedForce`` and a ``CustomBondForce``) or ``"native"`` (one
        :class:`SOGCoulombRealSpaceForce`, several times faster on the CPU platform; on OpenCL
        and CUDA a term of OpenMM's nonbonded kernel, exact in double precision where the
        Custom forces round their parameters to float). Both work on every platform.
        The native force also computes the NonbondedForce's Lennard-Jones (same particles,
        exceptions, switching function and dispersion correction) in the same pair pass, and the
        NonbondedForce is removed; if ``cutoff`` differs from the NonbondedForce's cutoff,
        Lennard-Jones stays in the NonbondedForce at its own cutoff instead.
    :return: the forces that now carry the electrostatics.
    """
    from .plugin import SOGCoulombRealSpaceForce, SOGForce

    if real_space not in ("custom", "native"):
        raise ValueError(f"real_space must be 'custom' or 'native', got {real_space!r}")
    nonbonded = [
        i for i, f in enumerate(system.getForces()) if isinstance(f, openmm.NonbondedForce)
    ]
    if len(nonbonded) != 1:
        raise ValueError(
            f"expected exactly one NonbondedForce in the System, found {len(nonbonded)}"
        )
    nb_index = nonbonded[0]
    nb = system.getForce(nb_index)
    nb_cutoff = nb.getCutoffDistance().value_in_unit(openmm.unit.nanometer)
    if nb.getNonbondedMethod() not in (openmm.NonbondedForce.PME, openmm.NonbondedForce.Ewald):
        raise ValueError(
            "use_sog_coulomb needs a periodic NonbondedForce with the PME or Ewald method, got "
            f"method {nb.getNonbondedMethod()}"
        )
    if nb.getNumParticleParameterOffsets() or nb.getNumExceptionParameterOffsets():
        raise ValueError(
            "NonbondedForce parameter offsets are not supported; scale charges with "
            "use_sog_coulomb(..., scaled_particles=[...], scale_parameter='lambda_electrostatics')"
        )
    cutoff = nb_cutoff if cutoff is None else cutoff
    if not (math.isfinite(cutoff) and cutoff > 0.0):
        raise ValueError(f"cutoff must be a finite number > 0 nm, got {cutoff}")
    spacing = _smallest_plane_spacing_nm(system)
    if 2.0 * cutoff > spacing:
        raise ValueError(
            f"the periodic box (smallest plane spacing {spacing:.4g} nm) is smaller than twice the "
            f"real-space cutoff {cutoff:.4g} nm that SOG Coulomb needs; use a larger box or a "
            "smaller cutoff"
        )
    num_particles = nb.getNumParticles()
    scaled = _scaled_flags(scaled_particles, num_particles, scale_parameter, system)
    if force_group is not None and not 0 <= force_group <= 31:
        raise ValueError(f"force_group must lie in 0..31, got {force_group}")
    # The native force computes Lennard-Jones at its own cutoff: it takes it over only when that
    # is the NonbondedForce's.
    native_lennard_jones = real_space == "native" and cutoff == nb_cutoff

    prefactor = COULOMB_KJ_PER_MOL_NM_PER_E2
    weights, widths = coulomb_sog_parameters(prefactor, cutoff, 0.1 * tolerance)
    max_error = _POLYNOMIAL_ERROR_FRACTION * tolerance * prefactor / cutoff
    gaussians, coefficients = _long_range_terms(weights, widths, cutoff, max_error)
    long_range = _terms_expression(gaussians, coefficients)

    sog = SOGForce()
    for w, s in zip(weights, widths, strict=True):
        sog.addGaussian(w, s)
    sog.setTolerance(tolerance)
    sog.setBackgroundIntegral(complement_volume_integral(prefactor, weights, widths, cutoff))

    pair = f"{prefactor!r}/r-{long_range}"
    if real_space == "native":
        complement = SOGCoulombRealSpaceForce()
        for weight, width in gaussians:
            complement.addGaussian(weight, width)
        complement.setPolynomialCoefficients(coefficients)
        complement.setCoulombPrefactor(prefactor)
        complement.setCutoffDistance(cutoff)
        if scaled is not None:
            complement.setChargeScaleParameterName(scale_parameter)
            complement.addEnergyParameterDerivative(scale_parameter)
        if native_lennard_jones:
            complement.setUseSwitchingFunction(nb.getUseSwitchingFunction())
            complement.setSwitchingDistance(
                nb.getSwitchingDistance().value_in_unit(openmm.unit.nanometer)
            )
            complement.setUseDispersionCorrection(nb.getUseDispersionCorrection())
    elif scaled is None:
        complement = openmm.CustomNonbondedForce(f"q1*q2*({pair})")
    else:
        factors = f"{_charge_factor('s1', scale_parameter)}*{_charge_factor('s2', scale_parameter)}"
        complement = openmm.CustomNonbondedForce(f"{factors}*q1*q2*({pair})")
        complement.addGlobalParameter(scale_parameter, 1.0)
        complement.addEnergyParameterDerivative(scale_parameter)
    if real_space == "custom":
        complement.addPerParticleParameter("q")
        if scaled is not None:
            complement.addPerParticleParameter("s")
        complement.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffPeriodic)
        complement.setCutoffDistance(cutoff)
        complement.setUseSwitchingFunction(False)
        complement.setUseLongRangeCorrection(False)
    complement.setName("SOGCoulombComplement")

    # Validate every charge before the System is touched, so that an error leaves it intact.
    parameters = [nb.getParticleParameters(i) for i in range(num_particles)]
    charges = [q.value_in_unit(openmm.unit.elementary_charge) for q, _, _ in parameters]
    for i, q in enumerate(charges):
        if not math.isfinite(q):
            raise ValueError(f"particle {i} has a non-finite charge {q}")
    zero_epsilon = 0.0 * openmm.unit.kilojoule_per_mole
    has_lennard_jones = any(epsilon != zero_epsilon for _, _, epsilon in parameters)
    for i, (q, (_, sigma, epsilon)) in enumerate(zip(charges, parameters, strict=True)):
        sog.addParticle([q])
        if native_lennard_jones:
            complement.addParticle(
                q,
                sigma.value_in_unit(openmm.unit.nanometer),
                epsilon.value_in_unit(openmm.unit.kilojoule_per_mole),
                scaled is not None and scaled[i],
            )
        elif real_space == "native":
            complement.addParticle(q, scaled is not None and scaled[i])
        else:
            complement.addParticle([q] if scaled is None else [q, float(scaled[i])])
        nb.setParticleParameters(i, 0.0, sigma, epsilon)
    if scaled is not None:
        sog.setChargeScaleParameterName(scale_parameter)
        sog.setScaledParticles([i for i in range(num_particles) if scaled[i]])
        sog.addEnergyParameterDerivative(scale_parameter)

    exceptions = None
    if real_space == "native":
        for k in range(nb.getNumExceptions()):
            i, j, charge_prod, sigma, epsilon = nb.getExceptionParameters(k)
            charge_prod = charge_prod.value_in_unit(openmm.unit.elementary_charge**2)
            if native_lennard_jones:
                complement.addException(
                    i,
                    j,
                    charge_prod,
                    sigma.value_in_unit(openmm.unit.nanometer),
                    epsilon.value_in_unit(openmm.unit.kilojoule_per_mole),
                )
            else:
                complement.addException(i, j, charge_prod)
            nb.setExceptionParameters(k, i, j, 0.0, sigma, epsilon)
            has_lennard_jones = has_lennard_jones or epsilon != zero_epsilon
    elif nb.getNumExceptions():
        if scaled is None:
            exceptions = openmm.CustomBondForce(f"chargeProd*{prefactor!r}/r-qq*{long_range}")
        else:
            factors = (
                f"{_charge_factor('s1', scale_parameter)}*{_charge_factor('s2', scale_parameter)}"
            )
            exceptions = openmm.CustomBondForce(
                f"{factors}*(chargeProd*{prefactor!r}/r-qq*{long_range})"
            )
            exceptions.addGlobalParameter(scale_parameter, 1.0)
            exceptions.addEnergyParameterDerivative(scale_parameter)
        exceptions.addPerBondParameter("chargeProd")
        exceptions.addPerBondParameter("qq")
        if scaled is not None:
            exceptions.addPerBondParameter("s1")
            exceptions.addPerBondParameter("s2")
        exceptions.setUsesPeriodicBoundaryConditions(True)
        exceptions.setName("SOGCoulombExceptions")
        for k in range(nb.getNumExceptions()):
            i, j, charge_prod, sigma, epsilon = nb.getExceptionParameters(k)
            charge_prod = charge_prod.value_in_unit(openmm.unit.elementary_charge**2)
            bond = [charge_prod, charges[i] * charges[j]]
            if scaled is not None:
                bond += [float(scaled[i]), float(scaled[j])]
            exceptions.addBond(i, j, bond)
            complement.addExclusion(i, j)
            nb.setExceptionParameters(k, i, j, 0.0, sigma, epsilon)
            has_lennard_jones = has_lennard_jones or epsilon != zero_epsilon

    nb.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
    group = nb.getForceGroup()
    if not has_lennard_jones or native_lennard_jones:
        # Nothing is left for it to compute (the native force took Lennard-Jones over), but its
        # pair loop would still run every step.
        system.removeForce(nb_index)
        nb = None
    if force_group is not None:
        complement_group = force_group
    else:
        complement_group = _complement_force_group(system, group, cutoff)
    for force in (sog, complement, exceptions):
        if force is not None:
            force.setForceGroup(complement_group if force is complement else group)
            system.addForce(force)
    return SOGCoulombForces(sog, complement, exceptions, nb)


def _scaled_flags(
    scaled_particles: Sequence[int] | None,
    num_particles: int,
    scale_parameter: str,
    system: openmm.System,
) -> list[bool] | None:
    """Per-particle flags of the charge-scaled particles (``None``: no scaling requested)."""
    if scaled_particles is None:
        return None
    if not scale_parameter or not isinstance(scale_parameter, str):
        raise ValueError(f"scale_parameter must be a non-empty name, got {scale_parameter!r}")
    flags = [False] * num_particles
    for index in scaled_particles:
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise ValueError(f"scaled_particles must hold particle indices, got {index!r}")
        if not 0 <= index < num_particles:
            raise ValueError(
                f"scaled particle {index} is out of range: the NonbondedForce has "
                f"{num_particles} particles"
            )
        flags[int(index)] = True
    for force in system.getForces():
        for k in range(getattr(force, "getNumGlobalParameters", lambda: 0)()):
            if force.getGlobalParameterName(k) == scale_parameter:
                default = force.getGlobalParameterDefaultValue(k)
                if default != 1.0:
                    raise ValueError(
                        f"{type(force).__name__} already defines the global parameter "
                        f"{scale_parameter!r} with default {default}; SOG Coulomb needs "
                        "default 1 (full charges) or another scale_parameter name"
                    )
    return flags
