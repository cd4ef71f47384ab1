/*
 * SOGCoulombRealSpaceForce's exception term, a bonded interaction (BondedUtilities; Common compute
 * language) at any distance, by minimum image: f_i f_j [p A/r - q_i q_j g(r)] plus the exception's
 * own, unswitched Lennard-Jones. BondedUtilities provides index, pos1, pos2 and energy. The host
 * replaces PARAMS (per exception: f_i f_j p, f_i f_j q_i q_j (e^2), sigma (nm), 4 epsilon (kJ/mol)),
 * PREFACTOR, LONG_RANGE (as in sogComplementPair.cc), and with HAS_DERIVATIVE the accumulator
 * DERIVATIVE and DERIV_PARAMS (per exception: d(f_i f_j)/dlambda times p and q_i q_j).
 */
real3 delta = make_real3(pos2.x-pos1.x, pos2.y-pos1.y, pos2.z-pos1.z);
APPLY_PERIODIC_TO_DELTA(delta)
const real r2 = delta.x*delta.x + delta.y*delta.y + delta.z*delta.z;
const real invR = RSQRT(r2);
const real4 sogException = PARAMS[index];
real sogG = 0, sogDG = 0;
LONG_RANGE
real tempEnergy = sogException.x*PREFACTOR*invR - sogException.y*sogG;
real dEdR = sogException.x*PREFACTOR*invR*invR*invR + 2*sogException.y*sogDG;
#if HAS_DERIVATIVE
const real2 sogDeriv = DERIV_PARAMS[index];
DERIVATIVE += sogDeriv.x*PREFACTOR*invR - sogDeriv.y*sogG;
#endif
real sogSig2 = sogException.z*invR;
sogSig2 *= sogSig2;
const real sogSig6 = sogSig2*sogSig2*sogSig2;
tempEnergy += sogException.w*(sogSig6 - 1)*sogSig6;
dEdR += sogException.w*(12*sogSig6 - 6)*sogSig6*invR*invR;
energy += tempEnergy;
delta *= dEdR;
real3 force1 = -delta;
real3 force2 = delta;
