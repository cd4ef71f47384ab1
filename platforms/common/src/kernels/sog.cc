/*
 * Device code of the SOG long-range engine (CommonSOGEngine; Common compute language, compiled by
 * OpenMM for OpenCL and CUDA). Stages per evaluation: spread (all channels, and the self energy)
 * -> per channel: finishSpread -> real-to-complex FFT -> convolve (in place on the half
 * spectrum) -> complex-to-real FFT -> collectPotential (more than one channel) -> gatherForces.
 * Spread and gatherForces visit the atoms in grid-cell order (findGridOrder, then a sort).
 * The host defines:
 *   NUM_ATOMS, PADDED_NUM_ATOMS, NUM_CHANNELS, GRID_SIZE_X/Y/Z, GRID_POINTS (their product, at
 *   most 2^28, so indices within a channel are ints; channel offsets are 64-bit),
 *   HALF_GRID_SIZE_Z (GRID_SIZE_Z/2+1) and SPECTRUM_POINTS (GRID_SIZE_X*GRID_SIZE_Y*HALF_GRID_SIZE_Z),
 *   SPREAD_WIDTH, TWO_PI,
 *   the functions kernelValues(v, w) and kernelDerivatives(v, w) (generated source, prepended:
 *   the SPREAD_WIDTH spreading weights and their d/dz as polynomials in a particle's grid
 *   offset, SOGSpreadingKernel, scaled so that the kernel is 1 at its centre),
 *   HAS_CHARGE_SCALE when the charge scale multiplies the flagged particles only,
 *   HAS_DERIVATIVE, NUM_DERIVS, DERIV_INDEX when dE/dscale is requested, and
 *   HAS_CHARGE_DERIVATIVES when gatherForces must also write dE/dq per atom (TorchSOGForce),
 *   CONTEXT_ATOM_ORDER to visit the atoms in the context's order instead (benchmarks only), and
 *   USE_OWN_QUEUE when the engine runs on a queue of its own (forces are then added atomically),
 *   FLOAT_SPREADING to spread reals into the FFT's input (no finishSpread) instead of fixed point.
 * Grid point (x, y, z) of channel c is element c*GRID_POINTS + (x*GRID_SIZE_Y + y)*GRID_SIZE_Z + z;
 * half-spectrum mode (x, y, m_z), 0 <= m_z <= GRID_SIZE_Z/2, is element (x*GRID_SIZE_Y + y)*HALF_GRID_SIZE_Z + m_z
 * (the layout of ComputeContext::createFFT(..., true)).
 */

/*
 * What spread adds to: 64-bit fixed point (the sum does not depend on the order of the atoms),
 * or with FLOAT_SPREADING (CUDA, one channel, not deterministic) reals straight into the FFT's
 * input, with fixedScale 1.
 */
#ifdef FLOAT_SPREADING
typedef real spread_t;
#define TO_SPREAD_VALUE(x) (x)
#else
typedef mm_ulong spread_t;
#define TO_SPREAD_VALUE(x) ((mm_ulong) ((mm_long) (x)))
#endif

/* The offset of channel c in the grids holding all channels. */
#define CHANNEL_OFFSET(c) (((mm_long) (c))*GRID_POINTS)
#define HALF_WIDTH ((real) (0.5*SPREAD_WIDTH))

/*
 * Spreading weights along one axis for a particle at fractional coordinate s: grid points
 * first, first+1, ..., first+SPREAD_WIDTH-1 (before wrapping). deriv receives d weight/ds.
 */
DEVICE int computeWeights(real s, int gridSize, real* weight, real* deriv) {
    s -= floor(s);
    const real start = s*gridSize - HALF_WIDTH; // where the support begins
    const int first = (int) ceil(start);
    const real v = 2*(first - start) - 1;       // the offset first - start in [0, 1), mapped to [-1, 1)
    kernelValues(v, weight);
    if (deriv != NULL) {
        kernelDerivatives(v, deriv);
        for (int t = 0; t < SPREAD_WIDTH; t++)
            deriv[t] *= gridSize/HALF_WIDTH;
    }
    return first;
}

/* j mod size for -size <= j < 2*size (grid indices of a support: size >= 2*SPREAD_WIDTH; modes). */
DEVICE int wrapIndex(int j, int size) {
    return (j < 0 ? j + size : (j >= size ? j - size : j));
}

