"""TorchSOGForce beyond a whole periodic System: free space, ML regions, alchemical parameters.

Oracles, independent of the plugin's engines:

* periodic: the eager float64 model's short-range energy and latent charges plus the direct
  lattice sum of its whole kernel over those charges (openmm_sog.reference.lattice_sum_energy);
* non-periodic: the same short range plus the pair sum ``sum_{i<j} q_i . q_j g(r_ij)`` written
  out here (no images, no self term);
* charge scale lambda: the same with the latent charges of the scaled particles multiplied by
  lambda (``energy_components(..., charge_scale=...)``), dU/dlambda by autograd through lambda
  and by a central difference of the force's own energy in lambda;
* energy scale s: s times the unscaled oracle, dU/ds the unscaled energy.

Checks as in test_torch_sog_force.py: 1e-7 of |E| and 1e-6 of the RMS force in double precision,
3e-5 and 3e-4 in single and mixed.
"""

import copy

import numpy as np
import openmm
import pytest
import torch
from file_helpers import rewrite_metadata
from model_helpers import TRICLINIC, make_model, random_structure

from openmm_sog.openmm_model import create_sognet_force
from openmm_sog.reference import lattice_sum_energy
from openmm_sog.training.export import export_metadata, export_model, export_openmm_torch
from openmm_sog.units import KJ_PER_MOL_PER_EV, NM_PER_ANGSTROM

try:
    from openmm_sog.plugin import TorchSOGForce
except ImportError as error:
    pytest.skip(f"the openmm_sog native plugin is not built: {error}", allow_module_level=True)

KJ_NM = openmm.unit.kilojoule_per_mole / openmm.unit.nanometer
NUM_ATOMS = 12
EV_A_TO_KJ_NM = KJ_PER_MOL_PER_EV / NM_PER_ANGSTROM


@pytest.fixture(scope="module")
def model():
    return make_model(seed=11)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "model.pt"
    export_model(model, path)
    return path


def _platforms():
    """(platform, precision, (energy check, force check)) for every platform here."""
    names = {
        openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())
    }
    double, single = (1e-7, 1e-6), (3e-5, 3e-4)
    cases = [("Reference", "double", double), ("CPU", "double", double)]
    for name in ("OpenCL", "CUDA"):
        if name in names:
            cases += [(name, "double", double), (name, "mixed", single), (name, "single", single)]
    return cases


PLATFORMS = _platforms()


def _context(system, platform="Reference", precision="double"):
    properties = {} if platform in ("Reference", "CPU") else {"Precision": precision}
    return openmm.Context(
        system,
        openmm.VerletIntegrator(1e-3),
        openmm.Platform.getPlatformByName(platform),
        properties,
    )


def _state(context, positions_nm, derivatives=False):
    context.setPositions(positions_nm)
    state = context.getState(getEnergy=True, getForces=True, getParameterDerivatives=derivatives)
    energy = state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    return energy, state.getForces(asNumpy=True).value_in_unit(KJ_NM), state


def _oracle(model, structure, scaled=(), charge_scale=1.0, energy_scale=1.0):
    """Energy (kJ/mol), forces (kJ/mol/nm) and dU/dlambda (kJ/mol) of the structure alone."""
    positions = structure["positions"].clone().requires_grad_(True)
    lam = torch.tensor(charge_scale, dtype=torch.float64, requires_grad=True)
    mask = torch.zeros(len(positions), dtype=torch.bool)
    mask[list(scaled)] = True
    factors = torch.where(mask, lam, torch.ones(len(positions), dtype=torch.float64))
    parts = model.energy_components(
        positions,
        structure["atomic_numbers"],
        structure["cell"],
        structure["pbc"],
        structure["batch"],
        None,
        False,
        factors,
    )
    charges = parts["charges"]
    if bool(structure["pbc"][0]):
        long_range = lattice_sum_energy(
            positions, charges, structure["cell"][0], model.lr.kernel, 1e-14
        )
    else:
        weights = model.lr.kernel.weights  # [P, M] eV/e^2
        widths = model.lr.kernel.widths()  # [P, M] Angstrom
        i, j = torch.triu_indices(len(positions), len(positions), 1)
        r2 = ((positions[i] - positions[j]) ** 2).sum(-1)
        g = (weights * torch.exp(-r2[:, None, None] / widths**2)).sum(-1)  # [E, P]
        long_range = (charges[i] * charges[j] * g).sum()
    energy = (parts["energy_sr"].sum() + long_range) * energy_scale
    gradient, d_lambda = torch.autograd.grad(energy, (positions, lam), allow_unused=True)
    return (
        float(energy.detach()) * KJ_PER_MOL_PER_EV,
        -gradient.numpy() * EV_A_TO_KJ_NM,
        0.0 if d_lambda is None else float(d_lambda) * KJ_PER_MOL_PER_EV,
    )


