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
