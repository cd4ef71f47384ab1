"""AOTInductor packages (``sognet export --format aotinductor``) in Python and in TorchSOGForce.

Oracles:

* the compiled programs against the eager model's ``local_energy_and_charges`` and autograd
  through it (float64 model: agreement to round-off), on pairs from the model's own (vesin)
  neighbour list;
* in OpenMM, the package against the TorchScript export of the same model, which
  test_torch_sog_force*.py check against the direct lattice sum and the free-space pair sum:
  the package's neighbour list is the plugin's C++ cell list, the TorchScript one vesin's, so a
  missed or doubled image or pair shows up as a difference of order the pair's energy. The
  triclinic cell (9.0 x 8.5 x 9.5 A, tilted) with the model's 3.5 A cutoff puts several images of
  some pairs in range after the box shrinks;
* once directly against the lattice-sum oracle of test_torch_sog_force_regions_and_parameters.

Each compile takes about half a minute per program on 2 CPU cores, so the packages are
module fixtures: one periodic (through the ``sognet export`` CLI) and one for free clusters.
"""

from __future__ import annotations

import json
import locale
import zipfile

import numpy as np
import openmm
import openmm.app
import pytest
import torch
from file_helpers import flip_bit_in_largest_tensor, rewrite_metadata
from model_helpers import TRICLINIC, make_model, random_structure, small_config

from openmm_sog.openmm_model import create_sognet_force
from openmm_sog.training.compiled_export import (
    COMPILED_FORMAT,
    DEFAULT_COMPILE_THREADS,
    compiled_export_available,
    export_compiled,
    load_compiled,
    package_digest,
    read_compiled_metadata,
)
from openmm_sog.training.errors import SognetError
from openmm_sog.training.export import ExportedSOGNet, export_model
from openmm_sog.training.integrity import CorruptFileError, FileFormatError
from openmm_sog.units import NM_PER_ANGSTROM

try:
    from openmm_sog.plugin import TorchSOGForce
except ImportError as error:
    pytest.skip(f"the openmm_sog native plugin is not built: {error}", allow_module_level=True)
if compiled_export_available() is not None:
    pytest.skip(compiled_export_available(), allow_module_level=True)

KJ_NM = openmm.unit.kilojoule_per_mole / openmm.unit.nanometer
NUM_ATOMS = 14


@pytest.fixture(scope="module")
def model():
    return make_model(seed=11)


@pytest.fixture(scope="module")
def files(model, tmp_path_factory):
    """TorchScript export, periodic package (through the CLI, its loops for 2 threads) and
    free-cluster package (the default: serial loops)."""
    from openmm_sog.cli.main import main as sognet
    from openmm_sog.training.model_io import save_model

    folder = tmp_path_factory.mktemp("compiled")
    model_file = folder / "model.pt"
    save_model(model, small_config(), "float64", model_file)
    paths = {"torchscript": folder / "model_ts.pt", "periodic": folder / "periodic.pt2"}
    paths["model"] = model_file
    export_model(model, paths["torchscript"])
    # Under an ASCII LC_CTYPE, as an OpenCL (PoCL) context leaves it: AOTInductor reads its C++
    # templates with the locale's encoding, and the export must not depend on it.
    previous = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        code = sognet(["export", "--model", str(model_file), "-o", str(paths["periodic"]),
                       "--format", "aotinductor", "--periodic", "true",
                       "--threads", "2"])  # fmt: skip
        assert locale.setlocale(locale.LC_CTYPE) == "C"  # restored afterwards
    finally:
        locale.setlocale(locale.LC_CTYPE, previous)
    assert code == 0
    paths["free"] = folder / "free.pt2"
    export_compiled(model, paths["free"], periodic=False)
    return paths


def test_packages_record_the_threads_their_loops_are_generated_for(model, files, tmp_path, capsys):
    """``--threads`` and export_compiled's default (serial loops: the faster package where
    measured) are recorded in the metadata; both packages match the eager model (test below).
    A thread count that is not a positive integer, or --threads with another format, is a
    one-line error before anything is compiled or written."""
    from openmm_sog.cli.main import main as sognet

    assert load_compiled(files["periodic"])[1]["compiled"]["threads"] == 2
    assert load_compiled(files["free"])[1]["compiled"]["threads"] == DEFAULT_COMPILE_THREADS == 1
    for bad in (0, -2, 1.5, True):
        with pytest.raises(SognetError, match="threads must be a positive integer"):
            export_compiled(model, tmp_path / "bad.pt2", threads=bad)
    output = tmp_path / "model_ts.pt"
    assert (
        sognet(["export", "--model", str(files["model"]), "-o", str(output), "--threads", "2"]) == 1
    )
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--threads only applies to --format aotinductor" in error
    assert not output.exists() and not (tmp_path / "bad.pt2").exists()