def _system(num_particles, periodic):
    system = openmm.System()
    if periodic:
        box_nm = np.array(TRICLINIC) * NM_PER_ANGSTROM
        system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box_nm))
    for _ in range(num_particles):
        system.addParticle(20.0)
    return system


def _assert_close(energy, forces, reference, check):
    energy_check, force_check = check
    assert energy == pytest.approx(reference[0], rel=energy_check, abs=1e-9)
    scale = np.sqrt(np.mean(reference[1] ** 2))
    np.testing.assert_allclose(forces, reference[1], atol=force_check * scale)


@pytest.mark.parametrize("platform, precision, check", PLATFORMS)
def test_non_periodic_cluster_matches_free_space_oracle(
    model, exported, platform, precision, check
):
    cluster = random_structure(NUM_ATOMS, None, seed=3)
    numbers = cluster["atomic_numbers"].tolist()
    force = create_sognet_force(exported, numbers, periodic=False)
    assert isinstance(force, TorchSOGForce) and not force.usesPeriodicBoundaryConditions()
    # Every Gaussian of the model, none left to the real-space part of a periodic export.
    assert force.getNumGaussians() == model.lr.kernel.weights.numel()
    system = _system(NUM_ATOMS, periodic=False)
    system.addForce(force)
    positions = cluster["positions"].numpy() * NM_PER_ANGSTROM
    energy, forces, _ = _state(_context(system, platform, precision), positions)
    _assert_close(energy, forces, _oracle(model, cluster), check)


def test_non_periodic_forces_are_minus_the_energy_gradient(exported):
    """Central differences of the force's own energy, the latent charges' chain rule included."""
    cluster = random_structure(NUM_ATOMS, None, seed=4)
    system = _system(NUM_ATOMS, periodic=False)
    system.addForce(create_sognet_force(exported, cluster["atomic_numbers"].tolist(), False))
    context = _context(system)
    positions = cluster["positions"].numpy() * NM_PER_ANGSTROM
    _, forces, _ = _state(context, positions)
    step = 1e-5  # nm
    for atom, axis in [(0, 0), (5, 1), (11, 2)]:
        energies = []
        for sign in (1, -1):
            moved = positions.copy()
            moved[atom, axis] += sign * step
            energies.append(_state(context, moved)[0])
        numerical = -(energies[0] - energies[1]) / (2 * step)
        assert forces[atom, axis] == pytest.approx(numerical, rel=1e-6, abs=1e-5)


@pytest.mark.parametrize("periodic", [True, False], ids=["periodic", "free"])
@pytest.mark.parametrize("platform, precision, check", PLATFORMS)
def test_ml_region_of_a_larger_system(model, exported, periodic, platform, precision, check):
    """The model acts on the listed particles alone: the oracle of those particles by themselves,
    no force on the others, whatever their positions."""
    structure = random_structure(NUM_ATOMS, TRICLINIC if periodic else None, seed=7)
    num_system = NUM_ATOMS + 7
    region = np.random.default_rng(1).permutation(num_system)[:NUM_ATOMS]
    positions = np.random.default_rng(2).uniform(0.0, 0.9, (num_system, 3))
    positions[region] = structure["positions"].numpy() * NM_PER_ANGSTROM
    numbers = structure["atomic_numbers"].tolist()
    force = create_sognet_force(exported, numbers, periodic=periodic, particles=region.tolist())
    assert isinstance(force, TorchSOGForce) and list(force.getParticles()) == region.tolist()
    system = _system(num_system, periodic)
    system.addForce(force)
    energy, forces, _ = _state(_context(system, platform, precision), positions)
    reference_energy, reference_forces, _ = _oracle(model, structure)
    expected = np.zeros((num_system, 3))
    expected[region] = reference_forces
    _assert_close(energy, forces, (reference_energy, expected), check)
    outside = np.setdiff1d(np.arange(num_system), region)
    assert np.all(forces[outside] == 0.0)


