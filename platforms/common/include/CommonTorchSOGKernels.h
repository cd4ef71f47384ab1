#ifndef OPENMM_COMMONTORCHSOGKERNELS_H_
#define OPENMM_COMMONTORCHSOGKERNELS_H_

#include "CommonSOGEngine.h"
#include "SOGFreeSpaceSum.h"
#include "SOGTorchModel.h"
#include "TorchSOGKernels.h"
#include "internal/TorchSOGForceImpl.h"
#include "openmm/common/ComputeContext.h"
#include <memory>
#include <string>

namespace SOGPlugin {

/**
 * The TorchSOGForce kernel for the OpenCL and CUDA platforms: the model runs on the host
 * (SOGTorchModel, CPU libtorch) on positions downloaded each step, the long range of a periodic
 * model on the device through the Common engine (CommonSOGEngine) with the model's charges
 * uploaded (zero outside the ML region), and dE/dq comes back for the backward pass, whose forces
 * are added to the device's force buffer. A non-periodic model's free-space sum runs on the host.
 */
class CommonCalcTorchSOGForceKernel : public CalcTorchSOGForceKernel {
public:
    /**
     * @param deviceMemory  the device's memory (bytes) for the limit on grid sizes; 0 = unknown
     */
    CommonCalcTorchSOGForceKernel(std::string name, const OpenMM::Platform& platform, OpenMM::ComputeContext& cc,
            double deviceMemory = 0.0) : CalcTorchSOGForceKernel(name, platform), cc(cc), deviceMemory(deviceMemory) {
    }
    void initialize(const OpenMM::System& system, const TorchSOGForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
protected:
    // The CUDA kernel (CudaCalcTorchSOGForceKernel) reuses the set-up and keeps the model on the GPU.
    class ForceInfo;
    OpenMM::ComputeContext& cc;
    double deviceMemory;
    std::unique_ptr<SOGTorchModel> model;
    std::unique_ptr<CommonSOGEngine> engine;            // periodic
    std::unique_ptr<SOGFreeSpaceSum> freeSpace;         // non-periodic
    std::vector<double> weightSums;                     // per channel, sum of |w| (kJ/mol/e^2)
    int numSystemParticles = 0, numChannels = 0;
    TorchSOGScaleParameters scales;
    OpenMM::ComputeArray hostForces;                    // 3*i+d, original order
    OpenMM::ComputeKernel addForcesKernel;
};

} // namespace SOGPlugin

#endif /*OPENMM_COMMONTORCHSOGKERNELS_H_*/