def _pairs(model, positions, cell, periodic):
    batch = torch.zeros(len(positions), dtype=torch.long)
    cells = cell[None] if periodic else torch.zeros(1, 3, 3, dtype=torch.float64)
    return model.neighbors(positions, cells, torch.tensor([periodic]), batch)


@pytest.mark.parametrize("periodic", [True, False], ids=["periodic", "free"])
def test_compiled_programs_match_the_eager_model(model, files, periodic):
    programs, meta = load_compiled(files["periodic" if periodic else "free"])
    assert meta["format"] == COMPILED_FORMAT and meta["periodic"] is periodic
    structure = random_structure(NUM_ATOMS, TRICLINIC if periodic else None, seed=3)
    positions, numbers = structure["positions"], structure["atomic_numbers"]
    cell = structure["cell"][0]
    i, j, shifts = _pairs(model, positions, cell, periodic)
    scale = torch.ones(NUM_ATOMS, dtype=torch.float64)
    scale[[1, 4]] = 0.3
    grad_q = torch.randn(NUM_ATOMS, model.num_channels, dtype=torch.float64)
    weight = torch.tensor(1.7, dtype=torch.float64)

    r = positions.clone().requires_grad_(True)
    s = scale.clone().requires_grad_(True)
    energy, q = ExportedSOGNet(model).local_energy_and_charges(r, numbers, cell, periodic, s)
    objective = weight * energy.sum() + (q * grad_q).sum()
    grad_r, grad_s = torch.autograd.grad(objective, [r, s])

    e_fwd, q_fwd = programs["local_forward"](positions, numbers, cell, i, j, shifts, scale)
    out = programs["local_vjp"](positions, numbers, cell, i, j, shifts, scale, weight, grad_q)
    for e in (e_fwd, out[0]):
        assert float(e) == pytest.approx(float(energy.detach()), rel=1e-12, abs=1e-12)
    for charges in (q_fwd, out[1]):
        torch.testing.assert_close(charges, q.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(out[2], grad_r, rtol=0, atol=1e-11 * float(grad_r.abs().max()))
    torch.testing.assert_close(out[3], grad_s, rtol=0, atol=1e-11 * float(grad_s.abs().max()))


def _platforms():
    names = {
        openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())
    }
    cases = [("Reference", "double", 1e-9), ("CPU", "double", 1e-9)]
    for name in ("OpenCL", "CUDA"):
        if name in names:
            cases += [(name, "double", 1e-9), (name, "mixed", 3e-5), (name, "single", 3e-5)]
    return cases


def _system(num_particles, box_nm):
    system = openmm.System()
    if box_nm is not None:
        system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box_nm))
    for _ in range(num_particles):
        system.addParticle(20.0)
    return system


def _evaluate(path, numbers, positions_nm, box_nm, platform, precision, periodic, **options):
    """Energy (kJ/mol), forces (kJ/mol/nm) and parameter derivatives of one force."""
    system = _system(len(positions_nm), box_nm)
    force = create_sognet_force(path, numbers, periodic=periodic, **options)
    for name in ("charge_scale_parameter", "energy_scale_parameter"):
        if options.get(name):
            force.addEnergyParameterDerivative(options[name])
    system.addForce(force)
    properties = {} if platform in ("Reference", "CPU") else {"Precision": precision}
    context = openmm.Context(
        system,
        openmm.VerletIntegrator(1e-3),
        openmm.Platform.getPlatformByName(platform),
        properties,
    )
    if box_nm is not None:
        context.setPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box_nm))
    context.setPositions(positions_nm)
    results = []
    for lam in (1.0, 0.4):
        for name in ("charge_scale_parameter", "energy_scale_parameter"):
            if options.get(name):
                context.setParameter(options[name], lam)
        state = context.getState(getEnergy=True, getForces=True, getParameterDerivatives=True)
        derivatives = state.getEnergyParameterDerivatives()
        results.append(
            (
                state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole),
                state.getForces(asNumpy=True).value_in_unit(KJ_NM),
                {name: derivatives[name] for name in derivatives.keys()},
            )
        )
    return results


