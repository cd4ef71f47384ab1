"""SOGCoulombRealSpaceForce (``use_sog_coulomb(..., real_space="native")``) on every platform.

Oracles: the Custom-force implementation of the same split (``real_space="custom"``), OpenMM's
own PME/Ewald at a tight tolerance, and finite differences for dU/dlambda. Lennard-Jones, which
the native force takes over from the NonbondedForce: OpenMM's NonbondedForce with the same
particles, exceptions, switching function and dispersion correction. The oracles run on the
Reference platform (double precision). Platforms and their tolerances (TOLERANCE): Reference
in double precision agrees with the Custom forces to rounding (1e-10); CPU in single precision
is checked at 1e-5 of the electrostatic energy scale as the other single-precision tests of SOG
Coulomb; OpenCL/CUDA in single or mixed precision at 2e-5 (their float positions cost OpenMM's
own NonbondedForce 1e-5 in Lennard-Jones forces); OpenCL/CUDA in double precision at 1e-8 (the
native pair and exception terms agree with Reference to ~1e-12; the bound is set by the
SOGForce's device k-space kernel in the same System, ~6e-9 in forces).
OpenCL runs on whatever OpenCL device is present (PoCL on the CPU here); CUDA runs one
whole-System test; both are skipped where OpenMM lacks the platform.
"""

import os

import numpy as np
import pytest

openmm = pytest.importorskip("openmm")
app = pytest.importorskip("openmm.app")
unit = openmm.unit
try:
    from openmm_sog import SOGCoulombRealSpaceForce, use_sog_coulomb
except ImportError as error:
    pytest.skip(f"the openmm_sog native plugin is not built: {error}", allow_module_level=True)

KJ = unit.kilojoule_per_mole
KJ_NM = KJ / unit.nanometer
LAMBDA = "lambda_electrostatics"
#: "Reference", "CPU", or a device platform with its Precision property ("OpenCL:mixed")
PLATFORMS = ["Reference", "CPU", "OpenCL:single", "OpenCL:mixed", "OpenCL:double"]
#: relative force RMS and energy (of the electrostatic scale) accepted from single precision
CPU_TOLERANCE = 1e-5
#: the same on OpenCL/CUDA in single and mixed precision, where positions are floats relative
#: to the box origin: OpenMM's own NonbondedForce there is 1.0e-5 off Reference in the lipid's
#: Lennard-Jones forces (the steep repulsion magnifies position rounding), as is the native force
DEVICE_SINGLE_TOLERANCE = 2e-5
#: the same per platform (see the module docstring)
TOLERANCE = {
    "Reference": 1e-10,
    "CPU": CPU_TOLERANCE,
    "OpenCL:single": DEVICE_SINGLE_TOLERANCE,
    "OpenCL:mixed": DEVICE_SINGLE_TOLERANCE,
    "OpenCL:double": 1e-8,
    "CUDA:single": DEVICE_SINGLE_TOLERANCE,
    "CUDA:mixed": DEVICE_SINGLE_TOLERANCE,
    "CUDA:double": 1e-8,
}
#: added to the PME/Ewald comparisons in single precision on a device platform: the SOGForce's
#: k-space sum is then single precision too (1.5e-6 of the electrostatic energy for the lipid)
DEVICE_SINGLE_SLACK = 3e-6


def _is_device_single(platform_name):
    return platform_name in ("OpenCL:single", "CUDA:single")


def _platform(platform_name):
    """The Platform and properties of ``platform_name``; skips the test where OpenMM lacks it."""
    name, _, precision = platform_name.partition(":")
    try:
        platform = openmm.Platform.getPlatformByName(name)
    except openmm.OpenMMException:
        pytest.skip(f"OpenMM has no {name} platform here")
    return platform, ({"Precision": precision} if precision else {})


def _context(system, platform_name, integrator=None):
    platform, properties = _platform(platform_name)
    integrator = openmm.VerletIntegrator(1e-3) if integrator is None else integrator
    return openmm.Context(system, integrator, platform, properties)


def _copy(system):
    return openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system))


def _state(system, positions, platform_name, box=None, groups=-1):
    context = _context(system, platform_name)
    if box is not None:
        context.setPeriodicBoxVectors(*box)
    context.setPositions(positions)
    state = context.getState(getEnergy=True, getForces=True, groups=groups)
    return state.getPotentialEnergy().value_in_unit(KJ), state.getForces(
        asNumpy=True
    ).value_in_unit(KJ_NM)


def _force_error(forces, reference):
    return np.linalg.norm(forces - reference) / np.linalg.norm(reference)


def _lipid_in_water():
    """A zwitterionic DLPE lipid (exclusions and scaled 1-4 pairs) in flexible TIP3P, amber14."""
    forcefield = app.ForceField("amber14/lipid17.xml", "amber14/tip3p.xml")
    pdb = app.PDBFile(os.path.join(os.path.dirname(app.__file__), "data", "DLPE.pdb"))
    modeller = app.Modeller(pdb.topology, pdb.positions)
    modeller.delete(list(pdb.topology.residues())[1:])  # one lipid of the membrane
    modeller.addSolvent(forcefield, boxSize=openmm.Vec3(3.0, 3.0, 3.0) * unit.nanometer)
    system = forcefield.createSystem(
        modeller.topology,
        nonbondedMethod=app.PME,
        nonbondedCutoff=0.9 * unit.nanometer,
        constraints=None,
        rigidWater=False,
        ewaldErrorTolerance=1e-7,
    )
    solute = [a.index for a in modeller.topology.atoms() if a.residue.name != "HOH"]
    return system, np.array(modeller.positions.value_in_unit(unit.nanometer)), solute


@pytest.fixture(scope="module")
def lipid():
    return _lipid_in_water()


