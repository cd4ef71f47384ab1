#!/usr/bin/env bash
# Builds openmm-sog on a machine with an NVIDIA GPU and the CUDA toolkit, where PyTorch is already
# installed, then runs the CUDA tests and (with "bench") the GPU benchmarks. Wheels that the
# machine lacks (openmm, openmm-cuda-13, swig, vesin-torch, ase, finufft, torch-pme) are taken
# from WHEELS (default .whl/) when it exists: this is how it runs on a GPU machine without network.
#
#   bash scripts/gpu_check.sh test    # build, CTest (CUDA in three precisions), pytest tests/plugin + TorchSOGForce
#                                     # (built against the machine's CUDA torch: the model on the GPU) + GPU training
#   bash scripts/gpu_check.sh bench   # build, bench/bench_openmm.py on CUDA, bench_model on cuda
#   bash scripts/gpu_check.sh profile # build, per-kernel GPU times of MD steps (Nsight Compute)
#   CTEST_REGEX=Cuda PYTEST_K="CUDA or cuda" bash scripts/gpu_check.sh test bench   # CUDA only
#
# Logs go to $OUT (or build/gpu-logs). It builds into a venv that sees the system site-packages,
# so that the plugin's RPATHs point from the venv's site-packages to the openmm wheel there.
set -uo pipefail
cd "$(dirname "$0")/.."
MODES=" ${*:-test} "
LOGS=${OUT:-build/gpu-logs}
WHEELS=${WHEELS:-.whl}
VENV=${VENV:-/tmp/sog-venv}
mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1

step() { echo; echo "=== $* ($(date +%T))"; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || exit 1
nvcc --version | tail -1

step "environment in $VENV"
SYS_SITE=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv --system-site-packages "$VENV" || exit 1
fi
PY="$VENV/bin/python"
# The system python3 may itself be a venv, whose packages --system-site-packages does not reach.
echo "$SYS_SITE" >"$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/_system_site.pth"
if [ -d "$WHEELS" ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile "$WHEELS"/*.whl || exit 1
fi
# OpenMM's CUDA platform finds cuFFT and NVRTC through the NVIDIA wheels of the system Python.
for d in "$SYS_SITE"/nvidia/*/lib "$SYS_SITE"/nvidia/cu13/lib; do
    [ -d "$d" ] && LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
export LD_LIBRARY_PATH
export PATH="$VENV/bin:$PATH"
"$PY" - <<'PY' || exit 1
import openmm, torch
names = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "| openmm", openmm.__version__,
      "| platforms:", ", ".join(names))
print("plugin load failures:", openmm.Platform.getPluginLoadFailures())
PY

step "build and install openmm-sog"
"$PY" -m pip install -q --no-build-isolation --no-deps . >"$LOGS/pip-install.log" 2>&1 \
    || { tail -50 "$LOGS/pip-install.log"; exit 1; }
"$PY" -c "import openmm_sog, openmm; print('openmm_sog', openmm_sog.__version__); \
print([openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())])" \
    || exit 1

status=0
if [[ "$MODES" == *" test "* ]]; then
    step "CTest (C++ tests, CUDA in single, mixed and double precision)"
    cmake -S . -B build/gpu-tests -DSOG_BUILD_TESTS=ON -DPython_EXECUTABLE="$PY" \
        >"$LOGS/cmake.log" 2>&1 || { tail -30 "$LOGS/cmake.log"; exit 1; }
    grep "openmm-sog:" "$LOGS/cmake.log"
    cmake --build build/gpu-tests -j16 >"$LOGS/build.log" 2>&1 || { tail -40 "$LOGS/build.log"; exit 1; }
    ctest --test-dir build/gpu-tests --output-on-failure -R "${CTEST_REGEX:-.}" 2>&1 | tee "$LOGS/ctest.log" | tail -20
    [ "${PIPESTATUS[0]}" = 0 ] || status=1

    step "pytest: the plugin on every platform, CUDA included"
    K_ARGS=()
    [ -n "${PYTEST_K:-}" ] && K_ARGS=(-k "$PYTEST_K")
    "$PY" -m pytest -q -p no:cacheprovider tests/plugin tests/test_coulomb_openmm.py tests/test_cuda_torch.py \
        tests/model/test_torch_sog_force.py tests/model/test_torch_sog_force_regions_and_parameters.py \
        tests/model/test_torch_sog_force_md.py tests/model/test_device.py tests/model/test_backbones.py -ra \
        "${K_ARGS[@]}" 2>&1 \
        | tee "$LOGS/pytest.log" | tail -25
    [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi

if [[ "$MODES" == *" bench "* ]]; then
    step "bench: SOG Coulomb (native real space) vs OpenMM PME on CUDA"
    "$PY" bench/bench_openmm.py --platforms CUDA --sizes 3000 24000 192000 --repeats 20 --md-steps 1000 2>&1 \
        | tee "$LOGS/bench_openmm.log"
    step "bench: SOG-Net vs short-range on the GPU (torch, float32)"
    "$PY" bench/bench_model.py --device cuda --sizes 1024 8192 32768 --repeats 20 --profile 2>&1 \
        | tee "$LOGS/bench_model.log"
    cp bench/RESULTS.md "$LOGS/RESULTS.md"
fi

if [[ "$MODES" == *" profile "* ]]; then
    # Per-kernel GPU time of MD steps (Nsight Compute; kernels are serialised while profiled).
    for method in pme sog; do
        step "profile: $method, ${PROFILE_IONS:-192000} ions, per-kernel time of MD steps"
        ncu --csv --metrics gpu__time_duration.sum --launch-skip 1500 --launch-count 400 \
            "$PY" bench/md_steps.py "$method" "${PROFILE_IONS:-192000}" --steps 120 \
            >"$LOGS/ncu_$method.csv" 2>"$LOGS/ncu_$method.err"
        "$PY" bench/kernel_times.py "$LOGS/ncu_$method.csv" | head -25
    done
fi
step "done (status $status)"
exit $status
