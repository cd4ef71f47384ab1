"""SOG-Net in openmm-ml (``MLPotential("sognet")``) and the ML-subset force behind it.

openmmml 1.8 is in the ``test`` extra; its import emits no warnings (checked with -W error), so
nothing here filters any.
"""

import copy
import importlib.metadata

import numpy as np
import openmm
import openmm.app
import pytest
import torch
from model_helpers import TRICLINIC, make_model, random_structure
from openmmml import MLPotential

from openmm_sog.openmm_model import create_sognet_force
from openmm_sog.plugin import TorchSOGForce
from openmm_sog.systems import molten_nacl
from openmm_sog.training.export import export_model
from openmm_sog.units import KJ_PER_MOL_PER_EV, NM_PER_ANGSTROM

KJ = openmm.unit.kilojoule_per_mole
KJ_NM = KJ / openmm.unit.nanometer
ELEMENTS = {11: openmm.app.element.sodium, 17: openmm.app.element.chlorine}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "model.pt"
    export_model(make_model(seed=3), path)
    return path


@pytest.fixture(scope="module")
def cheap_export(tmp_path_factory):
    """Coarser k-space (wider Gaussians, tolerance 1e-4): 100 MD steps in seconds on a CPU."""
    path = tmp_path_factory.mktemp("export") / "cheap.pt"
    export_model(make_model(seed=3, min_width=2.0, num_gaussians=4, tolerance=1e-4), path)
    return path


def _topology(numbers, box_nm):
    """One residue per ion, elements from atomic numbers, the given periodic box (or none)."""
    topology = openmm.app.Topology()
    chain = topology.addChain()
    for z in numbers:
        element = ELEMENTS[z]
        topology.addAtom(element.symbol, element, topology.addResidue(element.symbol, chain))
    if box_nm is not None:
        topology.setPeriodicBoxVectors([openmm.Vec3(*row) for row in box_nm])
    return topology


def _state(system, positions, parameters=None):
    context = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
    )
    context.setPositions(positions)
    for name, value in (parameters or {}).items():
        context.setParameter(name, value)
    state = context.getState(getEnergy=True, getForces=True)
    return state.getPotentialEnergy().value_in_unit(KJ), state.getForces(
        asNumpy=True
    ).value_in_unit(KJ_NM)


def _model_on(path, positions_nm, numbers, box_nm):
    """The export called directly (Angstrom, eV) and converted: (kJ/mol, kJ/mol/nm)."""
    energy, forces = torch.jit.load(str(path))(
        torch.tensor(positions_nm / NM_PER_ANGSTROM),
        torch.tensor(numbers),
        torch.tensor(np.asarray(box_nm) / NM_PER_ANGSTROM),
        True,
    )
    return (
        float(energy) * KJ_PER_MOL_PER_EV,
        forces.detach().numpy() * KJ_PER_MOL_PER_EV / NM_PER_ANGSTROM,
    )


def test_the_entry_point_registers_sognet_with_openmm_ml():
    points = importlib.metadata.entry_points(group="openmmml.potentials")
    assert points["sognet"].value == "openmm_sog.openmmml:SOGNetPotentialImplFactory"
    assert type(MLPotential._implFactories["sognet"]).__name__ == "SOGNetPotentialImplFactory"


@pytest.mark.parametrize("implementation", ["auto", "python"])
def test_create_system_is_create_sognet_force(exported, implementation):
    structure = random_structure(16, TRICLINIC, seed=4)
    numbers = structure["atomic_numbers"].tolist()
    positions = structure["positions"].numpy() * NM_PER_ANGSTROM
    box_nm = np.array(TRICLINIC) * NM_PER_ANGSTROM
    potential = MLPotential("sognet", modelPath=str(exported))
    assert potential._impl.getMLLongRange() is True
    system = potential.createSystem(_topology(numbers, box_nm), implementation=implementation)

    reference = openmm.System()
    reference.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box_nm))
    for z in numbers:
        reference.addParticle(ELEMENTS[z].mass)
    reference.addForce(create_sognet_force(exported, numbers, implementation=implementation))
    energy, forces = _state(system, positions)
    expected_energy, expected_forces = _state(reference, positions)
    assert energy == pytest.approx(expected_energy, rel=1e-8)
    np.testing.assert_allclose(forces, expected_forces, rtol=1e-8, atol=1e-8)
    # Both are the model itself (the native force to its NUFFT tolerance).
    model_energy, _ = _model_on(exported, positions, numbers, box_nm)
    assert energy == pytest.approx(model_energy, rel=1e-6)


