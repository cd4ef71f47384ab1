"""examples/mlmm_nacl.py (SOG-Net ions in an MM melt through openmm-ml) runs end to end.

A small run: the script itself checks that lambda_interpolate = 0 reproduces the MM energy
and that MD at lambda_interpolate = 1 stays finite; here its printed difference is bounded.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("openmmml")
SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "mlmm_nacl.py"


def test_mlmm_example_runs_and_lambda_zero_is_the_mm_energy():
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--ions",
            "128",
            "--ml-ions",
            "4",
            "--steps",
            "20",
            "--melt-steps",
            "50",
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r"equals the MM energy to ([0-9.e+-]+) kJ/mol", result.stdout)
    assert match, result.stdout
    # MM energies of this box are ~ -5e4 kJ/mol: the difference is round-off plus openmm-ml's
    # uncut Lennard-Jones tail inside the ML region.
    assert float(match.group(1)) < 1e-2
    assert "ns/day" in result.stdout


def test_mlmm_example_refuses_an_ml_region_larger_than_the_box():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--ions", "128", "--ml-ions", "200"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert result.returncode == 2
    assert "--ml-ions must lie in 1..128, got 200" in result.stderr
