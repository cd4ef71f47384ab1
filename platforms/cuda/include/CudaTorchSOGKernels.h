#ifndef OPENMM_CUDATORCHSOGKERNELS_H_
#define OPENMM_CUDATORCHSOGKERNELS_H_

#include "CommonTorchSOGKernels.h"
#include "openmm/cuda/CudaContext.h"
#include <torch/torch.h>
#include <vector>

namespace SOGPlugin {

/**
 * The TorchSOGForce kernel on the CUDA platform. When the libtorch it runs with has CUDA
 * (torch::cuda::is_available()) and the force is periodic, the model runs on the Context's GPU
 * and every per-step array stays there: small kernels gather the modelled particles' positions
 * from OpenMM's posq, copy the model's charges into the engine's charge array and its dE/dq out
 * of the engine's, and add the backward pass's forces to OpenMM's force buffer. What crosses to the
 * host per step: the charge sums per channel (P numbers, which set the engine's fixed-point
 * scale and are checked against the overflow limit), and the energy when it is asked for.
 * Otherwise (a CPU-only libtorch, or a free-space model) it is the Common kernel, with the model
 * on the host.
 *
 * Contexts: OpenMM's CUDA platform runs in a context of its own (cuCtxCreate), libtorch in the
 * device's primary context. Every libtorch call runs with the primary context pushed, every
 * OpenMM kernel under OpenMM's ContextSelector, never one inside the other (libtorch may make the
 * primary context current, which OpenMM's ContextSelector refuses on leaving). The arrays they
 * share are libtorch's (positions, charges, dE/dq and forces of the modelled particles), read and
 * written by this kernel's OpenMM kernels; each side synchronises its context before the other
 * reads what it wrote.
 */
class CudaCalcTorchSOGForceKernel : public CommonCalcTorchSOGForceKernel {
public:
    CudaCalcTorchSOGForceKernel(std::string name, const OpenMM::Platform& platform, OpenMM::CudaContext& cu,
            double deviceMemory = 0.0) : CommonCalcTorchSOGForceKernel(name, platform, cu, deviceMemory), cu(cu) {
    }
    ~CudaCalcTorchSOGForceKernel();
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
     * Launch one of this kernel's OpenMM kernels over `threads` threads (OpenMM's context current).
     */
    void launch(CUfunction kernel, std::vector<void*> arguments, int threads);
    OpenMM::CudaContext& cu;
    bool deviceResident = false;
    CUcontext primaryContext = nullptr;         // retained while deviceResident
    torch::Device device = torch::kCPU;
    // libtorch's arrays, region order, OpenMM's real type: positions (nm), charges (e),
    // dE/dq (kJ/mol/e, times the energy scale), forces (kJ/mol/nm).
    torch::Tensor regionPositions, regionCharges, regionDerivatives, regionForces;
    OpenMM::ComputeArray regionSlot;            // [N] int: position in the region, or -1
    OpenMM::ComputeArray regionAtoms;           // [n] int: System index of each modelled particle
    CUfunction gatherPositionsKernel, scatterChargesKernel, gatherDerivativesKernel, addRegionForcesKernel;
};

} // namespace SOGPlugin

#endif /*OPENMM_CUDATORCHSOGKERNELS_H_*/
