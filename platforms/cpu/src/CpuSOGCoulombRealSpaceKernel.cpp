#include "CpuSOGCoulombRealSpaceKernel.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/vectorize.h"
#include <algorithm>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

void CpuCalcSOGCoulombRealSpaceForceKernel::initialize(const System& system, const SOGCoulombRealSpaceForce& force) {
    ReferenceCalcSOGCoulombRealSpaceForceKernel::initialize(system, force);
    for (size_t l = 0; l < function->weights.size(); l++) {
        weights.push_back((float) function->weights[l]);
        inverseWidths2.push_back((float) function->inverseWidths2[l]);
    }
    for (double c : function->polynomial)
        polynomial.push_back((float) c);
    // The platform's one neighbour list serves every nonbonded force; it needs the same
    // exclusions from all (the NonbondedForce's exceptions are ours in use_sog_coulomb).
    data.requestNeighborList(cutoff, 0.25*cutoff, true, exclusions);
    data.isPeriodic = true;
    threadEnergy.resize(data.threads.getNumThreads());
    threadDerivative.resize(data.threads.getNumThreads());
}

double CpuCalcSOGCoulombRealSpaceForceKernel::calcPairSum(ContextImpl& context, const vector<double>& scaledCharges,
        const vector<double>& derivativeCharges, bool includeForces, double& derivative) {
    floatCharges.assign(scaledCharges.begin(), scaledCharges.end());
    floatDerivativeCharges.assign(derivativeCharges.begin(), derivativeCharges.end());
    Vec3 box[3];
    context.getPeriodicBoxVectors(box[0], box[1], box[2]);
    bool triclinic = (box[1][0] != 0.0 || box[2][0] != 0.0 || box[2][1] != 0.0);
    nextBlock = 0;
    data.threads.execute([&] (ThreadPool& threads, int threadIndex) {
        if (computeDerivative)
            triclinic ? calcBlocks<true, true>(threadIndex, box) : calcBlocks<true, false>(threadIndex, box);
        else
            triclinic ? calcBlocks<false, true>(threadIndex, box) : calcBlocks<false, false>(threadIndex, box);
    });
    data.threads.waitForThreads();
    double energy = 0.0;
    for (size_t t = 0; t < threadEnergy.size(); t++) {
        energy += threadEnergy[t];
        derivative += threadDerivative[t];
    }
    return energy;
}

