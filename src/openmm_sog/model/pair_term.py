"""A learned pair-additive short-range energy, E = 1/2 sum_{i != j} phi_{s_i s_j}(r_ij).

Steep pair walls (ionic or WCA repulsion) reach a descriptor's fitting network only through
sums over neighbours, which round them off; a pair term carries them directly. Each unordered
species pair has its own radial function, linear in a fine basis on a uniform grid over
[0, cutoff] and switched off smoothly between the inner cutoff and the cutoff (the descriptor's
switch), so the energy and its derivatives are continuous. The basis is Gaussians or cubic
B-splines: a wall's force kink (where a WCA wall ends) spreads through every overlapping
Gaussian, while a cubic B-spline is zero two grid steps from its centre, so the error stays
near the kink (on the point charges' wall, fitted alone by least squares to held-out frames,
128 B-splines reached 10.8 meV/A where 128 Gaussians reached 16.9 and 176 reached 11.1).

The weights start at zero: a model with the term equals the one without at initialisation.
Like the fitting network's output, phi is in units of the model's energy scale (eV).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .descriptor import smooth_cutoff

__all__ = ["PAIR_BASIS_FUNCTIONS", "PairTerm"]

#: Shapes of the pair term's basis functions (``model.pair_basis_function``).
PAIR_BASIS_FUNCTIONS = ("gaussian", "cubic_bspline")


class PairTerm(nn.Module):
    """Atomic energies ``[N]`` of a pair-additive term (half of each pair's phi to each atom).

    :param num_species: number of species; the weights hold ``S (S + 1) / 2`` radial functions.
    :param cutoff: where phi reaches zero; Angstrom.
    :param inner_cutoff: where the switch starts; Angstrom.
    :param num_basis: basis functions per radial function, centred on a uniform grid over
        ``[0, cutoff]``; the grid spacing h sets their width.
    :param function: ``"gaussian"``: exp(-(x^2)) with x = (r - centre) / h;
        ``"cubic_bspline"``: the cardinal cubic B-spline of x (support |x| < 2).
    """

    def __init__(
        self,
        num_species: int,
        cutoff: float,
        inner_cutoff: float,
        num_basis: int,
        function: str = "gaussian",
    ):
        super().__init__()
        if num_basis < 2:
            raise ValueError(f"PairTerm needs num_basis >= 2, got {num_basis}")
        if function not in PAIR_BASIS_FUNCTIONS:
            raise ValueError(
                f"pair basis function must be one of {', '.join(PAIR_BASIS_FUNCTIONS)}, "
                f"got {function!r}"
            )
        self.function = function
        self.cutoff = float(cutoff)
        self.inner_cutoff = float(inner_cutoff)
        self.register_buffer("centers", torch.linspace(0.0, cutoff, num_basis, dtype=torch.float64))
        self.width = float(cutoff / (num_basis - 1))
        # pair_index[a, b] = pair_index[b, a]: one radial function per unordered species pair.
        index = torch.zeros(num_species, num_species, dtype=torch.long)
        k = 0
        for a in range(num_species):
            for b in range(a, num_species):
                index[a, b] = k
                index[b, a] = k
                k += 1
        self.register_buffer("pair_index", index)
        self.weights = nn.Parameter(torch.zeros(k, num_basis))

    def basis(self, distances: Tensor) -> Tensor:
        """The switched basis functions ``[E, K]`` at ``distances`` ``[E]`` (Angstrom): phi is
        their combination with a species pair's weights."""
        x = (distances.unsqueeze(-1) - self.centers) / self.width
        if self.function == "gaussian":
            values = torch.exp(-(x * x))
        else:
            # 2/3 - a^2 + a^3/2 for a < 1, (2 - a)^3 / 6 for 1 <= a < 2, 0 beyond.
            a = x.abs()
            outer = (2.0 - a).clamp_min(0.0)
            values = torch.where(a < 1.0, 2.0 / 3.0 - a * a * (1.0 - 0.5 * a), outer**3 / 6.0)
        return values * smooth_cutoff(distances, self.inner_cutoff, self.cutoff).unsqueeze(-1)

    def radial(self, distances: Tensor, pairs: Tensor) -> Tensor:
        """phi of each pair ``[E]`` at ``distances`` ``[E]`` (Angstrom) for unordered species
        pairs ``pairs`` ``[E]`` (indices into the weights)."""
        return (self.basis(distances) * self.weights.index_select(0, pairs)).sum(-1)

    def forward(self, distances: Tensor, i: Tensor, j: Tensor, species: Tensor) -> Tensor:
        """Atomic energies ``[N]``.

        :param distances: ``[E]`` pair distances of a full neighbour list (each pair as i->j and
            j->i); Angstrom. Pairs at or beyond the cutoff contribute exactly zero.
        :param i: ``[E]`` centre atom; :param j: ``[E]`` neighbour.
        :param species: ``[N]`` species index of every atom.
        """
        pairs = self.pair_index[species.index_select(0, i), species.index_select(0, j)]
        phi = self.radial(distances, pairs)
        zeros = torch.zeros(species.shape[0], dtype=distances.dtype, device=distances.device)
        return zeros.index_add(0, i, 0.5 * phi)