def _coulomb_only(system):
    """The System with Lennard-Jones switched off: its energy is electrostatic only."""
    system = _copy(system)
    nb = next(f for f in system.getForces() if isinstance(f, openmm.NonbondedForce))
    nb.setUseDispersionCorrection(False)
    for i in range(nb.getNumParticles()):
        q, sigma, _ = nb.getParticleParameters(i)
        nb.setParticleParameters(i, q, sigma, 0.0)
    for k in range(nb.getNumExceptions()):
        i, j, charge_prod, sigma, _ = nb.getExceptionParameters(k)
        nb.setExceptionParameters(k, i, j, charge_prod, sigma, 0.0)
    for index in reversed(range(system.getNumForces())):
        if not isinstance(system.getForce(index), openmm.NonbondedForce):
            system.removeForce(index)
    return system


def _sog(system, real_space, **kwargs):
    system = _copy(system)
    forces = use_sog_coulomb(system, real_space=real_space, **kwargs)
    return system, forces


@pytest.mark.parametrize("platform_name", PLATFORMS)
def test_native_matches_custom_forces_and_pme(lipid, platform_name):
    """Exclusions and 1-4 exceptions: native == Custom forces (same split), both == PME."""
    system, positions, _ = lipid
    coulomb = _coulomb_only(system)
    pme_energy, pme_forces = _state(coulomb, positions, "Reference")
    native, forces = _sog(coulomb, "native", tolerance=1e-6)
    assert forces.exceptions is None
    assert SOGCoulombRealSpaceForce.isinstance(forces.complement)
    assert forces.complement.getNumExceptions() == coulomb.getForce(0).getNumExceptions()
    custom, _ = _sog(coulomb, "custom", tolerance=1e-6)
    energy, f = _state(native, positions, platform_name)
    custom_energy, custom_f = _state(custom, positions, "Reference")
    tolerance = TOLERANCE[platform_name]  # Reference: the same function in double precision
    assert abs(energy - custom_energy) <= tolerance * abs(custom_energy)
    assert _force_error(f, custom_f) <= tolerance
    # Against PME (tolerance 1e-7): the SOG tolerance 1e-6 plus single precision on CPU (and
    # in the device SOGForce).
    slack = DEVICE_SINGLE_SLACK if _is_device_single(platform_name) else 0.0
    assert abs(energy - pme_energy) <= (2e-6 + slack) * abs(pme_energy), energy - pme_energy
    assert _force_error(f, pme_forces) <= 2e-5


def test_cpu_matches_reference_with_lennard_jones_and_other_forces(lipid):
    """The whole System (bonded terms, Lennard-Jones now in the native force's pair pass)."""
    system, positions, _ = lipid
    native, _ = _sog(system, "native", tolerance=1e-6)
    ref_energy, ref_forces = _state(native, positions, "Reference")
    energy, forces = _state(native, positions, "CPU")
    scale = abs(_state(_coulomb_only(system), positions, "Reference")[0])
    assert abs(energy - ref_energy) <= CPU_TOLERANCE * scale
    assert _force_error(forces, ref_forces) <= CPU_TOLERANCE


@pytest.mark.parametrize("platform_name", ["CPU", "OpenCL:mixed"])
def test_cutoff_other_than_the_nonbonded_force_moves_to_a_free_group(lipid, platform_name):
    """A complement cutoff (0.8 nm) other than the Lennard-Jones one (0.9 nm): the native force
    goes to the lowest free force group with a warning, as the Custom forces do (OpenMM's GPU
    platforms need one cutoff per force group), and the energy still equals PME's."""
    system, positions, _ = lipid
    reference, _ = _state(system, positions, "Reference")
    with pytest.warns(UserWarning, match="goes to force group 1"):
        native, forces = _sog(system, "native", tolerance=1e-6, cutoff=0.8)
    assert forces.nonbonded.getForceGroup() == 0 and forces.complement.getForceGroup() == 1
    assert forces.complement.getCutoffDistance() == 0.8
    # Lennard-Jones stays in the NonbondedForce, at its own cutoff.
    assert forces.nonbonded.getCutoffDistance() == 0.9 * unit.nanometer
    for i in range(forces.complement.getNumParticles()):
        assert forces.complement.getParticleLennardJonesParameters(i)[1] == 0.0
    assert not forces.complement.getUseDispersionCorrection()
    energy, _ = _state(native, positions, platform_name)
    scale = abs(_state(_coulomb_only(system), positions, "Reference")[0])
    tolerance = TOLERANCE[platform_name] + (DEVICE_SINGLE_SLACK if ":" in platform_name else 0.0)
    assert abs(energy - reference) <= tolerance * scale, energy - reference


@pytest.mark.parametrize("platform_name", PLATFORMS)
def test_scaled_charges_and_lambda_derivative(lipid, platform_name):
    """lambda scales the lipid's charges everywhere; dU/dlambda against finite differences and
    against the Custom forces' derivative."""
    system, positions, solute = lipid
    coulomb = _coulomb_only(system)
    native, forces = _sog(coulomb, "native", tolerance=1e-6, scaled_particles=solute)
    custom, _ = _sog(coulomb, "custom", tolerance=1e-6, scaled_particles=solute)
    assert forces.complement.getChargeScaleParameterName() == LAMBDA
    contexts = [_context(s, p) for s, p in ((native, platform_name), (custom, "Reference"))]
    scale = abs(_state(coulomb, positions, "Reference")[0])
    tolerance = TOLERANCE[platform_name] * scale
    h = 1e-3
    for context in contexts:
        context.setPositions(positions)
    for lam in (1.0, 0.4, 0.0):
        results = []
        for context in contexts:
            context.setParameter(LAMBDA, lam)
            state = context.getState(getEnergy=True, getParameterDerivatives=True)
            results.append(
                (
                    state.getPotentialEnergy().value_in_unit(KJ),
                    state.getEnergyParameterDerivatives()[LAMBDA],
                )
            )
        (energy, derivative), (custom_energy, custom_derivative) = results
        assert abs(energy - custom_energy) <= tolerance, (lam, energy - custom_energy)
        assert abs(derivative - custom_derivative) <= tolerance, (lam, derivative)
        context = contexts[0]
        context.setParameter(LAMBDA, lam + h)
        upper = context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(KJ)
        context.setParameter(LAMBDA, lam - h)
        lower = context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(KJ)
        # U is quadratic in lambda: the central difference is exact up to rounding.
        finite_difference = (upper - lower) / (2 * h)
        assert abs(derivative - finite_difference) <= 1e-6 * scale / h, (lam, derivative)


