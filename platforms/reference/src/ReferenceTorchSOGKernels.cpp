#include "ReferenceTorchSOGKernels.h"
#include "internal/SOGForceImpl.h"
#include "internal/TorchSOGForceImpl.h"
#include <map>
#include <string>
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/windowsExport.h"
#include "openmm/reference/ReferencePlatform.h"
#include <cmath>
#include <vector>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    // The CPU platform derives from the Reference platform and shares its platform data.
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (dynamic_cast<ReferencePlatform*>(&platform) != nullptr)
            platform.registerKernelFactory(CalcTorchSOGForceKernel::Name(), new ReferenceTorchSOGKernelFactory());
    }
}

KernelImpl* ReferenceTorchSOGKernelFactory::createKernelImpl(string name, const Platform& platform, ContextImpl& context) const {
    if (name == CalcTorchSOGForceKernel::Name())
        return new ReferenceCalcTorchSOGForceKernel(name, platform);
    throw OpenMMException("TorchSOGForce: the Reference kernel factory was asked for unknown kernel '" + name + "'");
}

static ReferencePlatform::PlatformData& getPlatformData(ContextImpl& context) {
    return *reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
}

void ReferenceCalcTorchSOGForceKernel::initialize(const System& system, const TorchSOGForce& force) {
    model.reset(new SOGTorchModel(force, system.getNumParticles()));
    weightSums = SOGForceImpl::calcWeightSums(force);
    vector<double> weights(force.getNumGaussians()), widths(force.getNumGaussians());
    vector<int> channels(force.getNumGaussians());
    for (int l = 0; l < force.getNumGaussians(); l++)
        force.getGaussianParameters(l, weights[l], widths[l], channels[l]);
    if (force.usesPeriodicBoundaryConditions()) {
        Vec3 box[3];
        system.getDefaultPeriodicBoxVectors(box[0], box[1], box[2]);
        ixn.reset(new ReferenceSOGIxn(SOGForceImpl::createGridRequest(force, "TorchSOGForce", ReferenceSOGIxn::bytesPerGridPoint), box));
        ixn->setGaussians(weights, widths, channels);
    }
    else
        freeSpace.reset(new SOGFreeSpaceSum(weights, widths, channels, force.getNumChannels()));
    chargeScaleName = force.getChargeScaleParameterName();
    energyScaleName = force.getEnergyScaleParameterName();
    chargeScaleDerivative = energyScaleDerivative = false;
    for (int k = 0; k < force.getNumEnergyParameterDerivatives(); k++) {
        chargeScaleDerivative |= (force.getEnergyParameterDerivativeName(k) == chargeScaleName);
        energyScaleDerivative |= (force.getEnergyParameterDerivativeName(k) == energyScaleName);
    }
}

double ReferenceCalcTorchSOGForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    ReferencePlatform::PlatformData& data = getPlatformData(context);
    const double lambda = (chargeScaleName.empty() ? 1.0 : context.getParameter(chargeScaleName));
    const double scale = (energyScaleName.empty() ? 1.0 : context.getParameter(energyScaleName));
    TorchSOGForceImpl::checkScaleValue("charge scale", chargeScaleName, lambda);
    TorchSOGForceImpl::checkScaleValue("energy scale", energyScaleName, scale);
    vector<double> charges, chargeDerivatives, modelForces;
    const double localEnergy = model->evaluate(*data.positions, data.periodicBoxVectors, lambda, includeForces, charges);
    const int numChannels = weightSums.size();
    vector<double> absCharge(numChannels, 0.0);
    for (int k = 0; k < (int) charges.size(); k++)
        absCharge[k % numChannels] += fabs(charges[k]);
    SOGForceImpl::checkChargeMagnitude("TorchSOGForce", absCharge, weightSums);
    // The long range of the modelled particles at fixed charges, in region order.
    const vector<Vec3>& positions = model->getRegionPositions();
    vector<Vec3> longRangeForces(positions.size());
    double longRangeEnergy;
    if (ixn) {
        ixn->setThreadPool(&data.threads);
        longRangeEnergy = ixn->calculate(positions, data.periodicBoxVectors, charges, includeForces ? &longRangeForces : nullptr,
                includeForces ? &chargeDerivatives : nullptr);
    }
    else
        longRangeEnergy = freeSpace->calculate(positions, charges, includeForces ? &longRangeForces : nullptr,
                includeForces ? &chargeDerivatives : nullptr);
    const double energy = localEnergy + longRangeEnergy;
    if (includeForces) {
        for (double& derivative : chargeDerivatives)
            derivative *= scale;
        const double dEdLambda = model->backward(chargeDerivatives, scale, modelForces);
        vector<Vec3>& forces = *data.forces;
        const vector<int>& region = model->getRegion();
        for (int k = 0; k < (int) region.size(); k++)
            forces[region[k]] += longRangeForces[k]*scale + Vec3(modelForces[3*k], modelForces[3*k+1], modelForces[3*k+2]);
        map<string, double>& derivatives = *data.energyParameterDerivatives;
        if (chargeScaleDerivative)
            derivatives[chargeScaleName] += dEdLambda;
        if (energyScaleDerivative)
            derivatives[energyScaleName] += energy;
    }
    return scale*energy;
}