def _nonbonded_of_subset(system, atoms):
    """The MM System's NonbondedForce with only ``atoms`` charged and Lennard-Jones active."""
    mm = copy.deepcopy(system)
    (nonbonded,) = [f for f in mm.getForces() if isinstance(f, openmm.NonbondedForce)]
    for i in set(range(mm.getNumParticles())) - set(atoms):
        nonbonded.setParticleParameters(i, 0.0, 1.0, 0.0)
    return mm


def test_mixed_system_interpolates_from_mm_to_mm_plus_sognet(cheap_export):
    exported = cheap_export
    mm_system, positions, species = molten_nacl(88, seed=1)
    numbers = [{"Na": 11, "Cl": 17}[s] for s in species]
    box_nm = np.diag([mm_system.getDefaultPeriodicBoxVectors()[0][0]._value] * 3)
    # Ion 0 and its three nearest neighbours (minimum image): every ML pair lies inside the
    # 0.7 nm LJ cutoff, because openmm-ml's interpolation adds the ML pairs' MM Lennard-Jones
    # back at lambda 0 without a cutoff.
    delta = positions - positions[0]
    delta -= np.round(delta / box_nm[0, 0]) * box_nm[0, 0]
    ml_atoms = [int(i) for i in np.argsort((delta**2).sum(1))[:4]]
    pair = positions[ml_atoms][:, None] - positions[ml_atoms][None]
    pair -= np.round(pair / box_nm[0, 0]) * box_nm[0, 0]
    assert np.sqrt((pair**2).sum(-1)).max() < 0.7
    assert {numbers[i] for i in ml_atoms} == {11, 17}

    potential = MLPotential("sognet", modelPath=str(exported))
    mixed = potential.createMixedSystem(
        _topology(numbers, box_nm), mm_system, ml_atoms, interpolate=True
    )
    mm_energy, mm_forces = _state(mm_system, positions)
    energy, forces = _state(mixed, positions, {"lambda_interpolate": 0.0})
    assert energy == pytest.approx(mm_energy, rel=1e-8)
    np.testing.assert_allclose(forces, mm_forces, rtol=1e-6, atol=1e-6 * np.abs(mm_forces).max())

    # lambda 1: the MM System less the ML ions' own MM terms (Coulomb with all images, LJ), plus
    # the export evaluated on the four ions alone in the same box.
    subset_energy, subset_forces = _state(_nonbonded_of_subset(mm_system, ml_atoms), positions)
    ml_energy, ml_forces = _model_on(
        exported, positions[ml_atoms], [numbers[i] for i in ml_atoms], box_nm
    )
    expected_forces = mm_forces - subset_forces
    expected_forces[ml_atoms] += ml_forces
    energy, forces = _state(mixed, positions, {"lambda_interpolate": 1.0})
    assert energy == pytest.approx(mm_energy - subset_energy + ml_energy, rel=1e-8)
    scale = np.abs(expected_forces).max()
    np.testing.assert_allclose(forces, expected_forces, rtol=1e-6, atol=1e-6 * scale)

    integrator = openmm.LangevinMiddleIntegrator(1300, 10.0, 1e-3)
    integrator.setRandomNumberSeed(7)
    # The CPU platform: Reference PME in the interpolation's inner Contexts is ~7x slower.
    context = openmm.Context(mixed, integrator, openmm.Platform.getPlatformByName("CPU"))
    context.setPositions(positions)
    context.setVelocitiesToTemperature(1300, 7)
    energies = []
    for _ in range(5):
        integrator.step(20)
        state = context.getState(getEnergy=True)
        energies.append((state.getPotentialEnergy() + state.getKineticEnergy()).value_in_unit(KJ))
    assert np.isfinite(energies).all()


def _subset_system(num_particles):
    structure = random_structure(num_particles, TRICLINIC, seed=5)
    box_nm = np.array(TRICLINIC) * NM_PER_ANGSTROM
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box_nm))
    for _ in range(num_particles):
        system.addParticle(20.0)
    positions = structure["positions"].numpy() * NM_PER_ANGSTROM
    return system, positions, structure["atomic_numbers"].tolist(), box_nm


