#!/usr/bin/env bash
# Installs everything openmm-sog needs on a fresh Debian machine with Python >= 3.10, then
# builds and installs the package (Python modules + the OpenMM plugin). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# OpenCL headers and loader to build the OpenCL platform plugin, and PoCL to run it on the CPU.
APT_PACKAGES="cmake g++ ocl-icd-opencl-dev opencl-headers pocl-opencl-icd"
if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    if ! dpkg -s $APT_PACKAGES >/dev/null 2>&1; then
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $APT_PACKAGES >/dev/null
    fi
else
    echo "setup: no apt-get; install cmake, g++ and OpenCL headers yourself (OpenCL is optional)"
fi

# torch is pinned to the local CPU wheel: an unpinned torch pulls gigabytes of CUDA packages.
# SWIG must be 4.5 (the version openmm 8.6.1's wheel was built with), hence PyPI's, not apt's.
"$PYTHON" -m pip install --quiet "torch==2.13.0" "openmm==8.6.1" "scikit-build-core>=0.10" \
    "swig==4.5.1" numpy
# The CUDA plugin is built where the CUDA toolkit's headers are: OpenMM's CUDA platform library
# comes from openmm-cuda-13. Its CUDA runtime dependencies matter only on a GPU machine, where
# `pip install openmm-cuda-13==8.6.1` (with dependencies) provides them.
if [ -f "${CUDA_HOME:-/usr/local/cuda}/include/cuda.h" ]; then
    "$PYTHON" -m pip install --quiet --no-deps "openmm-cuda-13==8.6.1"
fi
"$PYTHON" -m pip install --quiet --no-build-isolation ".[test,bench]"
"$PYTHON" - <<'PY'
import openmm, torch
import openmm_sog
platforms = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
print(f"openmm-sog {openmm_sog.__version__} | torch {torch.__version__} | openmm {openmm.__version__}"
      f" | SOGForce ok | platforms: {', '.join(platforms)}")
_ = openmm_sog.SOGForce()
PY
