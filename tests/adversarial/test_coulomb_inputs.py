"""Adversarial inputs to ``use_sog_coulomb``: each refused with a message naming the problem,
and a refused call leaves the System as it was."""

import math

import numpy as np
import pytest

openmm = pytest.importorskip("openmm")
try:
    from openmm_sog import use_sog_coulomb
except ImportError as error:
    pytest.skip(f"the openmm_sog native plugin is not built: {error}", allow_module_level=True)


def _system(method=openmm.NonbondedForce.PME, box=3.0, charges=(1.0, -1.0, 0.5, -0.5)):
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*(box * np.eye(3)[d])) for d in range(3)))
    nb = openmm.NonbondedForce()
    nb.setNonbondedMethod(method)
    nb.setCutoffDistance(1.0)
    for q in charges:
        system.addParticle(1.0)
        nb.addParticle(q, 0.3, 0.5)
    system.addForce(nb)
    return system


def _two_nonbonded():
    system = _system()
    system.addForce(openmm.XmlSerializer.clone(system.getForce(0)))
    return system


def _with_offsets():
    system = _system()
    system.getForce(0).addGlobalParameter("lambda", 1.0)
    system.getForce(0).addParticleParameterOffset("lambda", 0, 0.5, 0.0, 0.0)
    return system


def _with_parameter(name, default):
    system = _system()
    bonds = openmm.CustomBondForce("k*r")
    bonds.addGlobalParameter(name, default)
    bonds.addPerBondParameter("k")
    system.addForce(bonds)
    return system


CASES = {
    "no NonbondedForce": (openmm.System, {}, "exactly one NonbondedForce.*found 0"),
    "two NonbondedForces": (_two_nonbonded, {}, "exactly one NonbondedForce.*found 2"),
    "NoCutoff method": (
        lambda: _system(openmm.NonbondedForce.NoCutoff),
        {},
        "PME or Ewald method",
    ),
    "CutoffPeriodic method": (
        lambda: _system(openmm.NonbondedForce.CutoffPeriodic),
        {},
        "PME or Ewald method",
    ),
    "parameter offsets": (_with_offsets, {}, "offsets are not supported.*scaled_particles"),
    "box below twice the cutoff": (lambda: _system(box=1.5), {}, "smaller than twice"),
    "negative cutoff": (_system, {"cutoff": -1.0}, "cutoff must be a finite number > 0"),
    "NaN cutoff": (_system, {"cutoff": math.nan}, "cutoff must be a finite number > 0"),
    "zero tolerance": (_system, {"tolerance": 0.0}, r"tolerance must lie in"),
    "tolerance 1": (_system, {"tolerance": 1.0}, r"tolerance must lie in"),
    "NaN tolerance": (_system, {"tolerance": math.nan}, r"tolerance must lie in"),
    "NaN charge": (lambda: _system(charges=(1.0, math.nan)), {}, "particle 1 has a non-finite"),
    "infinite charge": (lambda: _system(charges=(math.inf, 1.0)), {}, "particle 0 has a non-fin"),
    "scaled particle out of range": (
        _system,
        {"scaled_particles": [4]},
        "scaled particle 4 is out of range",
    ),
    "negative scaled particle": (
        _system,
        {"scaled_particles": [-1]},
        "scaled particle -1 is out of range",
    ),
    "scaled particle not an index": (
        _system,
        {"scaled_particles": [0.5]},
        "must hold particle indices",
    ),
    "empty scale parameter": (
        _system,
        {"scaled_particles": [0], "scale_parameter": ""},
        "non-empty name",
    ),
    "scale parameter with another default": (
        lambda: _with_parameter("lambda_electrostatics", 0.0),
        {"scaled_particles": [0]},
        "already defines the global parameter 'lambda_electrostatics' with default 0.0",
    ),
    "force group 32": (_system, {"force_group": 32}, "force_group must lie in 0..31"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_and_leaves_the_system_intact(case):
    make, arguments, message = CASES[case]
    system = make()
    before = openmm.XmlSerializer.serialize(system)
    with pytest.raises(ValueError, match=message):
        use_sog_coulomb(system, **arguments)
    assert openmm.XmlSerializer.serialize(system) == before
