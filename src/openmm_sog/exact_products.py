"""Small products computed as sums of elementwise products, never by a matrix-multiply kernel.

torch's reduced-precision matmul modes (``torch.backends.cuda.matmul.allow_tf32``,
``torch.set_float32_matmul_precision("high" | "medium")``) round the *inputs* of float32
matrix products to 10 or 8 mantissa bits: a 20 A coordinate or cell vector moves by up to
0.01-0.08 A. Users switch them on globally for their networks; geometry (fractional
coordinates, periodic shifts, strained cells) and the NUFFT's interpolation contractions must
stay float32-exact whatever they choose, so they go through these functions (elementwise
multiplies and sums, which no matmul mode touches).
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["vector_matrix_product"]


def vector_matrix_product(vectors: Tensor, matrices: Tensor) -> Tensor:
    """``v M`` for row vectors ``[..., k]`` and matrices ``[..., k, m]`` (broadcast): ``[..., m]``.

    Also the matrix product ``A M`` when ``vectors`` are A's rows ``[..., n, k]`` and
    ``matrices`` is ``M[..., None, k, m]``.
    """
    return (vectors.unsqueeze(-1) * matrices).sum(-2)
