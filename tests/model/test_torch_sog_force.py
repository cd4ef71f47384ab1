"""The native TorchSOGForce: a whole exported SOG-Net in OpenMM (libtorch model + C++ long range).

Oracle: the eager float64 model's short-range energy and latent charges plus the direct lattice
sum of its whole kernel over those charges (openmm_sog.reference.lattice_sum_energy,
docs/design.md §6, oracle 1), differentiated by autograd through the charges. That checks the three
pieces the force couples: the export's real-space part of the narrow Gaussians, the native
k-space sum of the others, and the chain rule through dE/dq in one backward pass. The force's
k-space sum runs at tolerance 1e-9; the real-space part is truncated at the model's cutoff where
the narrow Gaussians fall below the model's tolerance (1e-7 of their amplitude), so in double
precision energies must agree to 1e-7 of |E| and forces to 1e-6 of the RMS force; OpenCL/CUDA in
single and mixed precision (device long range in float; on PoCL 6e-6 and 6e-5 are reached) to
3e-5 and 3e-4. Dropping the chain rule or a Gaussian moves the result by 1e-2 or more.
"""

import gc
import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import openmm
import pytest
import torch
from file_helpers import flip_bit_in_largest_tensor, rewrite_metadata
from model_helpers import TRICLINIC, make_model, random_structure

from openmm_sog.openmm_model import create_sognet_force
from openmm_sog.reference import lattice_sum_energy
from openmm_sog.training.export import export_model
from openmm_sog.training.integrity import CorruptFileError, FileFormatError
from openmm_sog.units import KJ_PER_MOL_PER_EV, NM_PER_ANGSTROM

try:
    from openmm_sog.plugin import TorchSOGForce
except ImportError as error:
    pytest.skip(f"the openmm_sog native plugin is not built: {error}", allow_module_level=True)

KJ_NM = openmm.unit.kilojoule_per_mole / openmm.unit.nanometer
NUM_ATOMS = 16


@pytest.fixture(scope="module")
def model():
    return make_model(seed=5)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "model.pt"
    export_model(model, path)
    return path


@pytest.fixture(scope="module")
def structure():
    return random_structure(NUM_ATOMS, TRICLINIC, seed=6)


def _system(num_atoms=NUM_ATOMS):
    system = openmm.System()
    box_nm = np.array(TRICLINIC) * NM_PER_ANGSTROM
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box_nm))
    for _ in range(num_atoms):
        system.addParticle(20.0)
    return system


def _platforms():
    """(platform, precision, relative check): OpenCL (PoCL in CI) in its three precisions."""
    names = [
        openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())
    ]
    double, single = (1e-7, 1e-6), (3e-5, 3e-4)  # (energy, force) checks
    cases = [("Reference", "double", double), ("CPU", "double", double)]
    for name in ("OpenCL", "CUDA"):
        if name in names:
            cases += [(name, "double", double), (name, "mixed", single), (name, "single", single)]
    return cases


def _evaluate(system, positions_nm, platform="Reference", precision=None):
    properties = {} if precision is None else {"Precision": precision}
    context = openmm.Context(
        system,
        openmm.VerletIntegrator(1e-3),
        openmm.Platform.getPlatformByName(platform),
        properties,
    )
    context.setPositions(positions_nm)
    state = context.getState(getEnergy=True, getForces=True)
    energy = state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    return energy, state.getForces(asNumpy=True).value_in_unit(KJ_NM)


def _oracle(model, structure, fixed_charges=False):
    """Energy (kJ/mol) and forces (kJ/mol/nm): E_sr + direct lattice sum of the latent charges
    (held fixed, i.e. without their chain rule, if ``fixed_charges``)."""
    positions = structure["positions"].clone().requires_grad_(True)
    parts = model.energy_components(**dict(structure, positions=positions))
    charges = parts["charges"].detach() if fixed_charges else parts["charges"]
    cell = structure["cell"][0]
    long_range = lattice_sum_energy(positions, charges, cell, model.lr.kernel, 1e-14)
    energy = parts["energy_sr"].sum() + long_range
    (gradient,) = torch.autograd.grad(energy, positions)
    return (
        float(energy.detach()) * KJ_PER_MOL_PER_EV,
        -gradient.numpy() * KJ_PER_MOL_PER_EV / NM_PER_ANGSTROM,
    )


