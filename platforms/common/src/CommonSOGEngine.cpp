#include "CommonSOGEngine.h"
#include "CommonSOGKernelSources.h"
#include "internal/SOGSpreadingKernel.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/common/ContextSelector.h"
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

namespace {
/* Sorts findGridOrder's (atom, grid cell) pairs by cell. */
class GridOrderTrait : public ComputeSortImpl::SortTrait {
    int getDataSize() const override { return 2*sizeof(int); }
    int getKeySize() const override { return sizeof(int); }
    const char* getDataType() const override { return "int2"; }
    const char* getKeyType() const override { return "int"; }
    const char* getMinKey() const override { return "0"; }
    const char* getMaxKey() const override { return "2147483647"; }
    const char* getMaxValue() const override { return "make_int2(2147483647, 2147483647)"; }
    const char* getSortKey() const override { return "value.y"; }
};

// Argument positions of the kernels' per-evaluation arguments (see compileKernels()).
enum SpreadArgs { SpreadChargeScale = 5, SpreadRecip = 7, SpreadFixedScale = 10 };
enum GridOrderArgs { GridOrderRecip = 2 };
enum FinishSpreadArgs { FinishChannel = 2, FinishInverseScale = 3 };
enum ConvolveArgs { ConvolveDeconvolution = 2, ConvolveGaussians = 3, ConvolveNumGaussians = 4, ConvolveMaxMode = 5,
        ConvolveRecip = 6, ConvolveInvVolume = 9, ConvolvePotentialScale = 10, ConvolveComputePotential = 11 };
enum CollectArgs { CollectChannel = 2 };
enum GatherArgs { GatherChargeScale = 5, GatherEnergyScale = 8, GatherRecip = 11 };
}

/*
 * The engine's queue waits for the context's before any force of its group is computed (after
 * the force buffer is cleared and the positions are final).
 */
class CommonSOGEngine::StartQueue : public ComputeContext::ForcePreComputation {
public:
    StartQueue(ComputeQueue queue, ComputeEvent event, int forceGroup) : queue(queue), event(event), forceGroup(forceGroup) {
    }
    void computeForceAndEnergy(bool includeForces, bool includeEnergy, int groups) override {
        if ((groups & (1 << forceGroup)) != 0) {
            event->enqueue();
            event->queueWait(queue);
        }
    }
private:
    ComputeQueue queue;
    ComputeEvent event;
    int forceGroup;
};

/*
 * After every force: the context's queue waits for the engine's (on the device, not the host)
 * and adds the engine's energy to its own buffer.
 */
class CommonSOGEngine::FinishQueue : public ComputeContext::ForcePostComputation {
public:
    FinishQueue(ComputeContext& cc, ComputeEvent event, int forceGroup) : cc(cc), event(event), forceGroup(forceGroup) {
    }
    void setAddEnergyKernel(ComputeKernel kernel, int size) {
        addEnergyKernel = kernel;
        energySize = size;
    }
    double computeForceAndEnergy(bool includeForces, bool includeEnergy, int groups) override {
        if ((groups & (1 << forceGroup)) != 0 && addEnergyKernel) {
            event->queueWait(cc.getCurrentQueue());
            if (includeEnergy)
                addEnergyKernel->execute(energySize);
        }
        return 0.0;
    }
private:
    ComputeContext& cc;
    ComputeEvent event;
    ComputeKernel addEnergyKernel;
    int forceGroup, energySize = 0;
};

