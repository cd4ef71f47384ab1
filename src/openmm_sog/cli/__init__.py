"""``sognet`` command line: thin wrappers over :mod:`openmm_sog.training`."""
