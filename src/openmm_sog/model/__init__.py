"""SOG-Net model: local DeepPot-SE-like energies + latent charges + learnable SOG long range."""

from .descriptor import DeepPotSEDescriptor, smooth_cutoff
from .long_range import LatentLongRange, coulomb_initial_kernel
from .neighbors import BruteForceNeighborList, VesinNeighborList, pair_vectors
from .sognet import SOGNet, SOGNetConfig

__all__ = [
    "BruteForceNeighborList",
    "DeepPotSEDescriptor",
    "LatentLongRange",
    "SOGNet",
    "SOGNetConfig",
    "VesinNeighborList",
    "coulomb_initial_kernel",
    "pair_vectors",
    "smooth_cutoff",
]