CommonSOGEngine::CommonSOGEngine(ComputeContext& cc, const SOGKernelParameters& parameters, int numParticles,
        const Vec3* boxVectors, const string& forceName, double deviceMemory) :
        cc(cc), numParticles(numParticles), numChannels(parameters.numChannels), forceName(forceName) {
    ContextSelector selector(cc);
    const bool useDouble = cc.getUseDoublePrecision();
    const int realSize = (useDouble ? sizeof(double) : sizeof(float));
    gridRequest = SOGForceImpl::createGridRequest(parameters, forceName, getBytesPerGridPoint(useDouble, numChannels),
            deviceMemory);
    grid = SOGForceImpl::calcGridParameters(boxVectors, gridRequest);
    charges.initialize(cc, max(1, numParticles*numChannels), realSize, "sogCharges");
    charges.upload(vector<double>(charges.getSize(), 0.0), true);
    isScaled.initialize<int>(cc, 1, "sogIsScaled"); // a placeholder until setChargeScaleFlags()
    selfKernel.initialize(cc, numChannels, realSize, "sogSelfKernel");
    deconvolution.initialize(cc, 1, realSize, "sogDeconvolution");
    gaussians.resize(numChannels);
    allocateGrids(boxVectors);
    setGaussians(parameters);
}

double CommonSOGEngine::getBytesPerGridPoint(bool useDoublePrecision, int numChannels) {
    const double real = (useDoublePrecision ? 8.0 : 4.0);
    return 8.0 + (numChannels > 1 ? real : 0.0) + 4.0*real/max(1, numChannels);
}

void CommonSOGEngine::checkNotStarted(const string& method) const {
    if (started)
        throw OpenMMException(forceName + ": CommonSOGEngine::" + method + "() must come before the first evaluation");
}

void CommonSOGEngine::setChargeScaleFlags(const vector<int>& flags) {
    checkNotStarted("setChargeScaleFlags");
    if ((int) flags.size() != numParticles)
        throw OpenMMException(forceName + ": CommonSOGEngine::setChargeScaleFlags() needs one flag per particle");
    ContextSelector selector(cc);
    isScaled.resize(max(1, numParticles));
    if (numParticles > 0)
        isScaled.upload(flags);
    hasChargeScale = true;
    hasCompiledKernels = false;
}

void CommonSOGEngine::enableChargeScaleDerivative(const string& parameterName) {
    checkNotStarted("enableChargeScaleDerivative");
    if (ownQueue)
        throw OpenMMException(forceName + ": CommonSOGEngine::enableChargeScaleDerivative() cannot follow useOwnQueue()");
    computeChargeScaleDerivative = true;
    chargeScaleName = parameterName;
    cc.addEnergyParameterDerivative(parameterName);
    hasCompiledKernels = false;
}

void CommonSOGEngine::enableChargeDerivatives() {
    checkNotStarted("enableChargeDerivatives");
    if (!computeChargeDerivatives) {
        ContextSelector selector(cc);
        const int realSize = (cc.getUseDoublePrecision() ? sizeof(double) : sizeof(float));
        chargeDerivatives.initialize(cc, max(1, numParticles*numChannels), realSize, "sogChargeDerivatives");
    }
    computeChargeDerivatives = true;
    hasCompiledKernels = false;
}

void CommonSOGEngine::useOwnEnergyBuffer() {
    checkNotStarted("useOwnEnergyBuffer");
    if (ownQueue)
        throw OpenMMException(forceName + ": CommonSOGEngine::useOwnEnergyBuffer() cannot follow useOwnQueue()");
    ownEnergy = true;
    hasCompiledKernels = false;
}

void CommonSOGEngine::useOwnQueue(int forceGroup) {
    checkNotStarted("useOwnQueue");
    if (ownQueue)
        return;
    if (computeChargeScaleDerivative || ownEnergy)
        throw OpenMMException(forceName + ": CommonSOGEngine::useOwnQueue() cannot be combined with "
                "enableChargeScaleDerivative() or useOwnEnergyBuffer()");
    ContextSelector selector(cc);
    queue = cc.createQueue();
    startEvent = cc.createEvent();
    finishEvent = cc.createEvent();
    cc.addPreComputation(new StartQueue(queue, startEvent, forceGroup));
    finishQueue = new FinishQueue(cc, finishEvent, forceGroup);
    cc.addPostComputation(finishQueue);
    ownQueue = true;
    hasCompiledKernels = false;
}

