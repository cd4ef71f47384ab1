"""openmm-sog: SOG-Net long-range layers for PyTorch and OpenMM.

* :class:`SOGKernel` / :class:`CoulombSOGKernel`: sum-of-Gaussians kernels.
* :class:`SOGLongRange`: the NUFFT-based long-range layer (energy, potentials dE/dq).
* :mod:`openmm_sog.reference`: exact direct lattice sum and dense k-space sum (oracles).
* :mod:`openmm_sog.units`: constants and unit conversions.
"""

from .kernel import CoulombSOGKernel, SOGKernel
from .long_range import SOGLongRange
from .nufft import PeriodicNUFFT

__version__ = "0.1.0"

__all__ = ["CoulombSOGKernel", "PeriodicNUFFT", "SOGKernel", "SOGLongRange", "__version__"]
