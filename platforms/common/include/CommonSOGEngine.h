#ifndef OPENMM_COMMONSOGENGINE_H_
#define OPENMM_COMMONSOGENGINE_H_

#include "internal/SOGForceImpl.h"
#include "internal/SOGKernelParameters.h"
#include "openmm/Vec3.h"
#include "openmm/common/ComputeArray.h"
#include "openmm/common/ComputeContext.h"
#include "openmm/common/ComputeKernel.h"
#include "openmm/common/ComputeSort.h"
#include "openmm/common/FFT3D.h"
#include <string>
#include <vector>

namespace SOGPlugin {

/**
 * The k-space (long-range) sum of Gaussians on OpenMM's ComputeContext, so the same code serves
 * OpenCL and CUDA (device code in kernels/sog.cc): spread all channels onto a fine grid with
 * 64-bit fixed-point atomics (or float atomics, allowFloatSpreading()), real-to-complex FFT, multiply the kept half spectrum by
 * ghat_c(k)/V, complex-to-real FFT, and gather. Both SOGForce and TorchSOGForce use it.
 *
 * Inputs, all on the device:
 *  - positions: the context's posq, in its atom order (read through its atom index);
 *  - charges: getCharges(), entry i*P+c for particle i (original index) and channel c, in proton
 *    charges, filled by the caller (upload, or a device-to-device copy) before compute();
 *  - optionally per-particle charge-scale flags (setChargeScaleFlags()): the scale passed to
 *    compute() multiplies the charges of flagged particles.
 * Outputs:
 *  - E = E_k - 1/2 sum_c g_c(0) sum_i q_ic^2 (kJ/mol; the self term is summed on the device),
 *    added to the context's energy buffer, or after useOwnEnergyBuffer() to a buffer of the
 *    engine's own that downloadEnergy() sums;
 *  - forces (kJ/mol/nm) added to the context's fixed-point force buffer;
 *  - after enableChargeDerivatives(), dE/dq_ic (kJ/mol/e) in getChargeDerivatives(), by
 *    original index, on evaluations with forces;
 *  - after enableChargeScaleDerivative(), dE/dscale added to the context's
 *    parameter-derivative buffer (except the background, which the caller owns).
 *
 * The grid follows SOGForceImpl's rules (calcGridParameters(), planned for box vectors 10 %
 * longer) and is planned again, with new arrays, FFT and kernels, when a barostat grows the box
 * past it; grids that cannot fit are refused before anything is allocated.
 */
class CommonSOGEngine {
public:
    /**
     * Plan the grid and allocate the arrays; throws OpenMMException (checkGridSize()) if the grid
     * cannot fit. The Gaussians must be valid (SOGForceImpl::validateKernel()).
     *
     * @param cc            the context whose positions, force and energy buffers are used
     * @param parameters    the channels, Gaussians and tolerance
     * @param numParticles  the number of particles (the System's)
     * @param boxVectors    the box the grid is first planned for (the System's default), nm
     * @param forceName     the class name of the force served, for messages
     * @param deviceMemory  the memory of the device that holds the grids (bytes), for the limit
     *                      on grid sizes; 0 means unknown, and the host's memory is used instead
     */
    CommonSOGEngine(OpenMM::ComputeContext& cc, const SOGKernelParameters& parameters, int numParticles,
            const OpenMM::Vec3* boxVectors, const std::string& forceName, double deviceMemory = 0.0);
    /**
     * The engine's device memory per grid point and channel (bytes), for SOGGridRequest: the
     * 64-bit fixed-point grid, the real potential grid (with more than one channel), and,
     * shared by the channels, the FFT's real grid and half spectrum (each at most 1.25 reals
     * per point, since n_z >= 8) with as much again for the FFT's work space.
     */
    static double getBytesPerGridPoint(bool useDoublePrecision, int numChannels);
    /*
     * Options, to be set before the first compute().
     */
    /**
     * Make the charge scale of compute() multiply the charges of the particles with
     * isScaled[i] != 0 (original index); without flags it is ignored.
     */
    void setChargeScaleFlags(const std::vector<int>& isScaled);
    /**
     * Add dE/dscale to the context's parameter-derivative buffer under the given name (and
     * register it with the context). Evaluations gather the potential even without forces.
     */
    void enableChargeScaleDerivative(const std::string& parameterName);
    /**
     * Write dE/dq per particle and channel to getChargeDerivatives() on evaluations with forces.
     */
    void enableChargeDerivatives();
    /**
     * Sum the energy in a buffer of the engine's own (cleared by every compute()), read with
     * downloadEnergy(), instead of the context's energy buffer.
     */
    void useOwnEnergyBuffer();
    /**
     * Run every evaluation on a queue of the engine's own, beside the context's, as OpenMM runs
     * PME's reciprocal part: the queue starts when the context's force computation does (after
     * the force buffer is cleared) and the context's queue waits for it only after every other
     * force. Forces are then added with atomics, and the energy is summed in a buffer of the
     * engine's own that is added to the context's after that wait. Only for forces in
     * forceGroup, and not with enableChargeScaleDerivative() (the parameter-derivative buffer
     * has no atomic update) or useOwnEnergyBuffer() (the caller reads the energy at once).
     */
    void useOwnQueue(int forceGroup);
    /**
     * Let spreading add floats straight into the FFT's input where the platform has hardware
     * float atomics (CUDA), the precision is single or mixed, there is one channel and the
     * context does not ask for DeterministicForces; otherwise (and by default) it accumulates
     * in 64-bit fixed point, whose sums do not depend on the order of the atoms.
     */
    void allowFloatSpreading();
    /**
     * Replace the Gaussians (same number of channels; the grid keeps the planning of the
     * Gaussians given at construction, so the caller must not make the smallest width smaller).
     */
    void setGaussians(const SOGKernelParameters& parameters);
    /**
     * The charges (entry i*P+c, original index, real precision), which the caller fills.
     * Zero at construction.
     */
    OpenMM::ComputeArray& getCharges() {
        return charges;
    }
    /**
     * dE/dq (kJ/mol/e, entry i*P+c, original index) of the last compute() with forces, multiplied
     * by its energy scale. Needs enableChargeDerivatives().
     */
    OpenMM::ComputeArray& getChargeDerivatives();
    /**
     * Evaluate for the current positions, box and charges.
     *
     * @param chargeBound    an upper bound, in e, of sum_i |q_ic| (charge scale applied) over
     *                       every channel c: it sets the fixed-point scale of the spreading, so a
     *                       smaller true sum would overflow the grid and a loose bound costs
     *                       resolution (bound * 2^-62). The callers' charge checks
     *                       (SOGForceImpl::checkChargeMagnitude()) compute these sums anyway.
     * @param includeForces  whether to add forces (and dE/dq)
     * @param chargeScale    multiplies the charges of the flagged particles (setChargeScaleFlags())
     * @param energyScale    multiplies forces, dE/dq and dE/dscale, not the energy
     */
    void compute(double chargeBound, bool includeForces, double chargeScale = 1.0, double energyScale = 1.0);
    /**
     * The energy (kJ/mol, not multiplied by the energy scale) of the last compute(), self term
     * included. Needs useOwnEnergyBuffer().
     */
    double downloadEnergy();
    /**
     * The grid in use: k_cut (1/nm), the spreading width (grid points) and the FFT grid.
     */
    void getGridParameters(double& kCutoff, int& spreadWidth, int gridSize[3]) const;
    int getNumParticles() const {
        return numParticles;
    }
    int getNumChannels() const {
        return numChannels;
    }
private:
    void checkNotStarted(const std::string& method) const;
    void allocateGrids(const OpenMM::Vec3* boxVectors);
    void compileKernels();
    bool chooseFloatSpreading();
    std::string createWeightFunctions();
    void setBoxArguments(const OpenMM::Vec3* recip, double volume, const int maxMode[3]);
    OpenMM::ArrayInterface& getEnergyOutput();
    OpenMM::ComputeContext& cc;
    const int numParticles, numChannels;
    const std::string forceName;
    SOGGridRequest gridRequest;
    SOGGridParameters grid;
    int gridSize[3];                       // device FFT grid (legal sizes >= grid.gridSize)
    int lastMaxMode[3];
    bool hasCompiledKernels = false, started = false;
    bool hasChargeScale = false, computeChargeScaleDerivative = false, computeChargeDerivatives = false;
    bool ownEnergy = false;
    bool ownQueue = false;                         // useOwnQueue()
    bool floatSpreadingAllowed = false;            // allowFloatSpreading()
    bool floatSpreading = false;                   // chooseFloatSpreading(), at compileKernels()
    OpenMM::ComputeQueue queue;
    OpenMM::ComputeEvent startEvent, finishEvent;
    class StartQueue;
    class FinishQueue;
    FinishQueue* finishQueue = nullptr;            // owned by the context
    std::string chargeScaleName;
    OpenMM::ComputeArray charges, isScaled, selfKernel, deconvolution;
    std::vector<OpenMM::ComputeArray> gaussians;   // per channel (w pi^{3/2} sigma^3, sigma^2/4) by width
    OpenMM::ComputeArray fixedGrid;                // all channels, 64-bit fixed point (unless floatSpreading)
    OpenMM::ComputeArray realGrid, spectrum;       // shared by the channels: FFT input/output
    OpenMM::ComputeArray potential;                // all channels (only with more than one)
    OpenMM::ComputeArray chargeDerivatives, energy;
    OpenMM::FFT3D fft;
    OpenMM::ComputeArray gridOrder;                // (atom, grid cell) by cell: spread/gather order
    OpenMM::ComputeSort gridSort;
    bool sortAtoms = true;                         // OPENMM_SOG_SPREAD_ORDER (compileKernels)
    static const int SortInterval = 10;            // evaluations between sorts (compute())
    int evaluationsSinceSort = 0;
    OpenMM::ComputeKernel gridOrderKernel, spreadKernel, finishSpreadKernel, convolveKernel, collectKernel, gatherKernel;
};

} // namespace SOGPlugin

#endif /*OPENMM_COMMONSOGENGINE_H_*/