ComputeArray& CommonSOGEngine::getChargeDerivatives() {
    if (!computeChargeDerivatives)
        throw OpenMMException(forceName + ": CommonSOGEngine::getChargeDerivatives() needs enableChargeDerivatives()");
    return chargeDerivatives;
}

void CommonSOGEngine::setGaussians(const SOGKernelParameters& parameters) {
    if (parameters.numChannels != numChannels)
        throw OpenMMException(forceName + ": CommonSOGEngine::setGaussians() cannot change the number of channels");
    ContextSelector selector(cc);
    // Per channel, (w pi^{3/2} sigma^3, sigma^2/4) pairs by increasing width: the convolve kernel
    // stops at the first term whose exponent exceeds the cut-off (all wider ones do too).
    vector<vector<pair<double, double> > > sorted(numChannels);
    vector<double> selfKernelValues(numChannels, 0.0); // g_c(0), kJ/mol/e^2
    for (int l = 0; l < parameters.getNumGaussians(); l++) {
        double weight, width;
        int channel;
        parameters.getGaussianParameters(l, weight, width, channel);
        sorted[channel].push_back(make_pair(0.25*width*width, weight*pow(M_PI, 1.5)*width*width*width));
        selfKernelValues[channel] += weight;
    }
    const int realSize = (cc.getUseDoublePrecision() ? sizeof(double) : sizeof(float));
    for (int c = 0; c < numChannels; c++) {
        sort(sorted[c].begin(), sorted[c].end());
        vector<double> terms;
        for (auto& term : sorted[c]) {
            terms.push_back(term.second);
            terms.push_back(term.first);
        }
        if (terms.empty())
            terms.assign(2, 0.0); // a channel without Gaussians contributes nothing
        if (!gaussians[c].isInitialized())
            gaussians[c].initialize(cc, terms.size(), realSize, "sogGaussians");
        else if (gaussians[c].getSize() != terms.size())
            gaussians[c].resize(terms.size());
        gaussians[c].upload(terms, true);
    }
    selfKernel.upload(selfKernelValues, true);
}

void CommonSOGEngine::allocateGrids(const Vec3* boxVectors) {
    double size[3];
    for (int d = 0; d < 3; d++) {
        gridSize[d] = cc.findLegalFFTDimension(grid.gridSize[d]);
        size[d] = gridSize[d];
        lastMaxMode[d] = -1;
    }
    SOGForceImpl::checkGridSize(gridRequest, boxVectors, size);
    const int realSize = (cc.getUseDoublePrecision() ? sizeof(double) : sizeof(float));
    const size_t gridPoints = (size_t) gridSize[0]*gridSize[1]*gridSize[2];
    // The real-to-complex FFT's half spectrum, n_x n_y (n_z/2+1) complex values. OpenMM's FFTs
    // want both arrays able to hold it (the input is their work space).
    const size_t spectrumPoints = (size_t) gridSize[0]*gridSize[1]*(gridSize[2]/2 + 1);
    // Release the old grids (a re-plan) before the larger ones are allocated.
    fft = FFT3D();
    for (ComputeArray* array : {&fixedGrid, &realGrid, &spectrum, &potential})
        if (array->isInitialized())
            array->resize(1);
    auto allocate = [&](ComputeArray& array, size_t size, int elementSize, const string& name) {
        if (array.isInitialized())
            array.resize(size);
        else
            array.initialize(cc, size, elementSize, name);
    };
    // The fixed-point grid is allocated by compileKernels(), which knows whether it is needed.
    allocate(realGrid, 2*spectrumPoints, realSize, "sogRealGrid");
    allocate(spectrum, spectrumPoints, 2*realSize, "sogSpectrum");
    if (numChannels > 1)
        allocate(potential, (size_t) numChannels*gridPoints, realSize, "sogPotential");
    fft = cc.createFFT(gridSize[0], gridSize[1], gridSize[2], true);
    hasCompiledKernels = false; // the grid sizes are compiled into the kernels
}

