"""An equivariant message-passing backbone after PaiNN (Schuett, Unke and Gastegger, ICML 2021).

Why this backbone: the DeepPot-SE descriptor sees each atom's neighbours once, through one
Gram matrix; accuracy on molecules (SPICE) needs many-body, many-hop information. PaiNN passes
messages between atoms carrying invariant scalars s_i ``[F]`` and rotation-covariant vectors
v_i ``[3, F]``, so after T layers an atom sees T cutoff spheres and angular (l = 1)
correlations, at a cost linear in the number of pairs and without spherical harmonics or
Clebsch-Gordan products (plain tensors, TorchScript- and export-clean, no e3nn).

For a pair i <- j with r_ij = r_j - r_i, d = |r_ij|, u = r_ij / d (lengths in Angstrom):

    W(d)    = Linear(sin(n pi d / r_c) / d f_c(d))           radial filter [3F], no bias; f_c is
                                                               the C^2 switch of ``smooth_cutoff``
    message: (a, b, c) = phi(s_j) * W(d)                       phi: MLP F -> F -> 3F
             s_i += 1/n_norm sum_j a
             v_i += 1/n_norm sum_j (b v_j + c u)
    update:  (U v_i, V v_i) = linear maps of the F channels (no bias: keeps v covariant)
             (a, b, c) = MLP([s_i, |V v_i|])                  2F -> F -> 3F
             v_i += a U v_i
             s_i += b <U v_i, V v_i> + c

The features are the final scalars s_i (invariant); the energy term is zero (the model's fitting
network reads the features). Every message vanishes with f_c, and |V v| is smoothed at zero
(sqrt(|V v|^2 + eps)), so energies and forces are continuous and twice differentiable, as
training on forces needs. n_norm (the mean neighbour count, set from data) keeps the sums O(1).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .descriptor import mlp, switched_sine_basis

__all__ = ["PaiNNBackbone", "PaiNNLayer"]

#: Added to |V v|^2 under the square root: the norm is then differentiable at v = 0 (A^0).
_NORM_EPSILON = 1e-8


class PaiNNLayer(nn.Module):
    """One PaiNN message + update block on ``F`` scalar and ``F`` vector channels."""

    def __init__(self, num_features: int, num_radial: int) -> None:
        super().__init__()
        self.num_features = int(num_features)
        self.norm_epsilon = _NORM_EPSILON
        self.message = mlp([num_features, num_features, 3 * num_features])
        # No bias: the filter is then proportional to the switched radial basis, so every
        # message vanishes smoothly at the cutoff.
        self.filter = nn.Linear(num_radial, 3 * num_features, bias=False)
        self.mix = nn.Linear(num_features, 2 * num_features, bias=False)
        self.update = mlp([2 * num_features, num_features, 3 * num_features])

    def forward(
        self,
        s: Tensor,
        v: Tensor,
        radial: Tensor,
        unit: Tensor,
        i: Tensor,
        j: Tensor,
        neighbor_normalization: float,
    ) -> tuple[Tensor, Tensor]:
        """New ``(s [N, F], v [N, 3, F])``.

        :param radial: ``[E, R]`` radial basis times the cutoff switch of every pair.
        :param unit: ``[E, 3]`` unit vectors from centre ``i`` to neighbour ``j``.
        """
        f = self.num_features
        x = self.message(s)[j] * self.filter(radial)
        ds, dvv, dvs = torch.split(x, f, dim=-1)
        s = s + torch.zeros_like(s).index_add(0, i, ds) / neighbor_normalization
        dv = dvv.unsqueeze(1) * v[j] + dvs.unsqueeze(1) * unit.unsqueeze(-1)  # [E, 3, F]
        v = v + torch.zeros_like(v).index_add(0, i, dv) / neighbor_normalization
        uv, vv = torch.split(self.mix(v), f, dim=-1)  # [N, 3, F] each
        vv_norm = torch.sqrt((vv * vv).sum(1) + self.norm_epsilon)
        a_vv, a_sv, a_ss = torch.split(self.update(torch.cat([s, vv_norm], -1)), f, dim=-1)
        v = v + a_vv.unsqueeze(1) * uv
        s = s + a_sv * (uv * vv).sum(1) + a_ss
        return s, v


class PaiNNBackbone(nn.Module):
    """PaiNN backbone: invariant features ``[N, F]`` after ``num_interactions`` layers.

    :param num_species: S (inputs are species indices 0..S-1).
    :param cutoff: r_c; Angstrom.
    :param inner_cutoff: where the C^2 switch starts; Angstrom (0: switch over [0, r_c]).
    :param num_radial: R sine (Bessel) radial functions.
    :param num_features: F channels of scalars and of vectors.
    :param num_interactions: T message-passing layers (receptive field T r_c).
    :param neighbor_normalization: n_norm, the typical neighbour count.
    """

    def __init__(
        self,
        num_species: int,
        cutoff: float,
        inner_cutoff: float,
        num_radial: int,
        num_features: int,
        num_interactions: int,
        neighbor_normalization: float,
    ) -> None:
        super().__init__()
        if not 0.0 <= inner_cutoff < cutoff:
            raise ValueError(f"need 0 <= inner_cutoff < cutoff, got {inner_cutoff}, {cutoff}")
        if num_features < 1 or num_interactions < 1 or num_radial < 1:
            raise ValueError(
                "PaiNN needs num_features, num_interactions and num_radial >= 1, got "
                f"{num_features}, {num_interactions}, {num_radial}"
            )
        self.cutoff = float(cutoff)
        self.inner_cutoff = float(inner_cutoff)
        self.feature_size = int(num_features)
        self.neighbor_normalization = float(neighbor_normalization)
        self.embedding = nn.Embedding(num_species, num_features)
        frequencies = math.pi / cutoff * torch.arange(1, num_radial + 1, dtype=torch.float64)
        self.register_buffer("frequencies", frequencies)  # 1/A; the model sets its dtype
        self.layers = nn.ModuleList(
            [PaiNNLayer(num_features, num_radial) for _ in range(num_interactions)]
        )

    def forward(
        self, vectors: Tensor, i: Tensor, j: Tensor, species: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Features ``[N, F]`` and a zero energy term ``[N]``.

        :param vectors: ``[E, 3]`` r_j - r_i; Angstrom (pairs beyond r_c contribute zero).
        :param i: ``[E]`` centre atoms; :param j: ``[E]`` neighbours.
        :param species: ``[N]`` species indices.
        """
        unit, radial = switched_sine_basis(
            vectors, self.frequencies, self.inner_cutoff, self.cutoff
        )
        s = self.embedding(species).to(vectors.dtype)
        v = torch.zeros(
            s.shape[0], 3, self.feature_size, dtype=vectors.dtype, device=vectors.device
        )
        for layer in self.layers:
            s, v = layer(s, v, radial, unit, i, j, self.neighbor_normalization)
        return s, torch.zeros_like(s[:, 0])

    @torch.jit.unused
    def set_neighbor_normalization(self, value: float) -> None:
        """Set n_norm, the typical neighbour count the message sums are divided by."""
        self.neighbor_normalization = float(value)

    @torch.jit.unused
    def set_statistics(self, vectors: Tensor, i: Tensor, j: Tensor, species: Tensor) -> None:
        """Nothing to standardise: the embedding is learnt and the sums are normalised."""
