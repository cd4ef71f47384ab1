"""SOG-Net: a local backbone plus latent charges with a learnable SOG long-range layer.

The backbone (:mod:`.backbones`: DeepPot-SE or PaiNN) gives per-atom invariant features; a
fitting network reads the local energies eps_i from them and a charge head the latent charges q.
E = sum_i eps_i + E_lr(q),  forces F = -dE/dr by autograd (through the charge network, so the
chain-rule term -sum_j dE/dq_j dq_j/dr_i is included), stress = 1/V dE/d(strain) by autograd
through a symmetric strain applied to positions and cell. Units: Angstrom, eV, e; stress in
eV/Angstrom^3 (ASE sign convention: positive when the system pulls inwards).

``SOGNet(long_range=False)`` is the short-range-only baseline with the same backbone.
"""

from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from ..exact_products import vector_matrix_product
from .backbones import build_backbone
from .descriptor import mlp, species_one_hot
from .long_range import LatentLongRange, coulomb_initial_kernel
from .neighbors import BruteForceNeighborList, VesinNeighborList, pair_vectors
from .pair_term import PairTerm

__all__ = ["SOGNet", "SOGNetConfig"]


@dataclass
class SOGNetConfig:
    """Hyper-parameters of :class:`SOGNet` (lengths in Angstrom)."""

    atomic_numbers: list[int] = field(default_factory=list)
    # The local model (see .backbones): "deeppot_se", "painn" or "cace".
    backbone: str = "deeppot_se"
    cutoff: float = 5.0
    inner_cutoff: float = 3.5
    num_radial: int = 8
    # DeepPot-SE backbone: embedding network widths (the last is M1) and M2 (also
    # radial_features below); see backbones.BACKBONE_KEYS for which keys belong to which.
    embedding_sizes: list[int] = field(default_factory=lambda: [16, 32])
    axis_features: int = 4
    fitting_sizes: list[int] = field(default_factory=lambda: [64, 64])
    charge_sizes: list[int] = field(default_factory=lambda: [32])
    neighbor_normalization: float = 10.0
    # PaiNN backbone: channels of scalars and vectors, and message-passing layers; CACE
    # backbone: channels of the angular moments, and layers.
    num_features: int = 64
    num_interactions: int = 3
    # CACE backbone: highest angular moment (0..4), body order of the invariants (1..3), the
    # neighbour's species embedding and the learnt radial functions of the first layer.
    max_l: int = 3
    correlation: int = 3
    species_embedding: int = 4
    radial_channels: int = 8
    # Radial neighbour sums as extra descriptor features, with a linear path to the energy:
    # pair-additive short-range physics (ionic repulsion) within direct reach of the model.
    radial_features: bool = False
    # Basis functions of a learned pair-additive energy per species pair (.pair_term), for steep
    # pair walls the local model would round off; 0: no pair term. Any backbone.
    pair_basis: int = 0
    # Their shape: "gaussian" or "cubic_bspline" (compact support; see .pair_term).
    pair_basis_function: str = "gaussian"
    long_range: bool = True
    num_channels: int = 1
    # Width ratio sqrt(2): the series is then accurate to ~1e-6 of 1/r; with ratio 2 its
    # 0.2 % ripple in ln r costs ~7 % of the Coulomb forces of a molten salt (see
    # ``coulomb_initial_kernel``). 24 Gaussians span 2^11.5 times the narrowest width.
    num_gaussians: int = 24
    width_ratio: float = 2.0**0.5
    min_width: float | None = None  # default: cutoff / 2
    tolerance: float = 1e-4
    neutralize: bool = False
    # Starting latent charge per atomic number (e), e.g. formal charges {11: 1.0, 17: -1.0}:
    # learnable per-species offsets added to the charge network's output in every channel
    # (species not listed start at 0). Empty: no offsets (a constant zero, not learnt).
    initial_charges: dict[int, float] = field(default_factory=dict)
    # Scale of the charge network's last layer at initialisation (its bias starts at 0). The
    # long-range energy is quadratic in the charges, so a small scale starts the SOG-Net close
    # to its short-range-only model; 0 would keep every charge at 0 for good.
    charge_init_scale: float = 0.1
    neighbor_list: str = "vesin"  # or "brute_force"

    def to_dict(self) -> dict:
        """Plain dict (for checkpoints and export metadata)."""
        return asdict(self)


