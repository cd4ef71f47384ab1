#!/usr/bin/env bash
# The whole test suite: pytest (Python layer, plugin through Python) and the plugin's C++ tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -m pytest -q "$@"
cmake -S . -B build/cpp-tests -DSOG_BUILD_TESTS=ON -DPython_EXECUTABLE="$(command -v "$PYTHON")" >/dev/null
cmake --build build/cpp-tests -j2 >/dev/null
ctest --test-dir build/cpp-tests --output-on-failure