@pytest.mark.parametrize("implementation", ["native", "python"])
@pytest.mark.parametrize("periodic", [True, False])
def test_subset_force_is_the_model_on_the_subset_and_minus_its_gradient(
    exported, periodic, implementation
):
    """Both implementations against the export called on the subset alone: to round-off, but
    for the native periodic long range, whose engine differs from the export's torch NUFFT
    within the model's tolerance (1e-7)."""
    system, positions, numbers, box_nm = _subset_system(10)
    particles = [7, 2, 5, 0]  # not sorted: the order of atomic_numbers follows it
    subset_numbers = [numbers[i] for i in particles]
    force = create_sognet_force(
        exported,
        subset_numbers,
        periodic=periodic,
        particles=particles,
        implementation=implementation,
    )
    kind = TorchSOGForce if implementation == "native" else openmm.PythonForce
    assert isinstance(force, kind)
    system.addForce(force)
    energy, forces = _state(system, positions)
    others = sorted(set(range(10)) - set(particles))
    assert not forces[others].any()

    module = torch.jit.load(str(exported))
    expected, expected_forces = module(
        torch.tensor(positions[particles] / NM_PER_ANGSTROM),
        torch.tensor(subset_numbers),
        torch.tensor(box_nm / NM_PER_ANGSTROM if periodic else np.zeros((3, 3))),
        periodic,
    )
    check = 1e-6 if implementation == "native" and periodic else 1e-8
    assert energy == pytest.approx(float(expected) * KJ_PER_MOL_PER_EV, rel=check / 10)
    expected_forces = expected_forces.detach().numpy() * KJ_PER_MOL_PER_EV / NM_PER_ANGSTROM
    np.testing.assert_allclose(
        forces[particles], expected_forces, rtol=check, atol=check * np.abs(expected_forces).max()
    )

    # Central differences of OpenMM's energy (1e-5 nm), every component of two ML particles.
    context = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
    )
    h = 1e-5
    for i in particles[:2]:
        for d in range(3):
            shifted = []
            for sign in (1, -1):
                moved = positions.copy()
                moved[i, d] += sign * h
                context.setPositions(moved)
                shifted.append(context.getState(getEnergy=True).getPotentialEnergy())
            difference = -(shifted[0] - shifted[1]).value_in_unit(KJ) / (2 * h)
            assert forces[i, d] == pytest.approx(difference, rel=1e-5, abs=1e-4)


def test_subset_force_survives_copy_and_xml(exported):
    system, positions, numbers, _ = _subset_system(10)
    particles = [1, 4, 6]
    system.addForce(
        create_sognet_force(exported, [numbers[i] for i in particles], particles=particles)
    )
    energy, forces = _state(system, positions)
    for clone in (
        copy.deepcopy(system),
        openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system)),
    ):
        clone_energy, clone_forces = _state(clone, positions)
        assert clone_energy == energy
        np.testing.assert_array_equal(clone_forces, forces)


def test_bad_subsets(exported):
    with pytest.raises(ValueError, match="lists 3 indices but atomic_numbers has 2"):
        create_sognet_force(exported, [11, 17], particles=[0, 1, 2])
    with pytest.raises(ValueError, match=r"indices \[3\] more than once"):
        create_sognet_force(exported, [11, 17, 11], particles=[3, 1, 3])
    with pytest.raises(ValueError, match=r"negative indices \[-1\]"):
        create_sognet_force(exported, [11, 17], particles=[0, -1])
    with pytest.raises(ValueError, match="particles is empty"):
        create_sognet_force(exported, [], particles=[])

    # An index beyond the System is found when the System's size is known: at evaluation.
    system, positions, _, _ = _subset_system(10)
    system.addForce(create_sognet_force(exported, [11, 17], particles=[0, 10]))
    with pytest.raises(Exception, match="particle index 10.* out of range for a System of 10"):
        _state(system, positions)


def test_bad_openmm_ml_use(exported):
    with pytest.raises(ValueError, match="needs modelPath"):
        MLPotential("sognet")
    with pytest.raises(TypeError, match=r"unknown options \['precision'\]"):
        MLPotential("sognet", modelPath=str(exported), precision="single")
    with pytest.raises(ValueError, match="implementation must be one of"):
        MLPotential("sognet", modelPath=str(exported), implementation="gpu")
    potential = MLPotential("sognet", modelPath=str(exported))
    with pytest.raises(ValueError, match="no periodic box"):
        potential.createSystem(_topology([11, 17], None))
    mm_system, _, species = molten_nacl(88)
    numbers = [{"Na": 11, "Cl": 17}[s] for s in species]
    box_nm = np.eye(3) * mm_system.getDefaultPeriodicBoxVectors()[0][0]._value
    with pytest.raises(ValueError, match="periodic=False for an ML subset differs"):
        potential.createMixedSystem(_topology(numbers, box_nm), mm_system, [0, 1], periodic=False)


def test_long_range_declaration_follows_the_model(exported, tmp_path):
    assert not MLPotential("sognet", modelPath=str(exported), periodic=False)._impl.getMLLongRange()
    export_model(make_model(seed=3, long_range=False), tmp_path / "short.pt")
    assert not MLPotential("sognet", modelPath=str(tmp_path / "short.pt"))._impl.getMLLongRange()