def _native_force(exported, structure, tolerance=1e-9):
    numbers = structure["atomic_numbers"].tolist()
    return create_sognet_force(exported, numbers, implementation="native", tolerance=tolerance)


@pytest.mark.parametrize("platform, precision, check", _platforms())
def test_native_force_matches_direct_lattice_sum_oracle(
    model, exported, structure, platform, precision, check
):
    force = _native_force(exported, structure)
    assert isinstance(force, TorchSOGForce)
    # The narrowest Gaussians are in the model's real-space part, the others in the force.
    kspace = int(model.lr.periodic.kspace_mask().sum())
    assert force.getNumGaussians() == kspace and 0 < kspace < 12
    check_force_against_oracle(model, force, structure, platform, precision, check)


def check_force_against_oracle(model, force, structure, platform, precision, check):
    """``force`` alone in a System on ``platform`` gives the oracle's energy and forces within
    ``check`` = (energy, force) relative bounds, and the charges' chain rule matters (> 1 %)."""
    system = _system(structure["positions"].shape[0])
    system.addForce(force)
    positions_nm = structure["positions"].numpy() * NM_PER_ANGSTROM
    properties = None if platform in ("Reference", "CPU") else precision
    energy, forces = _evaluate(system, positions_nm, platform, properties)
    ref_energy, ref_forces = _oracle(model, structure)
    scale = np.sqrt(np.mean(ref_forces**2))
    energy_check, force_check = check
    assert abs(energy - ref_energy) < energy_check * max(abs(ref_energy), 1.0)
    assert np.abs(forces - ref_forces).max() < force_check * scale
    # The latent charges' chain rule is not small here: without it the forces move by > 1 %.
    _, charges_fixed = _oracle(model, structure, fixed_charges=True)
    assert np.abs(charges_fixed - ref_forces).max() > 1e-2 * scale


def test_native_and_python_forces_agree_at_the_model_tolerance(exported, structure):
    """The PythonForce path (torch NUFFT, tolerance 1e-7 of the test model) and the native one."""
    results = []
    for implementation in ("python", "native"):
        system = _system()
        system.addForce(
            create_sognet_force(
                exported, structure["atomic_numbers"].tolist(), implementation=implementation
            )
        )
        results.append(_evaluate(system, structure["positions"].numpy() * NM_PER_ANGSTROM))
    (e_python, f_python), (e_native, f_native) = results
    scale = np.sqrt(np.mean(f_python**2))
    assert abs(e_native - e_python) < 1e-6 * max(abs(e_python), 1.0)
    assert np.abs(f_native - f_python).max() < 1e-5 * scale


def test_native_forces_are_minus_the_energy_gradient(exported, structure):
    system = _system()
    system.addForce(_native_force(exported, structure))
    context = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
    )
    positions = structure["positions"].numpy() * NM_PER_ANGSTROM
    context.setPositions(positions)
    forces = context.getState(getForces=True).getForces(asNumpy=True).value_in_unit(KJ_NM)
    h = 1e-5
    for i, d in [(0, 0), (7, 2), (12, 1)]:
        energies = []
        for sign in (1, -1):
            shifted = positions.copy()
            shifted[i, d] += sign * h
            context.setPositions(shifted)
            state = context.getState(getEnergy=True)
            energies.append(
                state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
            )
        assert forces[i, d] == pytest.approx(
            -(energies[0] - energies[1]) / (2 * h), rel=1e-5, abs=1e-4
        )


def test_serialization_round_trip(exported, structure):
    force = _native_force(exported, structure)
    force.setForceGroup(3)
    copy = TorchSOGForce.cast(
        openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(force))
    )
    assert copy.getFile() == force.getFile()
    assert copy.getModelBytes() == force.getModelBytes() == exported.read_bytes()
    assert list(copy.getAtomicNumbers()) == structure["atomic_numbers"].tolist()
    assert copy.getNumChannels() == 2 and copy.getForceGroup() == 3
    assert copy.getTolerance() == force.getTolerance()
    assert [copy.getGaussianParameters(i) for i in range(copy.getNumGaussians())] == [
        force.getGaussianParameters(i) for i in range(force.getNumGaussians())
    ]
    # A serialized System evaluates to the same energy.
    system = _system()
    system.addForce(force)
    positions = structure["positions"].numpy() * NM_PER_ANGSTROM
    restored = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system))
    assert _evaluate(restored, positions)[0] == _evaluate(system, positions)[0]