@pytest.mark.parametrize("periodic", [True, False], ids=["periodic", "free"])
@pytest.mark.parametrize("platform, precision, check", PLATFORMS)
def test_charge_and_energy_scale_with_derivatives(
    model, exported, periodic, platform, precision, check
):
    structure = random_structure(NUM_ATOMS, TRICLINIC if periodic else None, seed=8)
    numbers = structure["atomic_numbers"].tolist()
    scaled = [0, 3, 4, 9]
    force = create_sognet_force(
        exported,
        numbers,
        periodic=periodic,
        charge_scale_parameter="lambda_q",
        charge_scaled_particles=scaled,
        energy_scale_parameter="lambda_e",
    )
    force.addEnergyParameterDerivative("lambda_q")
    force.addEnergyParameterDerivative("lambda_e")
    system = _system(NUM_ATOMS, periodic)
    system.addForce(force)
    context = _context(system, platform, precision)
    positions = structure["positions"].numpy() * NM_PER_ANGSTROM
    # The defaults (1, 1) are the unscaled model.
    assert context.getParameter("lambda_q") == 1.0 and context.getParameter("lambda_e") == 1.0
    energy, forces, _ = _state(context, positions)
    _assert_close(energy, forces, _oracle(model, structure)[:2], check)
    lam, s = 0.35, 0.6
    context.setParameter("lambda_q", lam)
    context.setParameter("lambda_e", s)
    energy, forces, state = _state(context, positions, derivatives=True)
    reference = _oracle(model, structure, scaled, lam, s)
    _assert_close(energy, forces, reference[:2], check)
    derivatives = state.getEnergyParameterDerivatives()
    energy_check = check[0]
    unscaled = _oracle(model, structure, scaled, lam)[0]
    assert derivatives["lambda_e"] == pytest.approx(unscaled, rel=energy_check)
    # dU/dlambda against autograd in the oracle, relative to the long range's size.
    assert derivatives["lambda_q"] == pytest.approx(reference[2], rel=10 * energy_check, abs=1e-6)
    # lambda = 0 decouples the scaled particles' latent charges completely.
    context.setParameter("lambda_q", 0.0)
    energy, forces, _ = _state(context, positions)
    _assert_close(energy, forces, _oracle(model, structure, scaled, 0.0, s)[:2], check)


@pytest.mark.parametrize("periodic", [True, False], ids=["periodic", "free"])
def test_charge_scale_derivative_is_the_energys_slope(exported, periodic):
    """dU/dlambda_q against a central difference of the force's own energy (Reference)."""
    structure = random_structure(NUM_ATOMS, TRICLINIC if periodic else None, seed=9)
    force = create_sognet_force(
        exported,
        structure["atomic_numbers"].tolist(),
        periodic=periodic,
        charge_scale_parameter="lambda_q",
        charge_scaled_particles=[1, 2, 7],
    )
    force.addEnergyParameterDerivative("lambda_q")
    system = _system(NUM_ATOMS, periodic)
    system.addForce(force)
    context = _context(system)
    positions = structure["positions"].numpy() * NM_PER_ANGSTROM
    for lam in (0.8, 0.1):
        context.setParameter("lambda_q", lam)
        _, _, state = _state(context, positions, derivatives=True)
        analytic = state.getEnergyParameterDerivatives()["lambda_q"]
        step = 1e-4
        energies = []
        for value in (lam + step, lam - step):
            context.setParameter("lambda_q", value)
            energies.append(_state(context, positions)[0])
        numerical = (energies[0] - energies[1]) / (2 * step)
        assert analytic == pytest.approx(numerical, rel=1e-6, abs=1e-7)
        assert abs(analytic) > 1e-3  # the scaled charges do interact


def test_xml_round_trip_keeps_region_periodicity_and_parameters(exported):
    structure = random_structure(NUM_ATOMS, None, seed=10)
    region = list(range(3, 3 + NUM_ATOMS))
    force = create_sognet_force(
        exported,
        structure["atomic_numbers"].tolist(),
        periodic=False,
        particles=region,
        charge_scale_parameter="lambda_q",
        charge_scaled_particles=region[:2],
        energy_scale_parameter="lambda_e",
    )
    force.setChargeScaleDefaultValue(0.5)
    force.setEnergyScaleDefaultValue(0.75)
    force.addEnergyParameterDerivative("lambda_q")
    restored = TorchSOGForce.cast(
        openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(force))
    )
    assert list(restored.getParticles()) == region
    assert not restored.usesPeriodicBoundaryConditions()
    assert restored.getChargeScaleParameterName() == "lambda_q"
    assert list(restored.getChargeScaledParticles()) == region[:2]
    assert restored.getEnergyScaleParameterName() == "lambda_e"
    assert restored.getChargeScaleDefaultValue() == 0.5
    assert restored.getEnergyScaleDefaultValue() == 0.75
    assert [restored.getEnergyParameterDerivativeName(0)] == ["lambda_q"]
    positions = np.zeros((NUM_ATOMS + 5, 3))
    positions[region] = structure["positions"].numpy() * NM_PER_ANGSTROM
    energies = []
    for f in (force, restored):
        system = _system(NUM_ATOMS + 5, periodic=False)
        system.addForce(f)
        energies.append(_state(_context(system), positions)[0])
    assert energies[1] == energies[0]


