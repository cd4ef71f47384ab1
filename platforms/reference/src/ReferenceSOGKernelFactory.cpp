#include "ReferenceSOGKernelFactory.h"
#include "ReferenceSOGCoulombRealSpaceKernel.h"
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
        if (dynamic_cast<ReferencePlatform*>(&platform) != nullptr) {
            platform.registerKernelFactory(CalcSOGForceKernel::Name(), new ReferenceSOGKernelFactory());
            // The CPU platform gets its own (SIMD) SOGCoulombRealSpaceForce kernel from
            // libOpenMMSOGCPU; registering this one there too would let the plugin load order decide.
            if (platform.getName() != "CPU")
                platform.registerKernelFactory(CalcSOGCoulombRealSpaceForceKernel::Name(), new ReferenceSOGKernelFactory());
        }
    }
}

KernelImpl* ReferenceSOGKernelFactory::createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
    if (name == CalcSOGForceKernel::Name())
        return new ReferenceCalcSOGForceKernel(name, platform);
    if (name == CalcSOGCoulombRealSpaceForceKernel::Name())
        return new ReferenceCalcSOGCoulombRealSpaceForceKernel(name, platform);
    throw OpenMMException("openmm-sog: the Reference kernel factory was asked for unknown kernel '" + name + "'");
}
