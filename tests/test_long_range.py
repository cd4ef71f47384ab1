"""SOGLongRange against the exact lattice sum, the dense k-space sum and itself.

Accuracy contract: for a requested ``tolerance`` the energy is within ``tolerance * |E_ref|``
and the forces within ``tolerance * ||F_ref||`` (relative RMS over atoms) of the direct lattice
sum (docs/design.md §6, oracle 1), which is exact to round-off for Gaussian kernels.
"""

import pytest
import torch
from layer_helpers import CUBIC, TRICLINIC, energy_forces, random_kernel, random_system

from openmm_sog import SOGKernel, SOGLongRange
from openmm_sog.reference import kspace_sum_energy, lattice_sum_energy


def _relative(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("tolerance", [1e-3, 1e-4, 1e-5, 1e-6, 1e-7])
@pytest.mark.parametrize("cell", [CUBIC, TRICLINIC], ids=["cubic", "triclinic"])
@pytest.mark.parametrize("num_channels", [1, 3])
@pytest.mark.parametrize("neutral", [True, False], ids=["neutral", "charged"])
def test_matches_direct_lattice_sum(tolerance, cell, num_channels, neutral):
    positions, charges, cell_t = random_system(60, cell, num_channels, neutral, seed=num_channels)
    kernel = random_kernel(num_channels, seed=num_channels)
    layer = SOGLongRange(kernel, tolerance)
    e_ref, f_ref = energy_forces(
        lambda p: lattice_sum_energy(p, charges, cell_t, kernel), positions
    )
    energy, forces = energy_forces(lambda p: layer(p, charges, cell_t), positions)
    assert energy.shape == (1,)
    assert abs(float(energy[0] - e_ref)) <= tolerance * abs(float(e_ref))
    assert _relative(forces, f_ref) <= tolerance


def test_mixed_batch_matches_each_structure():
    """Structures of different sizes, cells and charge states in one call."""
    systems = [
        random_system(30, CUBIC, 2, True, seed=1),
        random_system(55, TRICLINIC, 2, False, seed=2),
        random_system(12, [[6.0, 0, 0], [0, 11.0, 0], [0, 0, 7.5]], 2, True, seed=3),
    ]
    kernel = random_kernel(2, seed=4)
    layer = SOGLongRange(kernel, 1e-6)
    positions = torch.cat([s[0] for s in systems])
    charges = torch.cat([s[1] for s in systems])
    cells = torch.stack([s[2] for s in systems])
    batch = torch.cat([torch.full((s[0].shape[0],), i) for i, s in enumerate(systems)])
    energies, forces = energy_forces(lambda p: layer(p, charges, cells, batch), positions)
    assert energies.shape == (3,)
    start = 0
    for i, (pos, q, cell) in enumerate(systems):
        e_ref, f_ref = energy_forces(
            lambda p, q=q, cell=cell: lattice_sum_energy(p, q, cell, kernel), pos
        )
        stop = start + pos.shape[0]
        assert abs(float(energies[i] - e_ref)) <= 1e-6 * abs(float(e_ref))
        assert _relative(forces[start:stop], f_ref) <= 1e-6
        start = stop


def test_matches_dense_kspace_sum_and_potentials_are_dE_dq():
    positions, charges, cell = random_system(50, TRICLINIC, 2, False, seed=7)
    kernel = random_kernel(2, seed=7)
    layer = SOGLongRange(kernel, 1e-8)
    half, _ = layer._grid(cell[None])
    dense = kspace_sum_energy(positions, charges, cell, kernel, half)
    charges = charges.clone().requires_grad_()
    energy, potentials = layer.energy_and_potentials(positions, charges, cell)
    assert float(energy.detach()[0]) == pytest.approx(float(dense.detach()), rel=1e-8)
    (dE_dq,) = torch.autograd.grad(energy.sum(), charges)
    torch.testing.assert_close(potentials.detach(), dE_dq, rtol=1e-10, atol=1e-12)
    # And against the oracle's own charge derivative.
    q_ref = charges.detach().clone().requires_grad_()
    (ref,) = torch.autograd.grad(lattice_sum_energy(positions, q_ref, cell, kernel), q_ref)
    assert _relative(potentials.detach(), ref) <= 1e-8


def test_translation_and_wrapping_invariance():
    positions, charges, cell = random_system(40, TRICLINIC, 1, False, seed=9)
    layer = SOGLongRange(random_kernel(1, seed=9), 1e-7)
    e0 = layer(positions, charges, cell)
    shifted = positions + torch.tensor([0.37, -1.91, 2.53], dtype=torch.float64)
    images = torch.randint(-3, 4, (40, 3), generator=torch.Generator().manual_seed(1))
    wrapped = positions + images.to(torch.float64) @ cell
    torch.testing.assert_close(layer(shifted, charges, cell), e0, rtol=1e-7, atol=0)
    torch.testing.assert_close(layer(wrapped, charges, cell), e0, rtol=1e-12, atol=0)


def test_gradcheck_and_gradgradcheck_all_inputs():
    """Second-order derivatives in positions, charges, cell, amplitudes and widths."""
    positions, charges, cell = random_system(
        8, [[5.0, 0, 0], [1.0, 5.5, 0], [-0.5, 0.8, 6.0]], 2, False, seed=11
    )
    kernel = SOGKernel(
        torch.tensor([[0.9, -0.4], [0.5, 0.3]], dtype=torch.float64),
        torch.tensor([[1.1, 1.9], [1.4, 2.2]], dtype=torch.float64),
    )
    layer = SOGLongRange(kernel, 1e-9)
    weights0, log_widths0 = kernel.weights.detach().clone(), kernel.log_widths.detach().clone()
    # Swap the kernel's Parameters for plain input tensors so that gradcheck perturbs them.
    del kernel.weights
    del kernel.log_widths

    def fn(pos, q, h, weights, log_widths):
        kernel.weights = weights
        kernel.log_widths = log_widths
        return layer(pos, q, h)

    inputs = (
        positions.clone().requires_grad_(),
        charges.clone().requires_grad_(),
        cell.clone().requires_grad_(),
        weights0.clone().requires_grad_(),
        log_widths0.clone().requires_grad_(),
    )
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)
    assert torch.autograd.gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtypes_and_torchscript(dtype):
    positions, charges, cell = random_system(30, TRICLINIC, 2, True, seed=12, dtype=dtype)
    kernel = random_kernel(2, seed=12, dtype=dtype)
    layer = SOGLongRange(kernel, 1e-5)
    scripted = torch.jit.script(layer)
    energy = layer(positions, charges, cell).detach()
    assert energy.dtype == dtype
    torch.testing.assert_close(scripted(positions, charges, cell), energy)
    e2, pot = scripted.energy_and_potentials(positions, charges, cell)
    assert pot.shape == (30, 2) and pot.dtype == dtype
    with torch.no_grad():
        ref = lattice_sum_energy(
            positions.double(), charges.double(), cell.double(), random_kernel(2, seed=12)
        )
    rtol = 1e-5 if dtype == torch.float64 else 1e-4  # single precision: round-off of ~1e-6 per mode
    assert abs(float(energy[0]) - float(ref)) <= rtol * abs(float(ref))