def _charged_ions(net_charge, box_vectors, num_ions=300, seed=7):
    """+-1 charges with the given net charge at random points (Ewald or, in a triclinic box,
    PME; no Lennard-Jones), and
    20 scaled pairs (0, 1), (2, 3), ..."""
    rng = np.random.default_rng(seed)
    box = np.array(box_vectors)
    positions = rng.uniform(0.0, 1.0, (num_ions, 3)) @ box
    # Exception partners sit 0.15 nm apart, like bonded atoms (NonbondedForce evaluates
    # exceptions without periodic images).
    direction = rng.normal(size=(num_ions, 3))
    positions[1:40:2] = positions[0:40:2] + 0.15 * (
        direction[0:40:2] / np.linalg.norm(direction[0:40:2], axis=1, keepdims=True)
    )
    positive = (num_ions + net_charge) // 2
    charges = np.array([1.0] * positive + [-1.0] * (num_ions - positive))
    rng.shuffle(charges)
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box))
    nb = openmm.NonbondedForce()
    triclinic = np.count_nonzero(box - np.diag(np.diag(box))) > 0
    # OpenMM's Ewald needs a rectangular box; PME takes any.
    nb.setNonbondedMethod(openmm.NonbondedForce.PME if triclinic else openmm.NonbondedForce.Ewald)
    nb.setCutoffDistance(0.9)
    nb.setEwaldErrorTolerance(1e-7)
    for q in charges:
        system.addParticle(1.0)
        nb.addParticle(q, 0.1, 0.0)
    for i in range(0, 40, 2):
        nb.addException(i, i + 1, 0.5 * charges[i] * charges[i + 1], 0.1, 0.0)
    system.addForce(nb)
    return system, positions


TRICLINIC = [[2.6, 0.0, 0.0], [0.7, 2.5, 0.0], [-0.6, 0.8, 2.4]]
CUBIC = [[2.5, 0.0, 0.0], [0.0, 2.5, 0.0], [0.0, 0.0, 2.5]]


@pytest.mark.parametrize("platform_name", PLATFORMS)
@pytest.mark.parametrize(("net_charge", "box"), [(24, CUBIC), (-10, TRICLINIC), (0, TRICLINIC)])
def test_net_charge_and_triclinic_box_match_ewald(platform_name, net_charge, box):
    """Charged systems (the background stays in the SOGForce) in cubic and triclinic boxes."""
    system, positions = _charged_ions(net_charge, box)
    ewald_energy, ewald_forces = _state(system, positions, "Reference")
    native, sog_forces = _sog(system, "native", tolerance=1e-7, cutoff=0.9)
    energy, forces = _state(native, positions, platform_name)
    # SOG tolerance 1e-7 against Ewald/PME at 1e-7; single precision on CPU and the devices,
    # whose energies are accurate on the scale of the k-space self term sum_i q_i^2 g(0) / 2
    # (docs/design.md section 2.4), 90x |E| here: the net charge's self energy nearly cancels.
    tolerance = max(1e-6, TOLERANCE[platform_name])
    sog = sog_forces.sog
    g0 = sum(sog.getGaussianParameters(k)[0] for k in range(sog.getNumGaussians()))
    nb = system.getForce(0)
    sum_q2 = sum(nb.getParticleParameters(i)[0]._value ** 2 for i in range(nb.getNumParticles()))
    self_term = 0.5 * g0 * sum_q2
    single = platform_name.endswith(("single", "mixed"))
    scale = max(abs(ewald_energy), self_term) if single else abs(ewald_energy)
    assert abs(energy - ewald_energy) <= tolerance * scale, energy - ewald_energy
    assert _force_error(forces, ewald_forces) <= tolerance
    custom, _ = _sog(system, "custom", tolerance=1e-7, cutoff=0.9)
    custom_energy, custom_forces = _state(custom, positions, "Reference")
    tolerance = TOLERANCE[platform_name]
    scale = max(abs(custom_energy), self_term) if single else abs(custom_energy)
    assert abs(energy - custom_energy) <= tolerance * scale
    assert _force_error(forces, custom_forces) <= tolerance


#: where the barostat runs (the Reference platform is the oracle at the final box)
MD_PLATFORMS = [name for name in PLATFORMS if name != "Reference"]


def _run_barostat(system, positions, pressure_bar, seed, steps, platform_name):
    """Add a MonteCarloBarostat (every step, 300 K) to ``system`` and run ``steps`` Langevin
    steps on the platform; return the final State, box vectors and positions (nm), after
    checking that the box changed."""
    start = system.getDefaultPeriodicBoxVectors()[0][0]
    system.addForce(openmm.MonteCarloBarostat(pressure_bar * unit.bar, 300.0, 1))
    integrator = openmm.LangevinMiddleIntegrator(300.0, 5.0, 1e-4)
    integrator.setRandomNumberSeed(seed)
    context = _context(system, platform_name, integrator)
    context.setPositions(positions)
    integrator.step(steps)
    state = context.getState(getEnergy=True, getPositions=True, enforcePeriodicBox=False)
    box = state.getPeriodicBoxVectors()
    assert box[0][0] != start, "the barostat never changed the box"
    return state, box, state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)


@pytest.mark.parametrize("platform_name", MD_PLATFORMS)
def test_box_change_and_barostat(platform_name):
    """A barostat changes the box between steps: the kernel follows it (energy == Ewald at
    the final box), and a box smaller than twice the cutoff is refused."""
    system, positions = _charged_ions(0, CUBIC)
    native, _ = _sog(system, "native", tolerance=1e-6, cutoff=0.9)
    state, box, final = _run_barostat(native, positions, 1000.0, 3, 30, platform_name)
    ewald_energy, _ = _state(system, final, "Reference", box=box)
    energy, _ = _state(native, final, "Reference", box=box)
    run_energy = state.getPotentialEnergy().value_in_unit(KJ)
    assert abs(energy - ewald_energy) <= 2e-6 * abs(ewald_energy)
    assert abs(run_energy - energy) <= TOLERANCE[platform_name] * abs(energy)
    small = [openmm.Vec3(1.7, 0, 0), openmm.Vec3(0, 1.7, 0), openmm.Vec3(0, 0, 1.7)]
    # OpenMM's device nonbonded kernel may refuse the box first, with its own message.
    refused = "exceeds half the periodic box|less than twice the nonbonded cutoff"
    for name in ("Reference", platform_name):
        with pytest.raises(openmm.OpenMMException, match=refused):
            _state(native, final, name, box=small)


