#include "internal/TorchSOGForceImpl.h"
#include "TorchSOGKernels.h"
#include "internal/SOGForceImpl.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

TorchSOGForceImpl::TorchSOGForceImpl(const TorchSOGForce& owner) : owner(owner) {
}

TorchSOGForceImpl::~TorchSOGForceImpl() {
}

void TorchSOGForceImpl::validate(const TorchSOGForce& force, const System& system) {
    if (force.getNumParticles() != system.getNumParticles())
        throw OpenMMException("TorchSOGForce: the force has atomic numbers for " + to_string(force.getNumParticles()) +
                " particles but the System has " + to_string(system.getNumParticles()));
    const vector<int>& numbers = force.getAtomicNumbers();
    for (int i = 0; i < (int) numbers.size(); i++)
        if (numbers[i] < 1 || numbers[i] > 118)
            throw OpenMMException("TorchSOGForce: particle " + to_string(i) + " has atomic number " +
                    to_string(numbers[i]) + ", which is not an element (1-118)");
    SOGForceImpl::validatePeriodicSystem(system, "TorchSOGForce");
    SOGForceImpl::validateKernel(force, "TorchSOGForce");
}

void TorchSOGForceImpl::initialize(ContextImpl& context) {
    validate(owner, context.getSystem());
    kernel = context.getPlatform().createKernel(CalcTorchSOGForceKernel::Name(), context);
    kernel.getAs<CalcTorchSOGForceKernel>().initialize(context.getSystem(), owner);
}

double TorchSOGForceImpl::calcForcesAndEnergy(ContextImpl& context, bool includeForces, bool includeEnergy, int groups) {
    if ((groups & (1 << owner.getForceGroup())) != 0)
        return kernel.getAs<CalcTorchSOGForceKernel>().execute(context, includeForces, includeEnergy);
    return 0.0;
}

vector<string> TorchSOGForceImpl::getKernelNames() {
    return {CalcTorchSOGForceKernel::Name()};
}
