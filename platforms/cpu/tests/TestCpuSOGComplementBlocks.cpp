/*
 * The CPU platform's SIMD pair loop of SOGCoulombRealSpaceForce (CpuSOGComplementBlocks.h), called
 * directly on OpenMM's CpuNeighborList, against a brute-force double-precision sum of the same
 * terms: the Coulomb complement q_i q_j [A/r - g(r)] and Lennard-Jones with Lorentz-Berthelot
 * mixing and the switching function, exclusions left out, and dU/dlambda of the Coulomb terms
 * when some charges are scaled by lambda. Every loop this processor runs is checked on blocks of 4
 * and 8, whichever block size the CPU platform itself would pick on this machine: 4-wide, and
 * where the processor has them 8-wide AVX and AVX2+FMA (blocks of 4 paired with two neighbours at
 * a time). g is linear in r^2 (g = c0 + c1 r^2), which the
 * cubic table reproduces exactly, so the only error is single-precision rounding.
 */
#include "CpuSOGCoulombRealSpaceKernel.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/AssertionUtilities.h"
#include "openmm/internal/ThreadPool.h"
#include "openmm/reference/SimTKOpenMMRealType.h"
#include "AlignedArray.h"
#include "CpuNeighborList.h"
#include <atomic>
#include <cmath>
#include <iostream>
#include <random>
#include <set>
#include <vector>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

static const int numParticles = 500;
static const double boxSize = 2.6;            // nm, cubic
static const double cutoff = 0.9;             // nm
static const double c0 = 50.0, c1 = -20.0;    // g = c0 + c1 r^2: kJ/mol/e^2, kJ/mol/e^2/nm^2

struct Particles {
    vector<double> x, charge, sigma, epsilon;  // nm (3 per particle), e, nm, kJ/mol
    vector<double> chargeDerivative;           // dq/dlambda, e: q for scaled particles, else 0
    vector<set<int> > exclusions;
};

static Particles makeParticles() {
    mt19937 random(17);
    uniform_real_distribution<double> unit(0.0, 1.0);
    Particles p;
    p.exclusions.resize(numParticles);
    // A jittered 8x8x8 lattice (spacing 0.325 nm), so that no two particles overlap.
    const double spacing = boxSize/8;
    for (int i = 0; i < numParticles; i++) {
        const int site[3] = {i % 8, (i/8) % 8, i/64};
        for (int c = 0; c < 3; c++)
            p.x.push_back(spacing*(site[c] + 0.5) + 0.08*(unit(random) - 0.5));
        p.charge.push_back(unit(random) - 0.5);
        p.chargeDerivative.push_back(i % 3 == 0 ? p.charge.back() : 0.0);
        p.sigma.push_back(0.2 + 0.1*unit(random));
        // Some particles without Lennard-Jones, as the hydrogens of TIP3P.
        p.epsilon.push_back(i % 5 == 0 ? 0.0 : 0.1 + 0.7*unit(random));
    }
    // Exclusions between lattice neighbours along x.
    for (int i = 0; i < 120; i += 2) {
        p.exclusions[i].insert(i + 1);
        p.exclusions[i + 1].insert(i);
    }
    return p;
}

/**
 * The brute-force sum in double precision: energy (kJ/mol) and forces (kJ/mol/nm).
 */
static double bruteForce(const Particles& p, double switchingDistance, vector<double>& forces, double& derivative) {
    forces.assign(3*numParticles, 0.0);
    double energy = 0.0;
    derivative = 0.0;
    for (int i = 0; i < numParticles; i++)
        for (int j = i + 1; j < numParticles; j++) {
            if (p.exclusions[i].count(j) != 0)
                continue;
            double d[3], r2 = 0.0;
            for (int c = 0; c < 3; c++) {
                d[c] = p.x[3*i + c] - p.x[3*j + c];
                d[c] -= boxSize*round(d[c]/boxSize);
                r2 += d[c]*d[c];
            }
            if (r2 >= cutoff*cutoff)
                continue;
            double r = sqrt(r2), qq = p.charge[i]*p.charge[j];
            energy += qq*(ONE_4PI_EPS0/r - (c0 + c1*r2));
            derivative += (p.chargeDerivative[i]*p.charge[j] + p.charge[i]*p.chargeDerivative[j])*(ONE_4PI_EPS0/r - (c0 + c1*r2));
            double forceOverR = qq*(ONE_4PI_EPS0/(r*r2) + 2.0*c1);
            double sigma = 0.5*(p.sigma[i] + p.sigma[j]), epsilon = sqrt(p.epsilon[i]*p.epsilon[j]);
            double s6 = pow(sigma*sigma/r2, 3);
            double lj = 4.0*epsilon*(s6*s6 - s6), ljForceOverR = 4.0*epsilon*(12.0*s6*s6 - 6.0*s6)/r2;
            if (switchingDistance >= 0.0 && r > switchingDistance) {
                double width = cutoff - switchingDistance, t = (r - switchingDistance)/width;
                double s = 1.0 - 10.0*pow(t, 3) + 15.0*pow(t, 4) - 6.0*pow(t, 5);
                double ds = (-30.0*t*t + 60.0*pow(t, 3) - 30.0*pow(t, 4))/width;
                ljForceOverR = s*ljForceOverR - lj*ds/r;
                lj *= s;
            }
            energy += lj;
            forceOverR += ljForceOverR;
            for (int c = 0; c < 3; c++) {
                forces[3*i + c] += forceOverR*d[c];
                forces[3*j + c] -= forceOverR*d[c];
            }
        }
    return energy;
}

