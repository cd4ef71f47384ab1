#include "CommonTorchSOGKernels.h"
#include "openmm/common/ComputeForceInfo.h"
#include "openmm/common/ContextSelector.h"
#include "openmm/internal/ContextImpl.h"
#include <vector>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

/*
 * The model is invariant to permuting atoms of one element, so OpenMM may reorder those.
 */
class CommonCalcTorchSOGForceKernel::ForceInfo : public ComputeForceInfo {
public:
    ForceInfo(const TorchSOGForce& force) : numbers(force.getAtomicNumbers()) {
    }
    bool areParticlesIdentical(int particle1, int particle2) {
        return numbers[particle1] == numbers[particle2];
    }
private:
    vector<int> numbers;
};

void CommonCalcTorchSOGForceKernel::initialize(const System& system, const TorchSOGForce& force) {
    ContextSelector selector(cc);
    model.reset(new SOGTorchModel(force));
    // The engine is the SOGForce kernel with the force's Gaussians; charges are set every step.
    kernelParameters = SOGForce(force.getNumChannels());
    kernelParameters.setTolerance(force.getTolerance());
    for (int l = 0; l < force.getNumGaussians(); l++) {
        double weight, width;
        int channel;
        force.getGaussianParameters(l, weight, width, channel);
        kernelParameters.addGaussian(weight, width, channel);
    }
    vector<double> zero(force.getNumChannels(), 0.0);
    for (int i = 0; i < force.getNumParticles(); i++)
        kernelParameters.addParticle(zero);
    engine.reset(new CommonCalcSOGForceKernel(CalcSOGForceKernel::Name(), getPlatform(), cc, deviceMemory, "TorchSOGForce"));
    engine->initialize(system, kernelParameters);
    engine->enableChargeDerivatives();
    cc.addForce(new ForceInfo(force));
}

double CommonCalcTorchSOGForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    vector<Vec3> positions;
    context.getPositions(positions);  // original order, unwrapped, nm
    Vec3 box[3];
    cc.getPeriodicBoxVectors(box[0], box[1], box[2]);
    vector<double> charges, chargeDerivatives, modelForces;
    double energy = model->evaluate(positions, box, includeForces, charges);
    engine->setCharges(charges);
    engine->checkCharges("", 1.0);
    energy += engine->computeLongRange(1.0, includeForces);  // the rest of E_lr is in the energy buffer
    if (includeForces) {
        engine->getChargeDerivatives(chargeDerivatives);
        model->backward(chargeDerivatives, modelForces);
        engine->addHostForces(modelForces);
    }
    return energy;
}