/*
 * The device functions kernelValues(v, w) and kernelDerivatives(v, w): the spreading weights and
 * their d/dz as polynomials in v (SOGSpreadingKernel), fitted to the round-off of real and scaled
 * by 1/phi(0) so that single precision sees values of order 1. Horner's rule, one literal
 * coefficient per term.
 */
string CommonSOGEngine::createWeightFunctions() {
    SOGSpreadingKernel kernel(grid.spreadWidth, grid.beta, SOGSpreadingKernel::getRoundOffTolerance(!cc.getUseDoublePrecision()));
    const double scale = 1.0/SOGForceImpl::calcKernelValue(0.0, grid.beta);
    const int width = grid.spreadWidth;
    stringstream source;
    for (bool derivative : {false, true}) {
        const int degree = kernel.getDegree(derivative);
        const vector<double>& coefficients = kernel.getCoefficients(derivative);
        source << "DEVICE void " << (derivative ? "kernelDerivatives" : "kernelValues") << "(real v, real* w) {\n";
        for (int t = 0; t < width; t++) {
            string horner = cc.doubleToString(scale*coefficients[degree*width + t]);
            for (int k = degree - 1; k >= 0; k--)
                horner = "(" + horner + ")*v + " + cc.doubleToString(scale*coefficients[k*width + t]);
            source << "    w[" << t << "] = " << horner << ";\n";
        }
        source << "}\n";
    }
    return source.str();
}

/*
 * Whether spreading adds floats directly into the FFT's input instead of 64-bit fixed point:
 * on CUDA (hardware float atomics) in single and mixed precision, with one channel (the FFT's
 * input holds one), unless the context asks for DeterministicForces, since float sums depend
 * on the order in which threads add. Half the grid memory, and no conversion pass.
 */
void CommonSOGEngine::allowFloatSpreading() {
    checkNotStarted("allowFloatSpreading");
    floatSpreadingAllowed = true;
    hasCompiledKernels = false;
}

bool CommonSOGEngine::chooseFloatSpreading() {
    if (!floatSpreadingAllowed || numChannels != 1 || cc.getUseDoublePrecision())
        return false;
    ContextImpl* impl = cc.getContextImpl();
    if (impl == nullptr || impl->getPlatform().getName() != "CUDA")
        return false;
    try {
        return impl->getPlatform().getPropertyValue(impl->getOwner(), "DeterministicForces") != "true";
    }
    catch (const OpenMMException&) {
        return false; // the property cannot be read: keep the order-independent fixed point
    }
}

ArrayInterface& CommonSOGEngine::getEnergyOutput() {
    return (ownEnergy || ownQueue ? (ArrayInterface&) energy : cc.getEnergyBuffer());
}

