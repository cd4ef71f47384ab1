#include "CudaTorchSOGKernels.h"
#include "openmm/KernelFactory.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/windowsExport.h"
#include "openmm/cuda/CudaContext.h"
#include "openmm/cuda/CudaPlatform.h"

using namespace SOGPlugin;
using namespace OpenMM;

namespace {

/*
 * Creates the TorchSOGForce kernel on the CUDA platform (a plugin of its own: it links libtorch).
 */
class CudaTorchSOGKernelFactory : public KernelFactory {
public:
    KernelImpl* createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
        CudaPlatform::PlatformData& data = *static_cast<CudaPlatform::PlatformData*>(context.getPlatformData());
        if (data.contexts.size() != 1)
            throw OpenMMException("TorchSOGForce: the CUDA kernel supports one device per Context");
        if (name == CalcTorchSOGForceKernel::Name())
            return new CudaCalcTorchSOGForceKernel(name, platform, *data.contexts[0]);
        throw OpenMMException("TorchSOGForce: the CUDA kernel factory was asked for unknown kernel '" + name + "'");
    }
};

}

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    try {
        Platform& platform = Platform::getPlatformByName("CUDA");
        platform.registerKernelFactory(CalcTorchSOGForceKernel::Name(), new CudaTorchSOGKernelFactory());
    }
    catch (const std::exception& e) {
        // The CUDA platform is not available in this process; nothing to register.
    }
}