class SOGNet(nn.Module):
    """SOG-Net (or its short-range-only baseline). TorchScript-able.

    :param config: hyper-parameters.
    :param energy_shifts: per-species reference energies ``[S]``; eV (default zeros).
    :param energy_scale: scale of the local energies (e.g. the RMS force times 1 A); eV.
    :param dtype: parameter dtype.
    """

    atomic_numbers: list[int]

    def __init__(
        self,
        config: SOGNetConfig,
        energy_shifts: Tensor | None = None,
        energy_scale: float = 1.0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if not config.atomic_numbers:
            raise ValueError("SOGNetConfig.atomic_numbers must list the species")
        numbers = list(config.atomic_numbers)
        if len(set(numbers)) != len(numbers) or min(numbers) < 1 or max(numbers) > 118:
            raise ValueError(f"atomic_numbers must be distinct in 1..118, got {numbers}")
        num_species = len(numbers)
        self.atomic_numbers = numbers
        self.cutoff = float(config.cutoff)
        self.long_range = bool(config.long_range)
        self.neutralize = bool(config.neutralize)
        self.num_channels = int(config.num_channels) if config.long_range else 0
        table = torch.full((119,), -1, dtype=torch.long)
        table[torch.tensor(numbers)] = torch.arange(num_species)
        self.register_buffer("species_table", table)
        if config.neighbor_list == "vesin":
            self.neighbors = VesinNeighborList(self.cutoff)
        elif config.neighbor_list == "brute_force":
            self.neighbors = BruteForceNeighborList(self.cutoff)
        else:
            raise ValueError(
                f"neighbor_list must be 'vesin' or 'brute_force', got {config.neighbor_list!r}"
            )
        self.backbone_name = str(config.backbone)
        self.backbone = build_backbone(config, num_species)
        width = self.backbone.feature_size + num_species
        self.fitting = mlp([width, *config.fitting_sizes, 1], final_scale=0.5)
        if config.pair_basis > 0:
            self.pair_term = PairTerm(
                num_species,
                self.cutoff,
                float(config.inner_cutoff),
                int(config.pair_basis),
                str(config.pair_basis_function),
            )
        else:
            self.pair_term = None
        if energy_shifts is None:
            energy_shifts = torch.zeros(num_species)
        self.register_buffer("energy_shifts", energy_shifts.to(torch.float64).clone())
        self.energy_scale = float(energy_scale)
        if self.long_range:
            if not config.charge_init_scale > 0.0:
                raise ValueError(
                    f"charge_init_scale must be > 0, got {config.charge_init_scale}: at zero "
                    "charges the long-range energy has zero gradient and they would never move"
                )
            self.charge_head = mlp(
                [width, *config.charge_sizes, self.num_channels], config.charge_init_scale
            )
            unknown = sorted(set(map(int, config.initial_charges)) - set(numbers))
            if unknown:
                raise ValueError(f"initial_charges names species {unknown} not in {numbers}")
            offsets = torch.zeros(num_species, self.num_channels)
            for number, charge in config.initial_charges.items():
                offsets[numbers.index(int(number))] = float(charge)
            if config.initial_charges:
                self.charge_offsets = nn.Parameter(offsets)
            else:  # a constant zero: training without offsets is unchanged
                self.register_buffer("charge_offsets", offsets)
            min_width = config.min_width if config.min_width is not None else 0.5 * self.cutoff
            kernel = coulomb_initial_kernel(
                self.num_channels, min_width, config.num_gaussians, config.width_ratio, dtype=dtype
            )
            # The narrowest Gaussians are summed over the neighbour list (see LatentLongRange).
            self.lr = LatentLongRange(kernel, config.tolerance, self.cutoff)
        else:
            self.charge_head = nn.Identity()
            self.register_buffer("charge_offsets", torch.zeros(num_species, 0))
            self.lr = None
        self.to(dtype)
        self.energy_shifts = self.energy_shifts.to(dtype)

    def species_index(self, atomic_numbers: Tensor) -> Tensor:
        """Species indices ``[N]``; raises on atomic numbers the model was not trained on."""
        # Both checks in one transfer to the host (each bool() of a GPU tensor waits for it);
        # the clamp keeps the lookup in bounds until the range check has spoken.
        species = self.species_table[atomic_numbers.clamp(0, 118)]
        in_range = ((atomic_numbers >= 1) & (atomic_numbers <= 118)).all()
        flags: list[bool] = torch.stack([in_range, (species >= 0).all()]).tolist()
        if not flags[0]:
            raise ValueError("atomic numbers must lie in 1..118")
        if not flags[1]:
            unknown: list[int] = torch.unique(atomic_numbers[species < 0]).tolist()
            raise ValueError(
                f"unknown species (atomic numbers) {unknown}; model knows {self.atomic_numbers}"
            )
        return species

    def energy_components(
        self,
        positions: Tensor,
        atomic_numbers: Tensor,
        cell: Tensor,
        pbc: Tensor,
        batch: Tensor,
        total_charge: Tensor | None = None,
        real_space_only: bool = False,
        charge_scale: Tensor | None = None,
        include_long_range: bool = True,
    ) -> dict[str, Tensor]:
        """Per-structure short/long-range energies ``[B]`` (eV), local energies and charges.

        :param positions: ``[N, 3]`` Angstrom, atoms grouped by structure.
        :param atomic_numbers: ``[N]`` int64.
        :param cell: ``[B, 3, 3]`` rows are cell vectors; Angstrom (zeros if not periodic).
        :param pbc: ``[B]`` bool.
        :param batch: ``[N]`` int64 structure index.
        :param total_charge: ``[B]`` net charge per structure (e), used when ``neutralize``.
        :param real_space_only: ``energy_lr`` holds only the real-space part of the long range
            (periodic structures), leaving out the NUFFT lattice sum of the Gaussians in
            ``lr.periodic.kspace_mask()``: what a native k-space engine adds.
        :param charge_scale: ``[N]`` factors (dimensionless) that multiply the latent charges
            in the long range only (alchemical decoupling of learned electrostatics); the
            returned ``charges`` are the scaled ones. Default: unscaled.
        :param include_long_range: False: ``energy_lr`` is zero, the charges are still
            computed, and the neighbour pairs are returned as ``pair_i``, ``pair_j`` ``[E]``
            and ``pair_vectors`` ``[E, 3]`` (Angstrom, detached): what a native engine that
            sums the whole long range takes.
        """
        num_structures = cell.shape[0]
        species = self.species_index(atomic_numbers)
        i, j, vectors = self._pairs(positions, cell, pbc, batch)
        features, backbone_energy = self.backbone(vectors, i, j, species)
        onehot = species_one_hot(species, len(self.atomic_numbers), positions.dtype)
        features = torch.cat([features, onehot], -1)
        local = self.fitting(features).squeeze(-1) + backbone_energy
        pair_term = self.pair_term
        if pair_term is not None:
            distances = torch.linalg.norm(vectors, dim=-1)
            local = local + pair_term(distances, i, j, species)
        local = local * self.energy_scale + self.energy_shifts[species]
        zeros = torch.zeros(num_structures, dtype=positions.dtype, device=positions.device)
        energy_sr = zeros.index_add(0, batch, local)
        result: dict[str, Tensor] = {"atomic_energies": local, "energy_sr": energy_sr}
        lr = self.lr
        if lr is not None:
            charges = self.charge_head(features) + self.charge_offsets[species]
            if self.neutralize:
                charges = self._neutralize(charges, batch, num_structures, total_charge)
            if charge_scale is not None:
                charges = charges * charge_scale.to(charges.dtype).unsqueeze(-1)
            result["charges"] = charges
            if not include_long_range:
                energy_lr = zeros
                result["pair_i"] = i
                result["pair_j"] = j
                result["pair_vectors"] = vectors.detach()
            elif real_space_only:
                energy_lr = lr.real_space_energy(charges, cell, pbc, batch, i, j, vectors)
            else:
                energy_lr = lr(positions, charges, cell, pbc, batch, i, j, vectors)
            result["energy_lr"] = energy_lr
            result["energy"] = energy_sr + energy_lr
        else:
            # A short-range model has no charge channels: [N, 0], so that callers of the
            # export's short_range_and_charges() need no special case.
            result["charges"] = torch.zeros(
                positions.shape[0], 0, dtype=positions.dtype, device=positions.device
            )
            result["energy_lr"] = zeros
            result["energy"] = energy_sr
        return result

    @torch.jit.unused
    def long_range_energy(
        self, positions: Tensor, charges: Tensor, cell: Tensor, pbc: Tensor, batch: Tensor
    ) -> Tensor:
        """Long-range energy ``[B]`` (eV) of given charges ``[N, P]`` (e); other arguments as in
        :meth:`energy_components`, which adds exactly this for the model's own charges."""
        lr = self.lr
        if lr is None:
            raise ValueError("a short-range-only model has no long-range energy")
        i, j, vectors = self._pairs(positions, cell, pbc, batch)
        return lr(positions, charges, cell, pbc, batch, i, j, vectors)

    def _pairs(
        self, positions: Tensor, cell: Tensor, pbc: Tensor, batch: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Full neighbour list within the cutoff: ``(i [E], j [E], r_j - r_i [E, 3])``."""
        i, j, shifts = self.neighbors(positions, cell, pbc, batch)
        return i, j, pair_vectors(positions, cell, batch, i, j, shifts)

    @torch.jit.unused
    def set_descriptor_statistics(
        self, positions: Tensor, atomic_numbers: Tensor, cell: Tensor, pbc: Tensor, batch: Tensor
    ) -> None:
        """Set the backbone's input statistics (standardisation) from sample structures."""
        with torch.no_grad():
            species = self.species_index(atomic_numbers)
            i, j, vectors = self._pairs(positions, cell, pbc, batch)
            self.backbone.set_statistics(vectors, i, j, species)

    @staticmethod
    def _neutralize(
        charges: Tensor, batch: Tensor, num_structures: int, total_charge: Tensor | None
    ) -> Tensor:
        """Shift every channel so that it sums to the structure's total charge (0 if None)."""
        # index_add, not bincount: bincount's size depends on max(batch), a read of the device.
        counts = torch.zeros(num_structures, dtype=charges.dtype, device=charges.device)
        counts = counts.index_add(0, batch, torch.ones_like(batch, dtype=charges.dtype))
        sums = torch.zeros(
            num_structures, charges.shape[1], dtype=charges.dtype, device=charges.device
        ).index_add(0, batch, charges)
        if total_charge is not None:
            sums = sums - total_charge.to(charges.dtype).unsqueeze(-1)
        return charges - (sums / counts.unsqueeze(-1))[batch]

    def forward(
        self,
        positions: Tensor,
        atomic_numbers: Tensor,
        cell: Tensor,
        pbc: Tensor,
        batch: Tensor,
        total_charge: Tensor | None = None,
        compute_forces: bool = True,
        compute_stress: bool = False,
        create_graph: bool = False,
    ) -> dict[str, Tensor]:
        """Energies ``[B]`` (eV), forces ``[N, 3]`` (eV/A), stress ``[B, 3, 3]`` (eV/A^3).

        Arguments as in :meth:`energy_components`. ``create_graph`` keeps the graph of the
        derivatives (for training on forces). Stress is zero for non-periodic structures.
        """
        num_structures = cell.shape[0]
        strain = torch.zeros(num_structures, 3, 3, dtype=positions.dtype, device=positions.device)
        if compute_forces and not positions.requires_grad:
            positions = positions.detach().requires_grad_(True)
        leaf = positions
        volume = torch.linalg.det(cell).abs()  # at zero strain
        if compute_stress:
            strain.requires_grad_(True)
            symmetric = 0.5 * (strain + strain.transpose(1, 2))
            deformation = torch.eye(3, dtype=positions.dtype, device=positions.device) + symmetric
            positions = vector_matrix_product(positions, deformation[batch])
            cell = vector_matrix_product(cell, deformation.unsqueeze(1))
        result = self.energy_components(positions, atomic_numbers, cell, pbc, batch, total_charge)
        if compute_forces or compute_stress:
            inputs: list[Tensor] = []
            if compute_forces:
                inputs.append(leaf)
            if compute_stress:
                inputs.append(strain)
            grad_outputs: list[torch.Tensor | None] = [torch.ones_like(result["energy"])]
            grads = torch.autograd.grad(
                [result["energy"]],
                inputs,
                grad_outputs=grad_outputs,
                create_graph=create_graph,
                retain_graph=create_graph,
                allow_unused=True,
            )
            k = 0
            if compute_forces:
                g = grads[k]
                result["forces"] = -g if g is not None else torch.zeros_like(leaf)
                k += 1
            if compute_stress:
                g = grads[k]
                volume = torch.where(pbc, volume, torch.ones_like(volume))
                stress = g if g is not None else torch.zeros_like(strain)
                mask = pbc.to(stress.dtype)[:, None, None]
                result["stress"] = stress / volume[:, None, None] * mask
        return result
