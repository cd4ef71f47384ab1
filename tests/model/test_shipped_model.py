"""The shipped models of the ionic toy system against its PME labels (docs/design.md §8).

The labels of ``data/electrolyte/test.xyz`` come from OpenMM PME on an MD trajectory that no
model was trained on; the ions carry formal charges +-1 e, which SOG-Net's latent charges should
recover without being told.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from openmm_sog.training.data import read_dataset
from openmm_sog.training.metrics import evaluate
from openmm_sog.training.model_io import load_model

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def test_frames():
    return read_dataset(REPO / "data" / "electrolyte" / "test.xyz")[::4]  # 5 frames


@pytest.fixture(scope="module")
def sognet_metrics(test_frames):
    return evaluate(load_model(REPO / "models" / "electrolyte_sognet.pt"), test_frames)


def test_shipped_sognet_matches_pme_labels_and_formal_charges(sognet_metrics):
    metrics = sognet_metrics
    assert metrics["forces_rmse_meV_per_A"] < 8.0  # 5.9 on all 20 frames
    assert metrics["energy_rmse_meV_per_atom"] < 0.15
    # Latent charges are defined up to a common sign (E depends on q_i q_j only).
    na, cl = metrics["latent_charge_mean_e[Na]"], metrics["latent_charge_mean_e[Cl]"]
    assert abs(na) == pytest.approx(1.0, abs=0.01) and na * cl < 0
    assert abs(cl) == pytest.approx(1.0, abs=0.01)
    assert metrics["latent_charge_std_e[Na]"] < 0.01


def test_long_range_beats_the_short_range_baseline(test_frames, sognet_metrics):
    short = evaluate(load_model(REPO / "models" / "electrolyte_shortrange.pt"), test_frames)
    assert short["forces_rmse_meV_per_A"] > 10.0 * sognet_metrics["forces_rmse_meV_per_A"]
