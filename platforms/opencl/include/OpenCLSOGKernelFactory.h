#ifndef OPENMM_OPENCLSOGKERNELFACTORY_H_
#define OPENMM_OPENCLSOGKERNELFACTORY_H_

#include "openmm/KernelFactory.h"

namespace SOGPlugin {

/**
 * Creates the Common SOGForce kernel on the OpenCL platform.
 */
class OpenCLSOGKernelFactory : public OpenMM::KernelFactory {
public:
    OpenMM::KernelImpl* createKernelImpl(std::string name, const OpenMM::Platform& platform, OpenMM::ContextImpl& context) const;
};

} // namespace SOGPlugin

#endif /*OPENMM_OPENCLSOGKERNELFACTORY_H_*/
