"""Neighbour lists for batched structures, periodic or not (Angstrom).

Pairs are found on detached coordinates (the list is a discrete object); the pair vectors are
then rebuilt with plain torch operations, ``r_j - r_i + S h``, so that they are differentiable
in positions *and* in the cell (needed for stress). Two back ends return the same pairs:

* :class:`VesinNeighborList` (default): vesin-torch's cell list, O(N) at fixed density.
  TorchScript-able, but a TorchScript file that uses it needs ``libvesin_torch`` loaded.
* :class:`BruteForceNeighborList`: pure torch, O(N^2) memory; the test oracle for the former,
  and the back end for exports that must not depend on vesin (small systems only).

Non-periodic structures (``pbc = False``) pass their cell as zeros; shifts are then zero.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..exact_products import vector_matrix_product

__all__ = ["BruteForceNeighborList", "VesinNeighborList", "pair_vectors", "structure_layout"]


def pair_vectors(
    positions: Tensor, cell: Tensor, batch: Tensor, i: Tensor, j: Tensor, shifts: Tensor
) -> Tensor:
    """Pair vectors ``r_j - r_i + S h_b`` ``[E, 3]``; length. ``cell`` is ``[B, 3, 3]``."""
    # index_select, not positions[j]: its backward is an index_add, where advanced indexing's
    # is a sort-based index_put (several times slower, on GPUs especially).
    cells = cell.index_select(0, batch.index_select(0, i))
    shift_vectors = vector_matrix_product(shifts.to(positions.dtype), cells)
    return positions.index_select(0, j) - positions.index_select(0, i) + shift_vectors


def structure_layout(
    batch: Tensor, pbc: Tensor, num_structures: int
) -> tuple[list[int], list[bool]]:
    """Start offsets (``B + 1`` ints; atoms must be grouped by structure) and periodic flags
    (``B``) of the structures, in one transfer from the device (each read of a GPU tensor makes
    the host wait for it)."""
    ones = torch.ones_like(batch)
    counts = torch.zeros(num_structures, dtype=batch.dtype, device=batch.device)
    counts = counts.index_add(0, batch, ones)  # bincount would read max(batch) first
    values: list[int] = torch.cat([counts, pbc.detach().to(batch.dtype)]).tolist()
    offsets = [0]
    for b in range(num_structures):
        offsets.append(offsets[-1] + values[b])
    periodic = [flag != 0 for flag in values[num_structures:]]
    return offsets, periodic


class VesinNeighborList(nn.Module):
    """Full neighbour list (each pair as i->j and j->i) within ``cutoff`` (Angstrom), via vesin.

    :param cutoff: pair cutoff; Angstrom.
    """

    def __init__(self, cutoff: float) -> None:
        super().__init__()
        import vesin_torch

        self.cutoff = float(cutoff)
        self.calculator = vesin_torch.NeighborList(cutoff=self.cutoff, full_list=True)

    def forward(
        self, positions: Tensor, cell: Tensor, pbc: Tensor, batch: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Pairs ``(i, j, shifts)``: indices ``[E]`` into the batch and integer shifts ``[E, 3]``.

        :param positions: ``[N, 3]``; Angstrom. Atoms grouped by structure.
        :param cell: ``[B, 3, 3]``, rows are cell vectors; Angstrom (zeros where not periodic).
        :param pbc: ``[B]`` bool, whether each structure is periodic.
        :param batch: ``[N]`` structure index.
        """
        offsets, periodic_flags = structure_layout(batch, pbc, cell.shape[0])
        all_i: list[Tensor] = []
        all_j: list[Tensor] = []
        all_s: list[Tensor] = []
        detached = positions.detach()
        for b in range(cell.shape[0]):
            start, stop = offsets[b], offsets[b + 1]
            periodic = periodic_flags[b]
            box = cell[b].detach() if periodic else torch.zeros_like(cell[b])
            result = self.calculator.compute(detached[start:stop], box, periodic, "ijS", True)
            all_i.append(result[0].to(torch.long) + start)
            all_j.append(result[1].to(torch.long) + start)
            all_s.append(result[2].to(torch.long))
        return torch.cat(all_i), torch.cat(all_j), torch.cat(all_s)


class BruteForceNeighborList(nn.Module):
    """Same contract as :class:`VesinNeighborList`, all pairs and all needed images in torch.

    :param cutoff: pair cutoff; Angstrom.
    """

    def __init__(self, cutoff: float) -> None:
        super().__init__()
        self.cutoff = float(cutoff)

    def forward(
        self, positions: Tensor, cell: Tensor, pbc: Tensor, batch: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """See :meth:`VesinNeighborList.forward`."""
        offsets, periodic_flags = structure_layout(batch, pbc, cell.shape[0])
        all_i: list[Tensor] = []
        all_j: list[Tensor] = []
        all_s: list[Tensor] = []
        device = positions.device
        for b in range(cell.shape[0]):
            start, stop = offsets[b], offsets[b + 1]
            pos = positions[start:stop].detach()
            n = stop - start
            if periodic_flags[b]:
                h = cell[b].detach()
                volume = torch.linalg.det(h).abs()
                reach: list[int] = []
                for d in range(3):
                    normal = torch.linalg.cross(h[(d + 1) % 3], h[(d + 2) % 3])
                    spacing = float(volume / torch.linalg.norm(normal))
                    # Wrapped atoms differ by < 1 cell; images up to cutoff beyond that.
                    reach.append(int(math.ceil(self.cutoff / spacing)) + 1)
                ranges = [torch.arange(-r, r + 1, device=device) for r in reach]
                grid = torch.meshgrid(ranges[0], ranges[1], ranges[2], indexing="ij")
                images = torch.stack([grid[0], grid[1], grid[2]], -1).reshape(-1, 3)
                frac = vector_matrix_product(pos, torch.linalg.inv(h))
                wrap = torch.floor(frac)
                wrapped = pos - vector_matrix_product(wrap, h)
                # vector = r_j - r_i + S h with S = image + wrap_i - wrap_j (unwrapped coords).
                diff = wrapped[None, :, None, :] - wrapped[:, None, None, :]
                vec = diff + vector_matrix_product(images.to(pos.dtype), h)[None, None, :, :]
                dist = torch.linalg.norm(vec, dim=-1)  # [n, n, I]
                same = (
                    torch.eye(n, dtype=torch.bool, device=device)[:, :, None]
                    & (images == 0).all(-1)[None, None, :]
                )
                keep = (dist < self.cutoff) & ~same
                idx = torch.nonzero(keep)
                ii, jj, kk = idx[:, 0], idx[:, 1], idx[:, 2]
                shift = images[kk] + wrap[ii].to(torch.long) - wrap[jj].to(torch.long)
            else:
                dist = torch.linalg.norm(pos[None, :, :] - pos[:, None, :], dim=-1)
                keep = (dist < self.cutoff) & ~torch.eye(n, dtype=torch.bool, device=device)
                idx = torch.nonzero(keep)
                ii, jj = idx[:, 0], idx[:, 1]
                shift = torch.zeros(ii.shape[0], 3, dtype=torch.long, device=device)
            all_i.append(ii + start)
            all_j.append(jj + start)
            all_s.append(shift)
        return torch.cat(all_i), torch.cat(all_j), torch.cat(all_s)
