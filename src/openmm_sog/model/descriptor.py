"""A smooth DeepPot-SE-like local descriptor (lengths in Angstrom, the output is unitless).

Why this descriptor: it is the one the SOG-Net paper used, it is cheap (one small embedding
network per pair, one matrix product per atom), it is invariant to translations (only pair
vectors enter), rotations (it is a Gram matrix of rotation-covariant features) and permutations
of like atoms (sums over neighbours), it is species-aware (the embedding sees the species of both
atoms), and with the C^2 switching function below every neighbour enters and leaves the cutoff
sphere smoothly, so energies, forces and their first derivatives are continuous.

For atom i with neighbours j (r_ij = r_j - r_i, r = |r_ij| < r_c):

    s(r)    = f_c(r) / r,          f_c: 1 below r_on, 0 beyond r_c, C^2 quintic in between
    R_ij    = s(r) [1, x/r, y/r, z/r]                      (4-vector, rotation-covariant)
    G_ij    = MLP(radial basis(r), species_i, species_j)   (M1 features, invariant)
    T_i     = 1/n_norm sum_j G_ij^T R_ij                   ([M1, 4])
    D_i     = T_i T_i[:M2]^T                               ([M1, M2], invariant)
    D'_i    = T_i[:, 0]                    ([M1], invariant; only with radial_features)

Why the optional radial part D'_i = 1/n_norm sum_j G_ij s(r_ij): the Gram matrix D_i holds
only products of neighbour sums, so a plain pair sum sum_j phi(r_ij) (the steep Lennard-Jones
or Born-Mayer repulsion of ionic systems) is out of its linear reach and the fitting network
can only approximate it. The radial sums give it that term directly (DeePMD's se_e2_r part of
a hybrid se_e2_a + se_e2_r descriptor plays the same role).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["DeepPotSEBackbone", "DeepPotSEDescriptor", "mlp", "smooth_cutoff"]


def smooth_cutoff(distances: Tensor, inner: float, cutoff: float) -> Tensor:
    """C^2 switching function: 1 for r <= inner, 0 for r >= cutoff (both Angstrom).

    f = 1 - 10 x^3 + 15 x^4 - 6 x^5 with x = (r - inner) / (cutoff - inner); value, first and
    second derivative vanish at r = cutoff.
    """
    x = ((distances - inner) / (cutoff - inner)).clamp(0.0, 1.0)
    return 1.0 - x * x * x * (10.0 - 15.0 * x + 6.0 * x * x)


def switched_sine_basis(
    vectors: Tensor, frequencies: Tensor, inner: float, cutoff: float
) -> tuple[Tensor, Tensor]:
    """Unit pair vectors ``[E, 3]`` and the sine (Bessel) radial basis
    ``sin(k_n d) / d * f_c(d)`` ``[E, R]`` of pair vectors ``[E, 3]`` (Angstrom; pairs never
    coincide), ``frequencies`` k_n ``[R]`` (1/A), f_c the C^2 switch of :func:`smooth_cutoff`:
    the message-passing backbones' radial input, zero with two derivatives at the cutoff."""
    distance = torch.linalg.norm(vectors, dim=-1)
    unit = vectors / distance.unsqueeze(-1)
    switch = smooth_cutoff(distance, inner, cutoff)
    radial = torch.sin(distance.unsqueeze(-1) * frequencies) / distance.unsqueeze(-1)
    return unit, radial * switch.unsqueeze(-1)


def species_one_hot(species: Tensor, num_species: int, dtype: torch.dtype) -> Tensor:
    """One-hot rows ``[N, num_species]`` of species indices that are already checked.

    ``nn.functional.one_hot`` checks the indices' range on every call, which on a GPU makes the
    host wait for the device; a comparison with ``arange`` does not.
    """
    classes = torch.arange(num_species, device=species.device)
    return (species.unsqueeze(-1) == classes).to(dtype)


