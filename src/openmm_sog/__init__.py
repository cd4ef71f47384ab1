"""openmm-sog: SOG-Net long-range layers for PyTorch and OpenMM.

* :class:`SOGKernel` / :class:`CoulombSOGKernel`: sum-of-Gaussians kernels.
* :class:`SOGLongRange`: the NUFFT-based long-range layer (energy, potentials dE/dq).
* :class:`SOGForce`: the OpenMM force with native Reference/CPU/OpenCL kernels (the plugin's
  libraries are loaded on import; a failure is reported with its reason).
* :class:`SOGCoulombRealSpaceForce`: SOG Coulomb's real-space complement with native Reference and
  CPU kernels (``use_sog_coulomb(..., real_space="native")``).
* :class:`TorchSOGForce`: a whole SOG-Net in OpenMM (TorchScript model + native long range);
  :func:`openmm_sog.openmm_model.create_sognet_force` builds it from a ``sognet export`` file.
* :func:`use_sog_coulomb`: switch a System's PME electrostatics to SOG Coulomb.
* :mod:`openmm_sog.reference`: exact direct lattice sum and dense k-space sum (oracles).
* :mod:`openmm_sog.units`: constants and unit conversions.
"""

import warnings

from .coulomb import use_sog_coulomb
from .kernel import CoulombSOGKernel, SOGKernel
from .long_range import SOGLongRange
from .nufft import PeriodicNUFFT

__version__ = "0.1.0"

try:
    from .plugin import SOGCoulombRealSpaceForce, SOGForce, TorchSOGForce
except ImportError as _error:  # the torch layer stays usable; SOGForce reports why it is missing
    _PLUGIN_ERROR = str(_error)
    warnings.warn(f"openmm_sog: the OpenMM plugin is unavailable: {_PLUGIN_ERROR}", stacklevel=2)

    def __getattr__(name: str):
        if name in ("SOGCoulombRealSpaceForce", "SOGForce", "TorchSOGForce"):
            raise ImportError(f"openmm_sog.{name} is unavailable: {_PLUGIN_ERROR}")
        raise AttributeError(f"module 'openmm_sog' has no attribute {name!r}")


__all__ = [
    "CoulombSOGKernel",
    "PeriodicNUFFT",
    "SOGCoulombRealSpaceForce",
    "SOGForce",
    "SOGKernel",
    "SOGLongRange",
    "TorchSOGForce",
    "__version__",
    "use_sog_coulomb",
]
