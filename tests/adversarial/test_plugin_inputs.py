"""Adversarial inputs for the OpenMM plugin: SOGForce, TorchSOGForce and their XML.

Every bad input must raise openmm.OpenMMException (never crash, never give NaN silently) with a
message that starts with the class name and names the problem. Grids too large for memory are
created in a subprocess, so that a crash (the old int overflow) fails the test instead of
killing the test run.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

openmm = pytest.importorskip("openmm")
try:
    from openmm_sog.plugin import SOGForce, TorchSOGForce
except ImportError as error:
    pytest.skip(f"the openmm_sog native plugin is not built: {error}", allow_module_level=True)

BOX = 2.0  # nm


def _platform_names():
    names = [
        openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())
    ]
    return [name for name in ("Reference", "CPU", "OpenCL") if name in names]


def _system(num_particles=2, box=BOX):
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(
        openmm.Vec3(box, 0, 0), openmm.Vec3(0, box, 0), openmm.Vec3(0, 0, box)
    )
    for _ in range(num_particles):
        system.addParticle(1.0)
    return system


def _force(charges=(0.5, -0.5), width=0.3, num_channels=1):
    force = SOGForce(num_channels)
    for c in range(num_channels):
        force.addGaussian(10.0, width, c)
    for q in charges:
        force.addParticle([q] * num_channels)
    return force


def _context(system, platform="Reference"):
    return openmm.Context(
        system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(platform)
    )


def _positions(n):
    return [openmm.Vec3(0.1 + 0.3 * i, 0.2, 0.3 + 0.1 * i) for i in range(n)]


def _context_error(force, system=None, platform="Reference", match=""):
    system = _system(force.getNumParticles()) if system is None else system
    system.addForce(force)
    with pytest.raises(openmm.OpenMMException, match=match):
        _context(system, platform)


# --- SOGForce: construction and setters ---------------------------------------------------------


def test_zero_channels():
    with pytest.raises(openmm.OpenMMException, match="SOGForce: the number of channels must be"):
        SOGForce(0)


def test_wrong_number_of_charges_in_add_particle():
    with pytest.raises(
        openmm.OpenMMException, match="SOGForce: addParticle.*3 charges.*2 channels"
    ):
        SOGForce(2).addParticle([1.0, 2.0, 3.0])


def test_wrong_number_of_charges_in_set_particle_charges():
    force = _force()
    with pytest.raises(openmm.OpenMMException, match="SOGForce: setParticleCharges.*2 charges"):
        force.setParticleCharges(0, [1.0, 2.0])


def test_particle_index_out_of_range():
    with pytest.raises(openmm.OpenMMException, match="SOGForce: particle index 5 is out of range"):
        _force().getParticleCharges(5)


def test_gaussian_index_out_of_range():
    with pytest.raises(openmm.OpenMMException, match="SOGForce: Gaussian index -1 is out of range"):
        _force().setGaussianParameters(-1, 1.0, 0.3, 0)


def test_background_integral_channel_out_of_range():
    with pytest.raises(openmm.OpenMMException, match="SOGForce: setBackgroundIntegral.*channel 1"):
        _force().setBackgroundIntegral(1.0, 1)


def test_empty_charge_scale_name():
    with pytest.raises(openmm.OpenMMException, match="SOGForce: the charge scale parameter name"):
        _force().setChargeScaleParameterName("")


def test_derivative_of_an_unknown_parameter():
    with pytest.raises(
        openmm.OpenMMException, match="SOGForce: cannot compute the derivative.*'x'"
    ):
        _force().addEnergyParameterDerivative("x")


# --- SOGForce: checked when a Context is created ------------------------------------------------


@pytest.mark.parametrize("width", [0.0, -0.3], ids=["zero", "negative"])
def test_non_positive_width(width):
    force = _force()
    force.addGaussian(1.0, width)
    _context_error(force, match="SOGForce: Gaussian 1 has width .* widths must be positive")


@pytest.mark.parametrize("weight, width", [(float("nan"), 0.3), (1.0, float("nan"))])
def test_non_finite_gaussian(weight, width):
    force = _force()
    force.addGaussian(weight, width)
    _context_error(force, match="SOGForce: Gaussian 1 has a non-finite weight or width")


def test_gaussian_channel_out_of_range():
    force = _force()
    force.addGaussian(1.0, 0.3, 3)
    _context_error(force, match="SOGForce: Gaussian 1 belongs to channel 3 but the force has 1")


def test_no_gaussians():
    force = SOGForce()
    force.addParticle(0.5)
    force.addParticle(-0.5)
    _context_error(force, match="SOGForce: no Gaussians were added")


@pytest.mark.parametrize("tolerance", [1e-11, 0.5, float("nan")])
def test_tolerance_out_of_range(tolerance):
    force = _force()
    force.setTolerance(tolerance)
    _context_error(force, match=r"SOGForce: the tolerance .* is outside \(1e-10, 1e-1\)")


def test_particle_count_mismatch():
    _context_error(
        _force(),
        system=_system(3),
        match="SOGForce: the force has 2 particles but the System has 3",
    )


def test_scaled_particle_out_of_range():
    force = _force()
    force.setScaledParticles([0, 7])
    _context_error(force, match="SOGForce: scaled particle index 7 is out of range")


def test_non_finite_charge():
    _context_error(
        _force(charges=(0.5, float("nan"))), match="SOGForce: particle 1 has a non-finite charge"
    )


@pytest.mark.parametrize("platform", _platform_names())
def test_charges_whose_energy_overflows(platform):
    """Charges of 1e200 e: the energy would be inf/NaN; refused when the Context is created."""
    _context_error(
        _force(charges=(1e200, -1e200)),
        platform=platform,
        match="SOGForce: the charges of channel 0 are too large",
    )


def test_weights_whose_energy_overflows():
    force = SOGForce()
    force.addGaussian(1e300, 0.3)
    force.addParticle(1e3)
    force.addParticle(-1e3)
    _context_error(force, match="SOGForce: the charges and weights are too large.*energy scale")


def test_non_finite_default_charge_scale():
    force = _force()
    force.setChargeScaleDefaultValue(float("inf"))
    _context_error(force, match="SOGForce: the default value of the charge scale parameter")


def test_non_finite_background_integral():
    force = _force()
    force.setBackgroundIntegral(float("nan"))
    _context_error(force, match="SOGForce: the background integral of channel 0 is not finite")


def test_non_periodic_system():
    system = _system()
    cluster = openmm.NonbondedForce()  # NoCutoff: a cluster
    for _ in range(2):
        cluster.addParticle(0.0, 0.3, 0.1)
    system.addForce(cluster)
    _context_error(_force(), system=system, match="SOGForce: the System is not periodic")


def test_non_periodic_custom_nonbonded_force():
    system = _system()
    cluster = openmm.CustomNonbondedForce("0")  # NoCutoff
    for _ in range(2):
        cluster.addParticle([])
    system.addForce(cluster)
    _context_error(_force(), system=system, match="SOGForce: the System is not periodic.*force 0")


# --- SOGForce: checked at evaluation -------------------------------------------------------------


@pytest.mark.parametrize("platform", _platform_names())
@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_charge_scale_parameter(platform, value):
    system = _system()
    system.addForce(_force())
    context = _context(system, platform)
    context.setPositions(_positions(2))
    context.setParameter("sog_lambda", value)
    with pytest.raises(
        openmm.OpenMMException, match="SOGForce: the charge scale parameter 'sog_lambda' is"
    ):
        context.getState(getEnergy=True)


def test_charge_scale_parameter_whose_energy_overflows():
    system = _system()
    system.addForce(_force())
    context = _context(system)
    context.setPositions(_positions(2))
    context.setParameter("sog_lambda", 1e200)
    with pytest.raises(openmm.OpenMMException, match="SOGForce: the charges of channel 0 are too"):
        context.getState(getEnergy=True)


def test_nan_position():
    system = _system()
    system.addForce(_force())
    context = _context(system)
    context.setPositions([openmm.Vec3(0, 0, 0), openmm.Vec3(float("nan"), 0, 0)])
    with pytest.raises(
        openmm.OpenMMException, match="SOGForce: particle 1 has a non-finite position"
    ):
        context.getState(getEnergy=True)


def test_update_parameters_cannot_change_the_particle_count():
    system = _system()
    force = _force()
    system.addForce(force)
    context = _context(system)
    force.addParticle(0.0)
    with pytest.raises(
        openmm.OpenMMException, match="SOGForce: .*cannot change the number of part"
    ):
        force.updateParametersInContext(context)


# --- Grids too large for memory (in a subprocess: the old failure was a crash) -------------------

_GRID_SCRIPT = textwrap.dedent(
    """
    import sys
    import openmm
    from openmm_sog.plugin import SOGForce

    platform = openmm.Platform.getPlatformByName(sys.argv[1])
    for width in (5e-4, 0.01, 0.02, 0.3):
        system = openmm.System()
        system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*(3.0 * (i == j) for j in range(3)))
                                              for i in range(3)))
        force = SOGForce()
        force.addGaussian(100.0, 0.4)
        force.addGaussian(100.0, width)
        force.setTolerance(1e-6)
        for q in (1.0, -1.0):
            system.addParticle(1.0)
            force.addParticle(q)
        system.addForce(force)
        try:
            context = openmm.Context(system, openmm.VerletIntegrator(0.001), platform)
            context.setPositions([openmm.Vec3(0, 0, 0), openmm.Vec3(1, 1, 1)])
            energy = context.getState(getEnergy=True).getPotentialEnergy()
            print(width, "ENERGY", energy._value)
        except openmm.OpenMMException as error:
            print(width, "ERROR", str(error).replace("\\n", " "))
    """
)


@pytest.mark.parametrize("platform", _platform_names())
def test_grid_too_large_is_refused_before_allocation(platform):
    result = subprocess.run(
        [sys.executable, "-c", _GRID_SCRIPT, platform], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    for width in ("0.0005", "0.01", "0.02"):
        message = lines[width]
        assert message.startswith("ERROR SOGForce: Gaussian 1 (width"), message
        assert "channel 0)" in message and "GiB" in message
        assert " x " in message and "grid" in message
        assert "real space" in message and "CustomNonbondedForce" in message
        assert "looser tolerance" in message
    assert lines["0.3"].startswith("ENERGY")
    assert np.isfinite(float(lines["0.3"].split()[1]))


@pytest.mark.parametrize("platform", _platform_names())
def test_grid_too_large_after_the_box_grows(platform):
    """A barostat-like box growth that would need a grid beyond the limit is refused, too."""
    system = _system()
    system.addForce(_force(width=0.1))
    context = _context(system, platform)
    context.setPositions(_positions(2))
    context.getState(getEnergy=True)
    grown = 12 * BOX
    context.setPeriodicBoxVectors(
        openmm.Vec3(grown, 0, 0), openmm.Vec3(0, grown, 0), openmm.Vec3(0, 0, grown)
    )
    with pytest.raises(
        openmm.OpenMMException, match=r"SOGForce: Gaussian 0 \(width 0.1 nm, channel 0\).*GiB"
    ):
        context.getState(getEnergy=True)


# --- XmlSerializer ----------------------------------------------------------------------------


def _xml():
    force = _force()
    force.setTolerance(1e-6)
    return openmm.XmlSerializer.serialize(force)


def test_cast_of_a_deserialized_force_can_be_added_to_a_system():
    force = SOGForce.cast(openmm.XmlSerializer.deserialize(_xml()))
    system = _system()
    system.addForce(force)
    context = _context(system)
    context.setPositions(_positions(2))
    energy = context.getState(getEnergy=True).getPotentialEnergy()
    assert np.isfinite(energy.value_in_unit(openmm.unit.kilojoule_per_mole))


def test_cast_of_a_force_that_is_not_a_sogforce():
    with pytest.raises(openmm.OpenMMException, match="SOGForce: the force is not a SOGForce"):
        SOGForce.cast(openmm.HarmonicBondForce())


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_xml(keep):
    xml = _xml()
    with pytest.raises(openmm.OpenMMException, match="SOGForce XML.*: missing .*truncated"):
        openmm.XmlSerializer.deserialize(xml[: int(keep * len(xml))])


def test_xml_without_the_tolerance():
    xml = _xml().replace('tolerance="1e-06"', "")
    assert "tolerance" not in xml
    with pytest.raises(openmm.OpenMMException, match="SOGForce XML: missing attribute 'tolerance'"):
        openmm.XmlSerializer.deserialize(xml)


def test_xml_of_an_unsupported_version():
    xml = _xml().replace('version="2"', 'version="99"')
    with pytest.raises(openmm.OpenMMException, match="SOGForce XML: unsupported version 99"):
        openmm.XmlSerializer.deserialize(xml)


def test_xml_without_particles():
    xml = _xml()
    start, end = xml.index("<Particles>"), xml.index("</Particles>") + len("</Particles>")
    with pytest.raises(openmm.OpenMMException, match="SOGForce XML: missing element <Particles>"):
        openmm.XmlSerializer.deserialize(xml[:start] + xml[end:])


def test_xml_with_a_particle_without_its_charge():
    xml = _xml()
    start = xml.index("<Particle q0=")
    end = xml.index("/>", start)
    xml = xml[:start] + "<Particle" + xml[end:]
    with pytest.raises(
        openmm.OpenMMException, match="SOGForce XML, particle 0: missing attribute 'q0'"
    ):
        openmm.XmlSerializer.deserialize(xml)


def test_xml_with_zero_channels():
    xml = _xml().replace('numChannels="1"', 'numChannels="0"')
    with pytest.raises(
        openmm.OpenMMException, match="SOGForce XML: invalid content: .*number of channels"
    ):
        openmm.XmlSerializer.deserialize(xml)


# --- TorchSOGForce ------------------------------------------------------------------------------


@pytest.fixture
def model_pt(tmp_path, monkeypatch):
    """A placeholder "model.pt" in the working directory: TorchSOGForce reads its file's bytes when
    it is created, and these cases fail before a model is loaded."""
    (tmp_path / "model.pt").write_bytes(b"not a model")
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("model_pt")
def test_torch_channel_count():
    with pytest.raises(
        openmm.OpenMMException, match="TorchSOGForce: the number of channels must be at least 1"
    ):
        TorchSOGForce("model.pt", [11, 17], -1)
    # 0 (the default) reads the channels and Gaussians from the export's metadata.json.
    with pytest.raises(openmm.OpenMMException, match="has no metadata.json to read the Gaussians"):
        TorchSOGForce("model.pt", [11, 17], 0)


@pytest.mark.usefixtures("model_pt")
def test_torch_atomic_number_not_an_element():
    force = TorchSOGForce("model.pt", [11, 0], 1)
    force.addGaussian(1.0, 0.3)
    _context_error(force, match="TorchSOGForce: particle 1 has atomic number 0")


def test_torch_missing_model_file(tmp_path):
    with pytest.raises(openmm.OpenMMException, match="TorchSOGForce: cannot open the model file"):
        TorchSOGForce(str(tmp_path / "missing.pt"), [11, 17], 1)


@pytest.mark.usefixtures("model_pt")
def test_torch_messages_name_torchsogforce():
    force = TorchSOGForce("model.pt", [11, 17], 1)
    force.addGaussian(1.0, -0.3)
    _context_error(force, match="^TorchSOGForce: Gaussian 0 has width")


@pytest.mark.usefixtures("model_pt")
def test_torch_gaussian_index_out_of_range():
    with pytest.raises(
        openmm.OpenMMException, match="TorchSOGForce: Gaussian index 0 is out of range"
    ):
        TorchSOGForce("model.pt", [11], 1).getGaussianParameters(0)


def test_torch_cast_of_a_sogforce():
    with pytest.raises(openmm.OpenMMException, match="TorchSOGForce: the force is not a Torch"):
        TorchSOGForce.cast(_force())


@pytest.mark.usefixtures("model_pt")
def test_torch_xml_without_the_file():
    force = TorchSOGForce("model.pt", [11, 17], 1)
    force.addGaussian(1.0, 0.3)
    xml = openmm.XmlSerializer.serialize(force).replace('file="model.pt"', "")
    with pytest.raises(openmm.OpenMMException, match="TorchSOGForce XML: missing attribute 'file'"):
        openmm.XmlSerializer.deserialize(xml)


@pytest.mark.usefixtures("model_pt")
def test_torch_xml_of_an_unsupported_version():
    force = TorchSOGForce("model.pt", [11, 17], 1)
    force.addGaussian(1.0, 0.3)
    xml = openmm.XmlSerializer.serialize(force).replace('version="3"', 'version="7"')
    with pytest.raises(openmm.OpenMMException, match="TorchSOGForce XML: unsupported version 7"):
        openmm.XmlSerializer.deserialize(xml)


@pytest.mark.usefixtures("model_pt")
def test_torch_cast_of_a_deserialized_force_can_be_added_to_a_system():
    force = TorchSOGForce("model.pt", [11, 17], 1)
    force.addGaussian(1.0, 0.3)
    copy = TorchSOGForce.cast(
        openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(force))
    )
    system = _system()
    system.addForce(copy)
    assert TorchSOGForce.isinstance(system.getForce(0))


def _torch_xml(model=b"not a model"):
    """XML of a TorchSOGForce holding ``model``, and the base64 text of the model in it."""
    force = TorchSOGForce.fromBytes(model, [11, 17], 1, "model.pt")
    force.addGaussian(1.0, 0.3)
    xml = openmm.XmlSerializer.serialize(force)
    text = xml.split(' base64="')[1].split('"')[0]
    return xml, text


def test_torch_model_bytes_from_a_str():
    with pytest.raises(TypeError, match="TorchSOGForce: modelBytes must be bytes"):
        TorchSOGForce.fromBytes("model.pt", [11, 17], 1)


def test_torch_empty_model(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(openmm.OpenMMException, match="TorchSOGForce: the model file .* is empty"):
        TorchSOGForce(str(tmp_path / "empty.pt"), [11, 17], 1)
    with pytest.raises(openmm.OpenMMException, match="TorchSOGForce: the model bytes are empty"):
        TorchSOGForce.fromBytes(b"", [11, 17], 1)


def test_torch_model_file_that_is_a_directory(tmp_path):
    with pytest.raises(openmm.OpenMMException, match="TorchSOGForce: cannot read the model file"):
        TorchSOGForce(str(tmp_path), [11, 17], 1)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda t: t[:-1], "has 15 characters, not a multiple of 4"),
        (lambda t: t[:-2], "has 14 characters, not a multiple of 4"),
        (lambda t: t[:-4], "decodes to 9 bytes but the model has 11"),
        (lambda t: "", "decodes to 0 bytes but the model has 11"),
        (lambda t: "!" + t[1:], "invalid character '!' at position 0"),
        (lambda t: t[:4] + "=" + t[5:], "invalid character '=' at position 4"),
        (lambda t: t[:5] + "\u00e9" + t[7:], "invalid character code 195 at position 5"),
        (lambda t: t[:6] + " " + t[7:], "invalid character code 32 at position 6"),
    ],
)
def test_torch_xml_with_damaged_base64(damage, message):
    xml, text = _torch_xml()
    assert text == "bm90IGEgbW9kZWw="
    with pytest.raises(openmm.OpenMMException, match="^TorchSOGForce XML, <Model>: .*" + message):
        openmm.XmlSerializer.deserialize(xml.replace(text, damage(text)))


def test_torch_xml_without_the_model():
    xml, text = _torch_xml()
    for element in (f'<Model base64="{text}" size="11"/>', f'<Model base64="{text}" size="11" />'):
        xml = xml.replace(element, "")
    assert "<Model" not in xml
    with pytest.raises(openmm.OpenMMException, match="TorchSOGForce XML: missing element <Model>"):
        openmm.XmlSerializer.deserialize(xml)
    xml, text = _torch_xml()
    with pytest.raises(
        openmm.OpenMMException, match="TorchSOGForce XML, <Model>: missing attribute 'size'"
    ):
        openmm.XmlSerializer.deserialize(xml.replace(' size="11"', ""))


def test_torch_xml_whose_bytes_are_not_a_model():
    xml, _ = _torch_xml()
    force = TorchSOGForce.cast(openmm.XmlSerializer.deserialize(xml))
    _context_error(force, match="TorchSOGForce: cannot load 'model.pt' as a TorchScript model")


def test_torch_version_1_xml_whose_file_is_missing(tmp_path):
    xml, text = _torch_xml()
    old = xml.replace(f'<Model base64="{text}" size="11"/>', "").replace(
        'version="3"', 'version="1"'
    )
    old = old.replace('file="model.pt"', f'file="{tmp_path / "gone.pt"}"')
    message = "TorchSOGForce XML: version 1 stores the model by its path: cannot open the model"
    with pytest.raises(openmm.OpenMMException, match=message):
        openmm.XmlSerializer.deserialize(old)


@pytest.fixture(scope="module")
def exported_model(tmp_path_factory):
    """A small random SOG-Net exported for TorchSOGForce (two species, two channels)."""
    torch = pytest.importorskip("torch")
    from openmm_sog.model import SOGNet
    from openmm_sog.training.export import export_model

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model"))
    from model_helpers import small_config

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("export") / "model.pt"
    export_model(SOGNet(small_config(), dtype=torch.float64), path)
    return path


@pytest.mark.parametrize("platform", _platform_names())
def test_torch_grid_too_large_names_torchsogforce(exported_model, platform):
    """The TorchSOGForce kernels share the grid limit, and their messages say TorchSOGForce."""
    from openmm_sog.openmm_model import create_sognet_force

    force = create_sognet_force(exported_model, [11, 17], implementation="native")
    assert TorchSOGForce.isinstance(force)
    force = TorchSOGForce.cast(force)
    weight, _, channel = force.getGaussianParameters(0)
    force.setGaussianParameters(0, weight, 5e-4, channel)
    force.setTolerance(1e-6)
    _context_error(
        force,
        platform=platform,
        match=rf"^TorchSOGForce: Gaussian 0 \(width 0.0005 nm, channel {channel}\).*GiB",
    )