/* Whether the charge scale multiplies an atom's charges. */
DEVICE bool isScaledAtom(GLOBAL const int* RESTRICT isScaled, int atom) {
#ifdef HAS_CHARGE_SCALE
    return isScaled[atom] != 0;
#else
    return true;
#endif
}

/* The j-th atom that spread and gatherForces visit (the context's order with CONTEXT_ATOM_ORDER). */
#ifdef CONTEXT_ATOM_ORDER
#define ATOM_IN_ORDER(j) (j)
#else
#define ATOM_IN_ORDER(j) (order[j].x)
#endif

/*
 * The order in which spread and gatherForces visit the atoms: order[i] = (i, the grid cell that
 * atom i lies in, (x*GRID_SIZE_Y + y)*GRID_SIZE_Z + z), sorted by cell on the host's request.
 * Threads next to each other then touch neighbouring grid points, so their atomics and reads
 * share cache lines; in the context's own atom order they scatter over a grid larger than the
 * cache (the H200 profile: spreading 10x PME's, which spreads in this order).
 */
KERNEL void findGridOrder(GLOBAL const real4* RESTRICT posq, GLOBAL int2* RESTRICT order,
        real4 recipX, real4 recipY, real4 recipZ) {
    for (int i = GLOBAL_ID; i < NUM_ATOMS; i += GLOBAL_SIZE) {
        const real4 pos = posq[i];
        real sx = pos.x*recipX.x + pos.y*recipX.y + pos.z*recipX.z;
        real sy = pos.x*recipY.x + pos.y*recipY.y + pos.z*recipY.z;
        real sz = pos.x*recipZ.x + pos.y*recipZ.y + pos.z*recipZ.z;
        const int gx = min((int) ((sx - floor(sx))*GRID_SIZE_X), GRID_SIZE_X - 1);
        const int gy = min((int) ((sy - floor(sy))*GRID_SIZE_Y), GRID_SIZE_Y - 1);
        const int gz = min((int) ((sz - floor(sz))*GRID_SIZE_Z), GRID_SIZE_Z - 1);
        order[i] = make_int2(i, (gx*GRID_SIZE_Y + gy)*GRID_SIZE_Z + gz);
    }
}

/*
 * Type 1, step 1: spread every channel with one set of weights, accumulated in 64-bit fixed
 * point (integer atomics are available everywhere). fixedScale is chosen on the host so that
 * sum_j |q_j| fixedScale <= 2^62: since every weight is at most 1, no grid value can overflow,
 * and the quantisation step is ~2^-62 of the largest possible value (FLOAT_SPREADING: plain
 * float atomics into the FFT's input, fixedScale 1). The self energy
 * -1/2 sum_c g_c(0) q_c^2 is summed here too, so that the host needs no copy of the charges, in
 * its own loop over the atoms in their System order: summed in the spreading order, which is
 * sorted only every few evaluations, its rounding would depend on the history (a checkpoint
 * reloaded would not repeat the energy to the last bit).
 */