def _assert_same(results, reference, rel):
    for (energy, forces, derivatives), (e_ref, f_ref, d_ref) in zip(
        results, reference, strict=True
    ):
        assert energy == pytest.approx(e_ref, rel=rel, abs=1e-9)
        scale = np.sqrt(np.mean(f_ref**2))
        np.testing.assert_allclose(forces, f_ref, atol=rel * scale)
        assert derivatives.keys() == d_ref.keys()
        for name, value in d_ref.items():
            assert derivatives[name] == pytest.approx(value, rel=10 * rel, abs=1e-6)


SCALING = {
    "charge_scale_parameter": "lambda_q",
    "charge_scaled_particles": [0, 3, 4, 9],
    "energy_scale_parameter": "lambda_e",
}


@pytest.mark.parametrize("periodic", [True, False], ids=["periodic", "free"])
@pytest.mark.parametrize("platform, precision, rel", _platforms())
def test_package_in_openmm_equals_the_torchscript_export(files, periodic, platform, precision, rel):
    """Energies, forces and dU/dlambda of both scale parameters, at lambda = 1 and 0.4: the
    same to round-off in double precision (1e-9), to 3e-5 in single and mixed."""
    structure = random_structure(NUM_ATOMS, TRICLINIC if periodic else None, seed=8)
    numbers = structure["atomic_numbers"].tolist()
    positions = structure["positions"].numpy() * NM_PER_ANGSTROM
    box = np.array(TRICLINIC) * NM_PER_ANGSTROM if periodic else None
    package = files["periodic" if periodic else "free"]
    got = _evaluate(package, numbers, positions, box, platform, precision, periodic, **SCALING)
    # The same platform and precision: the same long-range engine on the same charges.
    want = _evaluate(files["torchscript"], numbers, positions, box, platform, precision,
                     periodic, **SCALING)  # fmt: skip
    _assert_same(got, want, rel)


@pytest.mark.parametrize("backbone", ["painn", "cace"])
def test_message_passing_backbones_compile_and_run_in_openmm(backbone, tmp_path):
    """A package of either message-passing backbone (several neighbour shells, PaiNN's vectors,
    CACE's angular moments) gives the TorchScript export's energy, forces and dU/dlambda in a
    TorchSOGForce on the CPU platform, to round-off."""
    from model_helpers import LOCAL_MODELS

    model = make_model(seed=5, **LOCAL_MODELS[backbone])
    torchscript, package = tmp_path / "model.pt", tmp_path / "model.pt2"
    export_model(model, torchscript)
    export_compiled(model, package, periodic=True)
    structure = random_structure(NUM_ATOMS, TRICLINIC, seed=9)
    numbers = structure["atomic_numbers"].tolist()
    positions = structure["positions"].numpy() * NM_PER_ANGSTROM
    box = np.array(TRICLINIC) * NM_PER_ANGSTROM
    got = _evaluate(package, numbers, positions, box, "CPU", "double", True, **SCALING)
    want = _evaluate(torchscript, numbers, positions, box, "CPU", "double", True, **SCALING)
    assert np.abs(want[0][1]).max() > 0.0
    _assert_same(got, want, 1e-9)


def test_package_matches_the_lattice_sum_oracle(model, files):
    """Independently of the TorchScript path: the direct lattice sum of the whole kernel."""
    from test_torch_sog_force_regions_and_parameters import _oracle

    structure = random_structure(NUM_ATOMS, TRICLINIC, seed=12)
    numbers = structure["atomic_numbers"].tolist()
    positions = structure["positions"].numpy() * NM_PER_ANGSTROM
    box = np.array(TRICLINIC) * NM_PER_ANGSTROM
    (energy, forces, _), _ = _evaluate(
        files["periodic"], numbers, positions, box, "Reference", "double", True
    )
    reference = _oracle(model, structure)
    assert energy == pytest.approx(reference[0], rel=1e-7)
    np.testing.assert_allclose(
        forces, reference[1], atol=1e-6 * np.sqrt(np.mean(reference[1] ** 2))
    )


