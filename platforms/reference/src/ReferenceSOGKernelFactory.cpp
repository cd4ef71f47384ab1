#include "ReferenceSOGKernelFactory.h"
#include "ReferenceSOGKernels.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/windowsExport.h"
#include "openmm/reference/ReferencePlatform.h"

using namespace SOGPlugin;
using namespace OpenMM;

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    // The CPU platform derives from the Reference platform and shares its platform data, so the
    // Reference kernel serves both.
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (dynamic_cast<ReferencePlatform*>(&platform) != nullptr)
            platform.registerKernelFactory(CalcSOGForceKernel::Name(), new ReferenceSOGKernelFactory());
    }
}

KernelImpl* ReferenceSOGKernelFactory::createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
    if (name == CalcSOGForceKernel::Name())
        return new ReferenceCalcSOGForceKernel(name, platform);
    throw OpenMMException("SOGForce: the Reference kernel factory was asked for unknown kernel '" + name + "'");
}