@pytest.mark.parametrize("platform_name", PLATFORMS)
def test_force_groups_and_parameter_update(platform_name):
    """The force answers only for its group; updateParametersInContext changes charges and
    charge products like a fresh Context."""
    system, positions = _charged_ions(0, CUBIC)
    native, forces = _sog(system, "native", tolerance=1e-6, cutoff=0.9, force_group=5)
    force = forces.complement
    assert force.getForceGroup() == 5
    others = {g for g in range(32) if g != 5}
    alone, _ = _state(native, positions, platform_name, groups={5})
    total, _ = _state(native, positions, platform_name)
    rest, _ = _state(native, positions, platform_name, groups=others)
    # Single precision: each evaluation rounds its float energy sums on its own.
    tolerance = max(1e-9, TOLERANCE[platform_name])
    assert alone != 0.0 and abs(alone + rest - total) <= tolerance * abs(total)
    context = _context(native, platform_name)
    context.setPositions(positions)
    charge, scaled = force.getParticleParameters(3)
    force.setParticleParameters(3, -0.5 * charge, scaled)
    p1, p2, charge_prod = force.getExceptionParameters(2)
    force.setExceptionParameters(2, p1, p2, 3.0 * charge_prod)
    force.updateParametersInContext(context)
    updated = context.getState(getEnergy=True, groups={5}).getPotentialEnergy().value_in_unit(KJ)
    fresh, _ = _state(native, positions, platform_name, groups={5})
    assert abs(updated - fresh) <= tolerance * abs(fresh) and abs(updated - alone) > 1e-3
    force.setExceptionParameters(2, p1, p2 + 7, charge_prod)
    with pytest.raises(openmm.OpenMMException, match="cannot change the particles of exception"):
        force.updateParametersInContext(context)


@pytest.mark.parametrize(
    "platform_name", [name for name in PLATFORMS if ":" in name] + ["CUDA:mixed"]
)
def test_whole_system_matches_the_custom_path_on_the_same_platform(lipid, platform_name):
    """The whole use_sog_coulomb System (bonded terms, Lennard-Jones with switching and the
    dispersion correction, 1-4 exceptions, the lipid's charges scaled by lambda = 0.6) with
    real_space="native" against real_space="custom" on the same device platform and precision:
    energy, forces and dU/dlambda. Both Systems hold the same SOGForce, so this isolates the
    native force from the device's k-space kernel."""
    system, positions, solute = lipid
    system = _with_lennard_jones_options(system, 0.75)
    scale = abs(_state(_coulomb_only(system), positions, "Reference")[0])
    results = []
    for real_space in ("native", "custom"):
        sog, _ = _sog(system, real_space, tolerance=1e-6, scaled_particles=solute)
        context = _context(sog, platform_name)
        context.setPositions(positions)
        context.setParameter(LAMBDA, 0.6)
        state = context.getState(getEnergy=True, getForces=True, getParameterDerivatives=True)
        results.append(
            (
                state.getPotentialEnergy().value_in_unit(KJ),
                state.getForces(asNumpy=True).value_in_unit(KJ_NM),
                state.getEnergyParameterDerivatives()[LAMBDA],
            )
        )
    (energy, forces, derivative), (custom_energy, custom_forces, custom_derivative) = results
    # Double precision: the Custom forces keep their per-particle and per-bond parameters in
    # float on the device platforms (1e-7 relative), so they, not the native force, set the bound.
    tolerance = max(TOLERANCE[platform_name], 1e-6)
    assert abs(energy - custom_energy) <= tolerance * scale, energy - custom_energy
    assert _force_error(forces, custom_forces) <= tolerance
    assert abs(derivative - custom_derivative) <= tolerance * scale, derivative - custom_derivative


def test_xml_round_trip():
    system, positions = _charged_ions(4, TRICLINIC)
    native, forces = _sog(system, "native", tolerance=1e-6, cutoff=0.9, scaled_particles=[0, 5, 9])
    force = forces.complement
    copy = SOGCoulombRealSpaceForce.cast(
        openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(force))
    )
    getters = [
        "getNumParticles",
        "getNumExceptions",
        "getNumGaussians",
        "getPolynomialCoefficients",
        "getCutoffDistance",
        "getCoulombPrefactor",
        "getChargeScaleParameterName",
        "getNumEnergyParameterDerivatives",
        "getForceGroup",
        "getName",
    ]
    for getter in getters:
        assert getattr(copy, getter)() == getattr(force, getter)(), getter
    for i in range(force.getNumParticles()):
        assert copy.getParticleParameters(i) == force.getParticleParameters(i)
    for k in range(force.getNumExceptions()):
        assert copy.getExceptionParameters(k) == force.getExceptionParameters(k)
    for k in range(force.getNumGaussians()):
        assert copy.getGaussianParameters(k) == force.getGaussianParameters(k)
    assert copy.getEnergyParameterDerivativeName(0) == LAMBDA
    # The whole System survives XML with the same energy.
    energy, _ = _state(native, positions, "CPU")
    energy_copy, _ = _state(_copy(native), positions, "CPU")
    assert energy_copy == energy


