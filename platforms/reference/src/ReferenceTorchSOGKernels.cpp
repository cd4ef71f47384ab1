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

// The parts of an evaluation an OPENMM_SOG_PROFILE record times (SOGEvaluationProfile).
enum ProfilePart {MODEL_FORWARD, LONG_RANGE_KSPACE, LONG_RANGE_REAL_SPACE, MODEL_BACKWARD, FORCES};

static ReferencePlatform::PlatformData& getPlatformData(ContextImpl& context) {
    return *reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
}

void ReferenceCalcTorchSOGForceKernel::initialize(const System& system, const TorchSOGForce& force) {
    model.reset(new SOGTorchModel(force, system.getNumParticles()));
    weightSums = SOGForceImpl::calcWeightSums(force);
    const SOGKernelParameters parameters = SOGForceImpl::getKernelParameters(force);
    if (force.usesPeriodicBoundaryConditions()) {
        Vec3 box[3];
        system.getDefaultPeriodicBoxVectors(box[0], box[1], box[2]);
        ixn = SOGHostEngine::createForForce(force, "TorchSOGForce", getPlatform().getName(), box);
        ixn->setGaussians(parameters.weights, parameters.widths, parameters.channels);
        // The narrow Gaussians' pair sum here, over the model's neighbour pairs, rather than in
        // its autograd graph, where it cost about as much as the k-space engine (CPU, 24k
        // atoms); OPENMM_SOG_TORCH_REAL_SPACE=model keeps it in the model (A/B runs).
        if (SOGForceImpl::readDefaultChoice("TorchSOGForce", "OPENMM_SOG_TORCH_REAL_SPACE", "native", "model") &&
                model->leaveRealSpaceToCaller())
            realSpace.reset(new SOGRealSpaceSum(model->getRealSpaceGaussians(), model->getCutoff()));
    }
    else
        freeSpace.reset(new SOGFreeSpaceSum(parameters));
    scales = TorchSOGScaleParameters(force);
    profile.reset(SOGEvaluationProfile::createIfRequested("TorchSOGForce", getPlatform().getName(),
            {"model forward", "long range k-space", "long range real space", "model backward", "forces"}));
}

double ReferenceCalcTorchSOGForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    ReferencePlatform::PlatformData& data = getPlatformData(context);
    double lambda, scale;
    scales.read(context, lambda, scale);
    if (profile)
        profile->start();
    vector<double> charges, chargeDerivatives, modelForces;
    const double localEnergy = model->evaluate(*data.positions, data.periodicBoxVectors, lambda, includeForces, charges);
    TorchSOGForceImpl::checkModelCharges(charges, weightSums);
    if (profile)
        profile->mark(MODEL_FORWARD); // the neighbour pairs' selection included
    // The long range of the modelled particles at fixed charges, in region order.
    const vector<Vec3>& positions = model->getRegionPositions();
    vector<Vec3> longRangeForces(positions.size());
    double longRangeEnergy;
    if (ixn) {
        ixn->setThreadPool(&data.threads);
        longRangeEnergy = ixn->calculate(positions, data.periodicBoxVectors, charges, includeForces ? &longRangeForces : nullptr,
                includeForces ? &chargeDerivatives : nullptr);
        if (profile)
            profile->mark(LONG_RANGE_KSPACE);
        if (realSpace)
            longRangeEnergy += realSpace->calculate(model->getPairs(), data.periodicBoxVectors, charges,
                    includeForces ? &longRangeForces : nullptr, includeForces ? &chargeDerivatives : nullptr);
    }
    else
        longRangeEnergy = freeSpace->calculate(positions, charges, includeForces ? &longRangeForces : nullptr,
                includeForces ? &chargeDerivatives : nullptr);
    if (profile)
        profile->mark(LONG_RANGE_REAL_SPACE); // free space: the whole sum
    const double energy = localEnergy + longRangeEnergy;
    if (includeForces) {
        for (double& derivative : chargeDerivatives)
            derivative *= scale;
        const double dEdLambda = model->backward(chargeDerivatives, scale, modelForces);
        if (profile)
            profile->mark(MODEL_BACKWARD);
        vector<Vec3>& forces = *data.forces;
        const vector<int>& region = model->getRegion();
        for (int k = 0; k < (int) region.size(); k++)
            forces[region[k]] += longRangeForces[k]*scale + Vec3(modelForces[3*k], modelForces[3*k+1], modelForces[3*k+2]);
        scales.addDerivatives(*data.energyParameterDerivatives, dEdLambda, energy);
    }
    if (profile) {
        profile->mark(FORCES);
        profile->finish();
    }
    return scale*energy;
}
