"""SOGForce against the torch layer (oracle 5) and SOG Coulomb against OpenMM PME (oracle 3)."""

import numpy as np
import pytest
import torch

openmm = pytest.importorskip("openmm")
unit = openmm.unit
try:
    from openmm_sog import SOGForce, SOGKernel, SOGLongRange, units, use_sog_coulomb
except ImportError as error:
    pytest.skip(f"the openmm_sog native plugin is not built: {error}", allow_module_level=True)
from openmm_sog.systems import molten_nacl  # noqa: E402

KJ_NM = unit.kilojoule_per_mole / unit.nanometer


def _platforms():
    names = [
        openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())
    ]
    return [n for n in ("Reference", "CPU", "OpenCL", "CUDA") if n in names]


def _context(system, platform_name, positions):
    platform = openmm.Platform.getPlatformByName(platform_name)
    properties = {"Precision": "double"} if platform_name in ("OpenCL", "CUDA") else {}
    context = openmm.Context(system, openmm.VerletIntegrator(1e-3), platform, properties)
    context.setPositions(positions)
    return context


def _energy_forces(context, groups=-1):
    state = context.getState(getEnergy=True, getForces=True, groups=groups)
    return (
        state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
        state.getForces(asNumpy=True).value_in_unit(KJ_NM),
    )


@pytest.mark.parametrize("platform_name", _platforms())
def test_from_kernel_matches_torch_layer(platform_name):
    """Same kernel, same charges: the native force and SOGLongRange agree to 1e-6 (double)."""
    gen = torch.Generator().manual_seed(5)
    kernel = SOGKernel(
        torch.tensor([[0.8, -0.3, 0.2], [0.4, 0.6, -0.1]], dtype=torch.float64),
        torch.tensor([[2.5, 4.0, 6.0], [3.0, 5.0, 7.0]], dtype=torch.float64),
    )  # eV/e^2, Angstrom
    box_nm = np.array([[2.4, 0.0, 0.0], [0.7, 2.2, 0.0], [-1.1, 0.9, 2.3]])  # reduced form
    n = 150
    frac = torch.rand(n, 3, generator=gen, dtype=torch.float64).numpy()
    positions_nm = frac @ box_nm
    charges = torch.randn(n, 2, generator=gen, dtype=torch.float64)

    force = SOGForce.fromKernel(kernel, tolerance=1e-8)
    assert force.getNumChannels() == 2 and force.getNumGaussians() == 6
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box_nm))
    for q in charges.tolist():
        system.addParticle(1.0)
        force.addParticle(q)
    system.addForce(force)
    energy, forces = _energy_forces(_context(system, platform_name, positions_nm))

    layer = SOGLongRange(kernel, tolerance=1e-8)
    pos = torch.tensor(positions_nm / units.NM_PER_ANGSTROM, requires_grad=True)
    cell = torch.tensor(box_nm / units.NM_PER_ANGSTROM)
    e_torch = layer(pos, charges, cell)[0]
    (grad,) = torch.autograd.grad(e_torch, pos)
    e_ref = float(e_torch.detach()) * units.KJ_PER_MOL_PER_EV
    f_ref = -grad.numpy() * units.KJ_PER_MOL_PER_EV / units.NM_PER_ANGSTROM
    assert abs(energy - e_ref) <= 1e-6 * abs(e_ref)
    assert np.linalg.norm(forces - f_ref) <= 1e-6 * np.linalg.norm(f_ref)


def test_sog_coulomb_matches_pme_on_nacl_melt():
    """1,000-ion melt: SOG Coulomb (tolerance 1e-7) vs PME (1e-7), Reference, double."""
    system, positions, _ = molten_nacl(1000, seed=11, ewald_error_tolerance=1e-7)
    _, ref_forces = _energy_forces(_context(system, "Reference", positions))
    ref_energy, _ = _energy_forces(_context(system, "Reference", positions))
    sog_system, _, _ = molten_nacl(1000, seed=11)
    use_sog_coulomb(sog_system, tolerance=1e-7)
    for platform_name in _platforms():
        energy, forces = _energy_forces(_context(sog_system, platform_name, positions))
        force_error = np.linalg.norm(forces - ref_forces) / np.linalg.norm(ref_forces)
        assert force_error <= 1e-5, f"{platform_name}: relative force RMS error {force_error:.1e}"
        assert abs(energy - ref_energy) <= 1e-5 * abs(ref_energy)


