"""The device engine's evaluation without forces (CommonSOGEngine).

OpenMM asks for energy without forces from barostats and CustomIntegrators. The device engine
then skips the potential (no inverse FFT, no gathering) and only sums the energy on the half
spectrum of its real-to-complex FFT, so that path is checked here against the energy of a full
evaluation and against the direct lattice sum (oracle of test_sogforce.py), with one channel
(the gathering reads the FFT's output itself) and two (the potentials are collected).
"""

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
        context = openmm.Context(
            system, openmm.VerletIntegrator(0.001), platform, {"Precision": "double"}
        )
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
