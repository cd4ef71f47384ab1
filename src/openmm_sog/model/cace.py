"""A Cartesian atomic-cluster-expansion backbone after CACE (Cheng, npj Comput. Mater. 2024).

Why this backbone: CACE is the short-range model of the SOG-Net paper's SPICE comparison (short
range 58, SOG-Net 49.5 meV/A on the dipeptides). PaiNN (:mod:`.painn`) carries l = 1 vectors;
an atomic cluster expansion builds body-ordered invariants from l <= 4 angular moments of the
neighbour density, the inductive bias of ACE and MACE. In Cartesian form it needs no spherical
harmonics or Clebsch-Gordan tables: the angular moments are the tensor powers u^(x)l of the
unit pair vector, and the invariants are full contractions of them (plain tensors, TorchScript-
and export-clean, no e3nn).

For a pair i <- j with r_ij = r_j - r_i, d = |r_ij|, u = r_ij / d (lengths in Angstrom), b(d)
the R sine (Bessel) radial functions times the C^2 switch of ``smooth_cutoff``:

    layer 1:  A_i[f, l] = sum_{m,k} W_l[f, m, k] 1/n_norm sum_j theta_sj[m] R_kl(d) u^(x)l,
              R_kl = V_l b(d) (K of them), theta_s a learnt embedding (M values) of the
              neighbour's species s_j
    layer t:  A_i[f, l] = A'_i[f, l] + sum_f' W'_l[f, f'] 1/n_norm sum_j h_j[f'] R'_f'l(d) u^(x)l,
              h_j = Linear(B'_j), the neighbour's invariants of layer t-1 (A' its moments)
    invariants of each of the F channels, up to body order ``correlation``:
              nu = 1: A_0;  nu = 2: A_l . A_l (l = 1..L);
              nu = 3: A_1 A_2 A_1, tr(A_2 A_2 A_2) (L >= 2), A_1 A_2 A_3, A_3 A_3 A_2 (L >= 3),
                      A_1 A_3 A_4, A_2 A_4 A_2, A_4 A_4 A_2, A_3 A_3 A_4, A_4 A_4 A_4 (L = 4)
              (every full contraction of three moments l1 <= l2 <= l3 <= L with l1 + l2 + l3
              even and l3 <= l1 + l2: each pair of tensors shares (l_a + l_b - l_c) / 2 indices)

The W are linear maps over the channels (no bias: they keep the moments covariant). The
features are the invariants of every layer, standardised with statistics of sample structures
(``set_statistics``); the energy term is zero (the model's fitting network reads the features
and the centre's species). Every term is a polynomial in switched radial functions, so energies
and forces are smooth and vanish at the cutoff.

Cost: the per-pair tensors hold the symmetric components of u^(x)l only (1, 3, 6, 10, 15 for
l = 0..4; the full tensors are rebuilt per atom for the products), and the first layer sums per
neighbour species before its channel mixing (the mixing and the embedding are linear, so this
is the same function at K instead of M K values per pair).

Differences from the published CACE: the first layer's channels come from the neighbour's
species embedding only, channels are mixed linearly before the products (as MACE does), and the
messages carry the neighbours' invariants, not their tensors.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

from .descriptor import switched_sine_basis

__all__ = ["CACEBackbone", "CACEInteraction", "MAX_ANGULAR", "MAX_CORRELATION", "num_invariants"]

#: The angular moments run to l = 4 (u (x) u (x) u (x) u, as in the CACE papers' SPICE models);
#: the invariants below are written for these.
MAX_ANGULAR = 4
#: Body order of the invariants: products of at most three angular moments.
MAX_CORRELATION = 3


def num_invariants(max_l: int, correlation: int) -> int:
    """Invariants per channel and layer for angular moments up to ``max_l``."""
    count = 1
    if correlation >= 2:
        count += max_l
    if correlation >= 3:
        count += {0: 0, 1: 0, 2: 2, 3: 4, 4: 9}[max_l]
    return count


def _component_tables(max_l: int) -> tuple[list[int], list[int], list[int], list[int]]:
    """Layouts of the Cartesian tensors u^(x)l, l = 0..max_l, side by side.

    Full storage: every index tuple (3^l of them, row-major). Symmetric storage: every sorted
    tuple once. Returns ``(degree of each symmetric component, the full position of each
    symmetric component, the symmetric position of each full component, start of each l's
    block in symmetric storage + the total)``.
    """
    degrees: list[int] = []
    full_of_symmetric: list[int] = []
    symmetric_of_full: list[int] = []
    bounds: list[int] = []
    full_offset = 0
    for degree in range(max_l + 1):
        bounds.append(len(degrees))
        symmetric = list(itertools.combinations_with_replacement(range(3), degree))
        position = {index: len(degrees) + k for k, index in enumerate(symmetric)}
        for index in symmetric:
            degrees.append(degree)
            full_of_symmetric.append(full_offset + sum(x * 3**p for p, x in enumerate(index[::-1])))
        for index in itertools.product(range(3), repeat=degree):
            symmetric_of_full.append(position[tuple(sorted(index))])
        full_offset += 3**degree
    bounds.append(len(degrees))
    return degrees, full_of_symmetric, symmetric_of_full, bounds


def _mixing_weights(num_l: int, num_features: int, width: int) -> Tensor:
    """Channel-mixing matrices ``[L + 1, F, width]``, one per l, variance-preserving."""
    return torch.randn(num_l, num_features, width) / math.sqrt(width)


def _mix(weights: Tensor, a: Tensor, bounds: list[int]) -> Tensor:
    """Mix the channels of each l's block by ``weights[l]``: ``[N, C, X] -> [N, F, X]``."""
    blocks = [
        torch.matmul(weights[degree], a[:, :, bounds[degree] : bounds[degree + 1]])
        for degree in range(len(bounds) - 1)
    ]
    return torch.cat(blocks, -1)


