"""Alchemical free energy with SOG-Net: decouple one ion's learned long-range charge (TI).

The shipped molten-NaCl SOG-Net (models/electrolyte_sognet.pt) runs as a native
``TorchSOGForce`` whose global parameter ``lambda_q`` multiplies the latent charge of one Na+ in
the model's long-range energy (its short-range energy is untouched): lambda_q = 1 is the model,
lambda_q = 0 the ion with its learned electrostatics switched off. The force reports the exact
dU/dlambda_q (``addEnergyParameterDerivative``), so thermodynamic integration needs no finite
differences:

    Delta G(0 -> 1) = integral_0^1 <dU/dlambda_q>_lambda dlambda_q

with Gauss-Legendre quadrature over the lambda windows, each window an NVT Langevin run at
1300 K, and an error estimate from block averages (the standard error of every window's mean,
combined with the quadrature weights). The script

1. melts the box with the classical force field the model was trained on (PME + LJ),
2. checks the quadrature at the starting configuration, where U(lambda) is exactly quadratic
   (the latent charges do not depend on lambda): sum_i w_i dU/dlambda(lambda_i) must equal
   U(1) - U(0) to the round-off of the float32 model (1e-5 relative; a float64 model meets
   1e-9, tests/model/test_torch_sog_force_regions_and_parameters.py),
3. runs the windows and integrates, printing Delta G with its standard error.

Run: ``python3 examples/alchemical_ti.py [--ions 128] [--windows 5] [--steps 2000]``
(units: nm, ps, kJ/mol).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import openmm

from openmm_sog.openmm_model import create_sognet_force
from openmm_sog.systems import molten_nacl
from openmm_sog.training.export import export_model
from openmm_sog.training.model_io import load_model

KJ = openmm.unit.kilojoule_per_mole
SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "models" / "electrolyte_sognet.pt"
TEMPERATURE_K = 1300.0
FRICTION_PER_PS = 5.0
STEP_PS = 0.002
PARAMETER = "lambda_q"


def block_standard_error(values: np.ndarray, blocks: int = 5) -> float:
    """Standard error of the mean of correlated samples from ``blocks`` block means."""
    usable = len(values) - len(values) % blocks
    if usable < blocks:
        return float("nan")
    means = values[:usable].reshape(blocks, -1).mean(axis=1)
    return float(means.std(ddof=1) / np.sqrt(blocks))


def energy_and_slope(context: openmm.Context) -> tuple[float, float]:
    """U (kJ/mol) and dU/dlambda_q (kJ/mol) of the current state."""
    state = context.getState(getEnergy=True, getParameterDerivatives=True)
    slope = state.getEnergyParameterDerivatives()[PARAMETER]
    return state.getPotentialEnergy().value_in_unit(KJ), float(slope)


def melted_box(num_ions: int, steps: int, platform: openmm.Platform):
    """Positions (nm) of a melt equilibrated with PME + LJ, the masses and the species."""
    system, positions, species = molten_nacl(num_ions, seed=11, ewald_error_tolerance=1e-5)
    context = openmm.Context(
        system,
        openmm.LangevinMiddleIntegrator(TEMPERATURE_K, FRICTION_PER_PS, STEP_PS),
        platform,
    )
    context.setPositions(positions)
    openmm.LocalEnergyMinimizer.minimize(context, 10.0, 200)
    context.setVelocitiesToTemperature(TEMPERATURE_K, 11)
    context.getIntegrator().step(steps)
    state = context.getState(getPositions=True)
    return system, state.getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer), species


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ions", type=int, default=128, help="ions in the box (even)")
    parser.add_argument("--windows", type=int, default=5, help="Gauss-Legendre lambda windows")
    parser.add_argument("--melt-steps", type=int, default=1000, help="PME + LJ steps first")
    parser.add_argument("--equilibration", type=int, default=200, help="steps per window first")
    parser.add_argument("--steps", type=int, default=2000, help="sampled steps per window")
    parser.add_argument("--interval", type=int, default=10, help="steps between samples")
    parser.add_argument("--platform", default="CPU", help="OpenMM platform name")
    args = parser.parse_args(argv)
    if args.windows < 2:
        parser.error("--windows must be at least 2")
    if args.steps < 5 * args.interval:
        parser.error("--steps must hold at least 5 samples (5 x --interval)")
    platform = openmm.Platform.getPlatformByName(args.platform)

    print(f"1. melting {args.ions} ions with PME + Lennard-Jones ({TEMPERATURE_K:.0f} K)")
    classical, positions, species = melted_box(args.ions, args.melt_steps, platform)
    ion = species.index("Na")
    numbers = [11 if name == "Na" else 17 for name in species]
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*classical.getDefaultPeriodicBoxVectors())
    for i in range(args.ions):
        system.addParticle(classical.getParticleMass(i))
    with tempfile.TemporaryDirectory() as folder:
        exported = Path(folder) / "electrolyte_sognet_export.pt"
        export_model(load_model(SHIPPED_MODEL), exported)
        force = create_sognet_force(
            exported,
            numbers,
            implementation="native",
            charge_scale_parameter=PARAMETER,
            charge_scaled_particles=[ion],
        )
    force.addEnergyParameterDerivative(PARAMETER)
    system.addForce(force)
    integrator = openmm.LangevinMiddleIntegrator(TEMPERATURE_K, FRICTION_PER_PS, STEP_PS)
    integrator.setRandomNumberSeed(11)
    context = openmm.Context(system, integrator, platform)
    context.setPositions(positions)
    context.setVelocitiesToTemperature(TEMPERATURE_K, 11)
    print(f"   SOG-Net TorchSOGForce on {args.platform}; {PARAMETER} scales ion {ion} (Na)")

    nodes, weights = np.polynomial.legendre.leggauss(args.windows)
    lambdas, weights = 0.5 * (nodes + 1.0), 0.5 * weights  # on [0, 1]
    end_energies = []
    for value in (0.0, 1.0):
        context.setParameter(PARAMETER, value)
        end_energies.append(energy_and_slope(context)[0])
    slopes = []
    for value in lambdas:
        context.setParameter(PARAMETER, value)
        slopes.append(energy_and_slope(context)[1])
    quadrature = float(np.dot(weights, slopes))
    exact = end_energies[1] - end_energies[0]
    print(
        "2. quadrature at the start: sum w_i dU/dlambda = "
        f"{quadrature:.9f} kJ/mol, U(1) - U(0) = {exact:.9f} kJ/mol "
        f"(difference {abs(quadrature - exact):.1e})"
    )
    if not abs(quadrature - exact) <= 1e-5 * max(1.0, abs(exact)):
        raise RuntimeError("dU/dlambda does not integrate to the energy difference")

    print(
        f"3. {args.windows} windows: {args.equilibration} + {args.steps} steps of "
        f"{STEP_PS * 1000:g} fs each, dU/dlambda every {args.interval} steps"
    )
    means, errors = [], []
    start = time.perf_counter()
    for value in lambdas:
        context.setParameter(PARAMETER, value)
        integrator.step(args.equilibration)
        samples = []
        for _ in range(args.steps // args.interval):
            integrator.step(args.interval)
            samples.append(energy_and_slope(context)[1])
        samples = np.array(samples)
        if not np.isfinite(samples).all():
            raise RuntimeError(f"non-finite dU/dlambda in the window at lambda = {value:.4f}")
        means.append(samples.mean())
        errors.append(block_standard_error(samples))
        print(
            f"   lambda_q = {value:.4f}: <dU/dlambda> = {means[-1]:9.3f} "
            f"+- {errors[-1]:.3f} kJ/mol ({len(samples)} samples)"
        )
    elapsed = time.perf_counter() - start
    delta_g = float(np.dot(weights, means))
    error = float(np.sqrt(np.dot(weights**2, np.square(errors))))
    simulated_ns = args.windows * (args.equilibration + args.steps) * STEP_PS * 1e-3
    print(
        f"   {simulated_ns * 1000:.0f} ps in {elapsed:.1f} s "
        f"({simulated_ns / elapsed * 86400.0:.2f} ns/day)"
    )
    print(
        f"Delta G (couple the Na+ learned long-range charge, lambda_q 0 -> 1) = "
        f"{delta_g:.2f} +- {error:.2f} kJ/mol"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