def _small_force(num_particles=4):
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in CUBIC))
    force = SOGCoulombRealSpaceForce()
    force.setCutoffDistance(0.9)
    force.addGaussian(100.0, 0.3)
    for i in range(num_particles):
        system.addParticle(1.0)
        force.addParticle(1.0 if i % 2 else -1.0)
    return system, force


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s, f: f.setCutoffDistance(1.3), "exceeds half the periodic box"),
        (lambda s, f: f.setCutoffDistance(float("nan")), "cutoff must be a finite number > 0"),
        (lambda s, f: f.addException(0, 4, 0.0), r"invalid particles \(0, 4\)"),
        (lambda s, f: f.addException(1, 1, 0.0), r"invalid particles \(1, 1\)"),
        (lambda s, f: [f.addException(0, 1, 0.0), f.addException(1, 0, 0.0)], "repeats the pair"),
        (lambda s, f: f.addParticle(1.0), "the force has 5 particles but the System has 4"),
        (lambda s, f: f.setParticleParameters(2, float("inf"), False), "non-finite charge"),
        (lambda s, f: f.addGaussian(1.0, -0.2), "finite width > 0 nm"),
        (lambda s, f: f.setPolynomialCoefficients([1.0, float("nan")]), "coefficient 1"),
        (lambda s, f: f.setCoulombPrefactor(0.0), "Coulomb prefactor must be finite and > 0"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(change, message):
    system, force = _small_force()
    change(system, force)
    system.addForce(force)
    with pytest.raises(openmm.OpenMMException, match=message):
        openmm.Context(
            system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("CPU")
        )


def test_bad_arguments_are_refused():
    _, force = _small_force()
    with pytest.raises(openmm.OpenMMException, match="particle index 9 is out of range"):
        force.getParticleParameters(9)
    with pytest.raises(openmm.OpenMMException, match="none is set"):
        force.addEnergyParameterDerivative(LAMBDA)
    force.setChargeScaleParameterName("lam")
    with pytest.raises(openmm.OpenMMException, match="its charge scale parameter 'lam'"):
        force.addEnergyParameterDerivative("other")
    system, _ = _charged_ions(0, CUBIC)
    with pytest.raises(ValueError, match="real_space must be 'custom' or 'native'"):
        use_sog_coulomb(_copy(system), real_space="fast")


def test_every_platform_has_the_kernel():
    """Every platform OpenMM has here supports the force, so a Context without a named platform
    takes the fastest one."""
    system, positions = _charged_ions(0, CUBIC, num_ions=40)
    native, _ = _sog(system, "native", tolerance=1e-4, cutoff=0.9)
    for i in range(openmm.Platform.getNumPlatforms()):
        platform = openmm.Platform.getPlatform(i)
        if platform.getName() in ("Reference", "CPU", "OpenCL", "CUDA"):
            assert platform.supportsKernels(["CalcSOGCoulombRealSpaceForce"]), platform.getName()
    context = openmm.Context(native, openmm.VerletIntegrator(1e-3))
    context.setPositions(positions)
    assert context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(KJ) != 0.0


# Lennard-Jones in the native force: use_sog_coulomb(real_space="native") moves the
# NonbondedForce's Lennard-Jones (particles, exceptions, switching, dispersion correction) into
# SOGCoulombRealSpaceForce and removes the NonbondedForce. Oracle: OpenMM's NonbondedForce.

SWITCHING = [None, 0.75]  # nm


def _nonbonded(system):
    return next(f for f in system.getForces() if isinstance(f, openmm.NonbondedForce))


def _with_lennard_jones_options(system, switching=None, dispersion=True):
    """A copy whose NonbondedForce uses the switching function from ``switching`` nm (None: no
    switching) and the dispersion correction if ``dispersion``."""
    system = _copy(system)
    nb = _nonbonded(system)
    nb.setUseSwitchingFunction(switching is not None)
    if switching is not None:
        nb.setSwitchingDistance(switching)
    nb.setUseDispersionCorrection(dispersion)
    return system


def _lennard_jones_only(system):
    """The System's NonbondedForce alone with every charge and charge product 0: its energy is
    Lennard-Jones only (the PME parts vanish), exceptions (1-4 pairs) included."""
    system = _copy(system)
    nb = _nonbonded(system)
    for i in range(nb.getNumParticles()):
        _, sigma, epsilon = nb.getParticleParameters(i)
        nb.setParticleParameters(i, 0.0, sigma, epsilon)
    for k in range(nb.getNumExceptions()):
        i, j, _, sigma, epsilon = nb.getExceptionParameters(k)
        nb.setExceptionParameters(k, i, j, 0.0, sigma, epsilon)
    for index in reversed(range(system.getNumForces())):
        if not isinstance(system.getForce(index), openmm.NonbondedForce):
            system.removeForce(index)
    return system


def _assert_lennard_jones_moved(system, forces, nb):
    """The native force holds the NonbondedForce's Lennard-Jones and the NonbondedForce is gone."""
    assert forces.nonbonded is None
    assert not any(isinstance(f, openmm.NonbondedForce) for f in system.getForces())
    force = forces.complement
    assert force.getUseSwitchingFunction() == nb.getUseSwitchingFunction()
    if nb.getUseSwitchingFunction():
        assert force.getSwitchingDistance() == nb.getSwitchingDistance().value_in_unit(
            unit.nanometer
        )
    assert force.getUseDispersionCorrection() == nb.getUseDispersionCorrection()
    for i in range(0, nb.getNumParticles(), 97):
        _, sigma, epsilon = nb.getParticleParameters(i)
        assert force.getParticleLennardJonesParameters(i) == [
            sigma.value_in_unit(unit.nanometer),
            epsilon.value_in_unit(KJ),
        ]
    for k in range(nb.getNumExceptions()):
        _, _, _, sigma, epsilon = nb.getExceptionParameters(k)
        assert force.getExceptionLennardJonesParameters(k) == [
            sigma.value_in_unit(unit.nanometer),
            epsilon.value_in_unit(KJ),
        ]


@pytest.mark.parametrize("platform_name", PLATFORMS)
@pytest.mark.parametrize("switching", SWITCHING)
@pytest.mark.parametrize("dispersion", [True, False])
def test_lennard_jones_matches_nonbonded_force(lipid, platform_name, switching, dispersion):
    """Charges 0: the native force's energy and forces are Lennard-Jones only (pairs with
    Lorentz-Berthelot mixing, scaled 1-4 exceptions, exclusions, switching, dispersion
    correction) and equal those of OpenMM's NonbondedForce (Reference, double precision)."""
    system, positions, _ = lipid
    lennard_jones = _lennard_jones_only(_with_lennard_jones_options(system, switching, dispersion))
    nb = _nonbonded(lennard_jones)
    assert any(nb.getExceptionParameters(k)[4] != 0.0 * KJ for k in range(nb.getNumExceptions()))
    reference_energy, reference_forces = _state(lennard_jones, positions, "Reference")
    native, forces = _sog(lennard_jones, "native", tolerance=1e-4)
    _assert_lennard_jones_moved(native, forces, nb)
    energy, f = _state(native, positions, platform_name)
    tolerance = TOLERANCE[platform_name]
    assert abs(energy - reference_energy) <= tolerance * abs(reference_energy), (
        energy - reference_energy
    )
    assert _force_error(f, reference_forces) <= tolerance
    if dispersion:
        # The correction is present and is NonbondedForce's: without it both energies differ.
        no_dispersion = _with_lennard_jones_options(lennard_jones, switching, False)
        correction = reference_energy - _state(no_dispersion, positions, "Reference")[0]
        assert abs(correction) > 1.0
        native_no_dispersion, _ = _sog(no_dispersion, "native", tolerance=1e-4)
        native_correction = energy - _state(native_no_dispersion, positions, platform_name)[0]
        assert abs(native_correction - correction) <= tolerance * abs(reference_energy)


@pytest.mark.parametrize("platform_name", PLATFORMS)
@pytest.mark.parametrize("switching", SWITCHING)
def test_whole_system_with_lennard_jones_matches_pme(lipid, platform_name, switching):
    """The lipid in water with everything (bonded terms, Lennard-Jones with its 1-4 exceptions
    and dispersion correction, Coulomb): the native System without a NonbondedForce against
    the PME System."""
    system, positions, _ = lipid
    system = _with_lennard_jones_options(system, switching)
    pme_energy, pme_forces = _state(system, positions, "Reference")
    native, forces = _sog(system, "native", tolerance=1e-6)
    _assert_lennard_jones_moved(native, forces, _nonbonded(system))
    energy, f = _state(native, positions, platform_name)
    scale = abs(_state(_coulomb_only(system), positions, "Reference")[0])
    # SOG tolerance 1e-6 against PME at 1e-7, plus single precision on CPU (and in the device
    # SOGForce). In single and mixed precision on a device the flexible water's bonds see float
    # positions: the PME System itself is 7.6e-5 off Reference in forces there.
    slack = DEVICE_SINGLE_SLACK if _is_device_single(platform_name) else 0.0
    assert abs(energy - pme_energy) <= (3e-6 + slack) * scale, energy - pme_energy
    device_single = TOLERANCE[platform_name] == DEVICE_SINGLE_TOLERANCE
    assert _force_error(f, pme_forces) <= (1e-4 if device_single else 2e-5)


@pytest.mark.parametrize("platform_name", MD_PLATFORMS)
def test_dispersion_correction_follows_the_barostat(lipid, platform_name):
    """A MonteCarloBarostat changes the box: at the final box and positions the native System's
    energy equals PME's (the dispersion correction scales as 1/V), and its Lennard-Jones alone
    equals the NonbondedForce's."""
    system, positions, _ = lipid
    native, forces = _sog(system, "native", tolerance=1e-6)
    assert forces.complement.getUseDispersionCorrection()
    state, box, final = _run_barostat(native, positions, 2000.0, 11, 25, platform_name)
    pme_energy, _ = _state(system, final, "Reference", box=box)
    energy, _ = _state(native, final, "Reference", box=box)
    scale = abs(_state(_coulomb_only(system), final, "Reference", box=box)[0])
    assert abs(energy - pme_energy) <= 3e-6 * scale, energy - pme_energy
    run_energy = state.getPotentialEnergy().value_in_unit(KJ)
    tolerance = TOLERANCE[platform_name]
    assert abs(run_energy - energy) <= tolerance * scale, run_energy - energy
    lennard_jones = _lennard_jones_only(system)
    lj_native, _ = _sog(lennard_jones, "native", tolerance=1e-4)
    reference, _ = _state(lennard_jones, final, "Reference", box=box)
    for name in ("Reference", platform_name):
        lj_energy, _ = _state(lj_native, final, name, box=box)
        assert abs(lj_energy - reference) <= max(1e-10, tolerance) * abs(reference), name


def _scaled_pme(system, particles, scale):
    """The PME System with the charges of ``particles`` multiplied by ``scale`` (Lennard-Jones
    unchanged): the oracle of charge scaling."""
    system = _copy(system)
    nb = _nonbonded(system)
    factor = dict.fromkeys(particles, scale)
    for i in particles:
        q, sigma, epsilon = nb.getParticleParameters(i)
        nb.setParticleParameters(i, q * scale, sigma, epsilon)
    for k in range(nb.getNumExceptions()):
        i, j, charge_prod, sigma, epsilon = nb.getExceptionParameters(k)
        nb.setExceptionParameters(
            k, i, j, charge_prod * factor.get(i, 1.0) * factor.get(j, 1.0), sigma, epsilon
        )
    return system


@pytest.mark.parametrize("platform_name", PLATFORMS)
def test_scaled_charges_leave_lennard_jones_unscaled(lipid, platform_name):
    """lambda scales the lipid's charges but not its Lennard-Jones: at lambda = 0.4 and 0 the
    native System equals PME with those charges and full Lennard-Jones, and dU/dlambda (charges
    only) equals the central difference."""
    system, positions, solute = lipid
    native, forces = _sog(system, "native", tolerance=1e-6, scaled_particles=solute)
    assert forces.nonbonded is None
    context = _context(native, platform_name)
    context.setPositions(positions)
    scale = abs(_state(_coulomb_only(system), positions, "Reference")[0])
    tolerance = max(3e-6, TOLERANCE[platform_name]) * scale
    h = 1e-3
    for lam in (0.4, 0.0):
        pme_energy, _ = _state(_scaled_pme(system, solute, lam), positions, "Reference")
        context.setParameter(LAMBDA, lam)
        state = context.getState(getEnergy=True, getParameterDerivatives=True)
        energy = state.getPotentialEnergy().value_in_unit(KJ)
        assert abs(energy - pme_energy) <= tolerance, (lam, energy - pme_energy)
        derivative = state.getEnergyParameterDerivatives()[LAMBDA]
        context.setParameter(LAMBDA, lam + h)
        upper = context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(KJ)
        context.setParameter(LAMBDA, lam - h)
        lower = context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(KJ)
        # U is quadratic in lambda (Lennard-Jones does not depend on it).
        assert abs(derivative - (upper - lower) / (2 * h)) <= 1e-6 * scale / h, (lam, derivative)


@pytest.mark.parametrize("platform_name", PLATFORMS)
def test_lennard_jones_parameter_update(lipid, platform_name):
    """updateParametersInContext copies particle and exception sigma/epsilon (and recomputes the
    dispersion correction) like a fresh Context."""
    system, positions, _ = lipid
    native, forces = _sog(system, "native", tolerance=1e-4)
    force = forces.complement
    context = _context(native, platform_name)
    context.setPositions(positions)
    before = context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(KJ)
    for i in range(0, force.getNumParticles(), 3):
        sigma, epsilon = force.getParticleLennardJonesParameters(i)
        force.setParticleLennardJonesParameters(i, 1.05 * sigma, 0.8 * epsilon + 0.01)
    k = next(k for k in range(force.getNumExceptions()) if force.getExceptionParameters(k)[2])
    sigma, epsilon = force.getExceptionLennardJonesParameters(k)
    force.setExceptionLennardJonesParameters(k, sigma, 3.0 * epsilon + 0.5)
    force.updateParametersInContext(context)
    updated = context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(KJ)
    fresh, _ = _state(native, positions, platform_name)
    tolerance = max(1e-9, TOLERANCE[platform_name])  # single precision: float energy sums
    assert abs(updated - fresh) <= tolerance * abs(fresh) and abs(updated - before) > 1.0
    force.setParticleLennardJonesParameters(4, 0.3, -1.0)
    with pytest.raises(openmm.OpenMMException, match="particle 4 has invalid Lennard-Jones"):
        force.updateParametersInContext(context)
    force.setParticleLennardJonesParameters(4, 0.3, 1.0)
    force.setUseDispersionCorrection(False)
    with pytest.raises(openmm.OpenMMException, match="cannot change the cutoff, the switching"):
        force.updateParametersInContext(context)


def test_lennard_jones_xml_round_trip(lipid):
    """Version 2 keeps sigma, epsilon, the switching function and the dispersion correction."""
    system, positions, _ = lipid
    native, forces = _sog(_with_lennard_jones_options(system, 0.75), "native", tolerance=1e-4)
    force = forces.complement
    xml = openmm.XmlSerializer.serialize(force)
    assert 'version="2"' in xml
    copy = SOGCoulombRealSpaceForce.cast(openmm.XmlSerializer.deserialize(xml))
    for getter in ("getUseSwitchingFunction", "getSwitchingDistance", "getUseDispersionCorrection"):
        assert getattr(copy, getter)() == getattr(force, getter)(), getter
    assert copy.getUseSwitchingFunction() and copy.getSwitchingDistance() == 0.75
    for i in range(force.getNumParticles()):
        assert copy.getParticleLennardJonesParameters(i) == force.getParticleLennardJonesParameters(
            i
        )
        assert copy.getParticleParameters(i) == force.getParticleParameters(i)
    for k in range(force.getNumExceptions()):
        assert copy.getExceptionLennardJonesParameters(
            k
        ) == force.getExceptionLennardJonesParameters(k)
        assert copy.getExceptionParameters(k) == force.getExceptionParameters(k)
    energy, _ = _state(native, positions, "CPU")
    assert _state(_copy(native), positions, "CPU")[0] == energy


#: What version 1 of the proxy wrote (before Lennard-Jones): still read, without Lennard-Jones.
VERSION_1_XML = """<?xml version="1.0" ?>
<Force chargeScaleName="" cutoff=".9" forceGroup="2" name="complement" prefactor="138.9"
 type="SOGCoulombRealSpaceForce" version="1">
    <Gaussians><Gaussian sigma=".3" w="100"/></Gaussians>
    <Polynomial><Coefficient c="2.5"/><Coefficient c="-.5"/></Polynomial>
    <Particles>
        <Particle q="1" scaled="0"/><Particle q="-1" scaled="1"/><Particle q=".5" scaled="0"/>
    </Particles>
    <Exceptions><Exception p1="0" p2="2" qq=".25"/></Exceptions>
    <EnergyParameterDerivatives/>
</Force>
"""


def test_version_1_xml_still_reads():
    force = SOGCoulombRealSpaceForce.cast(openmm.XmlSerializer.deserialize(VERSION_1_XML))
    assert force.getNumParticles() == 3 and force.getNumExceptions() == 1
    assert force.getForceGroup() == 2 and force.getCutoffDistance() == 0.9
    assert force.getPolynomialCoefficients() == (2.5, -0.5)
    assert force.getParticleParameters(1) == [-1.0, True]
    assert force.getExceptionParameters(0) == [0, 2, 0.25]
    for i in range(3):
        assert force.getParticleLennardJonesParameters(i) == [0.0, 0.0]
    assert force.getExceptionLennardJonesParameters(0) == [0.0, 0.0]
    assert not force.getUseSwitchingFunction() and not force.getUseDispersionCorrection()
    # Written again, it is version 2 and reads back the same.
    again = openmm.XmlSerializer.serialize(force)
    assert 'version="2"' in again
    copy = SOGCoulombRealSpaceForce.cast(openmm.XmlSerializer.deserialize(again))
    assert copy.getParticleParameters(1) == [-1.0, True]
    assert copy.getExceptionLennardJonesParameters(0) == [0.0, 0.0]


def _small_lennard_jones_force():
    system, force = _small_force()
    for i in range(force.getNumParticles()):
        force.setParticleLennardJonesParameters(i, 0.3, 0.5)
    force.addException(0, 1, 0.0, 0.3, 0.2)
    return system, force


def _switching(force, distance):
    force.setUseSwitchingFunction(True)
    force.setSwitchingDistance(distance)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda f: f.setParticleLennardJonesParameters(1, -0.1, 0.5),
            r"particle 1 has invalid Lennard-Jones parameters \(sigma -0.1 nm",
        ),
        (
            lambda f: f.setParticleLennardJonesParameters(2, 0.3, -1.0),
            "particle 2 has invalid Lennard-Jones parameters",
        ),
        (
            lambda f: f.setParticleLennardJonesParameters(0, float("nan"), 1.0),
            "particle 0 has invalid Lennard-Jones parameters",
        ),
        (
            lambda f: f.setParticleLennardJonesParameters(3, 0.3, float("inf")),
            "particle 3 has invalid Lennard-Jones parameters",
        ),
        (
            lambda f: f.setExceptionLennardJonesParameters(0, 0.3, -0.2),
            "exception 0 has invalid Lennard-Jones parameters",
        ),
        (
            lambda f: f.addException(2, 3, 0.1, -0.3, 0.2),
            "exception 1 has invalid Lennard-Jones parameters",
        ),
        (lambda f: _switching(f, 0.9), r"switching distance 0.9 nm must satisfy 0 <= distance"),
        (lambda f: _switching(f, 1.2), "switching distance 1.2 nm"),
        (lambda f: f.setUseSwitchingFunction(True), "switching distance -1 nm"),
    ],
)
def test_bad_lennard_jones_input_is_refused(change, message):
    system, force = _small_lennard_jones_force()
    change(force)
    system.addForce(force)
    for platform_name in PLATFORMS:
        with pytest.raises(openmm.OpenMMException, match=message):
            _context(system, platform_name)


