#ifndef OPENMM_CPUSOGCOMPLEMENTBLOCKS_H_
#define OPENMM_CPUSOGCOMPLEMENTBLOCKS_H_

/*
 * The SIMD pair loop of SOGCoulombRealSpaceForce on the CPU platform, written once for fvec4
 * (SSE/NEON, blocks of 4 or 8 atoms in groups of 4) and fvec8 (AVX: blocks of 8, or blocks of 4
 * against two neighbours at a time): each source that includes this header compiles it for its
 * own instruction set.
 */

#include "CpuSOGCoulombRealSpaceKernel.h"

namespace SOGPlugin {

/**
 * The four cubic coefficients of the table interval of each lane, one vector per coefficient.
 */
static inline void loadIntervals(const float* table, const int* interval, fvec4& c0, fvec4& c1, fvec4& c2, fvec4& c3) {
    c0 = fvec4(table + 4*interval[0]);
    c1 = fvec4(table + 4*interval[1]);
    c2 = fvec4(table + 4*interval[2]);
    c3 = fvec4(table + 4*interval[3]);
    transpose(c0, c1, c2, c3);
}

#ifdef SOG_CPU_FVEC8
static inline void loadIntervals(const float* table, const int* interval, fvec8& c0, fvec8& c1, fvec8& c2, fvec8& c3) {
    fvec4 rows[8];
    for (int k = 0; k < 8; k++)
        rows[k] = fvec4(table + 4*interval[k]);
    transpose(rows, c0, c1, c2, c3);
}
#endif

/**
 * Whether any lane of a comparison mask is set.
 */
static inline bool anyLane(fvec4 mask) {
#if defined(__SSE__)
    return _mm_movemask_ps(mask.val) != 0;
#else
    return reduceAdd(mask & fvec4(1.0f)) != 0.0f;
#endif
}

/**
 * A mask with lane k all ones where bit k of bits is set, built with integer compares. OpenMM's
 * expandBitsToMask converts the bits to floats (4-wide) or compares them as floats, which are
 * subnormal (8-wide): some processors, this one among them, take a slow path for that.
 */
template <class FVEC>
static inline FVEC expandLaneBits(int bits);

template <>
inline fvec4 expandLaneBits<fvec4>(int bits) {
#if defined(__SSE2__)
    const __m128i lanes = _mm_setr_epi32(1, 2, 4, 8);
    return fvec4(_mm_castsi128_ps(_mm_cmpeq_epi32(_mm_and_si128(_mm_set1_epi32(bits), lanes), lanes)));
#else
    return fvec4::expandBitsToMask(bits);
#endif
}

#ifdef SOG_CPU_FVEC8
template <>
inline fvec8 expandLaneBits<fvec8>(int bits) {
    const __m128i value = _mm_set1_epi32(bits);
    const __m128i low = _mm_setr_epi32(1, 2, 4, 8), high = _mm_setr_epi32(16, 32, 64, 128);
    const __m128i lowMask = _mm_cmpeq_epi32(_mm_and_si128(value, low), low);
    const __m128i highMask = _mm_cmpeq_epi32(_mm_and_si128(value, high), high);
    return fvec8(_mm256_insertf128_ps(_mm256_castps128_ps256(_mm_castsi128_ps(lowMask)), _mm_castsi128_ps(highMask), 1));
}

static inline bool anyLane(fvec8 mask) {
    return _mm256_movemask_ps(mask.val) != 0;
}
#endif

/**
 * (sum of x's lanes, sum of y's, sum of z's, 0): the force on a neighbour. OpenMM's SSE
 * reduceToVec3 takes three dot products (dpps, slow on many processors); three horizontal adds
 * give the same sums. The 8-wide reduceToVec3 is already shuffle-based.
 */
static inline fvec4 sumLanesToVec3(fvec4 x, fvec4 y, fvec4 z) {
#if defined(__SSE3__)
    const __m128 xy = _mm_hadd_ps(x.val, y.val);              // x0+x1, x2+x3, y0+y1, y2+y3
    const __m128 zz = _mm_hadd_ps(z.val, _mm_setzero_ps());   // z0+z1, z2+z3, 0, 0
    return fvec4(_mm_hadd_ps(xy, zz));
#else
    return reduceToVec3(x, y, z);
#endif
}

#ifdef SOG_CPU_FVEC8
static inline fvec4 sumLanesToVec3(fvec8 x, fvec8 y, fvec8 z) {
    return reduceToVec3(x, y, z);
}
#endif

/**
 * The constants of the pair terms, as vectors.
 */
template <class FVEC>
struct PairConstants {
    explicit PairConstants(const SOGComplementBlockArgs& args) : table(args.table), switching(args.switching),
            cutoff2(args.cutoff2), prefactor(args.prefactor), invDx2(args.invTableSpacing),
            lastInterval((float) (args.numIntervals - 1)), switchingDistance(args.switchingDistance),
            invSwitchingWidth(args.invSwitchingWidth), bx(args.box[3]), cx(args.box[6]), cy(args.box[7]) {
        for (int d = 0; d < 3; d++) {
            boxSize[d] = FVEC(args.box[4*d]);
            invBoxSize[d] = FVEC(1/args.box[4*d]);
        }
    }
    const float* table;
    bool switching;
    FVEC cutoff2, prefactor, invDx2, lastInterval, switchingDistance, invSwitchingWidth;
    FVEC boxSize[3], invBoxSize[3], bx, cx, cy;
};

/**
 * The minimum image of the displacements (dx, dy, dz) in the reduced box.
 */
template <class FVEC, bool TRICLINIC>
static inline void applyMinimumImage(const PairConstants<FVEC>& k, FVEC& dx, FVEC& dy, FVEC& dz) {
    if (TRICLINIC) {
        // Reduced box vectors: remove c, then b, then a.
        FVEC s = round(dz*k.invBoxSize[2]);
        dx -= s*k.cx;
        dy -= s*k.cy;
        dz -= s*k.boxSize[2];
        s = round(dy*k.invBoxSize[1]);
        dx -= s*k.bx;
        dy -= s*k.boxSize[1];
        dx -= round(dx*k.invBoxSize[0])*k.boxSize[0];
    }
    else {
        dx -= round(dx*k.invBoxSize[0])*k.boxSize[0];
        dy -= round(dy*k.invBoxSize[1])*k.boxSize[1];
        dz -= round(dz*k.invBoxSize[2])*k.boxSize[2];
    }
}

/**
 * The terms of the pairs in the lanes: adds their energy and dU/dlambda where asked and returns
 * -dU/dr / r, all zero in lanes outside include. Each lane's pair is a block atom i (charge qi,
 * dq_i/dlambda dqi, sigma_i/2, 2 sqrt(epsilon_i)) and a neighbour j (the same for j).
 */
template <class FVEC, class IVEC, int WIDTH, bool ENERGY, bool DERIVATIVE, bool LJ>
static inline FVEC pairTerms(const PairConstants<FVEC>& k, FVEC r2, FVEC include, FVEC qi, FVEC qj, FVEC dqi, FVEC dqj,
        FVEC halfSigmaI, FVEC halfSigmaJ, FVEC twoSqrtEpsilonI, FVEC twoSqrtEpsilonJ, FVEC& energy, FVEC& derivative) {
    // g(r) from the cubic table in r^2: interval i, local coordinate u in [0, 1].
    const FVEC t = r2*k.invDx2;
    const FVEC i = floor(min(t, k.lastInterval));
    const FVEC u = t - i;
    int interval[WIDTH];
    IVEC(i).store(interval);
    FVEC c0, c1, c2, c3;
    loadIntervals(k.table, interval, c0, c1, c2, c3);
    const FVEC longRange = c0 + u*(c1 + u*(c2 + u*c3));
    const FVEC dLongRange = (c1 + u*(2.0f*c2 + 3.0f*u*c3))*k.invDx2;  // dg/d(r^2)
    const FVEC invR = rsqrt(r2);
    const FVEC phi = k.prefactor*invR - longRange;
    const FVEC qq = qi*qj;
    if (ENERGY)
        energy += blendZero(qq*phi, include);
    if (DERIVATIVE)
        derivative += blendZero((dqi*qj + qi*dqj)*phi, include);
    // -dphi/dr / r = A/r^3 + 2 dg/d(r^2)
    FVEC forceOverR = qq*(k.prefactor*invR*invR*invR + 2.0f*dLongRange);
    if (LJ) {
        // Lorentz-Berthelot: sigma_ij = sigma_i/2 + sigma_j/2, 4 eps_ij = 2 sqrt(eps_i) 2 sqrt(eps_j).
        const FVEC invR2 = invR*invR;
        const FVEC sigma = halfSigmaI + halfSigmaJ, fourEpsilon = twoSqrtEpsilonI*twoSqrtEpsilonJ;
        const FVEC sigma2 = sigma*sigma*invR2;
        const FVEC sigma6 = sigma2*sigma2*sigma2;
        FVEC ljEnergy = fourEpsilon*(sigma6*sigma6 - sigma6);
        FVEC ljForceOverR = fourEpsilon*(12.0f*sigma6*sigma6 - 6.0f*sigma6)*invR2;
        if (k.switching) {
            // S = 1 - 10t^3 + 15t^4 - 6t^5 for t = (r - r_s)/(r_c - r_s) > 0; -d(S E)/dr / r = S F/r - E S'/r.
            const FVEC r = r2*invR;
            const FVEC t = max(FVEC(0.0f), (r - k.switchingDistance)*k.invSwitchingWidth);
            const FVEC switchValue = 1.0f + t*t*t*(-10.0f + t*(15.0f - 6.0f*t));
            const FVEC switchDerivative = t*t*(-30.0f + t*(60.0f - 30.0f*t))*k.invSwitchingWidth;
            ljForceOverR = switchValue*ljForceOverR - ljEnergy*switchDerivative*invR;
            ljEnergy = switchValue*ljEnergy;
        }
        if (ENERGY)
            energy += blendZero(ljEnergy, include);
        forceOverR += ljForceOverR;
    }
    return blendZero(forceOverR, include);
}

/**
 * The pair sum over the neighbour list's blocks that this thread takes from args.nextBlock.
 * FVEC holds WIDTH block atoms (the lanes); a block is GROUPS = blockSize/WIDTH such groups. With
 * LJ, Lennard-Jones (switched if args.switching) is added to the same pairs.
 */
template <class FVEC, class IVEC, int WIDTH, bool ENERGY, bool DERIVATIVE, bool TRICLINIC, bool LJ, int GROUPS>
void computeBlocks(const SOGComplementBlockArgs& args, float* forces, double& energyOut, double& derivativeOut) {
    const OpenMM::CpuNeighborList& neighbors = *args.neighbors;
    const float* posq = args.posq;
    const int blockSize = WIDTH*GROUPS;  // the neighbour list's (see the dispatch below)
    const int numGroups = GROUPS;
    const int laneMask = (1 << WIDTH) - 1;
    const std::vector<int32_t>& sortedAtoms = neighbors.getSortedAtoms();
    const PairConstants<FVEC> constants(args);
    double energy = 0.0, derivative = 0.0;
    while (true) {
        const int block = (*args.nextBlock)++;
        if (block >= neighbors.getNumBlocks())
            break;
        const int32_t* blockAtoms = &sortedAtoms[block*blockSize];
        FVEC x[GROUPS], y[GROUPS], z[GROUPS], q[GROUPS], dq[GROUPS], fx[GROUPS], fy[GROUPS], fz[GROUPS];
        FVEC halfSigma[GROUPS], twoSqrtEpsilon[GROUPS];
        for (int g = 0; g < numGroups; g++) {
            float lane[7][WIDTH];
            for (int k = 0; k < WIDTH; k++) {
                const int atom = blockAtoms[WIDTH*g + k];
                for (int c = 0; c < 3; c++)
                    lane[c][k] = posq[4*atom + c];
                for (int c = 0; c < 4; c++)
                    lane[3 + c][k] = args.particleParameters[4*atom + c];
            }
            x[g] = FVEC(lane[0]);
            y[g] = FVEC(lane[1]);
            z[g] = FVEC(lane[2]);
            q[g] = FVEC(lane[3]);
            dq[g] = FVEC(lane[4]);
            halfSigma[g] = FVEC(lane[5]);
            twoSqrtEpsilon[g] = FVEC(lane[6]);
            fx[g] = fy[g] = fz[g] = FVEC(0.0f);
        }
        FVEC blockEnergy(0.0f), blockDerivative(0.0f);
        // The neighbours and their exclusion masks, read directly rather than through
        // NeighborIterator (three out-of-line calls per neighbour): the platform's list is never
        // dense here, since OpenMM builds a dense one only when no force uses a cutoff.
        const std::vector<int>& blockNeighbors = neighbors.getBlockNeighbors(block);
        const auto& blockExclusions = neighbors.getBlockExclusions(block);
        const int numNeighbors = (int) blockNeighbors.size();
        for (int n = 0; n < numNeighbors; n++) {
            const int j = blockNeighbors[n];
            const int excluded = blockExclusions[n];
            const FVEC xj(posq[4*j]), yj(posq[4*j + 1]), zj(posq[4*j + 2]);
            const float* parametersJ = &args.particleParameters[4*j];
            const FVEC qj(parametersJ[0]), dqj(parametersJ[1]), halfSigmaJ(parametersJ[2]), twoSqrtEpsilonJ(parametersJ[3]);
            FVEC fjx(0.0f), fjy(0.0f), fjz(0.0f);
            bool any = false;
            for (int g = 0; g < numGroups; g++) {
                FVEC dx = x[g] - xj, dy = y[g] - yj, dz = z[g] - zj;
                applyMinimumImage<FVEC, TRICLINIC>(constants, dx, dy, dz);
                const FVEC r2 = dx*dx + dy*dy + dz*dz;
                const FVEC include = (r2 < constants.cutoff2) & expandLaneBits<FVEC>((~excluded >> (WIDTH*g)) & laneMask);
                if (!anyLane(include))
                    continue;  // no lane within the cutoff
                any = true;
                const FVEC scale = pairTerms<FVEC, IVEC, WIDTH, ENERGY, DERIVATIVE, LJ>(constants, r2, include, q[g], qj,
                        dq[g], dqj, halfSigma[g], halfSigmaJ, twoSqrtEpsilon[g], twoSqrtEpsilonJ, blockEnergy, blockDerivative);
                const FVEC fdx = scale*dx, fdy = scale*dy, fdz = scale*dz;
                fx[g] += fdx;
                fy[g] += fdy;
                fz[g] += fdz;
                fjx -= fdx;
                fjy -= fdy;
                fjz -= fdz;
            }
            if (!any)
                continue;
            (fvec4(forces + 4*j) + sumLanesToVec3(fjx, fjy, fjz)).store(forces + 4*j);
        }
        // In single precision within a block (a few hundred pairs), in double across blocks.
        if (ENERGY)
            energy += reduceAdd(blockEnergy);
        if (DERIVATIVE)
            derivative += reduceAdd(blockDerivative);
        for (int g = 0; g < numGroups; g++) {
            float lane[3][WIDTH];
            fx[g].store(lane[0]);
            fy[g].store(lane[1]);
            fz[g].store(lane[2]);
            // Padding atoms of the last block are excluded from everything: their lanes hold 0.
            for (int k = 0; k < WIDTH; k++) {
                const int atom = blockAtoms[WIDTH*g + k];
                for (int c = 0; c < 3; c++)
                    forces[4*atom + c] += lane[c][k];
            }
        }
    }
    energyOut = energy;
    derivativeOut = derivative;
}

#ifdef SOG_CPU_FVEC8
/**
 * Two 4-float rows in one 8-float vector: a in lanes 0-3, b in lanes 4-7.
 */
static inline fvec8 joinRows(const float* a, const float* b) {
    return fvec8(_mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(a)), _mm_loadu_ps(b), 1));
}

