#ifndef OPENMM_CPUSOGCOULOMBREALSPACEKERNEL_H_
#define OPENMM_CPUSOGCOULOMBREALSPACEKERNEL_H_

#include "ReferenceSOGCoulombRealSpaceKernel.h"
#include "openmm/KernelFactory.h"
#include "CpuPlatform.h"
#include <vector>

namespace SOGPlugin {

/**
 * SOGCoulombRealSpaceForce on the CPU platform. The cutoff pair sum runs over the CPU platform's
 * shared neighbour list (blocks of 4 or 8 atoms against their neighbours) in single precision,
 * four pairs per SIMD operation, on the platform's threads; the exceptions and the charge
 * scaling are the Reference kernel's (double precision).
 */
class CpuCalcSOGCoulombRealSpaceForceKernel : public ReferenceCalcSOGCoulombRealSpaceForceKernel {
public:
    CpuCalcSOGCoulombRealSpaceForceKernel(std::string name, const OpenMM::Platform& platform, OpenMM::CpuPlatform::PlatformData& data) :
            ReferenceCalcSOGCoulombRealSpaceForceKernel(name, platform), data(data) {
    }
    void initialize(const OpenMM::System& system, const SOGCoulombRealSpaceForce& force);
protected:
    double calcPairSum(OpenMM::ContextImpl& context, const std::vector<double>& scaledCharges,
            const std::vector<double>& derivativeCharges, bool includeForces, double& derivative);
private:
    template <bool DERIVATIVE, bool TRICLINIC>
    void calcBlocks(int threadIndex, const OpenMM::Vec3* box);
    OpenMM::CpuPlatform::PlatformData& data;
    std::vector<float> floatCharges, floatDerivativeCharges;  // f_i q_i and dq_eff/dlambda, proton charges
    std::vector<float> weights, inverseWidths2, polynomial;   // g's terms in single precision (see SOGComplementFunction)
    std::vector<double> threadEnergy, threadDerivative;       // kJ/mol per thread
    std::atomic<int> nextBlock;
};

/**
 * Creates SOGCoulombRealSpaceForce's kernel on the CPU platform.
 */
class CpuSOGKernelFactory : public OpenMM::KernelFactory {
public:
    OpenMM::KernelImpl* createKernelImpl(std::string name, const OpenMM::Platform& platform, OpenMM::ContextImpl& context) const;
};

} // namespace SOGPlugin

#endif /*OPENMM_CPUSOGCOULOMBREALSPACEKERNEL_H_*/