def _context_error(force, system):
    system.addForce(force)
    _context(system)


def test_bad_regions_and_parameters_are_refused_with_the_reason(exported):
    structure = random_structure(NUM_ATOMS, TRICLINIC, seed=12)
    numbers = structure["atomic_numbers"].tolist()
    native = TorchSOGForce.cast(create_sognet_force(exported, numbers))

    def fresh():
        return copy.deepcopy(native)

    force = fresh()
    force.setParticles([*range(NUM_ATOMS - 1), NUM_ATOMS + 3])
    with pytest.raises(openmm.OpenMMException, match="particle index 15 in setParticles.. is out"):
        _context_error(force, _system(NUM_ATOMS + 2, periodic=True))
    force = fresh()
    force.setParticles([0, *range(NUM_ATOMS - 1)])
    with pytest.raises(openmm.OpenMMException, match="particle 0 is listed more than once"):
        _context_error(force, _system(NUM_ATOMS, periodic=True))
    force = fresh()
    force.setParticles(list(range(NUM_ATOMS - 1)))
    with pytest.raises(openmm.OpenMMException, match="lists 11 particles but the force has 12"):
        _context_error(force, _system(NUM_ATOMS, periodic=True))
    force = fresh()
    force.setParticles(list(range(NUM_ATOMS)))
    force.setChargeScaleParameterName("lambda_q")
    force.setChargeScaledParticles([NUM_ATOMS + 1])
    with pytest.raises(openmm.OpenMMException, match="charge-scaled particle 13 is not one of"):
        _context_error(force, _system(NUM_ATOMS + 2, periodic=True))
    force = fresh()
    force.setChargeScaleParameterName("lambda")
    force.setEnergyScaleParameterName("lambda")
    with pytest.raises(openmm.OpenMMException, match="both named 'lambda'"):
        _context_error(force, _system(NUM_ATOMS, periodic=True))
    force = fresh()
    force.setChargeScaledParticles([1])
    with pytest.raises(openmm.OpenMMException, match="no charge scale parameter"):
        _context_error(force, _system(NUM_ATOMS, periodic=True))
    force = fresh()
    force.addEnergyParameterDerivative("temperature")
    with pytest.raises(openmm.OpenMMException, match="derivative with respect to 'temperature'"):
        _context_error(force, _system(NUM_ATOMS, periodic=True))
    force = fresh()
    force.setUsesPeriodicBoundaryConditions(False)
    with pytest.raises(openmm.OpenMMException, match="non-periodic .* but the System is periodic"):
        system = _system(NUM_ATOMS, periodic=True)
        nonbonded = openmm.NonbondedForce()
        nonbonded.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
        nonbonded.setCutoffDistance(0.35)
        for _ in range(NUM_ATOMS):
            nonbonded.addParticle(0.0, 0.3, 0.0)
        system.addForce(nonbonded)
        _context_error(force, system)
    # A parameter name another force uses with another default; the same default shares it.
    force = fresh()
    force.setChargeScaleParameterName("lam")
    system = _system(NUM_ATOMS, periodic=True)
    restraint = openmm.CustomExternalForce("lam*x")
    restraint.addGlobalParameter("lam", 0.5)
    restraint.setName("restraint")
    system.addForce(restraint)
    with pytest.raises(
        openmm.OpenMMException, match="'lam' .* also a parameter of force 0 .'restraint'"
    ):
        _context_error(force, system)
    restraint.setGlobalParameterDefaultValue(0, 1.0)
    _context(system)
    # A non-finite parameter value at evaluation names the parameter.
    force = fresh()
    force.setEnergyScaleParameterName("lambda_e")
    system = _system(NUM_ATOMS, periodic=True)
    system.addForce(force)
    context = _context(system)
    context.setPositions(structure["positions"].numpy() * NM_PER_ANGSTROM)
    context.setParameter("lambda_e", float("nan"))
    with pytest.raises(openmm.OpenMMException, match="energy scale parameter 'lambda_e' is nan"):
        context.getState(getEnergy=True)


