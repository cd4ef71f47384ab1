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
    /**
     * @param deviceMemory  the memory of the device that holds the grids (bytes), for the limit on
     *                      grid sizes (SOGForceImpl::checkGridSize()); 0 means unknown, and the
     *                      host's physical memory is used instead
     * @param forceName     the class name of the force the kernel serves, for messages
     */
    CommonCalcSOGForceKernel(std::string name, const OpenMM::Platform& platform, OpenMM::ComputeContext& cc,
            double deviceMemory = 0.0, const std::string& forceName = "SOGForce") :
            CalcSOGForceKernel(name, platform), cc(cc), hasCompiledKernels(false), deviceMemory(deviceMemory),
            forceName(forceName) {
    }
    void initialize(const OpenMM::System& system, const SOGForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    void copyParametersToContext(OpenMM::ContextImpl& context, const SOGForce& force);
    void getGridParameters(double& kCutoff, int& spreadWidth, int gridSize[3]) const;
    /*
     * The engine interface used by CommonCalcTorchSOGForceKernel, whose charges come from a model
     * every step. Call enableChargeDerivatives() before the first evaluation.
     */
    /**
     * Make every evaluation with forces also compute dE/dq per particle and channel.
     */
    void enableChargeDerivatives();
    /**
     * Replace the charges (entry i*P+c for particle i, channel c; proton charges).
     */
    void setCharges(const std::vector<double>& chargeValues);
    /**
     * Refuse a non-finite charge scale, or charges times scale whose energy would overflow
     * (SOGForceImpl::checkChargeMagnitude()).
     */
    void checkCharges(const std::string& chargeScaleName, double chargeScale);
    /**
     * The engine's device memory per grid point and channel (bytes): the 64-bit fixed-point
     * grid, the real potential grid, three complex grids, and one more complex grid counted for
     * the FFT's work space.
     */
    static double getBytesPerGridPoint(bool useDoublePrecision) {
        const double real = (useDoublePrecision ? 8.0 : 4.0);
        return 8.0 + real + 4*2*real;
    }
    /**
     * Add the long-range energy (to the energy buffer, or after enableChargeDerivatives() to the
     * buffer of downloadLongRangeEnergy(); the returned self term excepted) and, if requested,
     * forces for the current charges multiplied by chargeScale. energyScale multiplies the forces
     * and dE/dq (TorchSOGForce's energy scale parameter), not the energy.
     *
     * @return the self-energy term (not multiplied by energyScale), measured in kJ/mol, which the caller must add
     */
    double computeLongRange(double chargeScale, bool includeForces, double energyScale = 1.0);
    /**
     * The k-space energy (kJ/mol, not multiplied by the energy scale) of the last
     * computeLongRange(), which after enableChargeDerivatives() goes to a buffer of its own instead
     * of the context's energy buffer: add the self term that computeLongRange() returned for E_lr.
     */
    double downloadLongRangeEnergy();
    /**
     * Download dE/dq (kJ/mol/e; entry i*P+c) of the last evaluation with forces.
     */
    void getChargeDerivatives(std::vector<double>& derivatives);
    /**
     * Add forces computed on the host (kJ/mol/nm; entry 3*i+d for particle i) to the force buffer.
     */
    void addHostForces(const std::vector<double>& forces);
private:
    class ForceInfo;
    void compileKernels();
    /**
     * Allocate the grids and the FFT for `grid` (sizes rounded up to legal FFT dimensions, then
     * checked against the limit) and mark the kernels for compilation. Called at initialization and
     * whenever the box needs more modes than the grid holds.
     */
    void allocateGrids(const OpenMM::Vec3* boxVectors);
    std::string createWeightFunctions();
    void uploadParameters(const SOGForce& force);
    void setBoxArguments(const OpenMM::Vec3* recip, const int maxMode[3]);
    OpenMM::ComputeContext& cc;
    ForceInfo* info;                                      // owned by cc
    bool hasCompiledKernels, computeDerivative, computeChargeDerivatives = false;
    double deviceMemory;                                  // bytes; 0 = unknown
    std::string forceName;
    SOGGridRequest gridRequest;
    std::vector<double> weightSums;                       // per channel, sum of |w| (kJ/mol/e^2)
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
    std::vector<double> scaledTotal, unscaledTotal;       // per channel sum of q over scaled / other particles
    std::vector<double> backgroundIntegrals;              // B_c, kJ/mol nm^3/e^2
    OpenMM::ComputeArray charges, isScaled, selfKernel, fixedGrid, potential, deconvolution;
    OpenMM::ComputeArray chargeDerivatives, hostForces; // dE/dq (i*P+c) and host forces (3*i+d), original order
    OpenMM::ComputeArray longRangeEnergy;                 // k-space energy after enableChargeDerivatives()
    double uploadedEnergyScale = 1.0;                     // the factor in the uploaded selfKernel
    std::vector<OpenMM::ComputeArray> gaussians, spreadGrids, fourierGrids, potentialGrids; // spreadGrids also receive the inverse FFT
    OpenMM::FFT3D fft;
    OpenMM::ComputeKernel spreadKernel, finishSpreadKernel, convolveKernel, collectKernel, gatherKernel, addForcesKernel;
};

} // namespace SOGPlugin

#endif /*OPENMM_COMMONSOGKERNELS_H_*/
