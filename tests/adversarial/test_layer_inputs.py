"""Adversarial inputs to the PyTorch long-range layer (SOGKernel, SOGLongRange).

Each case asserts the exception type and that the message names the problem; the scripted
(TorchScript) layer, which exports carry, must refuse the same inputs.
"""

import pytest
import torch

from openmm_sog import SOGKernel, SOGLongRange

F64 = torch.float64


def _layer(widths=(3.0, 6.0), tolerance=1e-6):
    kernel = SOGKernel(
        weights=torch.ones(1, len(widths), dtype=F64), widths=torch.tensor([widths], dtype=F64)
    )
    return SOGLongRange(kernel, tolerance=tolerance)


def _inputs(n=10, box=12.0):
    gen = torch.Generator().manual_seed(0)
    positions = torch.rand(n, 3, generator=gen, dtype=F64) * box
    charges = torch.randn(n, 1, generator=gen, dtype=F64)
    return positions, charges, torch.eye(3, dtype=F64) * box


def _nan(t):
    t = t.clone()
    t.view(-1)[0] = float("nan")
    return t


BAD_CALLS = {
    "NaN position": (lambda p, q, c: (_nan(p), q, c), "positions contain NaN"),
    "infinite charge": (lambda p, q, c: (p, q * float("inf"), c), "charges contain NaN"),
    "two channels for a one-channel kernel": (
        lambda p, q, c: (p, torch.cat([q, q], 1), c),
        "2 channels but the kernel has 1",
    ),
    "fewer charges than atoms": (lambda p, q, c: (p, q[:-1], c), "charges must have shape"),
    "2-d positions": (lambda p, q, c: (p[:, :2], q, c), r"positions must have shape \[N, 3\]"),
    "singular cell": (lambda p, q, c: (p, q, torch.zeros_like(c)), "cell is singular"),
    "left-handed cell": (lambda p, q, c: (p, q, -c), "left-handed"),
    "NaN cell": (lambda p, q, c: (p, q, _nan(c)), "cell contains NaN"),
    "2x2 cell": (lambda p, q, c: (p, q, c[:2, :2]), "cell must have shape"),
    "float32 positions in a float64 call": (
        lambda p, q, c: (p.float(), q, c),
        "must share a dtype",
    ),
    "integer charges": (lambda p, q, c: (p, q.long(), c), "must share a dtype"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
@pytest.mark.parametrize("scripted", [False, True], ids=["eager", "torchscript"])
def test_bad_call_is_refused(case, scripted):
    transform, message = BAD_CALLS[case]
    layer = _layer()
    if scripted:
        layer = torch.jit.script(layer)
    positions, charges, cell = transform(*_inputs())
    error = (ValueError,) if not scripted else (ValueError, torch.jit.Error)
    with pytest.raises(error, match=message):
        layer(positions, charges, cell)


BAD_KERNELS = {
    "negative width": (dict(weights=[[1.0]], widths=[[-1.0]]), "widths must be > 0"),
    "zero width": (dict(weights=[[1.0]], widths=[[0.0]]), "widths must be > 0"),
    "NaN weight": (dict(weights=[[float("nan")]], widths=[[1.0]]), "must be finite"),
    "shape mismatch": (dict(weights=[[1.0, 2.0]], widths=[[1.0]]), "same shape"),
}


@pytest.mark.parametrize("case", list(BAD_KERNELS))
def test_bad_kernel_is_refused(case):
    arguments, message = BAD_KERNELS[case]
    with pytest.raises(ValueError, match=message):
        SOGKernel(**{k: torch.tensor(v, dtype=F64) for k, v in arguments.items()})


@pytest.mark.parametrize("tolerance", [0.0, 2.0, float("nan"), 1e-12])
def test_tolerance_out_of_range_is_refused(tolerance):
    with pytest.raises(ValueError, match=r"tolerance must lie in \(1e-10, 1e-1\)"):
        _layer(tolerance=tolerance)


@pytest.mark.parametrize("scripted", [False, True], ids=["eager", "torchscript"])
def test_grid_larger_than_memory_is_refused_before_allocation(scripted):
    """A 1e-4 A Gaussian in a 30 A cell: a 1.5e6^3 grid (the audit: an overflowed storage size
    from torch). The message names the Gaussian, the grid, the memory and the remedy."""
    layer = _layer(widths=(3.0, 1e-4))
    if scripted:
        layer = torch.jit.script(layer)
    positions, charges, cell = _inputs(box=30.0)
    error = (ValueError,) if not scripted else (ValueError, torch.jit.Error)
    with pytest.raises(error, match=r"Gaussian 1 of channel 0 \(width 0.0001.*x.*GiB.*real space"):
        layer(positions, charges, cell)