void CommonSOGEngine::compileKernels() {
    map<string, string> defines;
    defines["NUM_ATOMS"] = cc.intToString(cc.getNumAtoms());
    defines["PADDED_NUM_ATOMS"] = cc.intToString(cc.getPaddedNumAtoms());
    defines["NUM_CHANNELS"] = cc.intToString(numChannels);
    defines["GRID_SIZE_X"] = cc.intToString(gridSize[0]);
    defines["GRID_SIZE_Y"] = cc.intToString(gridSize[1]);
    defines["GRID_SIZE_Z"] = cc.intToString(gridSize[2]);
    defines["HALF_GRID_SIZE_Z"] = cc.intToString(gridSize[2]/2 + 1);
    // At most SOGForceImpl::maxGridPointsPerChannel (2^28): ints; channel offsets are 64-bit.
    defines["GRID_POINTS"] = to_string((long long) gridSize[0]*gridSize[1]*gridSize[2]);
    defines["SPECTRUM_POINTS"] = to_string((long long) gridSize[0]*gridSize[1]*(gridSize[2]/2 + 1));
    defines["SPREAD_WIDTH"] = cc.intToString(grid.spreadWidth);
    // OpenCL C defines M_PI, CUDA's run-time compiler does not.
    defines["TWO_PI"] = cc.doubleToString(2*M_PI);
    if (hasChargeScale)
        defines["HAS_CHARGE_SCALE"] = "1";
    if (computeChargeScaleDerivative) {
        const vector<string>& derivNames = cc.getEnergyParamDerivNames();
        int derivIndex = -1;
        for (int i = 0; i < (int) derivNames.size(); i++)
            if (derivNames[i] == chargeScaleName)
                derivIndex = i;
        defines["HAS_DERIVATIVE"] = "1";
        defines["NUM_DERIVS"] = cc.intToString(derivNames.size());
        defines["DERIV_INDEX"] = cc.intToString(derivIndex);
    }
    if (computeChargeDerivatives)
        defines["HAS_CHARGE_DERIVATIVES"] = "1";
    // OPENMM_SOG_SPREAD_ORDER=context visits the atoms in the context's order rather than
    // sorted by grid cell: a switch for benchmarks that measure what the sort gains.
    sortAtoms = SOGForceImpl::readDefaultChoice(forceName, "OPENMM_SOG_SPREAD_ORDER", "cell", "context");
    if (!sortAtoms)
        defines["CONTEXT_ATOM_ORDER"] = "1";
    if (ownQueue)
        defines["USE_OWN_QUEUE"] = "1";
    floatSpreading = chooseFloatSpreading();
    if (floatSpreading)
        defines["FLOAT_SPREADING"] = "1";
    const size_t fixedGridSize = (floatSpreading ? 1 : (size_t) numChannels*gridSize[0]*gridSize[1]*gridSize[2]);
    if (!fixedGrid.isInitialized())
        fixedGrid.initialize(cc, fixedGridSize, sizeof(long long), "sogFixedGrid");
    else if (fixedGrid.getSize() != fixedGridSize)
        fixedGrid.resize(fixedGridSize);
    if ((ownEnergy || ownQueue) && !energy.isInitialized()) {
        // Sized like the context's energy buffer (which exists once evaluations start), since
        // the kernels add to it by thread index.
        ArrayInterface& energyBuffer = cc.getEnergyBuffer();
        energy.initialize(cc, energyBuffer.getSize(), energyBuffer.getElementSize(), "sogEnergy");
    }
    ComputeProgram program = cc.compileProgram(createWeightFunctions() + CommonSOGKernelSources::sog, defines);
    gridOrderKernel = program->createKernel("findGridOrder");
    spreadKernel = program->createKernel("spread");
    finishSpreadKernel = program->createKernel("finishSpread");
    convolveKernel = program->createKernel("convolve");
    collectKernel = program->createKernel("collectPotential");
    gatherKernel = program->createKernel("gatherForces");
    if (ownQueue) {
        // addEnergy(source, target, size)
        ComputeKernel addEnergyKernel = program->createKernel("addEnergy");
        addEnergyKernel->addArg(energy);
        addEnergyKernel->addArg(cc.getEnergyBuffer());
        addEnergyKernel->addArg((int) energy.getSize());
        finishQueue->setAddEnergyKernel(addEnergyKernel, energy.getSize());
    }
    const bool useDouble = cc.getUseDoublePrecision();
    auto addReal = [&](ComputeKernel& kernel, double value) {
        if (useDouble)
            kernel->addArg(value);
        else
            kernel->addArg((float) value);
    };
    auto addReal4 = [&](ComputeKernel& kernel) {
        if (useDouble)
            kernel->addArg(mm_double4(0, 0, 0, 0));
        else
            kernel->addArg(mm_float4(0, 0, 0, 0));
    };
    ArrayInterface& energyOutput = getEnergyOutput();
    if (!gridOrder.isInitialized()) {
        gridOrder.initialize(cc, cc.getNumAtoms(), 2*sizeof(int), "sogGridOrder");
        gridSort = cc.createSort(new GridOrderTrait(), cc.getNumAtoms());
    }
    // findGridOrder(posq, order, recipX, recipY, recipZ)
    gridOrderKernel->addArg(cc.getPosq());
    gridOrderKernel->addArg(gridOrder);
    for (int i = 0; i < 3; i++)
        addReal4(gridOrderKernel);
    // spread(posq, atomIndex, order, charges, isScaled, chargeScale, fixedGrid, recipX, recipY, recipZ, fixedScale, selfKernel, energyBuffer)
    spreadKernel->addArg(cc.getPosq());
    spreadKernel->addArg(cc.getAtomIndexArray());
    spreadKernel->addArg(gridOrder);
    spreadKernel->addArg(charges);
    spreadKernel->addArg(isScaled);
    addReal(spreadKernel, 1.0);
    spreadKernel->addArg(floatSpreading ? realGrid : fixedGrid);
    for (int i = 0; i < 3; i++)
        addReal4(spreadKernel);
    addReal(spreadKernel, 1.0);
    spreadKernel->addArg(selfKernel);
    spreadKernel->addArg(energyOutput);
    // finishSpread(fixedGrid, grid, channel, inverseFixedScale)
    finishSpreadKernel->addArg(fixedGrid);
    finishSpreadKernel->addArg(realGrid);
    finishSpreadKernel->addArg((int) 0);
    addReal(finishSpreadKernel, 1.0);
    // convolve(spectrum, energyBuffer, deconvolution, gaussians, numGaussians, maxMode, recipX, recipY, recipZ,
    //          invVolume, potentialScale, computePotential)
    convolveKernel->addArg(spectrum);
    convolveKernel->addArg(energyOutput);
    convolveKernel->addArg(deconvolution);
    convolveKernel->addArg(gaussians[0]);
    convolveKernel->addArg((int) 0);
    convolveKernel->addArg(mm_int4(0, 0, 0, 0));
    for (int i = 0; i < 3; i++)
        addReal4(convolveKernel);
    addReal(convolveKernel, 1.0);
    addReal(convolveKernel, 1.0);
    convolveKernel->addArg((int) 0);
    // collectPotential(grid, potential, channel)
    if (numChannels > 1) {
        collectKernel->addArg(realGrid);
        collectKernel->addArg(potential);
        collectKernel->addArg((int) 0);
    }
    // gatherForces(posq, atomIndex, order, charges, isScaled, chargeScale, potential, selfKernel, energyScale, forceBuffers,
    //              energyParamDerivs, recipX, recipY, recipZ, chargeDerivs)
    gatherKernel->addArg(cc.getPosq());
    gatherKernel->addArg(cc.getAtomIndexArray());
    gatherKernel->addArg(gridOrder);
    gatherKernel->addArg(charges);
    gatherKernel->addArg(isScaled);
    addReal(gatherKernel, 1.0);
    gatherKernel->addArg(numChannels > 1 ? potential : realGrid); // one channel: the FFT's output itself
    gatherKernel->addArg(selfKernel);
    addReal(gatherKernel, 1.0);
    gatherKernel->addArg(cc.getLongForceBuffer());
    if (computeChargeScaleDerivative)
        gatherKernel->addArg(cc.getEnergyParamDerivBuffer());
    else
        gatherKernel->addArg(cc.getEnergyBuffer()); // unused placeholder
    for (int i = 0; i < 3; i++)
        addReal4(gatherKernel);
    gatherKernel->addArg(computeChargeDerivatives ? chargeDerivatives : charges); // charges: unused placeholder
    hasCompiledKernels = true;
}

