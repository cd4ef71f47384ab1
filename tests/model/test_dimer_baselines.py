"""The dimer baselines (examples/dimer_baselines.py) against a direct reading of the HDF5 files."""

from __future__ import annotations

import numpy as np
import pytest
from script_modules import load_script

baselines = load_script("examples/dimer_baselines.py")
SHARED = baselines.SHARED


def _curve(name: str) -> np.ndarray:
    """Forces ``[13, atoms, 3]`` in eV/A straight from the file, padding atoms dropped."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(SHARED / name, "r") as f:
        forces, charges = f["forces"][:], f["charges"][:]
        points = f["points"][:]
    # Padded atoms sit at the origin with no force; every real atom of a curve moves or
    # carries force somewhere along it.
    real = (np.abs(points).sum(axis=(0, 2)) > 0) | (np.abs(forces).sum(axis=(0, 2)) > 0)
    assert charges.shape[:2] == forces.shape[:2]
    return forces[:, real]


def _rmse_mev(a: np.ndarray, b: np.ndarray) -> float:
    return 1000.0 * float(np.sqrt(np.mean((a - b) ** 2)))


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not present (../shared)")
@pytest.mark.parametrize("label", ["CC", "AA"])
def test_baselines_match_the_files(label):
    name = baselines.DIMER_FILES[label]
    forces = _curve(name)
    assert forces.shape[0] == 13
    # Interpolation: even separations train, odd ones are scored.
    train, test = forces[0::2], forces[1::2]
    zero, mean = baselines.baselines(str(SHARED / name), "odd", seed=0)
    assert zero == pytest.approx(_rmse_mev(test, 0.0), rel=1e-6)
    assert mean == pytest.approx(_rmse_mev(test, train.mean(axis=0)), rel=1e-6)
    # Extrapolation: the 8 closest train, the 5 farthest are scored.
    zero, mean = baselines.baselines(str(SHARED / name), "far", seed=0)
    assert mean == pytest.approx(_rmse_mev(forces[8:], forces[:8].mean(axis=0)), rel=1e-6)
    # The paper's protocol scores the whole curve; one of 13 structures is held out, so the
    # training mean is that of 12 of them.
    zero, mean = baselines.baselines(str(SHARED / name), "paper", seed=0)
    assert zero == pytest.approx(_rmse_mev(forces, 0.0), rel=1e-6)
    candidates = [_rmse_mev(forces, np.delete(forces, k, axis=0).mean(axis=0)) for k in range(13)]
    assert min(abs(mean - c) for c in candidates) < 1e-6 * mean