def _molecular_system(method):
    """Charged 'molecules' (4-site chains) with excluded 1-2/1-3 pairs and scaled 1-4 pairs."""
    rng = np.random.default_rng(3)
    box = 2.6
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*(box * np.eye(3)[d])) for d in range(3)))
    nb = openmm.NonbondedForce()
    nb.setNonbondedMethod(method)
    nb.setCutoffDistance(0.9)
    nb.setEwaldErrorTolerance(1e-7)
    positions = []
    charges = [0.4, -0.7, 0.5, -0.2]
    for m in range(60):
        start = rng.uniform(0, box, 3)
        direction = rng.normal(size=3)
        for k in range(4):
            system.addParticle(12.0)
            nb.addParticle(charges[k] * (1 if m % 2 else -1), 0.3, 0.5)
            positions.append(
                start
                + 0.15 * k * direction / np.linalg.norm(direction)
                + rng.normal(scale=0.02, size=3)
            )
        base = 4 * m
        bonds = [(base + k, base + k + 1) for k in range(3)]
        nb.createExceptionsFromBonds(bonds, 0.8333, 0.5)
    system.addForce(nb)
    return system, np.array(positions)


def test_use_sog_coulomb_handles_exclusions_and_14_exceptions():
    system, positions = _molecular_system(openmm.NonbondedForce.PME)
    ref_energy, ref_forces = _energy_forces(_context(system, "Reference", positions))
    sog_system, _ = _molecular_system(openmm.NonbondedForce.PME)
    forces = use_sog_coulomb(sog_system, tolerance=1e-7)
    assert forces.exceptions is not None and forces.exceptions.getNumBonds() == 60 * 6
    energy, sog_forces = _energy_forces(_context(sog_system, "Reference", positions))
    error = np.linalg.norm(sog_forces - ref_forces) / np.linalg.norm(ref_forces)
    assert error <= 1e-5, f"relative force RMS error {error:.1e}"
    assert abs(energy - ref_energy) <= 1e-5 * abs(ref_energy)


def test_use_sog_coulomb_rejects_non_pme_systems():
    system, _ = _molecular_system(openmm.NonbondedForce.CutoffPeriodic)
    with pytest.raises(ValueError, match="PME or Ewald"):
        use_sog_coulomb(system)
    with pytest.raises(ValueError, match="exactly one NonbondedForce"):
        use_sog_coulomb(openmm.System())


def test_use_sog_coulomb_rejects_a_box_smaller_than_twice_the_cutoff():
    system, _ = _molecular_system(openmm.NonbondedForce.PME)  # 2.6 nm box
    with pytest.raises(ValueError, match="smaller than twice the real-space cutoff 1.4 nm"):
        use_sog_coulomb(system, cutoff=1.4)


@pytest.mark.parametrize("tolerance", [3e-3, 1e-5, 1e-7])
@pytest.mark.parametrize("cutoff", [0.8, 1.2])
def test_real_space_expression_matches_gaussian_sum(tolerance, cutoff):
    """The complement's g(r) (exponentials + one polynomial) against the plain Gaussian sum."""
    from openmm_sog.coulomb import _long_range_expression
    from openmm_sog.kernel import coulomb_sog_parameters

    prefactor = units.COULOMB_KJ_PER_MOL_NM_PER_E2
    weights, widths = coulomb_sog_parameters(prefactor, cutoff, 0.1 * tolerance)
    max_error = 0.01 * tolerance * prefactor / cutoff
    expression = _long_range_expression(weights, widths, cutoff, max_error)
    assert expression.count("exp") < len(weights) / 3  # the reason for the polynomial
    r = np.linspace(0.0, cutoff, 997)
    evaluate = eval(f"lambda r: {expression.replace('^', '**')}", {"exp": np.exp})  # noqa: S307
    exact = np.exp(-((r[:, None] / np.asarray(widths)) ** 2)) @ np.asarray(weights)
    assert np.max(np.abs(evaluate(r) - exact)) <= max_error


def test_nonbonded_force_without_lennard_jones_is_removed():
    """Molten NaCl with LJ in its own force: the emptied NonbondedForce leaves the System."""
    system, positions, _ = molten_nacl(
        1000, seed=5, ewald_error_tolerance=1e-7, coulomb_cutoff_nm=0.9
    )
    ref_energy, ref_forces = _energy_forces(_context(system, "Reference", positions))
    sog_system, _, _ = molten_nacl(1000, seed=5, coulomb_cutoff_nm=0.9)
    forces = use_sog_coulomb(sog_system, tolerance=1e-7)
    assert forces.nonbonded is None
    assert not any(isinstance(f, openmm.NonbondedForce) for f in sog_system.getForces())
    energy, sog_forces = _energy_forces(_context(sog_system, "Reference", positions))
    error = np.linalg.norm(sog_forces - ref_forces) / np.linalg.norm(ref_forces)
    assert error <= 1e-5, f"relative force RMS error {error:.1e}"
    assert abs(energy - ref_energy) <= 1e-5 * abs(ref_energy)
