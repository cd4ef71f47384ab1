"""The plugin's libraries share one C++ runtime with OpenMM.

A compiler that links libstdc++ statically (a GCC built that way, or LDFLAGS=-static-libstdc++)
puts a copy of the C++ runtime in each of our libraries. Exported, those copies interpose on each
other: a kernel's stringstream, made by one copy, was written by another, and the first CUDA
evaluation crashed in ``ostream << int`` (H200 machine with GCC 13.3 from /opt/gcc, 2026-12-04).
CMakeLists.txt therefore links with ``--exclude-libs,ALL``. The check below is tried on two small
libraries built here with a static libstdc++, one linked each way, so that it is shown to catch
the fault, then on every library the package installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NM = shutil.which("nm")
CXX = shutil.which("g++")

# Mangled prefixes of libstdc++'s own out-of-line code: std::basic_ostream<char> members
# (_ZNSo), std::locale, std::ios_base and the codecvt facets.
RUNTIME_PREFIXES = ("_ZNSo", "_ZNSt6locale", "_ZNSt8ios_base", "_ZNSt7codecvt")

SOURCE = """
#include <sstream>
#include <string>
std::string describe(int value) {
    std::stringstream stream;
    stream << "value " << value;
    return stream.str();
}
"""


def exported_runtime_symbols(library: Path) -> list[str]:
    """The C++ runtime's functions that ``library`` defines and exports."""
    out = subprocess.run(
        [NM, "-D", "--defined-only", str(library)], capture_output=True, text=True, check=True
    ).stdout
    names = [line.split()[-1] for line in out.splitlines() if line.strip()]
    return [name for name in names if name.startswith(RUNTIME_PREFIXES)]


def installed_libraries() -> list[Path]:
    plugin = pytest.importorskip("openmm_sog.plugin")
    libraries = sorted(Path(plugin.LIBRARY_DIR).rglob("*.so"))
    libraries += sorted(Path(plugin.__file__).parent.glob("_openmmsog*.so"))
    return libraries


@pytest.mark.skipif(NM is None or CXX is None, reason="needs nm and g++ (binutils, GCC)")
def test_check_catches_an_exported_static_runtime(tmp_path):
    source = tmp_path / "describe.cpp"
    source.write_text(SOURCE)
    libraries = {}
    for name, extra in (("exported", []), ("private", ["-Wl,--exclude-libs,ALL"])):
        libraries[name] = tmp_path / f"lib{name}.so"
        result = subprocess.run(
            [
                CXX,
                "-shared",
                "-fPIC",
                "-O1",
                "-static-libstdc++",
                *extra,
                str(source),
                "-o",
                str(libraries[name]),
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            pytest.skip(f"this g++ cannot link libstdc++ statically: {result.stderr[-300:]}")
    assert exported_runtime_symbols(libraries["exported"]), "the check misses a static runtime"
    assert exported_runtime_symbols(libraries["private"]) == []


@pytest.mark.skipif(NM is None, reason="needs nm (binutils)")
def test_installed_libraries_export_no_cxx_runtime():
    libraries = installed_libraries()
    assert any(path.name == "libOpenMMSOG.so" for path in libraries), libraries
    offenders = {
        path.name: symbols[:3] for path in libraries if (symbols := exported_runtime_symbols(path))
    }
    assert offenders == {}, (
        f"these libraries export the C++ runtime, which interposes on OpenMM's: {offenders}; "
        "link with -Wl,--exclude-libs,ALL (CMakeLists.txt does) or a shared libstdc++"
    )
