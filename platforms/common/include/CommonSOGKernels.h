#ifndef OPENMM_COMMONSOGKERNELS_H_
#define OPENMM_COMMONSOGKERNELS_H_

#include "CommonSOGEngine.h"
#include "SOGKernels.h"
#include "openmm/common/ComputeContext.h"
#include <memory>
#include <string>
#include <vector>

namespace SOGPlugin {

/**
 * The SOGForce kernel for the OpenCL and CUDA platforms: the fixed charges, the charge scale
 * parameter (with dU/dlambda) and the net-charge background around the Common engine
 * (CommonSOGEngine), which sums the k-space and self energy into OpenMM's energy buffer and adds
 * forces to its force buffer, so no evaluation downloads anything.
 */
class CommonCalcSOGForceKernel : public CalcSOGForceKernel {
public:
    /**
     * @param deviceMemory  the memory of the device that holds the grids (bytes), for the limit on
     *                      grid sizes (SOGForceImpl::checkGridSize()); 0 means unknown, and the
     *                      host's physical memory is used instead
     * @param forceName     the class name of the force the kernel serves, for messages
     */
    CommonCalcSOGForceKernel(std::string name, const OpenMM::Platform& platform, OpenMM::ComputeContext& cc,
            double deviceMemory = 0.0, const std::string& forceName = "SOGForce") :
            CalcSOGForceKernel(name, platform), cc(cc), deviceMemory(deviceMemory), forceName(forceName) {
    }
    void initialize(const OpenMM::System& system, const SOGForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    void copyParametersToContext(OpenMM::ContextImpl& context, const SOGForce& force);
    void getGridParameters(double& kCutoff, int& spreadWidth, int gridSize[3]) const;
private:
    class ForceInfo;
    void uploadParameters(const SOGForce& force);
    OpenMM::ComputeContext& cc;
    ForceInfo* info = nullptr;                            // owned by cc
    double deviceMemory;                                  // bytes; 0 = unknown
    std::string forceName;
    std::unique_ptr<CommonSOGEngine> engine;
    int numParticles = 0, numChannels = 0, numGaussians = 0;
    double minWidth = 0.0, tolerance = 0.0;               // nm; dimensionless
    std::string chargeScaleName;
    bool computeDerivative = false;                       // dU/dlambda requested
    std::vector<int> scaledFlags;                         // 1 if the charge scale multiplies particle i
    std::vector<double> weightSums;                       // per channel, sum of |w| (kJ/mol/e^2)
    std::vector<double> scaledAbsCharge, unscaledAbsCharge; // per channel sum of |q| over scaled / other particles (e)
    std::vector<double> scaledTotal, unscaledTotal;       // per channel sum of q over scaled / other particles (e)
    std::vector<double> backgroundIntegrals;              // B_c, kJ/mol nm^3/e^2
};

} // namespace SOGPlugin

#endif /*OPENMM_COMMONSOGKERNELS_H_*/