@pytest.mark.parametrize("scale", [1.0, 0.62, 1.9], ids=["box", "shrunk", "grown"])
def test_neighbour_list_follows_the_box(files, scale):
    """A barostat changes the box: in the shrunk box (5.3 A wide for a 3.5 A cutoff) pairs
    have several images in range; in the grown one some pairs leave the cutoff."""
    structure = random_structure(NUM_ATOMS, TRICLINIC, seed=21)
    numbers = structure["atomic_numbers"].tolist()
    positions = structure["positions"].numpy() * NM_PER_ANGSTROM * scale
    box = np.array(TRICLINIC) * NM_PER_ANGSTROM * scale
    got = _evaluate(files["periodic"], numbers, positions, box, "CPU", "double", True)
    want = _evaluate(files["torchscript"], numbers, positions, box, "Reference", "double", True)
    _assert_same(got, want, 1e-9)


def test_ml_region_of_a_larger_system(files):
    """The model on 14 of 20 particles (System order scrambled), positions outside the box."""
    structure = random_structure(NUM_ATOMS, TRICLINIC, seed=5)
    numbers = structure["atomic_numbers"].tolist()
    region = [19, 2, 7, 11, 0, 4, 16, 9, 13, 5, 1, 18, 8, 14]
    box = np.array(TRICLINIC) * NM_PER_ANGSTROM
    positions = np.random.default_rng(0).uniform(-1.0, 2.0, size=(20, 3))
    positions[region] = structure["positions"].numpy() * NM_PER_ANGSTROM + np.array(
        [0.9, -1.7, 2.3]
    )
    results = {}
    for kind in ("periodic", "torchscript"):
        system = _system(20, box)
        system.addForce(create_sognet_force(files[kind], numbers, particles=region))
        context = openmm.Context(system, openmm.VerletIntegrator(1e-3),
                                 openmm.Platform.getPlatformByName("Reference"))  # fmt: skip
        context.setPositions(positions)
        state = context.getState(getEnergy=True, getForces=True)
        results[kind] = (
            state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole),
            state.getForces(asNumpy=True).value_in_unit(KJ_NM),
        )
    energy, forces = results["periodic"]
    assert energy == pytest.approx(results["torchscript"][0], rel=1e-9)
    np.testing.assert_allclose(forces, results["torchscript"][1], atol=1e-9 * np.abs(forces).max())
    outside = sorted(set(range(20)) - set(region))
    assert np.all(forces[outside] == 0.0)


def test_md_with_a_barostat_keeps_the_package_and_torchscript_together(files):
    """20 steps of NPT MD (Monte Carlo barostat every step) with each; same trajectory."""
    structure = random_structure(NUM_ATOMS, TRICLINIC, seed=30)
    numbers = structure["atomic_numbers"].tolist()
    box = np.array(TRICLINIC) * NM_PER_ANGSTROM
    finals = {}
    for kind in ("periodic", "torchscript"):
        system = _system(NUM_ATOMS, box)
        system.addForce(create_sognet_force(files[kind], numbers))
        barostat = openmm.MonteCarloBarostat(1000.0, 1500.0, 1)
        barostat.setRandomNumberSeed(7)
        system.addForce(barostat)
        integrator = openmm.LangevinMiddleIntegrator(1500.0, 5.0, 5e-4)
        integrator.setRandomNumberSeed(3)
        context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
        context.setPositions(structure["positions"].numpy() * NM_PER_ANGSTROM)
        integrator.step(20)
        state = context.getState(getPositions=True)
        finals[kind] = (
            state.getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer),
            np.array(state.getPeriodicBoxVectors().value_in_unit(openmm.unit.nanometer)),
        )
    assert not np.allclose(finals["periodic"][1], box)  # the barostat moved the box
    np.testing.assert_allclose(finals["periodic"][1], finals["torchscript"][1], rtol=1e-8)
    np.testing.assert_allclose(finals["periodic"][0], finals["torchscript"][0], atol=1e-7)


