#include "CpuSOGCoulombRealSpaceKernel.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/windowsExport.h"

using namespace SOGPlugin;
using namespace OpenMM;

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (platform.getName() == "CPU")
            platform.registerKernelFactory(CalcSOGCoulombRealSpaceForceKernel::Name(), new CpuSOGKernelFactory());
    }
}

KernelImpl* CpuSOGKernelFactory::createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
    if (name == CalcSOGCoulombRealSpaceForceKernel::Name())
        return new CpuCalcSOGCoulombRealSpaceForceKernel(name, platform, CpuPlatform::getPlatformData(context));
    throw OpenMMException("openmm-sog: the CPU kernel factory was asked for unknown kernel '" + name + "'");
}
