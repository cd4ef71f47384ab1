"""Physical constants and unit conversions, in one place.

The torch side works in Angstrom, eV and elementary charges (ASE conventions); the OpenMM
side in nm, kJ/mol and elementary charges. Convert at the boundary, once, with these.
Each value is recomputed from CODATA (``scipy.constants``) in ``tests/test_units.py``.
"""

#: Avogadro constant, 1/mol (exact, SI 2019).
AVOGADRO_PER_MOL = 6.02214076e23
#: Elementary charge, C (exact, SI 2019).
ELEMENTARY_CHARGE_C = 1.602176634e-19
#: Vacuum permittivity, F/m (CODATA 2018).
VACUUM_PERMITTIVITY_F_PER_M = 8.8541878128e-12

#: Length: nm per Angstrom.
NM_PER_ANGSTROM = 0.1
#: Energy: kJ/mol per eV.
KJ_PER_MOL_PER_EV = ELEMENTARY_CHARGE_C * AVOGADRO_PER_MOL / 1000.0

#: Coulomb prefactor 1/(4 pi eps0), eV * Angstrom / e^2.
COULOMB_EV_ANGSTROM_PER_E2 = (
    ELEMENTARY_CHARGE_C / (4.0 * 3.141592653589793 * VACUUM_PERMITTIVITY_F_PER_M) * 1e10
)
#: Coulomb prefactor 1/(4 pi eps0), kJ/mol * nm / e^2 (OpenMM uses 138.935456...).
COULOMB_KJ_PER_MOL_NM_PER_E2 = COULOMB_EV_ANGSTROM_PER_E2 * KJ_PER_MOL_PER_EV * NM_PER_ANGSTROM

__all__ = [
    "AVOGADRO_PER_MOL",
    "COULOMB_EV_ANGSTROM_PER_E2",
    "COULOMB_KJ_PER_MOL_NM_PER_E2",
    "ELEMENTARY_CHARGE_C",
    "KJ_PER_MOL_PER_EV",
    "NM_PER_ANGSTROM",
    "VACUUM_PERMITTIVITY_F_PER_M",
]