/**
 * Element e of each 4-lane half broadcast over that half.
 */
template <int E>
static inline fvec8 broadcastInHalves(fvec8 v) {
    return fvec8(_mm256_permute_ps(v.val, E*0x55));
}

/**
 * The pair sum over blocks of 4 in 8-wide vectors: lanes 0-3 hold the block's atoms against one
 * neighbour, lanes 4-7 the same atoms against the next. OpenMM's CPU platform uses blocks of 4
 * wherever it was built without AVX (as some of its binary packages are), even on processors that
 * have it; this loop keeps those processors' 8-wide arithmetic in use.
 */
template <bool ENERGY, bool DERIVATIVE, bool TRICLINIC, bool LJ>
void computePairedBlocks(const SOGComplementBlockArgs& args, float* forces, double& energyOut, double& derivativeOut) {
    const OpenMM::CpuNeighborList& neighbors = *args.neighbors;
    const float* posq = args.posq;
    const float* parameters = args.particleParameters;
    const std::vector<int32_t>& sortedAtoms = neighbors.getSortedAtoms();
    const PairConstants<fvec8> constants(args);
    double energy = 0.0, derivative = 0.0;
    while (true) {
        const int block = (*args.nextBlock)++;
        if (block >= neighbors.getNumBlocks())
            break;
        const int32_t* blockAtoms = &sortedAtoms[4*block];
        float lane[7][8];
        for (int k = 0; k < 4; k++) {
            const int atom = blockAtoms[k];
            for (int c = 0; c < 3; c++)
                lane[c][k] = lane[c][k + 4] = posq[4*atom + c];
            for (int c = 0; c < 4; c++)
                lane[3 + c][k] = lane[3 + c][k + 4] = parameters[4*atom + c];
        }
        const fvec8 x(lane[0]), y(lane[1]), z(lane[2]), q(lane[3]), dq(lane[4]), halfSigma(lane[5]), twoSqrtEpsilon(lane[6]);
        fvec8 fx(0.0f), fy(0.0f), fz(0.0f), blockEnergy(0.0f), blockDerivative(0.0f);
        const std::vector<int>& blockNeighbors = neighbors.getBlockNeighbors(block);
        const auto& blockExclusions = neighbors.getBlockExclusions(block);
        const int numNeighbors = (int) blockNeighbors.size();
        for (int n = 0; n < numNeighbors; n += 2) {
            // An odd last neighbour is paired with itself, all of the copy's lanes excluded.
            const bool second = (n + 1 < numNeighbors);
            const int j1 = blockNeighbors[n], j2 = (second ? blockNeighbors[n + 1] : j1);
            const int excluded = (blockExclusions[n] & 0xF) | ((second ? blockExclusions[n + 1] & 0xF : 0xF) << 4);
            const fvec8 positionsJ = joinRows(posq + 4*j1, posq + 4*j2);
            fvec8 dx = x - broadcastInHalves<0>(positionsJ);
            fvec8 dy = y - broadcastInHalves<1>(positionsJ);
            fvec8 dz = z - broadcastInHalves<2>(positionsJ);
            applyMinimumImage<fvec8, TRICLINIC>(constants, dx, dy, dz);
            const fvec8 r2 = dx*dx + dy*dy + dz*dz;
            const fvec8 include = (r2 < constants.cutoff2) & expandLaneBits<fvec8>(~excluded & 0xFF);
            if (!anyLane(include))
                continue;
            const fvec8 parametersJ = joinRows(parameters + 4*j1, parameters + 4*j2);
            const fvec8 scale = pairTerms<fvec8, ivec8, 8, ENERGY, DERIVATIVE, LJ>(constants, r2, include, q,
                    broadcastInHalves<0>(parametersJ), dq, broadcastInHalves<1>(parametersJ), halfSigma,
                    broadcastInHalves<2>(parametersJ), twoSqrtEpsilon, broadcastInHalves<3>(parametersJ),
                    blockEnergy, blockDerivative);
            const fvec8 fdx = scale*dx, fdy = scale*dy, fdz = scale*dz;
            fx += fdx;
            fy += fdy;
            fz += fdz;
            // Each half's (sum x, sum y, sum z, 0): the forces on j1 (lanes 0-3) and j2 (4-7).
            const __m256 xy = _mm256_hadd_ps(fdx.val, fdy.val);
            const __m256 zw = _mm256_hadd_ps(fdz.val, _mm256_setzero_ps());
            const fvec8 sums(_mm256_hadd_ps(xy, zw));
            (fvec4(forces + 4*j1) - sums.lowerVec()).store(forces + 4*j1);
            (fvec4(forces + 4*j2) - sums.upperVec()).store(forces + 4*j2);
        }
        if (ENERGY)
            energy += reduceAdd(blockEnergy);
        if (DERIVATIVE)
            derivative += reduceAdd(blockDerivative);
        // Both halves belong to the same 4 atoms. Padding atoms of the last block are excluded
        // from everything: their lanes hold 0.
        float sums[3][4];
        (fx.lowerVec() + fx.upperVec()).store(sums[0]);
        (fy.lowerVec() + fy.upperVec()).store(sums[1]);
        (fz.lowerVec() + fz.upperVec()).store(sums[2]);
        for (int k = 0; k < 4; k++)
            for (int c = 0; c < 3; c++)
                forces[4*blockAtoms[k] + c] += sums[c][k];
    }
    energyOut = energy;
    derivativeOut = derivative;
}
#endif