def test_create_sognet_force_refuses_bad_scaling(exported):
    numbers = random_structure(NUM_ATOMS, TRICLINIC, seed=12)["atomic_numbers"].tolist()
    with pytest.raises(ValueError, match="not among particles"):
        create_sognet_force(
            exported,
            numbers,
            particles=list(range(2, 2 + NUM_ATOMS)),
            charge_scale_parameter="lambda_q",
            charge_scaled_particles=[0],
        )
    with pytest.raises(ValueError, match="needs a charge_scale_parameter"):
        create_sognet_force(exported, numbers, charge_scaled_particles=[0])
    with pytest.raises(ValueError, match="both 'lam'"):
        create_sognet_force(
            exported, numbers, charge_scale_parameter="lam", energy_scale_parameter="lam"
        )
    with pytest.raises(ValueError, match="need the native TorchSOGForce"):
        create_sognet_force(
            exported, numbers, implementation="python", charge_scale_parameter="lambda_q"
        )
    with pytest.raises(ValueError, match="more than once"):
        create_sognet_force(
            exported, numbers, charge_scale_parameter="lambda_q", charge_scaled_particles=[1, 1]
        )


def test_the_force_reads_its_kernel_from_the_exports_metadata(model, exported, tmp_path):
    """TorchSOGForce(file, numbers) alone: channels, Gaussians (nm, kJ/mol/e^2), tolerance,
    periodicity and species come from metadata.json, read in C++; the values equal the model's."""
    numbers = random_structure(NUM_ATOMS, TRICLINIC, seed=13)["atomic_numbers"].tolist()
    force = TorchSOGForce(str(exported), numbers)
    metadata = export_metadata(model)
    sog = metadata["sog"]
    assert force.getNumChannels() == len(sog["weights_kj_per_mol_per_e2"])
    assert force.getTolerance() == sog["tolerance"]
    assert force.usesPeriodicBoundaryConditions()  # not recorded: periodic
    assert list(force.getModelSpecies()) == metadata["atomic_numbers"]
    assert force.getModelCutoff() == pytest.approx(metadata["cutoff_angstrom"] * NM_PER_ANGSTROM)

    def gaussians(f):
        return sorted(tuple(f.getGaussianParameters(i)) for i in range(f.getNumGaussians()))

    every = [
        (w, s, c)
        for c, (ws, ss) in enumerate(
            zip(sog["weights_kj_per_mol_per_e2"], sog["widths_nm"], strict=True)
        )
        for w, s in zip(ws, ss, strict=True)
    ]
    kspace = [g for g, flag in zip(every, sum(sog["kspace"], []), strict=True) if flag]
    assert len(kspace) < len(every)  # the model splits narrow Gaussians off to real space
    assert gaussians(force) == sorted(kspace)
    force.setUsesPeriodicBoundaryConditions(False)  # free space: the pair sum of all of them
    assert gaussians(force) == sorted(every)
    force.setUsesPeriodicBoundaryConditions(True)
    assert gaussians(force) == sorted(kspace)
    # Gaussians set by hand stay as they are.
    force.setGaussianParameters(0, 1.0, 0.5, 0)
    force.setUsesPeriodicBoundaryConditions(False)
    assert force.getNumGaussians() == len(kspace)

    # What it refuses to configure itself from.
    short_range = tmp_path / "short_range.pt"
    export_model(make_model(seed=1, long_range=False), short_range)
    with pytest.raises(openmm.OpenMMException, match="short-range-only model"):
        TorchSOGForce(str(short_range), numbers)
    for_torchforce = tmp_path / "torchforce.pt"
    export_openmm_torch(model, for_torchforce, numbers)
    with pytest.raises(openmm.OpenMMException, match="export for openmm-torch's TorchForce"):
        TorchSOGForce(str(for_torchforce), numbers)
    other_units = tmp_path / "other_units.pt"
    rewrite_metadata(exported, other_units, lambda meta: meta["units"].update(length="nm"))
    with pytest.raises(openmm.OpenMMException, match="records units \\(nm, eV, e\\)"):
        TorchSOGForce(str(other_units), numbers)
    plain = tmp_path / "plain.pt"
    torch.jit.script(torch.nn.Linear(3, 1)).save(str(plain))
    with pytest.raises(openmm.OpenMMException, match="has no metadata.json to read the Gaussians"):
        TorchSOGForce(str(plain), numbers)
