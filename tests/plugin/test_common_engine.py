"""The device engine's evaluation without forces (CommonSOGEngine).

OpenMM asks for energy without forces from barostats and CustomIntegrators. The device engine
then skips the potential (no inverse FFT, no gathering) and only sums the energy on the half
spectrum of its real-to-complex FFT, so that path is checked here against the energy of a full
evaluation and against the direct lattice sum (oracle of test_sogforce.py), with one channel
(the gathering reads the FFT's output itself) and two (the potentials are collected).
"""

import numpy as np
import pytest

# test_sogforce skips its importers when the native plugin is not built.
from test_sogforce import (
    TRICLINIC_BOX,
    _platforms,
    assert_energy,
    direct_lattice_sum,
    make_system,
)

openmm = pytest.importorskip("openmm")

KJ = openmm.unit.kilojoule_per_mole


def _cases():
    cases = [(name, "double") for name in _platforms()]
    cases += [
        (name, p)
        for name in ("OpenCL", "CUDA")
        if name in _platforms()
        for p in ("single", "mixed")
    ]
    return cases


@pytest.mark.parametrize("num_channels", [1, 2])
@pytest.mark.parametrize("platform_name,precision", _cases())
def test_energy_without_forces(platform_name, precision, num_channels):
    system, _, positions, charges, gaussians = make_system(
        20, num_channels, TRICLINIC_BOX, neutral=False
    )
    integrator = openmm.CustomIntegrator(0.001)
    integrator.addGlobalVariable("e", 0.0)
    integrator.addComputeGlobal("e", "energy")  # energy only: calcForcesAndEnergy(false, true)
    platform = openmm.Platform.getPlatformByName(platform_name)
    properties = {"Precision": precision} if "Precision" in platform.getPropertyNames() else {}
    try:
        context = openmm.Context(system, integrator, platform, properties)
    except openmm.OpenMMException as error:
        pytest.skip(f"SOGForce is not available on {platform_name}: {error}")
    context.setPositions(positions)
    integrator.step(1)
    energy_only = integrator.getGlobalVariableByName("e")
    full = context.getState(getEnergy=True, getForces=True).getPotentialEnergy().value_in_unit(KJ)
    expected, _ = direct_lattice_sum(positions, TRICLINIC_BOX, charges, gaussians)
    assert_energy(energy_only, expected, charges, gaussians, precision)
    # The same terms in the same order: equal up to the order of the device's energy sums.
    assert abs(energy_only - full) <= 1e-12 * max(1.0, abs(full)) or precision != "double"
    assert_energy(energy_only, full, charges, gaussians, precision)
    del context


@pytest.mark.parametrize("platform_name", [p for p in ("OpenCL", "CUDA") if p in _platforms()])
def test_atom_order_does_not_change_the_result(platform_name, monkeypatch):
    """Spreading and gathering visit the atoms sorted by grid cell; OPENMM_SOG_SPREAD_ORDER=
    context (for benchmarks) keeps the context's order. Spreading accumulates in fixed point,
    so the grid, and with it every force, is the same in either order; the energy differs at
    most in the order of the device's per-thread energy sums. A bad value is named."""
    system, _, positions, charges, gaussians = make_system(60, 2, TRICLINIC_BOX, neutral=False)
    platform = openmm.Platform.getPlatformByName(platform_name)
    results = {}
    for order in ("cell", "context"):
        monkeypatch.setenv("OPENMM_SOG_SPREAD_ORDER", order)
        try:
            context = openmm.Context(
                system, openmm.VerletIntegrator(0.001), platform, {"Precision": "double"}
            )
        except openmm.OpenMMException as error:
            pytest.skip(f"SOGForce is not available on {platform_name}: {error}")
        context.setPositions(positions)
        state = context.getState(getEnergy=True, getForces=True)
        results[order] = (
            state.getPotentialEnergy().value_in_unit(KJ),
            state.getForces(asNumpy=True).value_in_unit(KJ / openmm.unit.nanometer),
        )
        del context
    (e_cell, f_cell), (e_context, f_context) = results["cell"], results["context"]
    assert abs(e_cell - e_context) <= 1e-12 * abs(e_cell)
    assert (f_cell == f_context).all()
    expected, _ = direct_lattice_sum(positions, TRICLINIC_BOX, charges, gaussians)
    assert_energy(e_cell, expected, charges, gaussians, "double")

    monkeypatch.setenv("OPENMM_SOG_SPREAD_ORDER", "random")
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), platform)
    context.setPositions(positions)
    with pytest.raises(openmm.OpenMMException, match="OPENMM_SOG_SPREAD_ORDER must be"):
        context.getState(getForces=True)