def test_xml_round_trip_keeps_the_package(files, tmp_path):
    structure = random_structure(NUM_ATOMS, TRICLINIC, seed=8)
    numbers = structure["atomic_numbers"].tolist()
    force = create_sognet_force(files["periodic"], numbers)
    restored = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(force))
    box = np.array(TRICLINIC) * NM_PER_ANGSTROM
    energies = []
    for f in (force, restored):
        system = _system(NUM_ATOMS, box)
        system.addForce(f)
        context = openmm.Context(system, openmm.VerletIntegrator(1e-3),
                                 openmm.Platform.getPlatformByName("Reference"))  # fmt: skip
        context.setPositions(structure["positions"].numpy() * NM_PER_ANGSTROM)
        energies.append(context.getState(getEnergy=True).getPotentialEnergy()._value)
    assert energies[0] == energies[1]


def _tampered(source, target):
    """A valid archive (CRCs right) whose largest program has one byte changed."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as new:
        largest = max(old.infolist(), key=lambda info: info.file_size).filename
        for info in old.infolist():
            data = bytearray(old.read(info))
            if info.filename == largest:
                data[len(data) // 2] ^= 0x10
            new.writestr(info, bytes(data))


def test_damaged_packages_are_refused_in_python_and_cpp(files, tmp_path):
    numbers = [11, 17] * (NUM_ATOMS // 2)
    flipped, tampered = tmp_path / "flipped.pt2", tmp_path / "tampered.pt2"
    flip_bit_in_largest_tensor(files["periodic"], flipped)
    _tampered(files["periodic"], tampered)
    assert package_digest(tampered) != package_digest(files["periodic"])
    with pytest.raises(CorruptFileError, match="corrupted"):
        read_compiled_metadata(flipped)
    with pytest.raises(CorruptFileError, match="checksum mismatch"):
        read_compiled_metadata(tampered)
    with pytest.raises(CorruptFileError, match="checksum mismatch"):
        create_sognet_force(tampered, numbers)
    # The C++ force checks the bytes itself when its Context is made.
    box = np.array(TRICLINIC) * NM_PER_ANGSTROM
    for path, message in ((flipped, "CRC-32"), (tampered, "package checksum mismatch")):
        system = _system(NUM_ATOMS, box)
        system.addForce(TorchSOGForce(str(path), numbers))
        with pytest.raises(openmm.OpenMMException, match=message):
            openmm.Context(system, openmm.VerletIntegrator(1e-3),
                           openmm.Platform.getPlatformByName("Reference"))  # fmt: skip


def test_wrong_use_of_a_package_is_refused_with_the_remedy(files, tmp_path):
    numbers = [11, 17] * (NUM_ATOMS // 2)
    with pytest.raises(ValueError, match="compiled for periodic structures.*--periodic false"):
        create_sognet_force(files["periodic"], numbers, periodic=False)
    with pytest.raises(ValueError, match="runs in the native TorchSOGForce only"):
        create_sognet_force(files["periodic"], numbers, implementation="python")
    with pytest.raises(ValueError, match=r"atomic numbers \[8\]"):
        create_sognet_force(files["periodic"], [8] + numbers[1:])
    # The C++ force refuses a periodicity other than the package's (set by hand).
    force = TorchSOGForce(str(files["free"]), numbers)
    force.setUsesPeriodicBoundaryConditions(True)
    system = _system(NUM_ATOMS, np.array(TRICLINIC) * NM_PER_ANGSTROM)
    system.addForce(force)
    with pytest.raises(openmm.OpenMMException, match="compiled for free structures"):
        openmm.Context(system, openmm.VerletIntegrator(1e-3),
                       openmm.Platform.getPlatformByName("Reference"))  # fmt: skip
    newer = tmp_path / "newer.pt2"
    rewrite_metadata(files["periodic"], newer, lambda meta: meta.update(format_version=99))
    with pytest.raises(FileFormatError, match="format_version 99 is newer"):
        create_sognet_force(newer, numbers)
    system = _system(NUM_ATOMS, np.array(TRICLINIC) * NM_PER_ANGSTROM)
    system.addForce(TorchSOGForce(str(newer), numbers))
    with pytest.raises(openmm.OpenMMException, match="format_version 99, newer"):
        openmm.Context(system, openmm.VerletIntegrator(1e-3),
                       openmm.Platform.getPlatformByName("Reference"))  # fmt: skip
    # A TorchScript export or a model file is not a package.
    with pytest.raises(FileFormatError, match="not a SOG-Net AOTInductor package"):
        read_compiled_metadata(files["torchscript"])
    with zipfile.ZipFile(files["periodic"]) as archive:
        name = next(n for n in archive.namelist() if n.endswith("/extra/metadata.json"))
        meta = json.loads(archive.read(name))
    assert meta["compiled"]["programs"] == ["local_forward", "local_vjp"]


def test_openmm_ml_runs_a_package_on_an_ml_subset(files):
    """``MLPotential('sognet', modelPath=PACKAGE).createMixedSystem``: the ML region's force is
    the package's TorchSOGForce and equals the TorchScript export's in the same mixed System."""
    openmmml = pytest.importorskip("openmmml")
    structure = random_structure(NUM_ATOMS, TRICLINIC, seed=40)
    numbers = structure["atomic_numbers"].tolist()
    box = np.array(TRICLINIC) * NM_PER_ANGSTROM
    elements = {11: openmm.app.element.sodium, 17: openmm.app.element.chlorine}
    topology = openmm.app.Topology()
    chain = topology.addChain()
    for z in numbers:
        topology.addAtom(elements[z].symbol, elements[z], topology.addResidue("ION", chain))
    topology.setPeriodicBoxVectors([openmm.Vec3(*row) for row in box])
    ml_atoms = list(range(0, NUM_ATOMS, 2))
    energies = {}
    for kind in ("periodic", "torchscript"):
        system = openmm.System()
        system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box))
        for _ in numbers:
            system.addParticle(20.0)
        potential = openmmml.MLPotential("sognet", modelPath=str(files[kind]))
        mixed = potential.createMixedSystem(topology, system, ml_atoms)
        context = openmm.Context(mixed, openmm.VerletIntegrator(1e-3),
                                 openmm.Platform.getPlatformByName("Reference"))  # fmt: skip
        context.setPositions(structure["positions"].numpy() * NM_PER_ANGSTROM)
        state = context.getState(getEnergy=True, getForces=True)
        energies[kind] = (
            state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole),
            state.getForces(asNumpy=True).value_in_unit(KJ_NM),
        )
    assert energies["periodic"][0] == pytest.approx(energies["torchscript"][0], rel=1e-9)
    forces = energies["torchscript"][1]
    np.testing.assert_allclose(energies["periodic"][1], forces, atol=1e-9 * np.abs(forces).max())
    assert np.abs(forces).max() > 0.0


def test_a_torch_without_aoti_packaging_is_one_line(monkeypatch, tmp_path, capsys):
    """A torch build without AOTInductor's packaging module (older or stripped builds): the
    export format is refused in one line that names the torch and what it lacks, and no file
    is written."""
    import sys

    from openmm_sog.cli.main import main as sognet
    from openmm_sog.training.model_io import save_model

    model_file = tmp_path / "model.pt"
    save_model(make_model(seed=1), small_config(), "float64", model_file)
    # A None entry makes the import fail with ImportError, as a missing module does.
    monkeypatch.setitem(sys.modules, "torch.export.pt2_archive._package", None)
    assert "no AOTInductor packaging" in compiled_export_available()
    code = sognet(["export", "--model", str(model_file), "-o", str(tmp_path / "m.pt2"),
                   "--format", "aotinductor"])  # fmt: skip
    error = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(error) == 1, error
    assert "cannot write an AOTInductor package" in error[0], error[0]
    assert f"this torch ({torch.__version__}) has no AOTInductor packaging" in error[0]
    assert not (tmp_path / "m.pt2").exists()


def test_an_export_this_installation_cannot_compile_is_one_line(monkeypatch, tmp_path, capsys):
    """Without a C++ compiler AOTInductor cannot build: `sognet export` says so in one line."""
    import shutil

    from openmm_sog.cli.main import main as sognet
    from openmm_sog.training.model_io import save_model

    model_file = tmp_path / "model.pt"
    save_model(make_model(seed=1), small_config(), "float64", model_file)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    code = sognet(["export", "--model", str(model_file), "-o", str(tmp_path / "m.pt2"),
                   "--format", "aotinductor"])  # fmt: skip
    error = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(error) == 1, error
    assert "cannot write an AOTInductor package" in error[0] and "no C++ compiler" in error[0]
    assert not (tmp_path / "m.pt2").exists()
