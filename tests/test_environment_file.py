"""environment.yml (the conda route) pins what pyproject.toml pins.

Every runtime and test dependency of pyproject.toml must appear in environment.yml, under its
conda-forge name or in the pip section, with the same version specifier; conda-forge names that
differ from PyPI's are mapped below.
"""

import re
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip(
    "tomllib", reason="tomllib is in the standard library from Python 3.11"
)

ROOT = Path(__file__).resolve().parents[1]
#: PyPI name -> conda-forge name, where they differ
CONDA_NAMES = {"torch": "pytorch", "openmmml": "openmm-ml"}
#: extras whose packages the conda environment carries
EXTRAS = ("test",)


def _split(requirement: str) -> tuple[str, str]:
    """('name', 'specifier') of a requirement such as 'torch==2.13.0' or 'numpy'."""
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", requirement)
    assert match, requirement
    return match.group(1).lower(), match.group(2).replace(" ", "")


def _environment() -> dict[str, str]:
    spec = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert spec["channels"] == ["conda-forge"]
    entries: dict[str, str] = {}
    for item in spec["dependencies"]:
        for requirement in item["pip"] if isinstance(item, dict) else [item]:
            name, specifier = _split(requirement)
            entries[name] = specifier
    return entries


def _pyproject() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in EXTRAS:
        requirements += project["optional-dependencies"][extra]
    return requirements


@pytest.mark.parametrize("requirement", _pyproject())
def test_environment_pins_what_pyproject_pins(requirement):
    name, specifier = _split(requirement)
    environment = _environment()
    conda_name = CONDA_NAMES.get(name, name)
    found = conda_name if conda_name in environment else name
    assert found in environment, f"{requirement} is missing from environment.yml"
    assert environment[found] == specifier, (
        f"environment.yml pins {found}{environment[found]}, pyproject.toml {requirement}"
    )


def test_environment_has_openmm_torch_and_the_build_tools():
    environment = _environment()
    for name in ("openmm-torch", "cmake", "cxx-compiler", "swig", "scikit-build-core", "pocl"):
        assert name in environment, name