class CACEInteraction(nn.Module):
    """Messages of one layer t > 1: new angular moments from the neighbours' invariants of
    layer t - 1, and the channel mixing of their sum."""

    def __init__(self, layer_features: int, num_radial: int, num_features: int, num_l: int) -> None:
        super().__init__()
        self.num_features = int(num_features)
        self.num_l = int(num_l)
        self.message = nn.Linear(layer_features, num_features)
        # No bias: the filter is then proportional to the switched radial basis.
        self.radial = nn.Linear(num_radial, num_features * self.num_l, bias=False)
        self.mixing = nn.Parameter(_mixing_weights(num_l, num_features, num_features))

    def forward(
        self, invariants: Tensor, radial: Tensor, moments: Tensor, expand: Tensor, j: Tensor
    ) -> Tensor:
        """Per-pair messages ``[E, F, X]`` (summed over j and mixed by the caller).

        :param invariants: ``[N, F n_inv]`` layer t - 1's standardised invariants.
        :param radial: ``[E, R]`` switched radial basis; :param moments: ``[E, X]`` u^(x)l.
        :param expand: ``[L + 1, X]`` 1 where component x has degree l (per-l values to
            per-component ones by a matrix product, which differentiates faster than indexing).
        """
        h = self.message(invariants)[j]  # [E, F]
        filters = self.radial(radial).view(-1, self.num_features, self.num_l) * h.unsqueeze(-1)
        return torch.matmul(filters, expand) * moments.unsqueeze(1)