def test_lennard_jones_api():
    """The overloads: addParticle(charge, scaled) and addException(p1, p2, chargeProd) add no
    Lennard-Jones; setParticleParameters and setExceptionParameters keep it."""
    force = SOGCoulombRealSpaceForce()
    assert force.addParticle(0.5) == 0 and force.addParticle(-0.5, True) == 1
    assert force.addParticle(0.2, 0.31, 0.6) == 2 and force.addParticle(0.1, 0.28, 0.4, True) == 3
    assert force.getParticleLennardJonesParameters(1) == [0.0, 0.0]
    assert force.getParticleParameters(3) == [0.1, True]
    assert force.getParticleLennardJonesParameters(3) == [0.28, 0.4]
    force.setParticleParameters(3, -0.1, False)
    assert force.getParticleLennardJonesParameters(3) == [0.28, 0.4]
    assert force.addException(0, 1, 0.1) == 0 and force.addException(2, 3, 0.05, 0.3, 0.2) == 1
    assert force.getExceptionLennardJonesParameters(0) == [0.0, 0.0]
    force.setExceptionParameters(1, 2, 3, 0.0)
    assert force.getExceptionLennardJonesParameters(1) == [0.3, 0.2]
    assert not force.getUseSwitchingFunction() and not force.getUseDispersionCorrection()
    with pytest.raises(openmm.OpenMMException, match="exception index 2 is out of range"):
        force.getExceptionLennardJonesParameters(2)
    with pytest.raises(openmm.OpenMMException, match="particle index 4 is out of range"):
        force.setParticleLennardJonesParameters(4, 0.3, 0.1)


