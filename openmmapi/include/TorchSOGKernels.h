#ifndef OPENMM_TORCHSOGKERNELS_H_
#define OPENMM_TORCHSOGKERNELS_H_

#include "TorchSOGForce.h"
#include "openmm/KernelImpl.h"
#include "openmm/Platform.h"
#include "openmm/System.h"
#include <string>

namespace SOGPlugin {

/**
 * This kernel is invoked by TorchSOGForce to calculate the forces acting on the system and the
 * energy of the system. Its implementations link libtorch, so they live in their own plugin
 * libraries: the API library does not depend on torch.
 */
class CalcTorchSOGForceKernel : public OpenMM::KernelImpl {
public:
    static std::string Name() {
        return "CalcTorchSOGForce";
    }
    CalcTorchSOGForceKernel(std::string name, const OpenMM::Platform& platform) : OpenMM::KernelImpl(name, platform) {
    }
    /**
     * Initialize the kernel and load the model. TorchSOGForceImpl::initialize() has already
     * validated the force.
     *
     * @param system  the System this kernel will be applied to
     * @param force   the TorchSOGForce this kernel will be used for
     */
    virtual void initialize(const OpenMM::System& system, const TorchSOGForce& force) = 0;
    /**
     * Execute the kernel to calculate the forces and/or energy.
     *
     * @param context        the context in which to execute this kernel
     * @param includeForces  true if forces (kJ/mol/nm) should be calculated
     * @param includeEnergy  true if the energy (kJ/mol) should be calculated
     * @return the potential energy due to the force, measured in kJ/mol
     */
    virtual double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy) = 0;
};

} // namespace SOGPlugin

#endif /*OPENMM_TORCHSOGKERNELS_H_*/
