"""Shared fixtures: random periodic systems and kernels (see layer_helpers.py)."""

import pytest
from layer_helpers import random_kernel, random_system


@pytest.fixture
def make_system():
    return random_system


@pytest.fixture
def make_kernel():
    return random_kernel