KERNEL void spread(GLOBAL const real4* RESTRICT posq, GLOBAL const int* RESTRICT atomIndex, GLOBAL const int2* RESTRICT order,
        GLOBAL const real* RESTRICT charges, GLOBAL const int* RESTRICT isScaled, real chargeScale,
        GLOBAL spread_t* RESTRICT spreadGrid, real4 recipX, real4 recipY, real4 recipZ, real fixedScale,
        GLOBAL const real* RESTRICT selfKernel, GLOBAL mixed* RESTRICT energyBuffer) {
    real wx[SPREAD_WIDTH], wy[SPREAD_WIDTH], wz[SPREAD_WIDTH];
    mixed selfEnergy = 0;
    for (int atom = GLOBAL_ID; atom < NUM_ATOMS; atom += GLOBAL_SIZE) {
        const real scale = (isScaledAtom(isScaled, atom) ? chargeScale : (real) 1);
        for (int c = 0; c < NUM_CHANNELS; c++) {
            const real charge = charges[atom*NUM_CHANNELS + c]*scale;
            selfEnergy -= (mixed) 0.5f*selfKernel[c]*charge*charge;
        }
    }
    energyBuffer[GLOBAL_ID] += selfEnergy;
    for (int j = GLOBAL_ID; j < NUM_ATOMS; j += GLOBAL_SIZE) {
        const int i = ATOM_IN_ORDER(j);
        const real4 pos = posq[i];
        const int atom = atomIndex[i];
        const real scale = (isScaledAtom(isScaled, atom) ? chargeScale : (real) 1);
        real q[NUM_CHANNELS];
        for (int c = 0; c < NUM_CHANNELS; c++)
            q[c] = charges[atom*NUM_CHANNELS + c]*scale*fixedScale;
        const int fx = computeWeights(pos.x*recipX.x + pos.y*recipX.y + pos.z*recipX.z, GRID_SIZE_X, wx, NULL);
        const int fy = computeWeights(pos.x*recipY.x + pos.y*recipY.y + pos.z*recipY.z, GRID_SIZE_Y, wy, NULL);
        const int fz = computeWeights(pos.x*recipZ.x + pos.y*recipZ.y + pos.z*recipZ.z, GRID_SIZE_Z, wz, NULL);
        int gz[SPREAD_WIDTH];
        for (int tz = 0; tz < SPREAD_WIDTH; tz++)
            gz[tz] = wrapIndex(fz + tz, GRID_SIZE_Z);
        for (int tx = 0; tx < SPREAD_WIDTH; tx++) {
            const int gx = wrapIndex(fx + tx, GRID_SIZE_X);
            for (int ty = 0; ty < SPREAD_WIDTH; ty++) {
                const int row = (gx*GRID_SIZE_Y + wrapIndex(fy + ty, GRID_SIZE_Y))*GRID_SIZE_Z;
                const real wxy = wx[tx]*wy[ty];
                for (int tz = 0; tz < SPREAD_WIDTH; tz++) {
                    const int index = row + gz[tz];
                    const real w = wxy*wz[tz];
                    for (int c = 0; c < NUM_CHANNELS; c++)
                        ATOMIC_ADD(&spreadGrid[CHANNEL_OFFSET(c) + index], TO_SPREAD_VALUE(q[c]*w));
                }
            }
        }
    }
}

/* Type 1, step 2: convert one channel of the fixed-point grid to the real input of the FFT. */
KERNEL void finishSpread(GLOBAL const mm_long* RESTRICT fixedGrid, GLOBAL real* RESTRICT grid, int channel, real inverseFixedScale) {
    const real scale = inverseFixedScale;
    for (int i = GLOBAL_ID; i < GRID_POINTS; i += GLOBAL_SIZE)
        grid[i] = scale*fixedGrid[CHANNEL_OFFSET(channel) + i];
}

/*
 * k-space for one channel, in place on the half spectrum m_z >= 0 that the real-to-complex FFT
 * gives: S = Ghat/D on the kept modes |m_d| <= maxMode_d (m != 0; maxMode_z < GRID_SIZE_Z/4, so
 * the Nyquist plane is never kept), energy ghat |S|^2/(2V) counted twice for m_z > 0 (the
 * conjugate partner -m is not stored) and once on the m_z = 0 plane (which holds both m and -m).
 * If computePotential, the spectrum becomes the type-2 input potentialScale ghat S/(V D), and
 * zero on the other modes. gaussians holds, per term of this channel, the pair
 * w pi^{3/2} sigma^3, sigma^2/4. deconvolution holds D_d(m) for |m| <= maxMode_d along the three
 * axes, each of length 2*maxMode_d+1, one after the other.
 */
KERNEL void convolve(GLOBAL real2* RESTRICT spectrum, GLOBAL mixed* RESTRICT energyBuffer,
        GLOBAL const real* RESTRICT deconvolution, GLOBAL const real* RESTRICT gaussians, int numGaussians,
        int4 maxMode, real4 recipX, real4 recipY, real4 recipZ, real invVolume, real potentialScale,
        int computePotential) {
    const int nx = 2*maxMode.x + 1, ny = 2*maxMode.y + 1;
    mixed energy = 0;
    for (int index = GLOBAL_ID; index < SPECTRUM_POINTS; index += GLOBAL_SIZE) {
        const int row = index/HALF_GRID_SIZE_Z;
        const int mz = index - row*HALF_GRID_SIZE_Z;
        const int gx = row/GRID_SIZE_Y;
        const int gy = row - gx*GRID_SIZE_Y;
        const int mx = (gx <= GRID_SIZE_X/2 ? gx : gx - GRID_SIZE_X);
        const int my = (gy <= GRID_SIZE_Y/2 ? gy : gy - GRID_SIZE_Y);
        const bool kept = (mx >= -maxMode.x && mx <= maxMode.x && my >= -maxMode.y && my <= maxMode.y &&
                mz <= maxMode.z && (mx != 0 || my != 0 || mz != 0));
        if (!kept) {
            if (computePotential)
                spectrum[index] = make_real2(0, 0);
            continue;
        }
        const real kx = (real) TWO_PI*(mx*recipX.x + my*recipY.x + mz*recipZ.x);
        const real ky = (real) TWO_PI*(mx*recipX.y + my*recipY.y + mz*recipZ.y);
        const real kz = (real) TWO_PI*(mx*recipX.z + my*recipY.z + mz*recipZ.z);
        const real k2 = kx*kx + ky*ky + kz*kz;
        real ghat = 0;
        for (int l = 0; l < numGaussians; l++) {
            // Terms come by increasing width: past exp(-50) this and all wider ones vanish.
            const real x = gaussians[2*l+1]*k2;
            if (x > 50)
                break;
            ghat += gaussians[2*l]*EXP(-x);
        }
        const real D = deconvolution[mx + maxMode.x]*deconvolution[nx + my + maxMode.y]*deconvolution[nx + ny + mz + maxMode.z];
        const real2 S = spectrum[index]/D;
        energy += (mz == 0 ? 0.5f : 1.0f)*invVolume*ghat*(S.x*S.x + S.y*S.y);
        if (computePotential)
            spectrum[index] = S*(potentialScale*ghat*invVolume/D);
    }
    energyBuffer[GLOBAL_ID] += energy;
}