template <class FVEC, class IVEC, int WIDTH, bool ENERGY, bool DERIVATIVE, bool TRICLINIC, bool LJ>
void computeComplementBlocks(const SOGComplementBlockArgs& args, float* forces, double& energy, double& derivative) {
    // The number of lane groups per block is a compile-time constant, so that the groups' vectors
    // stay in registers: blocks of 8 in 4-wide vectors are 2 groups, otherwise 1.
    // Blocks of 4 in 8-wide vectors pair each block with two neighbours at a time.
    const int blockSize = args.neighbors->getBlockSize();
#ifdef SOG_CPU_FVEC8
    if (WIDTH == 8 && blockSize == 4) {
        computePairedBlocks<ENERGY, DERIVATIVE, TRICLINIC, LJ>(args, forces, energy, derivative);
        return;
    }
#endif
    if (WIDTH == 4 && blockSize == 8)
        computeBlocks<FVEC, IVEC, WIDTH, ENERGY, DERIVATIVE, TRICLINIC, LJ, 8/WIDTH>(args, forces, energy, derivative);
    else
        computeBlocks<FVEC, IVEC, WIDTH, ENERGY, DERIVATIVE, TRICLINIC, LJ, 1>(args, forces, energy, derivative);
}

template <class FVEC, class IVEC, int WIDTH, bool ENERGY, bool LJ>
void computeComplementBlocks(const SOGComplementBlockArgs& args, float* forces, double& energy, double& derivative) {
    if (args.computeDerivative)
        args.triclinic ? computeComplementBlocks<FVEC, IVEC, WIDTH, ENERGY, true, true, LJ>(args, forces, energy, derivative) :
                         computeComplementBlocks<FVEC, IVEC, WIDTH, ENERGY, true, false, LJ>(args, forces, energy, derivative);
    else
        args.triclinic ? computeComplementBlocks<FVEC, IVEC, WIDTH, ENERGY, false, true, LJ>(args, forces, energy, derivative) :
                         computeComplementBlocks<FVEC, IVEC, WIDTH, ENERGY, false, false, LJ>(args, forces, energy, derivative);
}

template <class FVEC, class IVEC, int WIDTH, bool ENERGY>
void computeComplementBlocks(const SOGComplementBlockArgs& args, float* forces, double& energy, double& derivative) {
    // A force without Lennard-Jones (every epsilon 0) skips its arithmetic.
    if (args.lennardJones)
        computeComplementBlocks<FVEC, IVEC, WIDTH, ENERGY, true>(args, forces, energy, derivative);
    else
        computeComplementBlocks<FVEC, IVEC, WIDTH, ENERGY, false>(args, forces, energy, derivative);
}

template <class FVEC, class IVEC, int WIDTH>
void computeComplementBlocks(const SOGComplementBlockArgs& args, float* forces, double& energy, double& derivative) {
    // MD steps ask for forces only: the energy sum is then left out.
    if (args.computeEnergy)
        computeComplementBlocks<FVEC, IVEC, WIDTH, true>(args, forces, energy, derivative);
    else
        computeComplementBlocks<FVEC, IVEC, WIDTH, false>(args, forces, energy, derivative);
}

} // namespace SOGPlugin

#endif /*OPENMM_CPUSOGCOMPLEMENTBLOCKS_H_*/
