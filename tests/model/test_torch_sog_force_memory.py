"""Freed memory is kept for reuse (glibc), unless OPENMM_SOG_MALLOC_DEFAULTS=1: by the C++
TorchSOGForce kernel and by the Python side (openmm_sog.memory, for training and PythonForce).

torch allocates and frees a model's large temporaries on every evaluation; with glibc's
defaults each one is a fresh mmap() whose pages the kernel zeroes, more than half of an
evaluation at 24,000 atoms (bench/RESULTS.md). Observable: after a 400 MB array is freed, the
process's resident memory stays up with the setting and falls back with glibc's defaults. Each
case runs in a fresh interpreter, since the setting is per process.
"""

import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest
from model_helpers import TRICLINIC, make_model, random_structure

from openmm_sog.training.export import export_model

try:
    from openmm_sog.plugin import TorchSOGForce  # noqa: F401
except ImportError as error:
    pytest.skip(f"the openmm_sog native plugin is not built: {error}", allow_module_level=True)

if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
    pytest.skip("the malloc setting is glibc's", allow_module_level=True)

MEASURE = textwrap.dedent(
    """
    def resident_bytes():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    before = resident_bytes()
    array = np.ones(50_000_000)  # 400 MB, every page touched
    del array
    print(resident_bytes() - before)
    """
)

PYTHON_SCRIPT = (
    textwrap.dedent(
        """
    import os
    import numpy as np
    from openmm_sog.memory import keep_freed_memory_for_reuse

    keep_freed_memory_for_reuse()
    """
    )
    + MEASURE
)

SCRIPT = (
    textwrap.dedent(
        """
    import json, os, sys
    import numpy as np
    import openmm
    from openmm_sog.openmm_model import create_sognet_force

    path, numbers, positions, box = sys.argv[1], *map(json.loads, sys.argv[2:])
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box))
    for _ in numbers:
        system.addParticle(20.0)
    system.addForce(create_sognet_force(path, numbers, implementation="native"))
    context = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
    )
    context.setPositions(positions)
    context.getState(getForces=True)
    """
    )
    + MEASURE
)


def _retained_bytes(tmp_path, keep_defaults: bool, side: str) -> int:
    """Resident memory kept after a 400 MB array is freed, in a fresh interpreter where the
    native TorchSOGForce evaluated a model (``side="native"``) or openmm_sog.memory was called
    (``side="python"``)."""
    if side == "native":
        model = make_model(seed=5)
        path = tmp_path / "model.pt"
        export_model(model, path)
        structure = random_structure(16, TRICLINIC, seed=6)
        numbers = structure["atomic_numbers"].tolist()
        positions_nm = (structure["positions"].numpy() * 0.1).tolist()
        box_nm = [[0.1 * x for x in row] for row in TRICLINIC]
        args = [
            SCRIPT,
            str(path),
            json.dumps(numbers),
            json.dumps(positions_nm),
            json.dumps(box_nm),
        ]
    else:
        args = [PYTHON_SCRIPT]
    env = dict(os.environ)
    env.pop("OPENMM_SOG_MALLOC_DEFAULTS", None)
    if keep_defaults:
        env["OPENMM_SOG_MALLOC_DEFAULTS"] = "1"
    result = subprocess.run(
        [sys.executable, "-c", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return int(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("side", ["native", "python"])
def test_freed_memory_is_kept_for_reuse(tmp_path, side):
    assert _retained_bytes(tmp_path, keep_defaults=False, side=side) > 300e6


@pytest.mark.parametrize("side", ["native", "python"])
def test_glibc_defaults_on_request(tmp_path, side):
    assert _retained_bytes(tmp_path, keep_defaults=True, side=side) < 100e6


def test_python_side_reports_whether_it_applies(monkeypatch):
    """The function's return value says what it did; the opt-out variable is shared with C++."""
    import openmm_sog.memory as memory

    monkeypatch.setattr(memory, "_applied", None)
    monkeypatch.setenv(memory.OPT_OUT_VARIABLE, "1")
    assert memory.keep_freed_memory_for_reuse() is False
    monkeypatch.setattr(memory, "_applied", None)
    monkeypatch.delenv(memory.OPT_OUT_VARIABLE)
    assert memory.keep_freed_memory_for_reuse() is True
