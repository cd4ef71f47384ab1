#include "ReferenceSOGKernels.h"
#include "internal/SOGForceImpl.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/reference/ReferencePlatform.h"
#include <cmath>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

static ReferencePlatform::PlatformData& getPlatformData(ContextImpl& context) {
    return *reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
}

void ReferenceCalcSOGForceKernel::initialize(const System& system, const SOGForce& force) {
    numParticles = force.getNumParticles();
    numChannels = force.getNumChannels();
    numGaussians = force.getNumGaussians();
    minWidth = SOGForceImpl::findMinimumWidth(force);
    tolerance = force.getTolerance();
    Vec3 box[3];
    system.getDefaultPeriodicBoxVectors(box[0], box[1], box[2]);
    ixn = SOGHostEngine::createForForce(force, "SOGForce", getPlatform().getName(), box);
    chargeScaleName = force.getChargeScaleParameterName();
    computeChargeScaleDerivative = (force.getNumEnergyParameterDerivatives() > 0);
    isScaled = SOGForceImpl::findScaledParticles(force);
    setParameters(force);
}

void ReferenceCalcSOGForceKernel::setParameters(const SOGForce& force) {
    charges.resize(numParticles*numChannels);
    scaledTotal.assign(numChannels, 0.0);
    unscaledTotal.assign(numChannels, 0.0);
    scaledAbs.assign(numChannels, 0.0);
    unscaledAbs.assign(numChannels, 0.0);
    vector<double> particleCharges;
    for (int i = 0; i < numParticles; i++) {
        force.getParticleCharges(i, particleCharges);
        for (int c = 0; c < numChannels; c++) {
            charges[i*numChannels + c] = particleCharges[c];
            (isScaled[i] ? scaledTotal : unscaledTotal)[c] += particleCharges[c];
            (isScaled[i] ? scaledAbs : unscaledAbs)[c] += fabs(particleCharges[c]);
        }
    }
    weightSums = SOGForceImpl::calcWeightSums(force);
    backgroundIntegrals = SOGForceImpl::getBackgroundIntegrals(force);
    vector<double> weights(numGaussians), widths(numGaussians);
    vector<int> channels(numGaussians);
    for (int l = 0; l < numGaussians; l++)
        force.getGaussianParameters(l, weights[l], widths[l], channels[l]);
    ixn->setGaussians(weights, widths, channels);
}

double ReferenceCalcSOGForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    ReferencePlatform::PlatformData& data = getPlatformData(context);
    double scale = context.getParameter(chargeScaleName);
    SOGForceImpl::checkScaledCharges("SOGForce", chargeScaleName, scale, scaledAbs, unscaledAbs, weightSums);
    vector<double> scaledCharges(charges);
    for (int i = 0; i < numParticles; i++)
        if (isScaled[i])
            for (int c = 0; c < numChannels; c++)
                scaledCharges[i*numChannels + c] *= scale;
    vector<double> chargeDerivatives;
    ixn->setThreadPool(&data.threads);
    double energy = ixn->calculate(*data.positions, data.periodicBoxVectors, scaledCharges,
            includeForces ? data.forces : nullptr, computeChargeScaleDerivative ? &chargeDerivatives : nullptr);
    const Vec3* box = data.periodicBoxVectors;
    double backgroundDerivative;
    energy += SOGForceImpl::calcBackgroundEnergy(backgroundIntegrals, scaledTotal, unscaledTotal, scale,
            box[0].dot(box[1].cross(box[2])), backgroundDerivative);
    if (computeChargeScaleDerivative) {
        // dE/dlambda = sum over scaled particles and channels of dE/dq_eff * q.
        double derivative = 0.0;
        for (int i = 0; i < numParticles; i++)
            if (isScaled[i])
                for (int c = 0; c < numChannels; c++)
                    derivative += chargeDerivatives[i*numChannels + c]*charges[i*numChannels + c];
        (*data.energyParameterDerivatives)[chargeScaleName] += derivative + backgroundDerivative;
    }
    return energy;
}

void ReferenceCalcSOGForceKernel::getGridParameters(double& kCutoff, int& spreadWidth, int gridSize[3]) const {
    const SOGGridParameters& grid = ixn->getGrid();
    kCutoff = grid.kCutoff;
    spreadWidth = grid.spreadWidth;
    for (int d = 0; d < 3; d++)
        gridSize[d] = grid.gridSize[d];
}

void ReferenceCalcSOGForceKernel::copyParametersToContext(ContextImpl& context, const SOGForce& force) {
    SOGForceImpl::validateParameterUpdate(force, context.getSystem(), numParticles, numGaussians, tolerance, minWidth);
    setParameters(force);
}