def test_torchscript_save_and_load(tmp_path):
    positions, charges, cell = random_system(20, CUBIC, 1, True, seed=13)
    layer = SOGLongRange(random_kernel(1, seed=13), 1e-6)
    path = tmp_path / "layer.pt"
    torch.jit.script(layer).save(str(path))
    loaded = torch.jit.load(str(path))
    torch.testing.assert_close(loaded(positions, charges, cell), layer(positions, charges, cell))


def _bad(layer, positions, charges, cell, batch=None):
    return lambda: layer(positions, charges, cell, batch)


def test_bad_input_names_the_problem():
    positions, charges, cell = random_system(10, CUBIC, 2, True, seed=14)
    layer = SOGLongRange(random_kernel(2, seed=14), 1e-5)
    nan_pos = positions.clone()
    nan_pos[3, 1] = float("nan")
    inf_q = charges.clone()
    inf_q[0, 0] = float("inf")
    left = cell[[1, 0, 2]]
    singular = cell.clone()
    singular[2] = singular[0] + singular[1]
    cases = [
        ((positions[:, :2], charges, cell), "positions must have shape"),
        ((positions, charges[:9], cell), "charges must have shape"),
        ((positions, charges[:, :1], cell), "channels"),
        ((nan_pos, charges, cell), "positions contain NaN"),
        ((positions, inf_q, cell), "charges contain NaN"),
        ((positions, charges, left), "left-handed"),
        ((positions, charges, singular), "singular"),
        ((positions, charges, cell[:2]), "cell must have shape"),
        ((positions, charges, cell.float()), "share a dtype"),
        ((positions, charges, torch.stack([cell, cell])), "batch is required"),
        ((positions, charges, torch.stack([cell, cell]), torch.full((10,), 2)), "batch indices"),
        ((positions, charges, cell, torch.zeros(9, dtype=torch.long)), "batch must have shape"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            layer(*args)
    for tolerance in [0.5, 1e-12, 0.0]:
        with pytest.raises(ValueError, match="tolerance"):
            SOGLongRange(random_kernel(1), tolerance)
