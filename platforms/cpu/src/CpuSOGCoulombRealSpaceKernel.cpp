#include "CpuSOGCoulombRealSpaceKernel.h"
#include "openmm/internal/ContextImpl.h"
#include "SOGGridLoops.h"
#include <cmath>
#include <algorithm>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

void CpuCalcSOGCoulombRealSpaceForceKernel::initialize(const System& system, const SOGCoulombRealSpaceForce& force) {
    ReferenceCalcSOGCoulombRealSpaceForceKernel::initialize(system, force);
    // The cubic Hermite error is about (h a)^4/384 of a Gaussian exp(-a x) for intervals of width
    // h in x = r^2: h a <= 1/64 keeps it near 1e-10 of the weights, well below float rounding.
    double widest = 1.0;
    for (double a : function->inverseWidths2)
        widest = max(widest, a*settings->cutoff*settings->cutoff);
    numIntervals = (int) min(ceil(64.0*widest), 1.0e6);
    numIntervals = max(numIntervals, 1024);
    tableSpacing = settings->cutoff*settings->cutoff/numIntervals;
    table.resize(4*numIntervals + 4);
    double g0, d0;
    function->evaluateLongRange(0.0, g0, d0);
    for (int i = 0; i < numIntervals; i++) {
        double g1, d1;
        function->evaluateLongRange((i + 1)*tableSpacing, g1, d1);
        // Slopes in the local coordinate u = x/h - i.
        double s0 = d0*tableSpacing, s1 = d1*tableSpacing;
        table[4*i] = (float) g0;
        table[4*i + 1] = (float) s0;
        table[4*i + 2] = (float) (3.0*(g1 - g0) - 2.0*s0 - s1);
        table[4*i + 3] = (float) (2.0*(g0 - g1) + s0 + s1);
        g0 = g1;
        d0 = d1;
    }
    // The platform's one neighbour list serves every nonbonded force; it needs the same
    // exclusions from all (the NonbondedForce's exceptions are ours in use_sog_coulomb).
    data.requestNeighborList(settings->cutoff, 0.25*settings->cutoff, true, exclusions);
    data.isPeriodic = true;
    threadEnergy.resize(data.threads.getNumThreads());
    threadDerivative.resize(data.threads.getNumThreads());
    setLennardJonesArrays();
}

void CpuCalcSOGCoulombRealSpaceForceKernel::copyParametersToContext(ContextImpl& context, const SOGCoulombRealSpaceForce& force) {
    ReferenceCalcSOGCoulombRealSpaceForceKernel::copyParametersToContext(context, force);
    setLennardJonesArrays();
}

void CpuCalcSOGCoulombRealSpaceForceKernel::setLennardJonesArrays() {
    particleParameters.resize(4*settings->numParticles);
    for (int i = 0; i < settings->numParticles; i++) {
        particleParameters[4*i + 2] = (float) (0.5*params->sigmas[i]);
        particleParameters[4*i + 3] = (float) (2.0*sqrt(params->epsilons[i]));
    }
}

typedef void (*ComplementLoop)(const SOGComplementBlockArgs&, float*, double&, double&);

/*
 * The widest pair loop this processor runs, chosen once: AVX2 with FMA by the host engine's rule
 * (useAvx2Loops), else AVX, else 4-wide.
 */
static ComplementLoop selectComplementLoop() {
#ifdef SOG_CPU_HAS_VEC8
    static const ComplementLoop loop = [] {
#ifdef SOG_HAVE_AVX2_LOOPS
        if (useAvx2Loops())
            return computeComplementBlocksVec8Fma;
#endif
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx") ? computeComplementBlocksVec8 : computeComplementBlocksVec4;
    }();
#else
    static const ComplementLoop loop = computeComplementBlocksVec4;
#endif
    return loop;
}

