/*
 * SOGCoulombRealSpaceForce's pair term, an interaction of OpenMM's nonbonded kernel
 * (NonbondedUtilities; Common compute language, compiled for OpenCL and CUDA). The nonbonded
 * kernel provides r2, r, invR (nm^2, nm, 1/nm), isExcluded (exception pairs, self pairs and
 * padding), interactionScale (1/2 on diagonal tiles, whose pairs it visits twice), tempEnergy
 * (kJ/mol) and dEdR (-dE/dr / r, kJ/mol/nm^2), and loads the per-particle parameters PARAMS1 and
 * PARAMS2: (f q, d(f q)/dlambda, sigma/2, 2 sqrt(epsilon)). The host replaces:
 *   PREFACTOR (A, kJ/mol nm/e^2), LONG_RANGE (code that sets sogG = g(r), sogDG = dg/d(r^2) from r2),
 *   HAS_DERIVATIVE and DERIVATIVE (the dE/dlambda accumulator), USE_SWITCH, SWITCH_DISTANCE (nm)
 *   and SWITCH_INV_WIDTH (1/(r_c - r_s), 1/nm).
 */
if (!isExcluded && r2 < CUTOFF_SQUARED) {
    const real4 sogParams1 = PARAMS1;
    const real4 sogParams2 = PARAMS2;
    real sogG = 0, sogDG = 0;
    LONG_RANGE
    // The Coulomb complement q_i q_j (A/r - g(r)).
    const real sogPhi = PREFACTOR*invR - sogG;
    const real sogQQ = sogParams1.x*sogParams2.x;
    tempEnergy += sogQQ*sogPhi;
    dEdR += sogQQ*(PREFACTOR*invR*invR*invR + 2*sogDG);
#if HAS_DERIVATIVE
    DERIVATIVE += interactionScale*(sogParams1.y*sogParams2.x + sogParams1.x*sogParams2.y)*sogPhi;
#endif
    // Lennard-Jones with Lorentz-Berthelot mixing: sigma_ij = sigma_i/2 + sigma_j/2, 4 epsilon_ij.
    real sogSig2 = (sogParams1.z + sogParams2.z)*invR;
    sogSig2 *= sogSig2;
    const real sogSig6 = sogSig2*sogSig2*sogSig2;
    const real sogEps4 = sogParams1.w*sogParams2.w;
    real sogLJEnergy = sogEps4*(sogSig6 - 1)*sogSig6;
    real sogLJForce = sogEps4*(12*sogSig6 - 6)*sogSig6*invR*invR;
#if USE_SWITCH
    if (r > SWITCH_DISTANCE) {
        // S = 1 - 10t^3 + 15t^4 - 6t^5, t = (r - r_s)/(r_c - r_s): -d(S E)/dr / r = S F/r - E S'/r.
        const real sogT = (r - SWITCH_DISTANCE)*SWITCH_INV_WIDTH;
        const real sogS = 1 + sogT*sogT*sogT*(-10 + sogT*(15 - 6*sogT));
        const real sogDS = sogT*sogT*(-30 + sogT*(60 - 30*sogT))*SWITCH_INV_WIDTH;
        sogLJForce = sogS*sogLJForce - sogLJEnergy*sogDS*invR;
        sogLJEnergy *= sogS;
    }
#endif
    tempEnergy += sogLJEnergy;
    dEdR += sogLJForce;
}