/*
 * Type 2, step 1 (more than one channel): copy one channel's potential grid, the output of the
 * complex-to-real FFT, next to the others', so that one gathering pass reads all channels.
 */
KERNEL void collectPotential(GLOBAL const real* RESTRICT grid, GLOBAL real* RESTRICT potential, int channel) {
    for (int i = GLOBAL_ID; i < GRID_POINTS; i += GLOBAL_SIZE)
        potential[CHANNEL_OFFSET(channel) + i] = grid[i];
}

/*
 * Type 2, step 2: interpolate phi_c and its fractional gradient with the spreading weights,
 * add F = -sum_c q_c grad phi_c, and (optionally) dE/dq_c = phi_c - g_c(0) q_c and
 * dE/dlambda = sum_c (phi_c - g_c(0) q_c) q0_c over scaled particles, where q0 is the unscaled
 * charge. The potential already carries the energy scale s; g_c(0) gets it here.
 */
KERNEL void gatherForces(GLOBAL const real4* RESTRICT posq, GLOBAL const int* RESTRICT atomIndex, GLOBAL const int2* RESTRICT order,
        GLOBAL const real* RESTRICT charges, GLOBAL const int* RESTRICT isScaled, real chargeScale,
        GLOBAL const real* RESTRICT potential, GLOBAL const real* RESTRICT selfKernel, real energyScale,
        GLOBAL mm_ulong* RESTRICT forceBuffers, GLOBAL mixed* RESTRICT energyParamDerivs,
        real4 recipX, real4 recipY, real4 recipZ, GLOBAL real* RESTRICT chargeDerivs) {
    real wx[SPREAD_WIDTH], wy[SPREAD_WIDTH], wz[SPREAD_WIDTH];
    real dx[SPREAD_WIDTH], dy[SPREAD_WIDTH], dz[SPREAD_WIDTH];
#ifdef HAS_DERIVATIVE
    mixed derivative = 0;
#endif
    for (int j = GLOBAL_ID; j < NUM_ATOMS; j += GLOBAL_SIZE) {
        const int i = ATOM_IN_ORDER(j);
        const real4 pos = posq[i];
        const int atom = atomIndex[i];
        const bool scaled = isScaledAtom(isScaled, atom);
        const real scale = (scaled ? chargeScale : (real) 1);
        const int fx = computeWeights(pos.x*recipX.x + pos.y*recipX.y + pos.z*recipX.z, GRID_SIZE_X, wx, dx);
        const int fy = computeWeights(pos.x*recipY.x + pos.y*recipY.y + pos.z*recipY.z, GRID_SIZE_Y, wy, dy);
        const int fz = computeWeights(pos.x*recipZ.x + pos.y*recipZ.y + pos.z*recipZ.z, GRID_SIZE_Z, wz, dz);
        // phi and its fractional gradient, summed over z first, then y, then x
        real phi[NUM_CHANNELS];
        real3 gradient[NUM_CHANNELS];
        for (int c = 0; c < NUM_CHANNELS; c++) {
            phi[c] = 0;
            gradient[c] = make_real3(0);
        }
        int gz[SPREAD_WIDTH];
        for (int tz = 0; tz < SPREAD_WIDTH; tz++)
            gz[tz] = wrapIndex(fz + tz, GRID_SIZE_Z);
        for (int tx = 0; tx < SPREAD_WIDTH; tx++) {
            const int gx = wrapIndex(fx + tx, GRID_SIZE_X);
            real planeValue[NUM_CHANNELS], planeDy[NUM_CHANNELS], planeDz[NUM_CHANNELS];
            for (int c = 0; c < NUM_CHANNELS; c++)
                planeValue[c] = planeDy[c] = planeDz[c] = 0;
            for (int ty = 0; ty < SPREAD_WIDTH; ty++) {
                const int row = (gx*GRID_SIZE_Y + wrapIndex(fy + ty, GRID_SIZE_Y))*GRID_SIZE_Z;
                real rowValue[NUM_CHANNELS], rowDz[NUM_CHANNELS];
                for (int c = 0; c < NUM_CHANNELS; c++)
                    rowValue[c] = rowDz[c] = 0;
                for (int tz = 0; tz < SPREAD_WIDTH; tz++) {
                    const int index = row + gz[tz];
                    for (int c = 0; c < NUM_CHANNELS; c++) {
                        const real u = potential[CHANNEL_OFFSET(c) + index];
                        rowValue[c] += wz[tz]*u;
                        rowDz[c] += dz[tz]*u;
                    }
                }
                for (int c = 0; c < NUM_CHANNELS; c++) {
                    planeValue[c] += wy[ty]*rowValue[c];
                    planeDy[c] += dy[ty]*rowValue[c];
                    planeDz[c] += wy[ty]*rowDz[c];
                }
            }
            for (int c = 0; c < NUM_CHANNELS; c++) {
                phi[c] += wx[tx]*planeValue[c];
                gradient[c] += make_real3(dx[tx]*planeValue[c], wx[tx]*planeDy[c], wx[tx]*planeDz[c]);
            }
        }
        real3 force = make_real3(0);
        for (int c = 0; c < NUM_CHANNELS; c++) {
            const real q0 = charges[atom*NUM_CHANNELS + c];
            const real q = q0*scale;
            const real3 g = gradient[c];
            // d phi/dr = sum_d (d phi/ds_d) recip_d
            force -= make_real3(recipX.x*g.x + recipY.x*g.y + recipZ.x*g.z,
                                recipX.y*g.x + recipY.y*g.y + recipZ.y*g.z,
                                recipX.z*g.x + recipY.z*g.y + recipZ.z*g.z)*q;
#if defined(HAS_DERIVATIVE) || defined(HAS_CHARGE_DERIVATIVES)
            const real dEdq = phi[c] - energyScale*selfKernel[c]*q;
#endif
#ifdef HAS_DERIVATIVE
            if (scaled)
                derivative += dEdq*q0;
#endif
#ifdef HAS_CHARGE_DERIVATIVES
            chargeDerivs[atom*NUM_CHANNELS + c] = dEdq;
#endif
        }
#ifdef USE_OWN_QUEUE
        // Other forces add to the buffer at the same time, on the context's queue.
        ATOMIC_ADD(&forceBuffers[i], (mm_ulong) realToFixedPoint(force.x));
        ATOMIC_ADD(&forceBuffers[i + PADDED_NUM_ATOMS], (mm_ulong) realToFixedPoint(force.y));
        ATOMIC_ADD(&forceBuffers[i + 2*PADDED_NUM_ATOMS], (mm_ulong) realToFixedPoint(force.z));
#else
        forceBuffers[i] += (mm_ulong) realToFixedPoint(force.x);
        forceBuffers[i + PADDED_NUM_ATOMS] += (mm_ulong) realToFixedPoint(force.y);
        forceBuffers[i + 2*PADDED_NUM_ATOMS] += (mm_ulong) realToFixedPoint(force.z);
#endif
    }
#ifdef HAS_DERIVATIVE
    energyParamDerivs[GLOBAL_ID*NUM_DERIVS + DERIV_INDEX] += derivative;
#endif
}

/*
 * With the engine's own queue (USE_OWN_QUEUE): its energy buffer added to the context's, on the
 * context's queue once the engine's queue is done.
 */
KERNEL void addEnergy(GLOBAL const mixed* RESTRICT source, GLOBAL mixed* RESTRICT target, int size) {
    for (int i = GLOBAL_ID; i < size; i += GLOBAL_SIZE)
        target[i] += source[i];
}
