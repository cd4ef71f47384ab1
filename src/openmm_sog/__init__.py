"""openmm-sog: SOG-Net long-range layers for PyTorch and OpenMM."""

__version__ = "0.1.0"
