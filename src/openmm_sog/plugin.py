"""Load the native OpenMM plugin of openmm-sog and expose :class:`SOGForce`,
:class:`SOGCoulombRealSpaceForce` and :class:`TorchSOGForce`.

Importing this module

1. checks that the installed ``openmm`` is the version the plugin was compiled against
   (recorded at build time in ``_build_info.py``),
2. imports the SWIG wrapper, which loads ``lib/libOpenMMSOG.so`` (the API library),
3. imports ``vesin_torch``, which registers the TorchScript class of the exported models'
   neighbour lists: a ``TorchSOGForce`` (made here, or read from a System's XML) loads its
   model in C++, where that class must already be known, and
4. loads the platform plugins from ``lib/plugins`` with
   ``openmm.Platform.loadPluginsFromDirectory`` and reports any of them that failed to load,
   since OpenMM itself records such failures silently.

Units follow OpenMM: nm, kJ/mol, proton charges.
"""

from __future__ import annotations

import os
import warnings

import openmm

__all__ = [
    "LIBRARY_DIR",
    "PLUGIN_DIR",
    "SOGCoulombRealSpaceForce",
    "SOGForce",
    "TorchSOGForce",
    "plugin_load_failures",
]

#: folder holding libOpenMMSOG.so
LIBRARY_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib")
#: folder holding the platform plugins (libOpenMMSOG<Platform>.so)
PLUGIN_DIR = os.path.join(LIBRARY_DIR, "plugins")

#: platform plugins without which the package is unusable
_REQUIRED_PLUGINS = ("libOpenMMSOGReference",)
#: optional platform plugins and the OpenMM platform each extends: a failure warns only when that
#: platform is available (without OpenMM's own OpenCL or CUDA platform, ours cannot load either).
#: TorchSOGForce's plugin links libtorch; without it SOGForce still works.
_OPTIONAL_PLUGINS = {
    "libOpenMMSOGCPU": "CPU",
    "libOpenMMSOGOpenCL": "OpenCL",
    "libOpenMMSOGCUDA": "CUDA",
    "libOpenMMSOGTorchReference": "Reference",
    "libOpenMMSOGTorchOpenCL": "OpenCL",
    "libOpenMMSOGTorchCUDA": "CUDA",
}

try:
    from . import _build_info
except ImportError as error:  # the package was installed without its CMake build
    raise ImportError(
        "openmm_sog: the native OpenMM plugin is not built; install the package with "
        "`pip install --no-build-isolation .` from the source tree"
    ) from error

if _build_info.openmm_version != openmm.__version__:
    raise ImportError(
        f"openmm_sog: the plugin was built against openmm {_build_info.openmm_version} but "
        f"openmm {openmm.__version__} is installed; rebuild openmm-sog against this openmm"
    )

import torch  # noqa: E402  (a dependency; its C++ ABI must match the plugin's)

if int(torch._C._GLIBCXX_USE_CXX11_ABI) != int(_build_info.cxx11_abi):
    raise ImportError(
        f"openmm_sog: the plugin was built with _GLIBCXX_USE_CXX11_ABI={_build_info.cxx11_abi} "
        f"but torch {torch.__version__} uses {int(torch._C._GLIBCXX_USE_CXX11_ABI)}; rebuild "
        "openmm-sog in this environment"
    )

from .openmmsog import SOGCoulombRealSpaceForce, SOGForce, TorchSOGForce  # noqa: E402  (after the version check, which guards the ABI)

try:  # without it, loading an export in C++ fails with "Unknown type name ...vesin._NeighborList"
    import vesin_torch  # noqa: E402, F401
except ImportError as _error:
    warnings.warn(
        f"openmm_sog: vesin-torch is not importable ({_error}); TorchSOGForce cannot load "
        "SOG-Net exports, whose neighbour lists use it",
        stacklevel=2,
    )


def plugin_load_failures() -> list[str]:
    """Return OpenMM's plugin load failure messages that concern this package's plugins."""
    return [
        message
        for message in openmm.Platform.getPluginLoadFailures()
        if "libOpenMMSOG" in message or PLUGIN_DIR in message
    ]


def _load_plugins() -> None:
    if not os.path.isdir(PLUGIN_DIR):
        raise ImportError(
            f"openmm_sog: plugin folder {PLUGIN_DIR} is missing; reinstall the package"
        )
    openmm.Platform.loadPluginsFromDirectory(PLUGIN_DIR)
    failures = plugin_load_failures()
    required = [m for m in failures if any(name in m for name in _REQUIRED_PLUGINS)]
    if required:
        raise ImportError("openmm_sog: failed to load the OpenMM plugin:\n" + "\n".join(required))
    platforms = {
        openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())
    }
    for message in failures:
        if any(lib in message and name not in platforms for lib, name in _OPTIONAL_PLUGINS.items()):
            continue
        warnings.warn(
            f"openmm_sog: an optional platform plugin did not load: {message}", stacklevel=2
        )


_load_plugins()


def _from_kernel(kernel, tolerance: float | None = None) -> SOGForce:
    """A :class:`SOGForce` with the Gaussians of a torch :class:`~openmm_sog.SOGKernel`.

    The kernel is in the torch side's units (weights eV/e^2, widths Angstrom); the force gets
    kJ/mol/e^2 and nm. Add the particles' charges afterwards.

    :param kernel: a ``SOGKernel`` with P channels.
    :param tolerance: the force's tolerance (its default when ``None``).
    """
    from .units import KJ_PER_MOL_PER_EV, NM_PER_ANGSTROM

    weights = kernel.weights.detach().double().cpu()
    widths = kernel.widths().detach().double().cpu()
    force = SOGForce(kernel.num_channels)
    for channel in range(kernel.num_channels):
        for weight, width in zip(weights[channel].tolist(), widths[channel].tolist(), strict=True):
            force.addGaussian(weight * KJ_PER_MOL_PER_EV, width * NM_PER_ANGSTROM, channel)
    if tolerance is not None:
        force.setTolerance(tolerance)
    return force


SOGForce.fromKernel = staticmethod(_from_kernel)
