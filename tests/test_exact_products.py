"""Geometry and NUFFT contractions stay float32-exact when matrix products run in TF32.

Under ``torch.backends.cuda.matmul.allow_tf32`` (or ``set_float32_matmul_precision("high")``)
a GPU rounds the inputs of float32 matrix products to 10 mantissa bits. No GPU is needed to
check that our geometry does not depend on that: ``RoundedProducts`` rounds the inputs of every
float32 matrix-product kernel the same way on the CPU, and the results must not move.
"""

from __future__ import annotations

import pytest
import torch
from layer_helpers import TRICLINIC, energy_forces, random_kernel, random_system
from script_modules import load_script
from torch.utils._python_dispatch import TorchDispatchMode

from openmm_sog import SOGLongRange
from openmm_sog.exact_products import vector_matrix_product
from openmm_sog.model.neighbors import BruteForceNeighborList, pair_vectors
from openmm_sog.real_space import minimum_image_pairs

# Its TF32 rounding is checked against an independent oracle in
# tests/model/test_mixed_precision_study.py.
study = load_script("examples/mixed_precision_study.py")
round_to_tf32 = study.round_to_tf32
#: the matrix-product kernels and which arguments are their factors (the study's, and the
#: vector products it need not round)
PRODUCTS = {
    **study.PRODUCTS,
    torch.ops.aten.mv.default: (0, 1),
    torch.ops.aten.dot.default: (0, 1),
}


class RoundedProducts(TorchDispatchMode):
    """Every float32 matrix product takes TF32-rounded inputs; counts the products it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.products = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        factors = PRODUCTS.get(func)
        if factors is not None and args[factors[0]].dtype == torch.float32:
            self.products += 1
            args = list(args)
            for k in factors:
                args[k] = round_to_tf32(args[k])
        return func(*args, **(kwargs or {}))


def test_the_rounding_mode_moves_a_plain_matrix_product():
    """Control: without exact products, 20 A coordinates move by ~1e-2 A under the mode."""
    positions, _, cell = random_system(50, TRICLINIC, dtype=torch.float32)
    cell = 2.5 * cell  # ~20 A
    exact = positions.double() @ torch.linalg.inv(cell.double())
    with RoundedProducts() as mode:
        rounded = positions @ torch.linalg.inv(cell)
    assert mode.products >= 1
    assert float((rounded.double() - exact).abs().max()) > 1e-4
    with RoundedProducts() as mode:
        ours = vector_matrix_product(positions, torch.linalg.inv(cell))
    assert float((ours.double() - exact).abs().max()) < 1e-5


@pytest.mark.parametrize(
    "shape", [((7, 3), (3, 3)), ((7, 3), (7, 3, 3)), ((4, 3, 3), (4, 1, 3, 3))]
)
def test_vector_matrix_product_is_the_matrix_product(shape):
    gen = torch.Generator().manual_seed(1)
    v = torch.randn(*shape[0], generator=gen, dtype=torch.float64)
    m = torch.randn(*shape[1], generator=gen, dtype=torch.float64)
    expected = torch.matmul(v.unsqueeze(-2), m).squeeze(-2) if v.dim() == m.dim() - 1 else v @ m
    torch.testing.assert_close(vector_matrix_product(v, m), expected, rtol=1e-14, atol=1e-14)


def test_long_range_layer_is_unchanged_by_tf32_products():
    """Energy and forces of the NUFFT layer (fractional coordinates, interpolation) in float32:
    identical with and without TF32-rounded matrix products."""
    positions, charges, cell = random_system(80, TRICLINIC, 2, dtype=torch.float32)
    cell, positions = 2.5 * cell, 2.5 * positions  # ~20 A: where rounding would show
    layer = SOGLongRange(random_kernel(2, dtype=torch.float32), 1e-5)
    plain = energy_forces(lambda p: layer(p, charges, cell), positions)
    with RoundedProducts():
        rounded = energy_forces(lambda p: layer(p, charges, cell), positions)
    for a, b in zip(plain, rounded, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    # The potentials dE/dq come from the type-2 NUFFT's interpolation contractions (with
    # einsum they moved by 2e-4 of their norm here).
    _, potentials = layer.energy_and_potentials(positions, charges, cell)
    with RoundedProducts():
        _, rounded_potentials = layer.energy_and_potentials(positions, charges, cell)
    torch.testing.assert_close(rounded_potentials, potentials, rtol=1e-6, atol=1e-6)


def test_neighbour_geometry_is_unchanged_by_tf32_products():
    """Pair vectors with cell shifts, the brute-force list and the minimum image, in float32."""
    positions, _, cell = random_system(40, TRICLINIC, dtype=torch.float32)
    cell, positions = 2.5 * cell, 2.5 * positions
    batch = torch.zeros(40, dtype=torch.long)
    pbc = torch.tensor([True])
    neighbours = BruteForceNeighborList(6.0)

    def geometry() -> list[torch.Tensor]:
        i, j, shifts = neighbours(positions, cell.unsqueeze(0), pbc, batch)
        vectors = pair_vectors(positions, cell.unsqueeze(0), batch, i, j, shifts)
        _, _, distance = minimum_image_pairs(positions, cell, 6.0)
        return [i, j, shifts, vectors, distance]

    plain = geometry()
    with RoundedProducts():
        rounded = geometry()
    for a, b in zip(plain, rounded, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
