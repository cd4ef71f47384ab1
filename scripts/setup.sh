#!/usr/bin/env bash
# Installs everything openmm-sog needs on a fresh Debian machine with Python >= 3.10, then
# builds and installs the package itself. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

# torch is pinned to the local CPU wheel: an unpinned torch pulls gigabytes of CUDA packages.
"$PYTHON" -m pip install --quiet "torch==2.13.0" "openmm==8.6.1" "scikit-build-core>=0.10" numpy
"$PYTHON" -m pip install --quiet --no-build-isolation ".[test,bench]"
"$PYTHON" -c "import openmm_sog, torch, openmm; print('openmm-sog', openmm_sog.__version__, '| torch', torch.__version__, '| openmm', openmm.__version__)"
