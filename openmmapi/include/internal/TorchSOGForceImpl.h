#ifndef OPENMM_TORCHSOGFORCEIMPL_H_
#define OPENMM_TORCHSOGFORCEIMPL_H_

#include "TorchSOGForce.h"
#include "openmm/Kernel.h"
#include "openmm/internal/ForceImpl.h"
#include <map>
#include <string>
#include <vector>

namespace SOGPlugin {

/**
 * This is the internal implementation of TorchSOGForce: it validates the force and hands the
 * work to the platform's CalcTorchSOGForceKernel.
 */
class OPENMM_EXPORT_SOG TorchSOGForceImpl : public OpenMM::ForceImpl {
public:
    TorchSOGForceImpl(const TorchSOGForce& owner);
    ~TorchSOGForceImpl();
    void initialize(OpenMM::ContextImpl& context);
    const TorchSOGForce& getOwner() const {
        return owner;
    }
    void updateContextState(OpenMM::ContextImpl& context, bool& forcesInvalid) {
    }
    double calcForcesAndEnergy(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy, int groups);
    std::map<std::string, double> getDefaultParameters() {
        return {};
    }
    std::vector<std::string> getKernelNames();
    /**
     * Check that a force is usable with a System; throws OpenMMException with a message starting
     * "TorchSOGForce: " otherwise. The model itself is checked when the kernel loads it.
     */
    static void validate(const TorchSOGForce& force, const OpenMM::System& system);
private:
    const TorchSOGForce& owner;
    OpenMM::Kernel kernel;
};

} // namespace SOGPlugin

#endif /*OPENMM_TORCHSOGFORCEIMPL_H_*/