@pytest.mark.parametrize("platform_name", [p for p in ("OpenCL", "CUDA") if p in _platforms()])
@pytest.mark.parametrize("precision", ["single", "mixed", "double"])
def test_own_queue_gives_the_context_queue_result(platform_name, precision, monkeypatch):
    """SOGForce's k-space part runs on a queue of its own, beside the other forces (as OpenMM
    runs PME's); OPENMM_SOG_KSPACE_QUEUE=context keeps it on the context's queue. The forces of
    both meet in the fixed-point force buffer (atomics on the own queue), so they are bitwise
    equal either way, with another force writing the same atoms at the same time; force groups
    still select what is computed; a bad value is named."""
    system, force, positions, charges, gaussians = make_system(60, 2, TRICLINIC_BOX, neutral=False)
    force.setForceGroup(1)
    pull = openmm.CustomExternalForce("k*(x^2 + 2*y^2 + 3*z^2)")
    pull.addGlobalParameter("k", 7.0)
    for i in range(system.getNumParticles()):
        pull.addParticle(i, [])
    system.addForce(pull)  # group 0
    platform = openmm.Platform.getPlatformByName(platform_name)
    properties = {"Precision": precision}
    if platform_name == "CUDA":
        # float spreading (CUDA, one channel) sums in thread order; fixed point does not
        properties["DeterministicForces"] = "true"
    results = {}
    for queue in ("own", "context"):
        monkeypatch.setenv("OPENMM_SOG_KSPACE_QUEUE", queue)
        try:
            context = openmm.Context(system, openmm.VerletIntegrator(0.001), platform, properties)
        except openmm.OpenMMException as error:
            pytest.skip(f"SOGForce is not available on {platform_name}: {error}")
        context.setPositions(positions)
        states = [context.getState(getEnergy=True, getForces=True, groups=g) for g in (3, 1, 2)]
        # a few MD steps, so the queues also meet across steps and the atoms get reordered
        context.getIntegrator().step(5)
        states.append(context.getState(getEnergy=True, getForces=True, getPositions=True))
        results[queue] = [
            (
                s.getPotentialEnergy().value_in_unit(KJ),
                s.getForces(asNumpy=True).value_in_unit(KJ / openmm.unit.nanometer),
            )
            for s in states
        ]
        del context
    for (e_own, f_own), (e_context, f_context) in zip(
        results["own"], results["context"], strict=True
    ):
        assert (f_own == f_context).all()
        assert abs(e_own - e_context) <= 1e-12 * max(1.0, abs(e_context)) or precision != "double"
        assert abs(e_own - e_context) <= 1e-5 * max(1.0, abs(e_context))
    (e_all, f_all), (e_pull, f_pull), (e_sog, f_sog) = results["own"][:3]
    expected, _ = direct_lattice_sum(positions, TRICLINIC_BOX, charges, gaussians)
    assert_energy(e_sog, expected, charges, gaussians, precision)
    assert abs(e_all - e_pull - e_sog) <= 1e-5 * max(1.0, abs(e_all))
    assert abs(f_all - f_pull - f_sog).max() <= 1e-4 * max(1.0, abs(f_all).max())
    assert abs(f_sog).max() > 0 and abs(f_pull).max() > 0

    monkeypatch.setenv("OPENMM_SOG_KSPACE_QUEUE", "both")
    with pytest.raises(openmm.OpenMMException, match="OPENMM_SOG_KSPACE_QUEUE must be"):
        openmm.Context(system, openmm.VerletIntegrator(0.001), platform)


@pytest.mark.parametrize("platform_name", [p for p in ("OpenCL", "CUDA") if p in _platforms()])
@pytest.mark.parametrize("precision", ["single", "double"])
@pytest.mark.parametrize("alchemical", [False, True], ids=["plain", "dU/dlambda"])
def test_grid_order_sorted_only_every_few_evaluations(platform_name, precision, alchemical):
    """The atoms' grid-cell order is sorted again only every few evaluations (and after OpenMM
    reorders its atoms): in between, atoms that moved several grid cells are visited in a stale
    order. Any order spreads the same fixed-point grid, and no sum over atoms may follow the
    order, so forces, energy and dU/dlambda after a few fast steps are bitwise those of a fresh
    Context at the same positions, which sorts them anew (what a reloaded checkpoint needs)."""
    system, force, positions, charges, gaussians = make_system(60, 2, TRICLINIC_BOX, neutral=False)
    if alchemical:
        force.setChargeScaleParameterName("lambda_q")
        force.setChargeScaleDefaultValue(0.7)
        force.setScaledParticles(list(range(0, 60, 3)))
        force.addEnergyParameterDerivative("lambda_q")
        charges = charges.copy()
        charges[0::3] *= 0.7
    platform = openmm.Platform.getPlatformByName(platform_name)
    properties = {"Precision": precision}
    if platform_name == "CUDA":
        properties["DeterministicForces"] = "true"  # no float-atomic spreading
    try:
        moving = openmm.Context(system, openmm.VerletIntegrator(0.001), platform, properties)
    except openmm.OpenMMException as error:
        pytest.skip(f"SOGForce is not available on {platform_name}: {error}")
    moving.setPositions(positions)
    rng = np.random.default_rng(3)
    moving.setVelocities(rng.normal(0.0, 40.0, size=positions.shape))  # nm/ps: 0.04 nm a step
    moving.getIntegrator().step(4)
    state = moving.getState(
        getEnergy=True, getForces=True, getPositions=True, getParameterDerivatives=alchemical
    )
    moved = state.getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer)
    assert np.abs(moved - positions).max() > 0.1  # several grid cells
    fresh = openmm.Context(system, openmm.VerletIntegrator(0.001), platform, properties)
    fresh.setPositions(moved)
    expected = fresh.getState(getEnergy=True, getForces=True, getParameterDerivatives=alchemical)
    unit = KJ / openmm.unit.nanometer
    assert (
        state.getForces(asNumpy=True).value_in_unit(unit)
        == expected.getForces(asNumpy=True).value_in_unit(unit)
    ).all()
    energy = state.getPotentialEnergy().value_in_unit(KJ)
    assert energy == expected.getPotentialEnergy().value_in_unit(KJ)
    if alchemical:
        derivative = state.getEnergyParameterDerivatives()["lambda_q"]
        assert derivative == expected.getEnergyParameterDerivatives()["lambda_q"]
        assert derivative != 0.0
    reference, _ = direct_lattice_sum(moved, TRICLINIC_BOX, charges, gaussians)
    assert_energy(energy, reference, charges, gaussians, precision)
