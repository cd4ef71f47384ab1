#include "CommonTorchSOGKernels.h"
#include "openmm/KernelFactory.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/windowsExport.h"
#include "openmm/opencl/OpenCLContext.h"

using namespace SOGPlugin;
using namespace OpenMM;

namespace {

/*
 * Creates the TorchSOGForce kernel on the OpenCL platform (a plugin of its own: it links libtorch).
 */
class OpenCLTorchSOGKernelFactory : public KernelFactory {
public:
    KernelImpl* createKernelImpl(std::string name, const Platform& platform, ContextImpl& context) const {
        OpenCLPlatform::PlatformData& data = *static_cast<OpenCLPlatform::PlatformData*>(context.getPlatformData());
        if (data.contexts.size() != 1)
            throw OpenMMException("TorchSOGForce: the OpenCL kernel supports one device per Context");
        if (name == CalcTorchSOGForceKernel::Name())
            {
            // The grids live in the device's global memory (SOGForceImpl::checkGridSize()).
            double memory = (double) data.contexts[0]->getDevice().getInfo<CL_DEVICE_GLOBAL_MEM_SIZE>();
            return new CommonCalcTorchSOGForceKernel(name, platform, *data.contexts[0], memory);
        }
        throw OpenMMException("TorchSOGForce: the OpenCL kernel factory was asked for unknown kernel '" + name + "'");
    }
};

}

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    try {
        Platform& platform = Platform::getPlatformByName("OpenCL");
        platform.registerKernelFactory(CalcTorchSOGForceKernel::Name(), new OpenCLTorchSOGKernelFactory());
    }
    catch (const std::exception& e) {
        // The OpenCL platform is not available in this process; nothing to register.
    }
}
