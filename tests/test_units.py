"""Unit constants against CODATA (scipy.constants) and OpenMM."""

import math

import openmm.unit as u
import pytest
import scipy.constants as c

from openmm_sog import units


def test_coulomb_prefactors_from_codata():
    coulomb_si = c.e**2 / (4 * math.pi * c.epsilon_0)  # J m
    assert units.COULOMB_EV_ANGSTROM_PER_E2 == pytest.approx(coulomb_si / c.e * 1e10, rel=1e-9)
    kj_mol_nm = coulomb_si * c.N_A / 1000 * 1e9
    assert units.COULOMB_KJ_PER_MOL_NM_PER_E2 == pytest.approx(kj_mol_nm, rel=1e-9)
    # OpenMM's ONE_4PI_EPS0 = 138.935456 predates CODATA 2018; they agree to 1e-8.
    assert units.COULOMB_KJ_PER_MOL_NM_PER_E2 == pytest.approx(138.935456, rel=2e-8)


def test_energy_and_length_conversions():
    assert units.KJ_PER_MOL_PER_EV == pytest.approx(c.e * c.N_A / 1000, rel=1e-12)
    ev = (u.AVOGADRO_CONSTANT_NA * 1.602176634e-19 * u.joule).value_in_unit(u.kilojoule_per_mole)
    assert units.KJ_PER_MOL_PER_EV == pytest.approx(ev, rel=1e-9)
    assert units.NM_PER_ANGSTROM == pytest.approx(c.angstrom / c.nano)