typedef void (*ComplementLoop)(const SOGComplementBlockArgs&, float*, double&, double&);

static void check(const Particles& p, int blockSize, ComplementLoop loop, double switchingDistance, ThreadPool& threads) {
    AlignedArray<float> posq(4*numParticles);
    vector<float> parameters(4*numParticles);
    for (int i = 0; i < numParticles; i++) {
        for (int c = 0; c < 3; c++)
            posq[4*i + c] = (float) p.x[3*i + c];
        posq[4*i + 3] = (float) p.charge[i];
        parameters[4*i] = (float) p.charge[i];
        parameters[4*i + 1] = (float) p.chargeDerivative[i];
        parameters[4*i + 2] = (float) (0.5*p.sigma[i]);
        parameters[4*i + 3] = (float) (2.0*sqrt(p.epsilon[i]));
    }
    Vec3 box[3] = {Vec3(boxSize, 0, 0), Vec3(0, boxSize, 0), Vec3(0, 0, boxSize)};
    CpuNeighborList neighbors(blockSize);
    neighbors.computeNeighborList(numParticles, posq, p.exclusions, box, true, (float) (1.2*cutoff), threads);
    // The exact cubic table of the linear g: value c0 + c1 x_i at node i, slope c1 h, no curvature.
    const int numIntervals = 64;
    const double spacing = cutoff*cutoff/numIntervals;
    vector<float> table(4*numIntervals + 4, 0.0f);
    for (int i = 0; i < numIntervals; i++) {
        table[4*i] = (float) (c0 + c1*i*spacing);
        table[4*i + 1] = (float) (c1*spacing);
    }
    SOGComplementBlockArgs args;
    args.neighbors = &neighbors;
    args.posq = &posq[0];
    args.particleParameters = parameters.data();
    args.table = table.data();
    args.numIntervals = numIntervals;
    args.invTableSpacing = (float) (1.0/spacing);
    args.cutoff2 = (float) (cutoff*cutoff);
    args.prefactor = (float) ONE_4PI_EPS0;
    args.switching = (switchingDistance >= 0.0);
    args.switchingDistance = (float) switchingDistance;
    args.invSwitchingWidth = (float) (args.switching ? 1.0/(cutoff - switchingDistance) : 0.0);
    for (int k = 0; k < 9; k++)
        args.box[k] = (float) box[k/3][k%3];
    args.triclinic = false;
    args.computeEnergy = true;
    args.computeDerivative = true;
    args.lennardJones = true;
    atomic<int> nextBlock(0);
    args.nextBlock = &nextBlock;
    vector<float> forces(4*numParticles, 0.0f);
    double energy = 0.0, derivative = 0.0;
    loop(args, forces.data(), energy, derivative);

    vector<double> expectedForces;
    double expectedDerivative;
    double expected = bruteForce(p, switchingDistance, expectedForces, expectedDerivative);
    double error2 = 0.0, norm2 = 0.0;
    for (int i = 0; i < numParticles; i++)
        for (int c = 0; c < 3; c++) {
            double difference = forces[4*i + c] - expectedForces[3*i + c];
            error2 += difference*difference;
            norm2 += expectedForces[3*i + c]*expectedForces[3*i + c];
        }
    ASSERT_EQUAL_TOL(expected, energy, 1e-5);
    ASSERT_EQUAL_TOL(expectedDerivative, derivative, 1e-5);
    ASSERT(sqrt(error2/norm2) < 1e-5);
    // A forces-only pass gives the same forces and no energy.
    args.computeEnergy = false;
    args.computeDerivative = false;
    nextBlock = 0;
    vector<float> forcesOnly(4*numParticles, 0.0f);
    double noEnergy = 0.0;
    loop(args, forcesOnly.data(), noEnergy, derivative);
    ASSERT_EQUAL(0.0, noEnergy);
    for (int k = 0; k < 4*numParticles; k++)
        ASSERT_EQUAL(forces[k], forcesOnly[k]);
}

int main() {
    try {
        Particles p = makeParticles();
        ThreadPool threads(1);
        for (double switchingDistance : {-1.0, 0.7}) {
            for (int blockSize : {4, 8}) {
                check(p, blockSize, computeComplementBlocksVec4, switchingDistance, threads);
#if defined(__x86_64__) || defined(__i386__)
                if (__builtin_cpu_supports("avx"))
                    check(p, blockSize, computeComplementBlocksVec8, switchingDistance, threads);
                else
                    cout << "no AVX: the 8-wide loop is not checked" << endl;
                if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
                    check(p, blockSize, computeComplementBlocksVec8Fma, switchingDistance, threads);
                else
                    cout << "no AVX2 and FMA: the 8-wide FMA loop is not checked" << endl;
#endif
            }
        }
    }
    catch (const exception& e) {
        cout << "exception: " << e.what() << endl;
        return 1;
    }
    cout << "Done" << endl;
    return 0;
}
