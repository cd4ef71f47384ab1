#include "OpenCLSOGKernelFactory.h"
#include "CommonSOGCoulombRealSpaceKernel.h"
#include "CommonSOGKernels.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/windowsExport.h"
#include "openmm/opencl/OpenCLContext.h"

using namespace SOGPlugin;
using namespace OpenMM;

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    try {
        Platform& platform = Platform::getPlatformByName("OpenCL");
        OpenCLSOGKernelFactory* factory = new OpenCLSOGKernelFactory();
        platform.registerKernelFactory(CalcSOGForceKernel::Name(), factory);
        platform.registerKernelFactory(CalcSOGCoulombRealSpaceForceKernel::Name(), factory);
    }
    catch (const std::exception& e) {
        // The OpenCL platform is not available in this process; nothing to register.
    }
}

KernelImpl* OpenCLSOGKernelFactory::createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
    OpenCLPlatform::PlatformData& data = *static_cast<OpenCLPlatform::PlatformData*>(context.getPlatformData());
    if (data.contexts.size() != 1)
        throw OpenMMException("SOGForce: the OpenCL kernel supports one device per Context");
    if (name == CalcSOGForceKernel::Name())
        {
            // The grids live in the device's global memory (SOGForceImpl::checkGridSize()).
            double memory = (double) data.contexts[0]->getDevice().getInfo<CL_DEVICE_GLOBAL_MEM_SIZE>();
            return new CommonCalcSOGForceKernel(name, platform, *data.contexts[0], memory);
        }
    if (name == CalcSOGCoulombRealSpaceForceKernel::Name())
        return new CommonCalcSOGCoulombRealSpaceForceKernel(name, platform, *data.contexts[0]);
    throw OpenMMException("SOGForce: the OpenCL kernel factory was asked for unknown kernel '" + name + "'");
}
