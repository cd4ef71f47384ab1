"""The mixed-precision study (examples/mixed_precision_study.py): its TF32 emulation against an
independent rounding, the geometry products it leaves alone, the autocast networks, and one
short run per mode end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from script_modules import load_script

import openmm_sog.model.descriptor as descriptor

REPO = Path(__file__).resolve().parents[2]

study = load_script("examples/mixed_precision_study.py")


def tf32_oracle(values: np.ndarray) -> np.ndarray:
    """Round float32 values to 11 significant bits (10 stored), ties to even, in float64."""
    mantissa, exponent = np.frexp(values.astype(np.float64))  # mantissa in [0.5, 1)
    return np.ldexp(np.round(mantissa * 2.0**11) / 2.0**11, exponent)  # np.round: ties to even


def test_tf32_rounding_matches_an_independent_rounding():
    rng = np.random.default_rng(0)
    values = np.concatenate(
        [
            rng.standard_normal(20000) * 10.0 ** rng.uniform(-6, 6, 20000),
            1.0 + np.array([1, 3, 5, 7], dtype=np.float64) * 2.0**-11,  # exact ties
            [0.0, -0.0, 1.0, -2.5],
        ]
    ).astype(np.float32)
    rounded = study.round_to_tf32(torch.from_numpy(values)).numpy()
    np.testing.assert_array_equal(rounded.astype(np.float64), tf32_oracle(values))
    # float64 tensors are not TF32 candidates
    doubles = torch.from_numpy(values.astype(np.float64))
    assert torch.equal(study.round_to_tf32(doubles), doubles)


def test_tf32_products_round_network_products_and_leave_geometry_alone():
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(50, 16, generator=gen)
    b = torch.randn(16, 8, generator=gen)
    positions = torch.rand(50, 3, generator=gen) * 20.0
    cell = torch.eye(3) * 20.0 + 0.1 * torch.randn(3, 3, generator=gen)
    with study.TF32Products():
        product = a @ b
        fractional = positions @ torch.linalg.inv(cell)
    rounded = study.round_to_tf32(a).double() @ study.round_to_tf32(b).double()
    torch.testing.assert_close(product.double(), rounded, rtol=1e-6, atol=1e-5)
    assert (product - a @ b).abs().max() > 1e-4  # the rounding is there
    assert torch.equal(fractional, positions @ torch.linalg.inv(cell))


def test_autocast_network_runs_reduced_and_returns_float32():
    torch.manual_seed(2)
    plain = descriptor.mlp([12, 32, 32, 1])
    x = torch.randn(64, 12)
    for dtype, output_full in ((torch.bfloat16, False), (torch.bfloat16, True)):
        network = study.AutocastNetwork(plain, dtype, output_full)
        y = network(x)
        assert y.dtype == torch.float32
        # bfloat16 keeps 8 significant bits: close to, but not equal to, float32
        torch.testing.assert_close(y, plain(x), rtol=0.05, atol=0.05)
        assert not torch.equal(y, plain(x))


def test_precision_context_restores_the_plain_networks():
    plain = descriptor.mlp
    with study.precision("bfloat16"):
        assert descriptor.mlp is not plain
        assert isinstance(descriptor.mlp([3, 4, 1]), study.AutocastNetwork)
    assert descriptor.mlp is plain


@pytest.mark.parametrize("mode", ["float32", "bfloat16-hidden", "tf32"])
def test_one_epoch_per_mode_end_to_end(tmp_path, mode):
    data = REPO / "data" / "electrolyte" / "test.xyz"
    if not data.is_file():
        pytest.skip("data/electrolyte is not present")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"data: {{train: {data}, validation_fraction: 0.25}}\n"
        "model: {cutoff: 4.0, embedding_sizes: [8, 8], axis_features: 4, fitting_sizes: [16],"
        " charge_sizes: [8], long_range: true, num_gaussians: 8, min_width: 1.0}\n"
        "training: {batch_size: 4, num_threads: 1, reference_energies: average}\n"
    )
    result = study.run(str(config), mode, 1, tmp_path / "out", None)
    assert result["mode"] == mode and result["epochs"] == 1
    assert math.isfinite(result["forces_rmse_meV_per_A"]) and result["forces_rmse_meV_per_A"] > 0
    assert math.isfinite(result["energy_rmse_meV_per_atom"])
    json.dumps(result)