double CpuCalcSOGCoulombRealSpaceForceKernel::calcPairSum(ContextImpl& context, const vector<double>& scaledCharges,
        const vector<double>& derivativeCharges, bool includeForces, bool includeEnergy, double& derivative) {
    for (int i = 0; i < settings->numParticles; i++) {
        particleParameters[4*i] = (float) scaledCharges[i];
        particleParameters[4*i + 1] = (float) derivativeCharges[i];
    }
    Vec3 box[3];
    context.getPeriodicBoxVectors(box[0], box[1], box[2]);
    SOGComplementBlockArgs args;
    args.neighbors = data.neighborList;
    args.posq = &data.posq[0];
    args.particleParameters = particleParameters.data();
    args.lennardJones = params->hasLennardJones;
    args.switching = params->hasLennardJones && settings->useSwitchingFunction;
    args.switchingDistance = (float) settings->switchingDistance;
    args.invSwitchingWidth = (float) (settings->useSwitchingFunction ? 1.0/(settings->cutoff - settings->switchingDistance) : 0.0);
    args.table = table.data();
    args.numIntervals = numIntervals;
    args.invTableSpacing = (float) (1.0/tableSpacing);
    args.cutoff2 = (float) (settings->cutoff*settings->cutoff);
    args.prefactor = (float) function->prefactor;
    for (int d = 0; d < 3; d++)
        for (int c = 0; c < 3; c++)
            args.box[3*d + c] = (float) box[d][c];
    args.triclinic = (box[1][0] != 0.0 || box[2][0] != 0.0 || box[2][1] != 0.0);
    args.computeEnergy = includeEnergy;
    args.computeDerivative = computeDerivative;
    args.nextBlock = &nextBlock;
    nextBlock = 0;
    // The widest loop this processor runs: the platform's blocks of 8 imply AVX, but OpenMM
    // builds without AVX use blocks of 4 on every processor, which the 8-wide loops also take.
    const ComplementLoop loop = selectComplementLoop();
    data.threads.execute([&] (ThreadPool& threads, int threadIndex) {
        loop(args, &data.threadForce[threadIndex][0], threadEnergy[threadIndex], threadDerivative[threadIndex]);
    });
    data.threads.waitForThreads();
    double energy = 0.0;
    for (size_t t = 0; t < threadEnergy.size(); t++) {
        energy += threadEnergy[t];
        derivative += threadDerivative[t];
    }
    return energy;
}

double CpuCalcSOGCoulombRealSpaceForceKernel::calcExceptions(ContextImpl& context, const vector<double>& factors,
        bool includeForces, double& derivative) {
    // DHFR's 35k exceptions take ~1.3 ms in one thread (an exponential, a square root and a
    // minimum image each). The forces are added in exception order, as the Reference kernel does.
    const int numExceptions = settings->exceptionPairs.size(), numThreads = data.threads.getNumThreads();
    ReferencePlatform::PlatformData& referenceData = getPlatformData(context);
    const vector<Vec3>& positions = *referenceData.positions;
    exceptionForces.resize(numExceptions);
    data.threads.execute([&] (ThreadPool& threads, int threadIndex) {
        const int first = (int) ((long long) numExceptions*threadIndex/numThreads);
        const int last = (int) ((long long) numExceptions*(threadIndex + 1)/numThreads);
        double energy = 0.0, threadDerivativeSum = 0.0;
        for (int e = first; e < last; e++)
            energy += exceptionTerms(e, positions, referenceData.periodicBoxVectors, factors, threadDerivativeSum, exceptionForces[e]);
        threadEnergy[threadIndex] = energy;
        threadDerivative[threadIndex] = threadDerivativeSum;
    });
    data.threads.waitForThreads();
    double energy = 0.0;
    for (int t = 0; t < numThreads; t++) {
        energy += threadEnergy[t];
        derivative += threadDerivative[t];
    }
    if (includeForces) {
        vector<Vec3>& forces = *referenceData.forces;
        for (int e = 0; e < numExceptions; e++) {
            forces[settings->exceptionPairs[e].first] += exceptionForces[e];
            forces[settings->exceptionPairs[e].second] -= exceptionForces[e];
        }
    }
    return energy;
}