void CommonSOGEngine::setBoxArguments(const Vec3* recip, double volume, const int maxMode[3]) {
    const bool useDouble = cc.getUseDoublePrecision();
    auto setReal4 = [&](ComputeKernel& kernel, int index, const Vec3& v) {
        if (useDouble)
            kernel->setArg(index, mm_double4(v[0], v[1], v[2], 0));
        else
            kernel->setArg(index, mm_float4((float) v[0], (float) v[1], (float) v[2], 0));
    };
    for (int d = 0; d < 3; d++) {
        setReal4(gridOrderKernel, GridOrderRecip + d, recip[d]);
        setReal4(spreadKernel, SpreadRecip + d, recip[d]);
        setReal4(convolveKernel, ConvolveRecip + d, recip[d]);
        setReal4(gatherKernel, GatherRecip + d, recip[d]);
    }
    if (useDouble)
        convolveKernel->setArg(ConvolveInvVolume, 1.0/volume);
    else
        convolveKernel->setArg(ConvolveInvVolume, (float) (1.0/volume));
    convolveKernel->setArg(ConvolveMaxMode, mm_int4(maxMode[0], maxMode[1], maxMode[2], 0));
    if (maxMode[0] != lastMaxMode[0] || maxMode[1] != lastMaxMode[1] || maxMode[2] != lastMaxMode[2]) {
        // Deconvolution factors D_d(m) = alpha psihat(2 pi m alpha / n_d), divided by phi(0) like the weights.
        const double alpha = 0.5*grid.spreadWidth;
        const double norm = SOGForceImpl::calcKernelValue(0.0, grid.beta);
        vector<double> values;
        for (int d = 0; d < 3; d++)
            for (int m = -maxMode[d]; m <= maxMode[d]; m++)
                values.push_back(alpha*SOGForceImpl::calcKernelTransform(2*M_PI*m*alpha/gridSize[d], grid.beta)/norm);
        deconvolution.resize(values.size());
        deconvolution.upload(values, true);
        convolveKernel->setArg(ConvolveDeconvolution, deconvolution);
        for (int d = 0; d < 3; d++)
            lastMaxMode[d] = maxMode[d];
    }
}