def _context_error(force, system=None, positions=None):
    system = _system() if system is None else system
    system.addForce(force)
    context = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
    )
    if positions is not None:
        context.setPositions(positions)
        context.getState(getForces=True)


def test_bad_input_is_named(exported, structure, tmp_path):
    numbers = structure["atomic_numbers"].tolist()
    positions = structure["positions"].numpy() * NM_PER_ANGSTROM

    def force_for(path, atomic_numbers=numbers, channels=2):
        force = TorchSOGForce(str(path), atomic_numbers, channels)
        force.addGaussian(1.0, 0.3, 0)
        return force

    with pytest.raises(
        openmm.OpenMMException, match="atomic numbers for 15 particles but the System has 16"
    ):
        _context_error(force_for(exported, numbers[:-1]))
    with pytest.raises(openmm.OpenMMException, match="cannot open the model file"):
        _context_error(force_for(tmp_path / "missing.pt"))
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(openmm.OpenMMException, match="cannot load .* as a TorchScript model"):
        _context_error(force_for(tmp_path / "junk.pt"))
    plain = torch.jit.script(torch.nn.Linear(3, 1))
    plain.save(str(tmp_path / "plain.pt"))
    with pytest.raises(openmm.OpenMMException, match="has no method local_energy_and_charges"):
        _context_error(force_for(tmp_path / "plain.pt"))
    with pytest.raises(
        openmm.OpenMMException, match="has 2 charge channels, but the force was given 3"
    ):
        force_for(exported, numbers, channels=3)
    with pytest.raises(openmm.OpenMMException, match="atomic number 8, which the model was not"):
        _context_error(force_for(exported, [8] * NUM_ATOMS), positions=positions)
    bad = positions.copy()
    bad[2, 1] = np.nan
    with pytest.raises(openmm.OpenMMException, match="particle 2 has a non-finite position"):
        _context_error(force_for(exported), positions=bad)
    cluster = _system()
    nonbonded = openmm.NonbondedForce()
    for _ in range(NUM_ATOMS):
        nonbonded.addParticle(0.0, 0.3, 0.0)
    cluster.addForce(nonbonded)
    with pytest.raises(openmm.OpenMMException, match="TorchSOGForce: the System is not periodic"):
        _context_error(force_for(exported), system=cluster)
    no_gaussians = TorchSOGForce(str(exported), numbers, 2)
    with pytest.raises(openmm.OpenMMException, match="no Gaussians"):
        _context_error(no_gaussians)
    with pytest.raises(openmm.OpenMMException, match="not an element"):
        _context_error(force_for(exported, [0] * NUM_ATOMS))


def test_create_sognet_force_chooses_and_refuses(exported, structure, tmp_path):
    numbers = structure["atomic_numbers"].tolist()
    native = create_sognet_force(exported, numbers, implementation="native")
    assert isinstance(native, TorchSOGForce) and native.getName() == "SOGNet"
    # "auto" (the default): native for a periodic long-range model, python where native cannot go
    assert isinstance(create_sognet_force(exported, numbers), TorchSOGForce)
    # A non-periodic (cluster) run is native too, in free space; python on request.
    cluster = create_sognet_force(exported, numbers, periodic=False)
    assert isinstance(cluster, TorchSOGForce) and not cluster.usesPeriodicBoundaryConditions()
    python = create_sognet_force(exported, numbers, periodic=False, implementation="python")
    assert isinstance(python, openmm.PythonForce)
    with pytest.raises(ValueError, match="implementation must be one of"):
        create_sognet_force(exported, numbers, implementation="cuda")
    short_range = tmp_path / "short_range.pt"
    export_model(make_model(seed=1, long_range=False), short_range)
    with pytest.raises(ValueError, match="short-range-only model"):
        create_sognet_force(short_range, numbers, implementation="native")
    assert isinstance(create_sognet_force(short_range, numbers), openmm.PythonForce)


