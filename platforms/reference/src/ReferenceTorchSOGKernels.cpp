#include "ReferenceTorchSOGKernels.h"
#include "internal/SOGForceImpl.h"
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
    model.reset(new SOGTorchModel(force));
    Vec3 box[3];
    system.getDefaultPeriodicBoxVectors(box[0], box[1], box[2]);
    ixn.reset(new ReferenceSOGIxn(SOGForceImpl::createGridRequest(force, "TorchSOGForce", ReferenceSOGIxn::bytesPerGridPoint), box));
    weightSums = SOGForceImpl::calcWeightSums(force);
    vector<double> weights(force.getNumGaussians()), widths(force.getNumGaussians());
    vector<int> channels(force.getNumGaussians());
    for (int l = 0; l < force.getNumGaussians(); l++)
        force.getGaussianParameters(l, weights[l], widths[l], channels[l]);
    ixn->setGaussians(weights, widths, channels);
}

double ReferenceCalcTorchSOGForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    ReferencePlatform::PlatformData& data = getPlatformData(context);
    const vector<Vec3>& positions = *data.positions;
    vector<double> charges, chargeDerivatives, modelForces;
    double energy = model->evaluate(positions, data.periodicBoxVectors, includeForces, charges);
    const int numChannels = weightSums.size();
    vector<double> absCharge(numChannels, 0.0);
    for (int k = 0; k < (int) charges.size(); k++)
        absCharge[k % numChannels] += fabs(charges[k]);
    SOGForceImpl::checkChargeMagnitude("TorchSOGForce", absCharge, weightSums);
    ixn->setThreadPool(&data.threads);
    energy += ixn->calculate(positions, data.periodicBoxVectors, charges, includeForces ? data.forces : nullptr,
            includeForces ? &chargeDerivatives : nullptr);
    if (includeForces) {
        model->backward(chargeDerivatives, modelForces);
        vector<Vec3>& forces = *data.forces;
        for (int i = 0; i < (int) forces.size(); i++)
            forces[i] += Vec3(modelForces[3*i], modelForces[3*i+1], modelForces[3*i+2]);
    }
    return energy;
}