void CommonSOGEngine::compute(double chargeBound, bool includeForces, double chargeScale, double energyScale) {
    ContextSelector selector(cc);
    Vec3 box[3];
    cc.getPeriodicBoxVectors(box[0], box[1], box[2]);
    if (!SOGForceImpl::gridHoldsModes(box, grid.kCutoff, grid.upsampling, gridSize)) {
        // The box grew past the grid's room (a barostat): choose a grid for this box, again with
        // room to grow, refused with the reason before any allocation if it cannot fit.
        grid = SOGForceImpl::calcGridParameters(box, gridRequest);
        allocateGrids(box);
    }
    if (!hasCompiledKernels)
        compileKernels();
    started = true;
    Vec3 recip[3];
    double volume;
    int maxMode[3];
    SOGForceImpl::calcReciprocalBox(forceName, box, grid.kCutoff, grid.upsampling, gridSize, recip, volume, maxMode);
    setBoxArguments(recip, volume, maxMode);
    // Fixed-point scale for spreading: the largest |grid value| is at most sum_j |q_j| (weights <= 1).
    const double fixedScale = (chargeBound > 0 && !floatSpreading ? ldexp(1.0, 62)/chargeBound : 1.0);
    auto setReal = [&](ComputeKernel& kernel, int index, double value) {
        if (cc.getUseDoublePrecision())
            kernel->setArg(index, value);
        else
            kernel->setArg(index, (float) value);
    };
    setReal(spreadKernel, SpreadChargeScale, chargeScale);
    setReal(gatherKernel, GatherChargeScale, chargeScale);
    setReal(spreadKernel, SpreadFixedScale, fixedScale);
    setReal(finishSpreadKernel, FinishInverseScale, 1.0/fixedScale);
    // The energy scale multiplies the potential (so forces and dE/dq), and g_c(0) in dE/dq with it.
    setReal(convolveKernel, ConvolvePotentialScale, energyScale);
    setReal(gatherKernel, GatherEnergyScale, energyScale);
    const bool needPotential = (includeForces || computeChargeScaleDerivative);
    convolveKernel->setArg(ConvolveComputePotential, needPotential ? 1 : 0);
    // From here on the work goes to the engine's queue, if it has one (restored on any exit).
    struct QueueScope {
        ComputeContext& cc;
        bool active;
        ~QueueScope() {
            if (active)
                cc.restoreDefaultQueue();
        }
    } queueScope{cc, ownQueue};
    if (ownQueue)
        cc.setCurrentQueue(queue);
    if (ownEnergy || ownQueue)
        cc.clearBuffer(energy);
    // At most SOGForceImpl::maxGridPointsPerChannel (2^28), so it fits execute()'s int.
    const int gridPoints = gridSize[0]*gridSize[1]*gridSize[2];
    const int spectrumPoints = gridSize[0]*gridSize[1]*(gridSize[2]/2 + 1);

    // One spreading pass for all channels (and the self energy), then channel by channel: FFT,
    // k-space, and for the potential the inverse FFT, since the channels share the FFT's arrays.
    // The order only decides which atoms neighbouring threads visit, not the result (any
    // permutation of the atoms spreads the same fixed-point grid), so it is sorted again only
    // every few evaluations, in which atoms move a fraction of a grid cell, and after OpenMM
    // reorders its atoms: the sort costs as much as the spreading it speeds up (H200 profile).
    // Sums over atoms must not follow it (the self energy has its own loop), except dE/dlambda,
    // summed per thread in the gathering order: with it the order is sorted every evaluation, so
    // that the same positions give the same bits whatever the history (checkpoints).
    const int sortInterval = (computeChargeScaleDerivative ? 1 : SortInterval);
    if (sortAtoms && (evaluationsSinceSort == 0 || evaluationsSinceSort >= sortInterval || cc.getAtomsWereReordered())) {
        gridOrderKernel->execute(cc.getNumAtoms());
        gridSort->sort(gridOrder);
        evaluationsSinceSort = 0;
    }
    evaluationsSinceSort++;
    cc.clearBuffer(floatSpreading ? realGrid : fixedGrid);
    spreadKernel->execute(numParticles);
    for (int c = 0; c < numChannels; c++) {
        if (!floatSpreading) {
            finishSpreadKernel->setArg(FinishChannel, c);
            finishSpreadKernel->execute(gridPoints);
        }
        fft->execFFT(realGrid, spectrum, true);
        convolveKernel->setArg(ConvolveGaussians, gaussians[c]);
        convolveKernel->setArg(ConvolveNumGaussians, (int) gaussians[c].getSize()/2);
        convolveKernel->execute(spectrumPoints);
        if (needPotential) {
            fft->execFFT(spectrum, realGrid, false);
            if (numChannels > 1) {
                collectKernel->setArg(CollectChannel, c);
                collectKernel->execute(gridPoints);
            }
        }
    }
    if (needPotential)
        gatherKernel->execute(numParticles);
    if (ownQueue)
        finishEvent->enqueue();
}

double CommonSOGEngine::downloadEnergy() {
    if (!ownEnergy)
        throw OpenMMException(forceName + ": CommonSOGEngine::downloadEnergy() needs useOwnEnergyBuffer()");
    if (!energy.isInitialized())
        return 0.0; // no evaluation yet
    ContextSelector selector(cc);
    double sum = 0.0;
    if (energy.getElementSize() == sizeof(double)) {
        vector<double> values;
        energy.download(values);
        for (double value : values)
            sum += value;
    }
    else {
        vector<float> values;
        energy.download(values);
        for (float value : values)
            sum += value;
    }
    return sum;
}

void CommonSOGEngine::getGridParameters(double& kCutoff, int& spreadWidth, int size[3]) const {
    kCutoff = grid.kCutoff;
    spreadWidth = grid.spreadWidth;
    for (int d = 0; d < 3; d++)
        size[d] = gridSize[d];
}
