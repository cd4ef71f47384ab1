#ifndef OPENMM_CUDATORCHSOGKERNELS_H_
#define OPENMM_CUDATORCHSOGKERNELS_H_

#include "CommonTorchSOGKernels.h"
#include "openmm/cuda/CudaContext.h"
#include <torch/torch.h>

namespace SOGPlugin {

/**
 * The TorchSOGForce kernel on the CUDA platform. When the libtorch it runs with has CUDA
 * (torch::cuda::is_available()) and the force is periodic, the model runs on the Context's GPU
 * and every per-step array stays there: the modelled particles' positions are gathered from
 * OpenMM's posq by a small kernel, the model's charges are copied into the engine's charge array
 * and its dE/dq read from the engine's array as tensor views of the same device memory, and the
 * backward pass's forces are added to OpenMM's force buffer on the device. What crosses to the
 * host per step: the charge sums per channel (P numbers, which set the engine's fixed-point
 * scale and are checked against the overflow limit), and the energy when it is asked for.
 * Otherwise (a CPU-only libtorch, or a free-space model) it is the Common kernel, with the model
 * on the host.
 *
 * Synchronisation: OpenMM's stream is synchronised before torch reads what OpenMM wrote, and
 * torch's device work is synchronised before OpenMM's kernels read what torch wrote; both use
 * the device's primary CUDA context.
 */
class CudaCalcTorchSOGForceKernel : public CommonCalcTorchSOGForceKernel {
public:
    CudaCalcTorchSOGForceKernel(std::string name, const OpenMM::Platform& platform, OpenMM::CudaContext& cu,
            double deviceMemory = 0.0) : CommonCalcTorchSOGForceKernel(name, platform, cu, deviceMemory), cu(cu) {
    }
    void initialize(const OpenMM::System& system, const TorchSOGForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    /**
     * Whether this kernel keeps the model on the GPU (decided at initialize()).
     */
    bool isDeviceResident() const {
        return deviceResident;
    }
private:
    /**
     * A tensor view of a device array's memory (no copy), [rows, columns], of its real type.
     */
    torch::Tensor view(OpenMM::ComputeArray& array, int64_t rows, int64_t columns);
    OpenMM::CudaContext& cu;
    bool deviceResident = false;
    torch::Device device = torch::kCPU;
    torch::Tensor regionIndex;                  // [n] int64 on the GPU: System index of each modelled particle
    OpenMM::ComputeArray regionSlot;            // [N] int: position in the region, or -1
    OpenMM::ComputeArray regionPositions;       // [n, 3] real, nm, region order
    OpenMM::ComputeKernel gatherKernel;
};

} // namespace SOGPlugin

#endif /*OPENMM_CUDATORCHSOGKERNELS_H_*/