@pytest.mark.parametrize(
    "platform",
    [name for name, precision, _ in _platforms() if precision == "double" and name != "Reference"],
)
def test_box_changes_under_a_barostat_are_followed(exported, structure, platform):
    """After Monte Carlo volume moves the force must equal a fresh Context's at the new box
    (on OpenCL/CUDA the device grid is planned again when the box outgrows it)."""
    system = _system()
    system.addForce(_native_force(exported, structure, tolerance=1e-7))
    system.addForce(openmm.MonteCarloBarostat(5000.0, 300.0, 1))
    integrator = openmm.VerletIntegrator(1e-4)
    properties = {"Precision": "double"} if platform in ("OpenCL", "CUDA") else {}
    context = openmm.Context(
        system, integrator, openmm.Platform.getPlatformByName(platform), properties
    )
    context.setPositions(structure["positions"].numpy() * NM_PER_ANGSTROM)
    initial = context.getState().getPeriodicBoxVolume().value_in_unit(openmm.unit.nanometer**3)
    integrator.step(20)
    state = context.getState(getEnergy=True, getForces=True, getPositions=True)
    volume = state.getPeriodicBoxVolume().value_in_unit(openmm.unit.nanometer**3)
    assert volume != pytest.approx(initial, rel=1e-6)  # the barostat moved the box
    fresh_system = _system()
    fresh_system.setDefaultPeriodicBoxVectors(*state.getPeriodicBoxVectors())
    fresh_system.addForce(_native_force(exported, structure, tolerance=1e-7))
    energy, forces = _evaluate(fresh_system, state.getPositions(asNumpy=True), "CPU")
    reached = state.getForces(asNumpy=True).value_in_unit(KJ_NM)
    assert state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole) == (
        pytest.approx(energy, rel=1e-6)
    )
    np.testing.assert_allclose(reached, forces, atol=1e-5 * np.sqrt(np.mean(forces**2)))


def _force_for_file(path, numbers):
    force = TorchSOGForce(str(path), numbers, 2)
    force.addGaussian(1.0, 0.3, 0)
    return force


def test_python_and_cpp_agree_on_the_checksum(exported, structure, tmp_path):
    """A good export loads in both; one flipped bit in a weight is refused by both."""
    numbers = structure["atomic_numbers"].tolist()
    positions = structure["positions"].numpy() * NM_PER_ANGSTROM
    _native_force(exported, structure)  # Python verified the file
    _context_error(_force_for_file(exported, numbers), positions=positions)  # and C++ did
    corrupted = tmp_path / "corrupted.pt"
    flip_bit_in_largest_tensor(exported, corrupted)
    with pytest.raises(CorruptFileError, match="export checksum mismatch: the file is corrupted"):
        create_sognet_force(corrupted, numbers)
    with pytest.raises(
        openmm.OpenMMException, match="TorchSOGForce: .*checksum mismatch: the file is corrupted"
    ):
        _context_error(_force_for_file(corrupted, numbers))
    # A force holds its model's bytes: one made while the file was good, whose file has since
    # been damaged on disk, keeps the good model (and saves it); damaged bytes are refused.
    restored = tmp_path / "restored.pt"
    restored.write_bytes(exported.read_bytes())
    held = _force_for_file(restored, numbers)
    restored.write_bytes(corrupted.read_bytes())
    _context_error(openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(held)))
    damaged = TorchSOGForce.fromBytes(corrupted.read_bytes(), numbers, 2)
    damaged.addGaussian(1.0, 0.3, 0)
    with pytest.raises(openmm.OpenMMException, match="TorchSOGForce: .*checksum mismatch"):
        _context_error(damaged)
    # Every bit of a weight counts: the lowest mantissa bit of a float64 too.
    flip_bit_in_largest_tensor(exported, corrupted, bit=7)
    with pytest.raises(openmm.OpenMMException, match="checksum mismatch"):
        _context_error(_force_for_file(corrupted, numbers))


def test_cpp_refuses_a_newer_format_and_accepts_format_0(exported, structure, tmp_path):
    numbers = structure["atomic_numbers"].tolist()
    positions = structure["positions"].numpy() * NM_PER_ANGSTROM
    newer = tmp_path / "newer.pt"
    rewrite_metadata(exported, newer, lambda meta: meta.update(format_version=99))
    with pytest.raises(FileFormatError, match="format_version 99 is newer than the 1"):
        create_sognet_force(newer, numbers)
    with pytest.raises(
        openmm.OpenMMException, match="format_version 99, newer than the 1 this plugin reads"
    ):
        _context_error(_force_for_file(newer, numbers))
    # An export from before format_version (no checksum) loads in both, as it always did.
    legacy = tmp_path / "legacy.pt"

    def strip(meta):
        for key in ("format_version", "openmm_sog_version", "weights_sha256", "periodic"):
            del meta[key]

    rewrite_metadata(exported, legacy, strip)
    system = _system()
    system.addForce(create_sognet_force(legacy, numbers, implementation="native"))
    reference = _system()
    reference.addForce(_native_force(exported, structure, tolerance=None))
    assert _evaluate(system, positions)[0] == _evaluate(reference, positions)[0]


