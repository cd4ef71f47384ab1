#ifndef OPENMM_SOGKERNELS_H_
#define OPENMM_SOGKERNELS_H_

#include "SOGCoulombRealSpaceForce.h"
#include "SOGForce.h"
#include "openmm/KernelImpl.h"
#include "openmm/Platform.h"
#include "openmm/System.h"
#include <string>

namespace SOGPlugin {

/**
 * This kernel is invoked by SOGForce to calculate the forces acting on the system and the energy
 * of the system.
 */
class CalcSOGForceKernel : public OpenMM::KernelImpl {
public:
    static std::string Name() {
        return "CalcSOGForce";
    }
    CalcSOGForceKernel(std::string name, const OpenMM::Platform& platform) : OpenMM::KernelImpl(name, platform) {
    }
    /**
     * Initialize the kernel. SOGForceImpl::initialize() has already validated the force.
     *
     * @param system  the System this kernel will be applied to
     * @param force   the SOGForce this kernel will be used for
     */
    virtual void initialize(const OpenMM::System& system, const SOGForce& force) = 0;
    /**
     * Execute the kernel to calculate the forces and/or energy.
     *
     * @param context        the context in which to execute this kernel
     * @param includeForces  true if forces (kJ/mol/nm) should be calculated
     * @param includeEnergy  true if the energy (kJ/mol) should be calculated
     * @return the potential energy due to the force, measured in kJ/mol
     */
    virtual double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy) = 0;
    /**
     * Copy changed charges and Gaussian parameters over to a context.
     *
     * @param context  the context to copy parameters to
     * @param force    the SOGForce to copy the parameters from
     */
    virtual void copyParametersToContext(OpenMM::ContextImpl& context, const SOGForce& force) = 0;
    /**
     * Get the parameters of the grid the kernel uses now (it follows the box).
     *
     * @param[out] kCutoff      the k-space cutoff, measured in 1/nm
     * @param[out] spreadWidth  the spreading kernel's support in grid points per dimension
     * @param[out] gridSize     the fine FFT grid along the three box vectors
     */
    virtual void getGridParameters(double& kCutoff, int& spreadWidth, int gridSize[3]) const = 0;
};

/**
 * This kernel is invoked by SOGCoulombRealSpaceForce to calculate the real-space complement's
 * forces and energy.
 */
class CalcSOGCoulombRealSpaceForceKernel : public OpenMM::KernelImpl {
public:
    static std::string Name() {
        return "CalcSOGCoulombRealSpaceForce";
    }
    CalcSOGCoulombRealSpaceForceKernel(std::string name, const OpenMM::Platform& platform) : OpenMM::KernelImpl(name, platform) {
    }
    /**
     * Initialize the kernel. SOGCoulombRealSpaceForceImpl::initialize() has already validated the force.
     *
     * @param system  the System this kernel will be applied to
     * @param force   the SOGCoulombRealSpaceForce this kernel will be used for
     */
    virtual void initialize(const OpenMM::System& system, const SOGCoulombRealSpaceForce& force) = 0;
    /**
     * Execute the kernel to calculate the forces and/or energy.
     *
     * @param context        the context in which to execute this kernel
     * @param includeForces  true if forces (kJ/mol/nm) should be calculated
     * @param includeEnergy  true if the energy (kJ/mol) should be calculated
     * @return the potential energy due to the force, measured in kJ/mol
     */
    virtual double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy) = 0;
    /**
     * Copy changed charges, scaled flags and exception charge products over to a context.
     *
     * @param context  the context to copy parameters to
     * @param force    the SOGCoulombRealSpaceForce to copy the parameters from
     */
    virtual void copyParametersToContext(OpenMM::ContextImpl& context, const SOGCoulombRealSpaceForce& force) = 0;
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGKERNELS_H_*/
