#!/usr/bin/env bash
# Compile the CUDA plugin's TorchSOGForce kernel against a CUDA build of libtorch (the same torch
# version as the environment's CPU build), without installing it: the device-resident path
# (platforms/cuda/src/CudaTorchSOGKernels.cpp) only runs where libtorch has CUDA, so this is how
# a machine without a GPU checks that it builds. Needs the CUDA toolkit headers and the
# openmm-cuda wheel (as the normal build of the CUDA plugin does) and PyPI access.
#
#   bash scripts/check_cuda_torch_build.sh [work folder, default /tmp/sog-cuda-torch]
set -euo pipefail
WORK=${1:-/tmp/sog-cuda-torch}
REPO=$(cd "$(dirname "$0")/.." && pwd)
VERSION=$(python3 -c "import torch; print(torch.__version__.split('+')[0])")
mkdir -p "$WORK"
if [ ! -d "$WORK/torch/lib" ]; then
    # The default PyPI wheel of this version is the CUDA build; the local CPU wheel and the pip
    # configuration that prefers it are bypassed.
    env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null python3 -m pip download --isolated --no-deps \
        --index-url https://pypi.org/simple "torch==$VERSION" -d "$WORK/wheel"
    python3 - "$WORK" <<'PY'
import glob, sys, zipfile
work = sys.argv[1]
wheel = zipfile.ZipFile(glob.glob(f"{work}/wheel/torch-*.whl")[0])
names = [n for n in wheel.namelist()
         if n.startswith(("torch/include/", "torch/lib/", "torch/share/")) or n == "torch/version.py"]
wheel.extractall(work, names)
PY
fi
grep -q "cuda: Optional\[str\] = '" "$WORK/torch/version.py" || { echo "not a CUDA build of torch"; exit 1; }
cmake -S "$REPO" -B "$WORK/build" -DSOG_TORCH_DIR_OVERRIDE="$WORK/torch" \
    -DSOG_BUILD_PYTHON_WRAPPERS=OFF -DSOG_BUILD_OPENCL=OFF
cmake --build "$WORK/build" --target OpenMMSOGTorchCUDA -j2
library=$(find "$WORK/build" -name libOpenMMSOGTorchCUDA.so | head -1)
echo "built $library against $(grep "^cuda" "$WORK/torch/version.py") libtorch $VERSION"
