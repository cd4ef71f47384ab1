#include "CommonSOGKernels.h"
#include "internal/SOGForceImpl.h"
#include "openmm/common/ComputeForceInfo.h"
#include "openmm/common/ContextSelector.h"
#include "openmm/internal/ContextImpl.h"
#include <algorithm>
#include <cmath>
#include <cstdlib>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

/*
 * Tells OpenMM which particles it may exchange when it reorders atoms: those with the same
 * charges and the same scaling.
 */
class CommonCalcSOGForceKernel::ForceInfo : public ComputeForceInfo {
public:
    ForceInfo(const SOGForce& force) : force(force), isScaled(SOGForceImpl::findScaledParticles(force)) {
    }
    bool areParticlesIdentical(int particle1, int particle2) {
        vector<double> charges1, charges2;
        force.getParticleCharges(particle1, charges1);
        force.getParticleCharges(particle2, charges2);
        return charges1 == charges2 && isScaled[particle1] == isScaled[particle2];
    }
private:
    const SOGForce& force;
    vector<int> isScaled;
};

/*
 * Whether the k-space part runs on a queue of its own, beside the other forces, as OpenMM runs
 * PME's (the default), or on the context's queue: OPENMM_SOG_KSPACE_QUEUE=own or context, a
 * switch for benchmarks that measure what the overlap gains.
 */
static bool useOwnQueue(const string& forceName) {
    return SOGForceImpl::readDefaultChoice(forceName, "OPENMM_SOG_KSPACE_QUEUE", "own", "context");
}

void CommonCalcSOGForceKernel::initialize(const System& system, const SOGForce& force) {
    ContextSelector selector(cc);
    numParticles = force.getNumParticles();
    numChannels = force.getNumChannels();
    numGaussians = force.getNumGaussians();
    minWidth = SOGForceImpl::findMinimumWidth(force);
    tolerance = force.getTolerance();
    chargeScaleName = force.getChargeScaleParameterName();
    computeDerivative = (force.getNumEnergyParameterDerivatives() > 0);
    Vec3 box[3];
    system.getDefaultPeriodicBoxVectors(box[0], box[1], box[2]);
    engine.reset(new CommonSOGEngine(cc, SOGForceImpl::getKernelParameters(force), numParticles, box, forceName,
            deviceMemory));
    scaledFlags = SOGForceImpl::findScaledParticles(force);
    engine->setChargeScaleFlags(scaledFlags);
    if (computeDerivative)
        engine->enableChargeScaleDerivative(chargeScaleName);
    else if (useOwnQueue(forceName))
        engine->useOwnQueue(force.getForceGroup());
    // SOGForce's results are tested with it on CUDA (single and mixed precision, one channel);
    // TorchSOGForce keeps the fixed point until its CUDA tests have run with it.
    engine->allowFloatSpreading();
    uploadParameters(force);
    info = new ForceInfo(force);
    cc.addForce(info);
}

/*
 * The charges go to the engine; their per-channel sums stay here for the charge checks, the
 * fixed-point bound and the background term.
 */
void CommonCalcSOGForceKernel::uploadParameters(const SOGForce& force) {
    vector<double> chargeValues(numParticles*numChannels);
    vector<double> particleCharges;
    scaledAbsCharge.assign(numChannels, 0.0);
    unscaledAbsCharge.assign(numChannels, 0.0);
    scaledTotal.assign(numChannels, 0.0);
    unscaledTotal.assign(numChannels, 0.0);
    for (int i = 0; i < numParticles; i++) {
        force.getParticleCharges(i, particleCharges);
        for (int c = 0; c < numChannels; c++) {
            const double q = particleCharges[c];
            chargeValues[i*numChannels + c] = q;
            (scaledFlags[i] ? scaledAbsCharge : unscaledAbsCharge)[c] += fabs(q);
            (scaledFlags[i] ? scaledTotal : unscaledTotal)[c] += q;
        }
    }
    if (numParticles > 0)
        engine->getCharges().upload(chargeValues, true);
    backgroundIntegrals = SOGForceImpl::getBackgroundIntegrals(force);
    weightSums = SOGForceImpl::calcWeightSums(force);
}

double CommonCalcSOGForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    ContextSelector selector(cc);
    const double scale = context.getParameter(chargeScaleName);
    SOGForceImpl::checkScaledCharges(forceName, chargeScaleName, scale, scaledAbsCharge, unscaledAbsCharge, weightSums);
    double chargeBound = 0.0;
    for (int c = 0; c < numChannels; c++)
        chargeBound = max(chargeBound, fabs(scale)*scaledAbsCharge[c] + unscaledAbsCharge[c]);
    // The k-space and self energy go to the context's energy buffer.
    engine->compute(chargeBound, includeForces, scale);
    // The net-charge background (no forces).
    Vec3 box[3];
    cc.getPeriodicBoxVectors(box[0], box[1], box[2]);
    const double volume = box[0].dot(box[1].cross(box[2]));
    double backgroundDerivative;
    const double energy = SOGForceImpl::calcBackgroundEnergy(backgroundIntegrals, scaledTotal, unscaledTotal, scale,
            volume, backgroundDerivative);
    if (computeDerivative)
        cc.getEnergyParamDerivWorkspace()[chargeScaleName] += backgroundDerivative;
    return energy;
}

void CommonCalcSOGForceKernel::getGridParameters(double& kCutoff, int& spreadWidth, int size[3]) const {
    engine->getGridParameters(kCutoff, spreadWidth, size);
}

void CommonCalcSOGForceKernel::copyParametersToContext(ContextImpl& context, const SOGForce& force) {
    ContextSelector selector(cc);
    SOGForceImpl::validateParameterUpdate(force, context.getSystem(), numParticles, numGaussians, tolerance, minWidth);
    engine->setGaussians(SOGForceImpl::getKernelParameters(force));
    uploadParameters(force);
    cc.invalidateMolecules(info);
}
