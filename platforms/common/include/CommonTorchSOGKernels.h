#ifndef OPENMM_COMMONTORCHSOGKERNELS_H_
#define OPENMM_COMMONTORCHSOGKERNELS_H_

#include "CommonSOGKernels.h"
#include "SOGForce.h"
#include "SOGTorchModel.h"
#include "TorchSOGKernels.h"
#include "openmm/common/ComputeContext.h"
#include <memory>
#include <string>

namespace SOGPlugin {

/**
 * The TorchSOGForce kernel for the OpenCL and CUDA platforms: the model runs on the host
 * (SOGTorchModel, CPU libtorch) on positions downloaded each step, the long range on the device
 * through the Common SOGForce engine with the model's charges uploaded, and dE/dq comes back
 * for the backward pass, whose forces are added to the device's force buffer.
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
private:
    class ForceInfo;
    OpenMM::ComputeContext& cc;
    double deviceMemory;
    std::unique_ptr<SOGTorchModel> model;
    SOGForce kernelParameters;                       // the Gaussians and tolerance, for the engine
    std::unique_ptr<CommonCalcSOGForceKernel> engine;
};

} // namespace SOGPlugin

#endif /*OPENMM_COMMONTORCHSOGKERNELS_H_*/