class CACEBackbone(nn.Module):
    """Cartesian ACE backbone: invariant features ``[N, T F n_inv]``.

    :param num_species: S (inputs are species indices 0..S-1).
    :param cutoff: r_c; Angstrom.
    :param inner_cutoff: where the C^2 switch starts; Angstrom (0: switch over [0, r_c]).
    :param num_radial: R sine (Bessel) radial functions.
    :param num_features: F channels of the angular moments after mixing.
    :param num_interactions: T layers (receptive field T r_c).
    :param max_l: L, the highest angular moment (0..4).
    :param correlation: the body order of the invariants (1..3).
    :param species_embedding: M, the neighbour's species embedding in the first layer.
    :param radial_channels: K, learnt radial functions per l in the first layer.
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
        max_l: int,
        correlation: int,
        species_embedding: int,
        radial_channels: int,
        neighbor_normalization: float,
    ) -> None:
        super().__init__()
        if not 0.0 <= inner_cutoff < cutoff:
            raise ValueError(f"need 0 <= inner_cutoff < cutoff, got {inner_cutoff}, {cutoff}")
        if not 0 <= max_l <= MAX_ANGULAR:
            raise ValueError(f"CACE max_l must lie in 0..{MAX_ANGULAR}, got {max_l}")
        if not 1 <= correlation <= MAX_CORRELATION:
            raise ValueError(
                f"CACE correlation must lie in 1..{MAX_CORRELATION}, got {correlation}"
            )
        sizes = (num_radial, num_features, num_interactions, species_embedding, radial_channels)
        if min(sizes) < 1:
            raise ValueError(
                "CACE needs num_radial, num_features, num_interactions, species_embedding and "
                f"radial_channels >= 1, got {', '.join(map(str, sizes))}"
            )
        self.cutoff = float(cutoff)
        self.inner_cutoff = float(inner_cutoff)
        self.max_l = int(max_l)
        self.correlation = int(correlation)
        self.num_species = int(num_species)
        self.num_channels = int(num_features)
        self.radial_channels = int(radial_channels)
        self.num_invariants = num_invariants(max_l, correlation)
        layer_features = self.num_channels * self.num_invariants
        self.feature_size = int(num_interactions) * layer_features
        self.neighbor_normalization = float(neighbor_normalization)
        frequencies = math.pi / cutoff * torch.arange(1, num_radial + 1, dtype=torch.float64)
        self.register_buffer("frequencies", frequencies)  # 1/A; the model sets its dtype
        degrees, full_of_symmetric, symmetric_of_full, bounds = _component_tables(max_l)
        self.bounds = bounds
        # Start of each l's block in full storage: 0, 1, 4, 13, 40, 121.
        self.full_bounds = [(3**degree - 1) // 2 for degree in range(max_l + 2)]
        self.num_components = len(degrees)
        self.register_buffer("full_of_symmetric", torch.tensor(full_of_symmetric))
        self.register_buffer("symmetric_of_full", torch.tensor(symmetric_of_full))
        expand = torch.tensor(degrees).unsqueeze(0) == torch.arange(max_l + 1).unsqueeze(1)
        self.register_buffer("expand", expand.double())  # [L + 1, X], see CACEInteraction
        num_l = self.max_l + 1
        self.embedding = nn.Parameter(torch.randn(num_species, species_embedding))
        self.first_radial = nn.Linear(num_radial, radial_channels * num_l, bias=False)
        self.first_mixing = nn.Parameter(
            _mixing_weights(num_l, num_features, species_embedding * radial_channels)
        )
        self.interactions = nn.ModuleList(
            [
                CACEInteraction(layer_features, num_radial, num_features, num_l)
                for _ in range(num_interactions - 1)
            ]
        )
        # Standardisation of every layer's invariants (set from data by set_statistics).
        self.register_buffer("mean", torch.zeros(self.feature_size))
        self.register_buffer("std", torch.ones(self.feature_size))

    def forward(
        self, vectors: Tensor, i: Tensor, j: Tensor, species: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Features ``[N, feature_size]`` and a zero energy term ``[N]``.

        :param vectors: ``[E, 3]`` r_j - r_i; Angstrom (pairs beyond r_c contribute zero).
        :param i: ``[E]`` centre atoms; :param j: ``[E]`` neighbours.
        :param species: ``[N]`` species indices.
        """
        features = torch.cat(self._layers(vectors, i, j, species), -1)
        return (features - self.mean) / self.std, torch.zeros_like(features[:, 0])

    def _layers(self, vectors: Tensor, i: Tensor, j: Tensor, species: Tensor) -> list[Tensor]:
        """Every layer's raw invariants ``[N, F n_inv]`` (the next layer reads them
        standardised)."""
        num_atoms = species.shape[0]
        num_l = self.max_l + 1
        unit, radial = switched_sine_basis(
            vectors, self.frequencies, self.inner_cutoff, self.cutoff
        )  # [E, 3], [E, R]
        moments = self._angular_moments(unit)[:, self.full_of_symmetric]  # [E, X]
        expand = self.expand.to(vectors.dtype)
        # Layer 1: sums per (centre, neighbour species), then the embedding and the mixing.
        first = self.first_radial(radial).view(-1, self.radial_channels, num_l)
        edge = torch.matmul(first, expand) * moments.unsqueeze(1)  # [E, K, X]
        slots = i * self.num_species + species[j]
        density = torch.zeros(
            num_atoms * self.num_species,
            self.radial_channels,
            self.num_components,
            dtype=edge.dtype,
            device=edge.device,
        )
        density = density.index_add(0, slots, edge) / self.neighbor_normalization
        density = density.view(num_atoms, self.num_species * self.radial_channels, -1)
        a = _mix(self._first_weights(), density, self.bounds)  # [N, F, X]
        raw = self._invariants(a)
        layers = [raw]
        width = self.num_channels * self.num_invariants
        for t, interaction in enumerate(self.interactions):
            start, stop = t * width, (t + 1) * width
            previous = (raw - self.mean[start:stop]) / self.std[start:stop]
            new = interaction(previous, radial, moments, expand, j)
            summed = torch.zeros_like(a).index_add(0, i, new) / self.neighbor_normalization
            a = a + _mix(interaction.mixing, summed, self.bounds)
            raw = self._invariants(a)
            layers.append(raw)
        return layers

    def _first_weights(self) -> Tensor:
        """The first layer's mixing with the species embedding folded in: ``[L + 1, F, S K]``."""
        num_l, f, k = self.max_l + 1, self.num_channels, self.radial_channels
        m = self.embedding.shape[1]
        weights = self.first_mixing.view(num_l, f, m, k).transpose(-1, -2)  # [L+1, F, K, M]
        folded = torch.matmul(weights, self.embedding.t())  # [L+1, F, K, S]
        return folded.transpose(-1, -2).reshape(num_l, f, self.num_species * k)

    def _angular_moments(self, unit: Tensor) -> Tensor:
        """``[E, 1 + 3 + ... + 3^L]``: 1, u, u (x) u, u (x) u (x) u up to l = max_l (full
        storage, row-major)."""
        parts = [torch.ones_like(unit[:, :1])]
        power = unit
        for degree in range(1, self.max_l + 1):
            parts.append(power)
            if degree < self.max_l:
                power = (power.unsqueeze(-1) * unit.unsqueeze(1)).flatten(1)
        return torch.cat(parts, -1)

    def _invariants(self, a: Tensor) -> Tensor:
        """The invariants of every channel, ``[N, F] * n_inv`` side by side: ``[N, F n_inv]``."""
        n, c = a.shape[0], a.shape[1]
        full = a[:, :, self.symmetric_of_full]  # [N, F, 1 + 3 + ... + 3^L]
        out = [full[:, :, 0]]
        a1 = full[:, :, 1:4]
        if self.correlation >= 2:
            for degree in range(1, self.max_l + 1):
                block = full[:, :, self.full_bounds[degree] : self.full_bounds[degree + 1]]
                out.append((block * block).sum(-1))
        if self.correlation >= 3 and self.max_l >= 2:
            a2 = full[:, :, 4:13].reshape(n, c, 3, 3)
            a2a1 = torch.matmul(a2, a1.unsqueeze(-1)).squeeze(-1)  # [N, C, 3]
            out.append((a2a1 * a1).sum(-1))
            out.append((torch.matmul(a2, a2) * a2.transpose(-1, -2)).sum((-1, -2)))
            if self.max_l >= 3:
                a3 = full[:, :, 13:40].reshape(n, c, 3, 9)
                a3a2 = torch.matmul(a3, a2.reshape(n, c, 9, 1)).squeeze(-1)  # [N, C, 3]
                out.append((a3a2 * a1).sum(-1))
                pairs = a3.reshape(n, c, 9, 3)
                gram = torch.matmul(pairs.transpose(-1, -2), pairs)  # [N, C, 3, 3]
                out.append((gram * a2).sum((-1, -2)))
                if self.max_l >= 4:
                    a4 = full[:, :, 40:121]
                    a4_vector = a4.reshape(n, c, 3, 27)  # A_4[a, bcd]
                    a4_matrix = a4.reshape(n, c, 9, 9)  # A_4[ab, cd], symmetric
                    a2_flat = a2.reshape(n, c, 9, 1)
                    # A_1[a] A_4[a, bcd] A_3[bcd]
                    a4a3 = torch.matmul(a4_vector, a3.reshape(n, c, 27, 1)).squeeze(-1)
                    out.append((a4a3 * a1).sum(-1))
                    # A_2[ab] A_4[ab, cd] A_2[cd]
                    a4a2 = torch.matmul(a4_matrix, a2_flat)  # [N, C, 9, 1]
                    out.append((a4a2 * a2_flat).sum((-1, -2)))
                    # A_2[ab] A_4[a, cde] A_4[b, cde]
                    gram4 = torch.matmul(a4_vector, a4_vector.transpose(-1, -2))  # [N, C, 3, 3]
                    out.append((gram4 * a2).sum((-1, -2)))
                    # A_3[a, bc] A_3[a, de] A_4[bc, de]
                    gram3 = torch.matmul(a3.transpose(-1, -2), a3)  # [N, C, 9, 9]
                    out.append((gram3 * a4_matrix).sum((-1, -2)))
                    # A_4[ab, cd] A_4[cd, ef] A_4[ef, ab]
                    square = torch.matmul(a4_matrix, a4_matrix)
                    out.append((square * a4_matrix).sum((-1, -2)))
        return torch.cat(out, -1)

    @torch.jit.unused
    def set_neighbor_normalization(self, value: float) -> None:
        """Set n_norm, the typical neighbour count the density sums are divided by."""
        self.neighbor_normalization = float(value)

    @torch.jit.unused
    def set_statistics(self, vectors: Tensor, i: Tensor, j: Tensor, species: Tensor) -> None:
        """Standardise each layer's invariants over sample structures' atoms, layer by layer
        (each layer's statistics change the next layer's input)."""
        width = self.num_channels * self.num_invariants
        with torch.no_grad():
            self.mean.zero_()
            self.std.fill_(1.0)
            for t in range(len(self.interactions) + 1):
                raw = self._layers(vectors, i, j, species)[t]
                start, stop = t * width, (t + 1) * width
                self.mean[start:stop] = raw.mean(0)
                # Each invariant by its own spread, but none blown up beyond 100x the layer's
                # overall spread (the rule of the DeepPot-SE descriptor's standardisation).
                self.std[start:stop] = raw.std(0).clamp_min(1e-2 * float(raw.std()) + 1e-30)
