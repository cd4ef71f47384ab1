#ifndef OPENMM_REFERENCESOGKERNELFACTORY_H_
#define OPENMM_REFERENCESOGKERNELFACTORY_H_

#include "openmm/KernelFactory.h"

namespace SOGPlugin {

/**
 * Creates the SOGForce kernel for the Reference platform and platforms derived from it.
 */
class ReferenceSOGKernelFactory : public OpenMM::KernelFactory {
public:
    OpenMM::KernelImpl* createKernelImpl(std::string name, const OpenMM::Platform& platform, OpenMM::ContextImpl& context) const;
};

} // namespace SOGPlugin

#endif /*OPENMM_REFERENCESOGKERNELFACTORY_H_*/