def test_a_serialized_system_runs_in_a_fresh_process(exported, structure, tmp_path):
    """Importing openmm_sog is enough: the model's vesin neighbour list type is registered."""
    system = _system()
    system.addForce(_native_force(exported, structure))
    (tmp_path / "system.xml").write_text(openmm.XmlSerializer.serialize(system))
    np.save(tmp_path / "positions.npy", structure["positions"].numpy() * NM_PER_ANGSTROM)
    script = textwrap.dedent(
        f"""
        import numpy as np, openmm
        import openmm_sog  # only this: no vesin_torch, no openmm_model
        system = openmm.XmlSerializer.deserialize(open({str(tmp_path / "system.xml")!r}).read())
        context = openmm.Context(system, openmm.VerletIntegrator(1e-3),
                                 openmm.Platform.getPlatformByName("Reference"))
        context.setPositions(np.load({str(tmp_path / "positions.npy")!r}))
        state = context.getState(getEnergy=True)
        print(repr(state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    energy = _evaluate(system, structure["positions"].numpy() * NM_PER_ANGSTROM)[0]
    assert float(result.stdout.strip().splitlines()[-1]) == pytest.approx(energy, rel=1e-12)


def test_cpp_names_atoms_at_the_same_position(exported, structure):
    numbers = structure["atomic_numbers"].tolist()
    positions = structure["positions"].numpy() * NM_PER_ANGSTROM
    positions[9] = positions[4]
    with pytest.raises(
        openmm.OpenMMException, match="TorchSOGForce: atoms 4 and 9 are at the same position"
    ):
        _context_error(_native_force(exported, structure), positions=positions)
    with pytest.raises(openmm.OpenMMException, match="atoms 4 and 9 are at the same position"):
        _context_error(_force_for_file(exported, numbers), positions=positions)


# A cube smaller than the model's cutoff (3.5 A): pairs meet several images of each other and
# atoms their own images.
SMALL_CUBE = [[2.2, 0.0, 0.0], [0.0, 2.2, 0.0], [0.0, 0.0, 2.2]]


@pytest.fixture(scope="module")
def one_channel_model():
    return make_model(seed=5, num_channels=1)


@pytest.fixture(scope="module")
def one_channel_exported(one_channel_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "one_channel.pt"
    export_model(one_channel_model, path)
    return path


@pytest.mark.parametrize("platform", ["Reference", "CPU"])
@pytest.mark.parametrize("cell", [TRICLINIC, SMALL_CUBE], ids=["triclinic", "small cube"])
@pytest.mark.parametrize("channels", [2, 1])
def test_real_space_in_the_kernel_or_in_the_model(
    model, exported, one_channel_model, one_channel_exported, channels, cell, platform, monkeypatch
):
    """On the Reference and CPU platforms the kernel sums the narrow Gaussians itself, over the
    model's neighbour pairs (SOGRealSpaceSum, which has its own code for one channel), instead
    of the model's autograd graph (OPENMM_SOG_TORCH_REAL_SPACE=model): both meet the direct
    lattice sum oracle, also where a pair meets several images and atoms their own, and agree
    with each other to round-off; the model's charges are net charged, so the background term
    is in play. A bad value is named."""
    if channels == 1:
        model, exported = one_channel_model, one_channel_exported
    structure = random_structure(NUM_ATOMS if cell is TRICLINIC else 2, cell, seed=6)
    parts = model.energy_components(**structure)
    assert abs(float(parts["charges"].sum())) > 1e-3  # not neutral
    results = {}
    for where in ("native", "model"):
        monkeypatch.setenv("OPENMM_SOG_TORCH_REAL_SPACE", where)
        force = _native_force(exported, structure)
        system = _system(len(structure["positions"]))
        system.setDefaultPeriodicBoxVectors(
            *(openmm.Vec3(*row) for row in np.array(cell) * NM_PER_ANGSTROM)
        )
        system.addForce(force)
        results[where] = _evaluate(
            system, structure["positions"].numpy() * NM_PER_ANGSTROM, platform
        )
    ref_energy, ref_forces = _oracle(model, structure)
    scale = np.sqrt(np.mean(ref_forces**2))
    # The model's split truncates its real-space Gaussians at the cutoff (docs/design.md §1.5):
    # the one-channel model itself, all in torch, is 1.1e-6 of the RMS force from the oracle.
    for energy, forces in results.values():
        assert abs(energy - ref_energy) < 1e-7 * max(abs(ref_energy), 1.0)
        assert np.abs(forces - ref_forces).max() < 2e-6 * scale
    (e_native, f_native), (e_model, f_model) = results["native"], results["model"]
    assert abs(e_native - e_model) < 1e-10 * max(abs(e_model), 1.0)
    assert np.abs(f_native - f_model).max() < 1e-9 * scale
    monkeypatch.setenv("OPENMM_SOG_TORCH_REAL_SPACE", "torch")
    force = _native_force(exported, structure)
    system = _system(len(structure["positions"]))
    system.addForce(force)
    with pytest.raises(openmm.OpenMMException, match="OPENMM_SOG_TORCH_REAL_SPACE must be"):
        _evaluate(system, structure["positions"].numpy() * NM_PER_ANGSTROM, platform)


@pytest.mark.parametrize("platform", ["Reference", "CPU"])
def test_profile_records_the_parts_of_the_evaluations(
    exported, structure, platform, tmp_path, monkeypatch
):
    """OPENMM_SOG_PROFILE=<file>: when the Context goes, one JSON line with the median wall time
    of each part of the evaluations after the warm-up ones; every part is timed, and together
    they stay within the evaluations' own wall time."""
    record = tmp_path / "profile.jsonl"
    monkeypatch.setenv("OPENMM_SOG_PROFILE", str(record))
    system = _system()
    system.addForce(_native_force(exported, structure))
    context = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName(platform)
    )
    positions = structure["positions"].numpy() * NM_PER_ANGSTROM
    walls = []
    for _ in range(7):
        context.setPositions(positions)
        start = time.perf_counter()
        context.getState(getForces=True)
        walls.append(1e3 * (time.perf_counter() - start))
    assert not record.exists()  # written when the kernel goes, not before
    del context
    gc.collect()
    (line,) = record.read_text().splitlines()
    profile = json.loads(line)
    assert profile["force"] == "TorchSOGForce" and profile["platform"] == platform
    assert profile["evaluations"] == 7 and profile["warm_up"] == 2
    parts = profile["median_ms"]
    assert set(parts) == {
        "model forward",
        "long range k-space",
        "long range real space",
        "model backward",
        "forces",
    }
    assert all(value >= 0.0 for value in parts.values())
    for name in ("model forward", "long range k-space", "model backward"):
        assert parts[name] > 0.0, name
    assert sum(parts.values()) <= max(walls[2:])


