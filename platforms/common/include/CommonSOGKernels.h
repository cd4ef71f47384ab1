#ifndef OPENMM_COMMONSOGKERNELS_H_
#define OPENMM_COMMONSOGKERNELS_H_

#include "SOGKernels.h"
#include "internal/SOGForceImpl.h"
#include "openmm/common/ComputeArray.h"
#include "openmm/common/ComputeContext.h"
#include "openmm/common/ComputeKernel.h"
#include "openmm/common/FFT3D.h"
#include <string>
#include <vector>

namespace SOGPlugin {

/**
 * The SOGForce kernel written against OpenMM's ComputeContext, so the same code serves the
 * OpenCL and CUDA platforms. Device code is in kernels/sog.cc. Forces are accumulated in OpenMM's
 * fixed-point force buffer, the grid is spread with 64-bit fixed-point atomics, and the FFTs come
 * from ComputeContext::createFFT().
 */
class CommonCalcSOGForceKernel : public CalcSOGForceKernel {
public:
    CommonCalcSOGForceKernel(std::string name, const OpenMM::Platform& platform, OpenMM::ComputeContext& cc) :
            CalcSOGForceKernel(name, platform), cc(cc), hasCompiledKernels(false) {
    }
    void initialize(const OpenMM::System& system, const SOGForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    void copyParametersToContext(OpenMM::ContextImpl& context, const SOGForce& force);
private:
    class ForceInfo;
    void compileKernels();
    void uploadParameters(const SOGForce& force);
    void setBoxArguments(const OpenMM::Vec3* recip, const int maxMode[3]);
    OpenMM::ComputeContext& cc;
    ForceInfo* info;                                      // owned by cc
    bool hasCompiledKernels, computeDerivative;
    int numParticles, numChannels, numGaussians;
    double minWidth, tolerance, volume;
    std::string chargeScaleName;
    SOGGridParameters grid;
    int lastMaxMode[3];
    int gridSize[3];                                      // device FFT grid (legal sizes >= grid.gridSize)
    std::vector<double> selfKernelHost;                   // g_c(0)
    std::vector<int> scaledFlags;                         // 1 if the charge scale multiplies particle i
    std::vector<double> scaledSelf, unscaledSelf;         // per channel sum of q^2 over scaled / other particles
    std::vector<double> scaledAbsCharge, unscaledAbsCharge; // per channel sum of |q| over scaled / other particles
    OpenMM::ComputeArray charges, isScaled, selfKernel, fixedGrid, potential, deconvolution;
    std::vector<OpenMM::ComputeArray> gaussians, spreadGrids, fourierGrids, potentialGrids; // spreadGrids also receive the inverse FFT
    OpenMM::FFT3D fft;
    OpenMM::ComputeKernel spreadKernel, finishSpreadKernel, convolveKernel, collectKernel, gatherKernel;
};

} // namespace SOGPlugin

#endif /*OPENMM_COMMONSOGKERNELS_H_*/