def _lennard_jones_lattice(box_vectors, seed=3):
    """Uncharged Lennard-Jones particles on a jittered 7x7x7 lattice of the (possibly triclinic)
    cell, mixed sigma and epsilon (every fifth particle without Lennard-Jones), and exceptions
    between lattice neighbours of a row with their own sigma and epsilon (every third one a pure
    exclusion); NonbondedForce with PME, switching from 0.8 nm and the dispersion correction."""
    rng = np.random.default_rng(seed)
    box = np.array(box_vectors)
    sites = np.array([(i, j, k) for k in range(7) for j in range(7) for i in range(7)], float)
    fractions = (sites + 0.5 + rng.uniform(-0.1, 0.1, sites.shape)) / 7.0
    positions = fractions @ box
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box))
    nb = openmm.NonbondedForce()
    nb.setNonbondedMethod(openmm.NonbondedForce.PME)
    nb.setCutoffDistance(0.9)
    nb.setUseSwitchingFunction(True)
    nb.setSwitchingDistance(0.8)
    nb.setUseDispersionCorrection(True)
    for index in range(len(positions)):
        system.addParticle(1.0)
        epsilon = 0.0 if index % 5 == 0 else rng.uniform(0.2, 1.0)
        nb.addParticle(0.0, rng.uniform(0.2, 0.3), epsilon)
    for count, index in enumerate(i for i in range(len(positions) - 1) if i % 7 != 6):
        epsilon = 0.0 if count % 3 == 0 else rng.uniform(0.1, 0.5)
        nb.addException(index, index + 1, 0.0, rng.uniform(0.2, 0.3), epsilon)
    system.addForce(nb)
    return system, positions


@pytest.mark.parametrize("platform_name", PLATFORMS)
@pytest.mark.parametrize("box", [CUBIC, TRICLINIC], ids=["cubic", "triclinic"])
def test_lennard_jones_in_cubic_and_triclinic_boxes(platform_name, box):
    """Minimum image in a triclinic cell for Lennard-Jones too (pairs, exceptions, switching,
    dispersion correction with the triclinic volume), against NonbondedForce."""
    system, positions = _lennard_jones_lattice(box)
    reference_energy, reference_forces = _state(system, positions, "Reference")
    native, forces = _sog(system, "native", tolerance=1e-4)
    _assert_lennard_jones_moved(native, forces, _nonbonded(system))
    energy, f = _state(native, positions, platform_name)
    tolerance = TOLERANCE[platform_name]
    assert abs(energy - reference_energy) <= tolerance * abs(reference_energy), (
        energy - reference_energy
    )
    assert _force_error(f, reference_forces) <= tolerance
