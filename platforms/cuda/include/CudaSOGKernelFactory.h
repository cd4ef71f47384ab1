#ifndef OPENMM_CUDASOGKERNELFACTORY_H_
#define OPENMM_CUDASOGKERNELFACTORY_H_

#include "openmm/KernelFactory.h"

namespace SOGPlugin {

/**
 * Creates the Common SOGForce kernel on the CUDA platform (the same kernel source as OpenCL,
 * compiled by OpenMM's CUDA ComputeContext).
 */
class CudaSOGKernelFactory : public OpenMM::KernelFactory {
public:
    OpenMM::KernelImpl* createKernelImpl(std::string name, const OpenMM::Platform& platform, OpenMM::ContextImpl& context) const;
};

} // namespace SOGPlugin

#endif /*OPENMM_CUDASOGKERNELFACTORY_H_*/
