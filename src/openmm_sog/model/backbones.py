"""Local backbones: the short-range part of a SOG-Net, chosen by name (``model.backbone``).

A backbone maps the full neighbour list within the cutoff to per-atom invariant features and
an optional per-atom energy term. TorchScript compiles one concrete backbone per model, so the
interface is a convention every backbone module follows:

* ``forward(vectors [E, 3] A, i [E], j [E], species [N]) -> (features [N, F], energy [N])``,
  ``vectors`` = r_j - r_i for centre i and neighbour j (both directions of every pair);
  the energy term is in units of the model's energy scale (zeros if the backbone has none);
* ``feature_size`` (F) and ``neighbor_normalization`` (a float, the typical neighbour count,
  set from the training data);
* ``set_neighbor_normalization(value)`` and ``set_statistics(vectors, i, j, species)``
  (standardisation from sample structures), both Python-only (``torch.jit.unused``).

The SOG-Net reads its local energies (fitting network) and latent charges (charge head) from
the same features, so the long range adds two small networks to whatever backbone is chosen,
and the short-range baseline is the same backbone with ``long_range: false``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from .cace import CACEBackbone
from .descriptor import DeepPotSEBackbone
from .painn import PaiNNBackbone

if TYPE_CHECKING:
    from .sognet import SOGNetConfig

__all__ = ["BACKBONES", "BACKBONE_KEYS", "build_backbone", "foreign_backbone_keys"]

#: The backbones, and why each exists (docs/backbones.md has costs and accuracies).
BACKBONES = {
    "deeppot_se": "DeepPot-SE descriptor + fitting network (the SOG-Net paper's local model; "
    "cheapest, one neighbour shell)",
    "painn": "PaiNN equivariant message passing (scalars + vectors, several neighbour shells; "
    "more accurate on molecules, several times the cost)",
    "cace": "Cartesian atomic cluster expansion (the short-range model of the SOG-Net paper's "
    "SPICE comparison): body-ordered invariants of l <= 3 angular moments, message passing; "
    "the most accurate here on molecules",
}

#: Hyper-parameters (SOGNetConfig fields) only one backbone reads; the rest are shared
#: (cutoff, inner_cutoff, num_radial, neighbor_normalization) or belong to the SOG-Net.
BACKBONE_KEYS = {
    "deeppot_se": ("embedding_sizes", "axis_features", "radial_features"),
    "painn": ("num_features", "num_interactions"),
    "cace": (
        "num_features",
        "num_interactions",
        "max_l",
        "correlation",
        "species_embedding",
        "radial_channels",
    ),
}


def foreign_backbone_keys(backbone: str, keys: list[str]) -> list[str]:
    """The ``keys`` that belong to a backbone other than ``backbone``."""
    own = set(BACKBONE_KEYS.get(backbone, ()))
    others = {k for name, ks in BACKBONE_KEYS.items() if name != backbone for k in ks}
    return [k for k in keys if k in others and k not in own]


def build_backbone(config: SOGNetConfig, num_species: int) -> nn.Module:
    """The backbone ``config.backbone`` names, with its hyper-parameters from ``config``."""
    if config.backbone == "deeppot_se":
        return DeepPotSEBackbone(
            num_species,
            config.cutoff,
            config.inner_cutoff,
            config.num_radial,
            tuple(config.embedding_sizes),
            config.axis_features,
            config.neighbor_normalization,
            config.radial_features,
        )
    if config.backbone == "painn":
        return PaiNNBackbone(
            num_species,
            config.cutoff,
            config.inner_cutoff,
            config.num_radial,
            config.num_features,
            config.num_interactions,
            config.neighbor_normalization,
        )
    if config.backbone == "cace":
        return CACEBackbone(
            num_species,
            config.cutoff,
            config.inner_cutoff,
            config.num_radial,
            config.num_features,
            config.num_interactions,
            config.max_l,
            config.correlation,
            config.species_embedding,
            config.radial_channels,
            config.neighbor_normalization,
        )
    raise ValueError(
        f"unknown backbone {config.backbone!r}; choose one of {', '.join(sorted(BACKBONES))}"
    )