def test_profile_without_timed_evaluations_reports_null(exported, structure, tmp_path, monkeypatch):
    """One evaluation, the warm-up's first: the record says so, with no times (null)."""
    record = tmp_path / "profile.jsonl"
    monkeypatch.setenv("OPENMM_SOG_PROFILE", str(record))
    system = _system()
    system.addForce(_native_force(exported, structure))
    _evaluate(system, structure["positions"].numpy() * NM_PER_ANGSTROM, "CPU")
    gc.collect()
    profile = json.loads(record.read_text())
    assert profile["evaluations"] == 1
    assert set(profile["median_ms"].values()) == {None}


def test_profile_to_a_file_that_cannot_be_written_is_a_warning(
    exported, structure, tmp_path, monkeypatch, capfd
):
    """A profile path in a missing folder: the simulation is unaffected; stderr says why."""
    path = tmp_path / "missing" / "profile.jsonl"
    monkeypatch.setenv("OPENMM_SOG_PROFILE", str(path))
    system = _system()
    system.addForce(_native_force(exported, structure))
    energy, forces = _evaluate(system, structure["positions"].numpy() * NM_PER_ANGSTROM)
    assert np.isfinite(energy) and np.isfinite(forces).all()
    gc.collect()  # the Context of _evaluate, and with it the kernel, is gone
    assert f"OPENMM_SOG_PROFILE: cannot append to '{path}'" in capfd.readouterr().err
