"""examples/alchemical_ti.py (TI of one ion's learned long-range charge) runs end to end.

A small run. The script itself refuses to go on unless Gauss-Legendre quadrature of the force's
dU/dlambda at the starting configuration equals U(1) - U(0) (exact there: U is quadratic in
lambda at fixed positions); here the printed difference and the result are checked too.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "alchemical_ti.py"

pytest.importorskip("openmm_sog.plugin")


def test_ti_example_integrates_the_exact_derivative():
    arguments = ["--ions", "128", "--windows", "3", "--melt-steps", "100"]
    arguments += ["--equilibration", "20", "--steps", "100"]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    quadrature = re.search(
        r"sum w_i dU/dlambda = ([-0-9.e+]+) kJ/mol, U\(1\) - U\(0\) = ([-0-9.e+]+) kJ/mol",
        result.stdout,
    )
    assert quadrature, result.stdout
    integral, difference = float(quadrature.group(1)), float(quadrature.group(2))
    assert abs(difference) > 1.0  # the ion's latent charge does interact
    assert integral == pytest.approx(difference, rel=1e-5)
    delta_g = re.search(r"= ([-0-9.]+) \+- ([0-9.]+) kJ/mol\s*$", result.stdout)
    assert delta_g, result.stdout
    assert float(delta_g.group(2)) > 0.0  # an error estimate from the windows' blocks
    assert len(re.findall(r"lambda_q = 0\.\d{4}: <dU/dlambda>", result.stdout)) == 3
