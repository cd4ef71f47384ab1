#include "CudaSOGKernelFactory.h"
#include "CommonSOGCoulombRealSpaceKernel.h"
#include "CommonSOGKernels.h"
#include "openmm/OpenMMException.h"
#include "openmm/cuda/CudaContext.h"
#include "openmm/cuda/CudaPlatform.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/windowsExport.h"

using namespace SOGPlugin;
using namespace OpenMM;

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    try {
        Platform& platform = Platform::getPlatformByName("CUDA");
        CudaSOGKernelFactory* factory = new CudaSOGKernelFactory();
        platform.registerKernelFactory(CalcSOGForceKernel::Name(), factory);
        platform.registerKernelFactory(CalcSOGCoulombRealSpaceForceKernel::Name(), factory);
    }
    catch (const std::exception& e) {
        // The CUDA platform is not available in this process; nothing to register.
    }
}

KernelImpl* CudaSOGKernelFactory::createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
    CudaPlatform::PlatformData& data = *static_cast<CudaPlatform::PlatformData*>(context.getPlatformData());
    if (data.contexts.size() != 1)
        throw OpenMMException("SOGForce: the CUDA kernel supports one device per Context");
    if (name == CalcSOGForceKernel::Name())
        return new CommonCalcSOGForceKernel(name, platform, *data.contexts[0]);
    if (name == CalcSOGCoulombRealSpaceForceKernel::Name())
        return new CommonCalcSOGCoulombRealSpaceForceKernel(name, platform, *data.contexts[0]);
    throw OpenMMException("SOGForce: the CUDA kernel factory was asked for unknown kernel '" + name + "'");
}