template <bool DERIVATIVE, bool TRICLINIC>
void CpuCalcSOGCoulombRealSpaceForceKernel::calcBlocks(int threadIndex, const Vec3* box) {
    const CpuNeighborList& neighbors = *data.neighborList;
    const float* posq = &data.posq[0];
    float* forces = &data.threadForce[threadIndex][0];
    const int blockSize = neighbors.getBlockSize();
    const int numGroups = blockSize/4;  // groups of four block atoms, one per SIMD lane
    const vector<int32_t>& sortedAtoms = neighbors.getSortedAtoms();
    const fvec4 cutoff2((float) (cutoff*cutoff)), prefactor((float) function->prefactor);
    const fvec4 boxSize[3] = {fvec4((float) box[0][0]), fvec4((float) box[1][1]), fvec4((float) box[2][2])};
    const fvec4 invBoxSize[3] = {fvec4((float) (1/box[0][0])), fvec4((float) (1/box[1][1])), fvec4((float) (1/box[2][2]))};
    const fvec4 bx((float) box[1][0]), cx((float) box[2][0]), cy((float) box[2][1]);
    const int numGaussians = weights.size(), numPolynomial = polynomial.size();
    double energy = 0.0, derivative = 0.0;
    while (true) {
        int block = nextBlock++;
        if (block >= neighbors.getNumBlocks())
            break;
        const int32_t* blockAtoms = &sortedAtoms[block*blockSize];
        // Block atoms in SIMD lanes (at most two groups of four).
        fvec4 x[2], y[2], z[2], q[2], dq[2], fx[2], fy[2], fz[2];
        fvec4 blockEnergy(0.0f), blockDerivative(0.0f);
        for (int g = 0; g < numGroups; g++) {
            float lane[6][4];
            for (int k = 0; k < 4; k++) {
                int atom = blockAtoms[4*g + k];
                for (int c = 0; c < 3; c++)
                    lane[c][k] = posq[4*atom + c];
                lane[3][k] = floatCharges[atom];
                lane[4][k] = DERIVATIVE ? floatDerivativeCharges[atom] : 0.0f;
            }
            x[g] = fvec4(lane[0]);
            y[g] = fvec4(lane[1]);
            z[g] = fvec4(lane[2]);
            q[g] = fvec4(lane[3]);
            dq[g] = fvec4(lane[4]);
            fx[g] = fy[g] = fz[g] = fvec4(0.0f);
        }
        for (auto iter = neighbors.getNeighborIterator(block); iter.next(); ) {
            const int j = iter.getNeighbor();
            const int excluded = iter.getExclusions();
            const fvec4 xj(posq[4*j]), yj(posq[4*j + 1]), zj(posq[4*j + 2]);
            const float qj = floatCharges[j], dqj = DERIVATIVE ? floatDerivativeCharges[j] : 0.0f;
            fvec4 fjx(0.0f), fjy(0.0f), fjz(0.0f);
            for (int g = 0; g < numGroups; g++) {
                fvec4 dx = x[g] - xj, dy = y[g] - yj, dz = z[g] - zj;
                if (TRICLINIC) {
                    fvec4 s = round(dz*invBoxSize[2]);
                    dx -= s*cx;
                    dy -= s*cy;
                    dz -= s*boxSize[2];
                    s = round(dy*invBoxSize[1]);
                    dx -= s*bx;
                    dy -= s*boxSize[1];
                    dx -= round(dx*invBoxSize[0])*boxSize[0];
                }
                else {
                    dx -= round(dx*invBoxSize[0])*boxSize[0];
                    dy -= round(dy*invBoxSize[1])*boxSize[1];
                    dz -= round(dz*invBoxSize[2])*boxSize[2];
                }
                const fvec4 r2 = dx*dx + dy*dy + dz*dz;
                const fvec4 include = (r2 < cutoff2) & fvec4::expandBitsToMask((~excluded >> (4*g)) & 0xF);
                if (reduceAdd(include & fvec4(1.0f)) == 0.0f)
                    continue;  // no lane within the cutoff: skip the exponentials
                // g(r) and dg/d(r^2): the exponentials, then the polynomial in r^2 by Horner.
                fvec4 longRange(0.0f), dLongRange(0.0f);
                for (int l = 0; l < numGaussians; l++) {
                    fvec4 term = weights[l]*exp(-inverseWidths2[l]*r2);
                    longRange += term;
                    dLongRange -= inverseWidths2[l]*term;
                }
                fvec4 p(0.0f), dp(0.0f);
                for (int k = numPolynomial - 1; k >= 0; k--) {
                    dp = dp*r2 + p;
                    p = p*r2 + polynomial[k];
                }
                longRange += p;
                dLongRange += dp;
                const fvec4 invR = rsqrt(r2);
                const fvec4 phi = prefactor*invR - longRange;
                const fvec4 qq = q[g]*qj;
                blockEnergy += blendZero(qq*phi, include);
                if (DERIVATIVE)
                    blockDerivative += blendZero((dq[g]*qj + q[g]*dqj)*phi, include);
                // -dphi/dr / r = A/r^3 + 2 dg/d(r^2)
                const fvec4 scale = blendZero(qq*(prefactor*invR*invR*invR + 2.0f*dLongRange), include);
                const fvec4 fdx = scale*dx, fdy = scale*dy, fdz = scale*dz;
                fx[g] += fdx;
                fy[g] += fdy;
                fz[g] += fdz;
                fjx -= fdx;
                fjy -= fdy;
                fjz -= fdz;
            }
            (fvec4(forces + 4*j) + reduceToVec3(fjx, fjy, fjz)).store(forces + 4*j);
        }
        for (int g = 0; g < numGroups; g++) {
            float lane[3][4];
            fx[g].store(lane[0]);
            fy[g].store(lane[1]);
            fz[g].store(lane[2]);
            for (int k = 0; k < 4; k++) {
                // Padding atoms of the last block are excluded from everything: their lanes hold 0.
                int atom = blockAtoms[4*g + k];
                for (int c = 0; c < 3; c++)
                    forces[4*atom + c] += lane[c][k];
            }
        }
        energy += reduceAdd(blockEnergy);
        if (DERIVATIVE)
            derivative += reduceAdd(blockDerivative);
    }
    threadEnergy[threadIndex] = energy;
    threadDerivative[threadIndex] = derivative;
}