def _pair_sum_of_products(features: Tensor, generalized: Tensor, i: Tensor, n: int) -> Tensor:
    """``[N, M1, 4]``: per centre atom, the sum over its pairs of the outer product of the
    features ``[E, M1]`` and the generalized coordinates ``[E, 4]``.

    On a GPU one ``[E, M1, 4]`` product and one scatter are the fewest launches. On the CPU it
    is one ``[E, M1]`` product and scatter per coordinate: AOTInductor compiles the broadcast
    product with its inner dimension of 4 poorly (the compiled model's force evaluation takes
    1.4-1.5x longer with it, bench/RESULTS.md), and eager float32 runs 10-15 % faster.
    """
    if features.device.type != "cpu":
        outer = features.unsqueeze(-1) * generalized.unsqueeze(-2)  # [E, M1, 4]
        summed = torch.zeros(n, features.shape[1], 4, dtype=features.dtype, device=features.device)
        return summed.index_add(0, i, outer)
    columns: list[Tensor] = []
    for k in range(4):
        column = torch.zeros(n, features.shape[1], dtype=features.dtype, device=features.device)
        columns.append(column.index_add(0, i, features * generalized[:, k : k + 1]))
    return torch.stack(columns, -1)


def mlp(sizes: list[int], final_scale: float = 1.0) -> nn.Sequential:
    """Fully connected network with SiLU activations (smooth: forces need 2nd derivatives)."""
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        linear = nn.Linear(sizes[k], sizes[k + 1])
        if k == len(sizes) - 2:
            with torch.no_grad():
                linear.weight.mul_(final_scale)
                linear.bias.zero_()
        layers.append(linear)
        if k < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class DeepPotSEDescriptor(nn.Module):
    """Per-atom invariant descriptor ``[N, M1 * M2 (+ M1)]`` from pair vectors.

    :param num_species: number of species S (inputs are species indices 0..S-1).
    :param cutoff: r_c; Angstrom.
    :param inner_cutoff: r_on where switching starts; Angstrom.
    :param num_radial: Gaussian radial basis functions fed to the embedding network.
    :param embedding_sizes: hidden sizes of the embedding network; its output is M1.
    :param axis_features: M2 <= M1.
    :param neighbor_normalization: n_norm, a typical neighbour count (keeps T_i O(1)).
    :param radial_features: append the M1 radial sums T_i[:, 0] to the output.
    """

    def __init__(
        self,
        num_species: int,
        cutoff: float,
        inner_cutoff: float,
        num_radial: int = 8,
        embedding_sizes: tuple[int, ...] = (16, 16),
        axis_features: int = 4,
        neighbor_normalization: float = 10.0,
        radial_features: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 <= inner_cutoff < cutoff:
            raise ValueError(f"need 0 <= inner_cutoff < cutoff, got {inner_cutoff}, {cutoff}")
        if axis_features > embedding_sizes[-1]:
            raise ValueError("axis_features must not exceed the embedding width")
        self.num_species = int(num_species)
        self.cutoff = float(cutoff)
        self.inner_cutoff = float(inner_cutoff)
        self.num_features = int(embedding_sizes[-1])
        self.axis_features = int(axis_features)
        self.neighbor_normalization = float(neighbor_normalization)
        self.radial_features = bool(radial_features)
        self.register_buffer("radial_centers", torch.linspace(0.0, cutoff, num_radial))
        self.radial_width = float(cutoff / max(num_radial - 1, 1))
        self.embedding = mlp([num_radial + 2 * num_species, *embedding_sizes])

    @property
    def output_size(self) -> int:
        """M1 * M2, plus M1 with ``radial_features`` (those come last)."""
        radial = self.num_features if self.radial_features else 0
        return self.num_features * self.axis_features + radial

    def forward(self, vectors: Tensor, i: Tensor, j: Tensor, species: Tensor) -> Tensor:
        """Descriptor ``[N, output_size]``.

        :param vectors: pair vectors r_j - r_i ``[E, 3]``; Angstrom. Pairs with r >= r_c may
            be present and contribute exactly zero.
        :param i: ``[E]`` centre atom of each pair; :param j: ``[E]`` neighbour.
        :param species: ``[N]`` species index of every atom.
        """
        n = species.shape[0]
        distance = torch.linalg.norm(vectors, dim=-1)  # pairs never coincide
        switch = smooth_cutoff(distance, self.inner_cutoff, self.cutoff)
        s = switch / distance
        generalized = torch.cat([s.unsqueeze(-1), (s / distance).unsqueeze(-1) * vectors], -1)
        onehot = species_one_hot(species, self.num_species, vectors.dtype)
        radial = torch.exp(
            -(((distance.unsqueeze(-1) - self.radial_centers) / self.radial_width) ** 2)
        )
        features = self.embedding(torch.cat([radial, onehot[i], onehot[j]], -1))  # [E, M1]
        summed = _pair_sum_of_products(features, generalized, i, n) / self.neighbor_normalization
        gram = torch.einsum("nak,nbk->nab", summed, summed[:, : self.axis_features])
        if self.radial_features:
            return torch.cat([gram.reshape(n, -1), summed[:, :, 0]], -1)
        return gram.reshape(n, -1)


class DeepPotSEBackbone(nn.Module):
    """The DeepPot-SE local model as a backbone (see :mod:`.backbones` for the interface).

    Features are the descriptor standardised by ``mean`` and ``std`` (DeePMD's davg/dstd, set
    from data by :meth:`set_statistics`; unitless). With ``radial_features`` the energy term is
    a linear readout of the standardised radial sums: an exact learnable pair sum
    sum_j phi(r_ij, Z_i, Z_j) with phi spanned by the embedding network's features.
    """

    def __init__(
        self,
        num_species: int,
        cutoff: float,
        inner_cutoff: float,
        num_radial: int,
        embedding_sizes: tuple[int, ...],
        axis_features: int,
        neighbor_normalization: float,
        radial_features: bool,
    ) -> None:
        super().__init__()
        self.descriptor = DeepPotSEDescriptor(
            num_species,
            cutoff,
            inner_cutoff,
            num_radial,
            embedding_sizes,
            axis_features,
            neighbor_normalization,
            radial_features,
        )
        self.feature_size = int(self.descriptor.output_size)
        self.register_buffer("mean", torch.zeros(self.feature_size))
        self.register_buffer("std", torch.ones(self.feature_size))
        self.num_radial_features = self.descriptor.num_features if radial_features else 0
        if self.num_radial_features:
            self.pair_readout = nn.Linear(self.num_radial_features, 1, bias=False)
            nn.init.zeros_(self.pair_readout.weight)
        else:
            self.pair_readout = nn.Identity()

    def forward(
        self, vectors: Tensor, i: Tensor, j: Tensor, species: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Features ``[N, feature_size]`` and energies ``[N]`` (units of the energy scale)."""
        features = (self.descriptor(vectors, i, j, species) - self.mean) / self.std
        if self.num_radial_features > 0:
            radial = features[:, features.shape[1] - self.num_radial_features :]
            return features, self.pair_readout(radial).squeeze(-1)
        return features, torch.zeros_like(features[:, 0])

    @property
    def neighbor_normalization(self) -> float:
        """n_norm, the typical neighbour count the neighbour sums are divided by (the
        descriptor's)."""
        return self.descriptor.neighbor_normalization

    @torch.jit.unused
    def set_neighbor_normalization(self, value: float) -> None:
        """Set n_norm (see :attr:`neighbor_normalization`)."""
        self.descriptor.neighbor_normalization = float(value)

    @torch.jit.unused
    def set_statistics(self, vectors: Tensor, i: Tensor, j: Tensor, species: Tensor) -> None:
        """Standardise the descriptor over sample structures' atoms (arguments as in forward)."""
        with torch.no_grad():
            raw = self.descriptor(vectors, i, j, species)
            self.mean.copy_(raw.mean(0))
            self.std.copy_(raw.std(0).clamp_min(1e-2 * float(raw.std())))
