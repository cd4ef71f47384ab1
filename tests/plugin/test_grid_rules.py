"""The C++ engines and the torch layer choose their NUFFT grids by the same rules.

The rules (k-space cutoff from the tolerance and the narrowest width, spreading width, fine
grid size) are written twice: in ``SOGForceImpl`` (C++) and in ``SOGLongRange`` /
``openmm_sog.nufft`` (Python). ``SOGForce.getGridParametersInContext`` shows what a Context
chose; on the Reference and CPU platforms that is the rule's grid for the current box, which
must equal the torch layer's for the same box, kernel and tolerance.
"""

import math

import numpy as np
import pytest
import torch

openmm = pytest.importorskip("openmm")
try:
    from openmm_sog import SOGForce, SOGKernel, SOGLongRange, units
except ImportError as error:
    pytest.skip(f"the openmm_sog native plugin is not built: {error}", allow_module_level=True)


def _platforms():
    names = {
        openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())
    }
    return [n for n in ("Reference", "CPU", "OpenCL", "CUDA") if n in names]


def _context(kernel, tolerance, box_nm, platform_name):
    force = SOGForce.fromKernel(kernel, tolerance=tolerance)
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box_nm))
    rng = np.random.default_rng(0)
    for _ in range(8):
        system.addParticle(1.0)
        force.addParticle(rng.normal(size=kernel.num_channels).tolist())
    system.addForce(force)
    platform = openmm.Platform.getPlatformByName(platform_name)
    context = openmm.Context(system, openmm.VerletIntegrator(1e-3), platform)
    context.setPositions(rng.uniform(0, 1, (8, 3)) @ box_nm)
    return force, context


def _cases():
    rng = np.random.default_rng(11)
    for case in range(6):
        tolerance = 10.0 ** rng.uniform(-9, -2)
        widths = np.sort(rng.uniform(1.0, 8.0, (2, 3)), axis=1)  # Angstrom
        box = np.diag(rng.uniform(18.0, 40.0, 3))  # Angstrom, reduced triclinic form
        box[1, 0], box[2, 0], box[2, 1] = rng.uniform(-0.45, 0.45, 3) * box[0, 0]
        yield pytest.param(tolerance, widths, box, id=f"case{case}-tol{tolerance:.0e}")


@pytest.mark.parametrize(("tolerance", "widths", "box"), list(_cases()))
def test_host_engine_grid_equals_the_torch_layers(tolerance, widths, box):
    kernel = SOGKernel(
        torch.ones(2, 3, dtype=torch.float64), torch.tensor(widths, dtype=torch.float64)
    )
    layer = SOGLongRange(kernel, tolerance=tolerance)
    half, grid = layer._grid(torch.tensor(box)[None])
    k_cutoff_per_angstrom = layer.k_cutoff_times_width / kernel.min_width()
    for platform_name in ("Reference", "CPU"):
        force, context = _context(kernel, tolerance, box * units.NM_PER_ANGSTROM, platform_name)
        context.getState(getEnergy=True)
        k_cutoff, spread_width, nx, ny, nz = force.getGridParametersInContext(context)
        assert math.isclose(k_cutoff * units.NM_PER_ANGSTROM, k_cutoff_per_angstrom, rel_tol=1e-12)
        assert spread_width == layer.nufft.width
        assert [nx, ny, nz] == grid, (platform_name, half)


@pytest.mark.parametrize("platform_name", _platforms())
def test_grid_follows_the_box(platform_name):
    """Every platform's grid holds the modes the rule needs, before and after the box grows."""
    kernel = SOGKernel(
        torch.tensor([[1.0, 0.5]], dtype=torch.float64),
        torch.tensor([[3.0, 6.0]], dtype=torch.float64),
    )
    box = np.eye(3) * 2.0  # nm
    force, context = _context(kernel, 1e-6, box, platform_name)
    layer = SOGLongRange(kernel, tolerance=1e-6)
    for scale in (1.0, 1.5):
        context.setPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box * scale))
        context.getState(getEnergy=True)
        _, spread_width, *size = force.getGridParametersInContext(context)
        _, grid = layer._grid(torch.tensor(box * scale / units.NM_PER_ANGSTROM)[None])
        assert spread_width == layer.nufft.width
        assert all(n >= g for n, g in zip(size, grid, strict=True)), (scale, size, grid)
        if platform_name in ("Reference", "CPU"):
            assert size == grid


@pytest.mark.parametrize("tolerance", [5e-2, 1e-2, 1e-4, 1e-5])
def test_host_engine_and_torch_layer_use_the_same_window(tolerance):
    """At a loose tolerance the NUFFT's own error (1e-5 to 1e-2 of the forces) depends on the
    window's width and shape (beta), so the Reference engine and the torch layer agree to
    round-off only if both take the same beta and width from the rule (SOGForceImpl:: and
    openmm_sog.nufft constants)."""
    kernel = SOGKernel(
        torch.tensor([[0.8, -0.3], [0.4, 0.6]], dtype=torch.float64),
        torch.tensor([[2.5, 4.0], [3.0, 5.0]], dtype=torch.float64),
    )  # eV/e^2, Angstrom
    box = np.array([[24.0, 0.0, 0.0], [7.0, 22.0, 0.0], [-11.0, 9.0, 23.0]])  # Angstrom
    rng = np.random.default_rng(3)
    positions = rng.uniform(0, 1, (60, 3)) @ box
    charges = rng.normal(size=(60, 2))
    force = SOGForce.fromKernel(kernel, tolerance=tolerance)
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box * units.NM_PER_ANGSTROM))
    for q in charges.tolist():
        system.addParticle(1.0)
        force.addParticle(q)
    system.addForce(force)
    platform = openmm.Platform.getPlatformByName("Reference")
    context = openmm.Context(system, openmm.VerletIntegrator(1e-3), platform)
    context.setPositions(positions * units.NM_PER_ANGSTROM)
    state = context.getState(getForces=True)
    forces = state.getForces(asNumpy=True).value_in_unit(
        openmm.unit.kilojoule_per_mole / openmm.unit.nanometer
    )
    layer = SOGLongRange(kernel, tolerance=tolerance)
    pos = torch.tensor(positions, requires_grad=True)
    energy = layer(pos, torch.tensor(charges), torch.tensor(box))[0]
    (grad,) = torch.autograd.grad(energy, pos)
    expected = -grad.numpy() * units.KJ_PER_MOL_PER_EV / units.NM_PER_ANGSTROM
    assert np.linalg.norm(forces - expected) <= 1e-10 * np.linalg.norm(expected)
    # the window matters at this tolerance: a wider one (the next width) changes the forces
    wider = SOGLongRange(kernel, tolerance=tolerance / 10.0)
    pos = torch.tensor(positions, requires_grad=True)
    (grad,) = torch.autograd.grad(wider(pos, torch.tensor(charges), torch.tensor(box))[0], pos)
    other = -grad.numpy() * units.KJ_PER_MOL_PER_EV / units.NM_PER_ANGSTROM
    assert np.linalg.norm(other - expected) > 1e-8 * np.linalg.norm(expected)
