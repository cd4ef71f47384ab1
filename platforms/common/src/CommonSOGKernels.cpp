#include "CommonSOGKernels.h"
#include "CommonSOGKernelSources.h"
#include "openmm/OpenMMException.h"
#include "openmm/common/ComputeForceInfo.h"
#include "openmm/common/ContextSelector.h"
#include "openmm/internal/ContextImpl.h"
#include "internal/SOGSpreadingKernel.h"
#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

/*
 * Tells OpenMM which particles it may exchange when it reorders atoms: those with the same
 * charges and the same scaling.
 */
class CommonCalcSOGForceKernel::ForceInfo : public ComputeForceInfo {
public:
    ForceInfo(const SOGForce& force) : force(force), isScaled(SOGForceImpl::findScaledParticles(force)) {
    }
    bool areParticlesIdentical(int particle1, int particle2) {
        vector<double> charges1, charges2;
        force.getParticleCharges(particle1, charges1);
        force.getParticleCharges(particle2, charges2);
        return charges1 == charges2 && isScaled[particle1] == isScaled[particle2];
    }
private:
    const SOGForce& force;
    vector<int> isScaled;
};

void CommonCalcSOGForceKernel::initialize(const System& system, const SOGForce& force) {
    ContextSelector selector(cc);
    numParticles = force.getNumParticles();
    numChannels = force.getNumChannels();
    numGaussians = force.getNumGaussians();
    minWidth = SOGForceImpl::findMinimumWidth(force);
    tolerance = force.getTolerance();
    chargeScaleName = force.getChargeScaleParameterName();
    computeDerivative = (force.getNumEnergyParameterDerivatives() > 0);
    if (computeDerivative)
        cc.addEnergyParameterDerivative(chargeScaleName);
    const bool useDouble = cc.getUseDoublePrecision();
    const int realSize = (useDouble ? sizeof(double) : sizeof(float));
    gridRequest = SOGForceImpl::createGridRequest(force, forceName, getBytesPerGridPoint(useDouble), deviceMemory);
    Vec3 box[3];
    system.getDefaultPeriodicBoxVectors(box[0], box[1], box[2]);
    grid = SOGForceImpl::calcGridParameters(box, gridRequest);
    charges.initialize(cc, numParticles*numChannels, realSize, "sogCharges");
    isScaled.initialize<int>(cc, numParticles, "sogIsScaled");
    selfKernel.initialize(cc, numChannels, realSize, "sogSelfKernel");
    deconvolution.initialize(cc, 1, realSize, "sogDeconvolution");
    gaussians.resize(numChannels);
    spreadGrids.resize(numChannels);
    fourierGrids.resize(numChannels);
    potentialGrids.resize(numChannels);
    allocateGrids(box);
    scaledFlags = SOGForceImpl::findScaledParticles(force);
    isScaled.upload(scaledFlags);
    uploadParameters(force);
    info = new ForceInfo(force);
    cc.addForce(info);
}

void CommonCalcSOGForceKernel::allocateGrids(const Vec3* boxVectors) {
    double size[3];
    for (int d = 0; d < 3; d++) {
        gridSize[d] = cc.findLegalFFTDimension(grid.gridSize[d]);
        size[d] = gridSize[d];
        lastMaxMode[d] = -1;
    }
    SOGForceImpl::checkGridSize(gridRequest, boxVectors, size);
    const bool useDouble = cc.getUseDoublePrecision();
    const int realSize = (useDouble ? sizeof(double) : sizeof(float));
    const size_t gridPoints = (size_t) gridSize[0]*gridSize[1]*gridSize[2];
    // Release the old grids (a re-plan) before the larger ones are allocated.
    fft = FFT3D();
    for (ComputeArray* array : {&fixedGrid, &potential})
        if (array->isInitialized())
            array->resize(1);
    for (auto* arrays : {&spreadGrids, &fourierGrids, &potentialGrids})
        for (ComputeArray& array : *arrays)
            if (array.isInitialized())
                array.resize(1);
    auto allocate = [&](ComputeArray& array, size_t size, int elementSize, const string& name) {
        if (array.isInitialized())
            array.resize(size);
        else
            array.initialize(cc, size, elementSize, name);
    };
    allocate(fixedGrid, (size_t) numChannels*gridPoints, sizeof(long long), "sogFixedGrid");
    allocate(potential, (size_t) numChannels*gridPoints, realSize, "sogPotential");
    for (int c = 0; c < numChannels; c++) {
        allocate(spreadGrids[c], gridPoints, 2*realSize, "sogSpreadGrid");
        allocate(fourierGrids[c], gridPoints, 2*realSize, "sogFourierGrid");
        allocate(potentialGrids[c], gridPoints, 2*realSize, "sogPotentialGrid");
    }
    fft = cc.createFFT(gridSize[0], gridSize[1], gridSize[2], false);
    hasCompiledKernels = false; // the grid sizes are compiled into the kernels
}

void CommonCalcSOGForceKernel::checkCharges(const string& chargeScaleName, double scale) {
    SOGForceImpl::checkScaledCharges(forceName, chargeScaleName, scale, scaledAbsCharge, unscaledAbsCharge, weightSums);
}

void CommonCalcSOGForceKernel::setCharges(const vector<double>& chargeValues) {
    scaledSelf.assign(numChannels, 0.0);
    unscaledSelf.assign(numChannels, 0.0);
    scaledAbsCharge.assign(numChannels, 0.0);
    unscaledAbsCharge.assign(numChannels, 0.0);
    scaledTotal.assign(numChannels, 0.0);
    unscaledTotal.assign(numChannels, 0.0);
    for (int i = 0; i < numParticles; i++)
        for (int c = 0; c < numChannels; c++) {
            double q = chargeValues[i*numChannels + c];
            (scaledFlags[i] ? scaledSelf : unscaledSelf)[c] += q*q;
            (scaledFlags[i] ? scaledAbsCharge : unscaledAbsCharge)[c] += fabs(q);
            (scaledFlags[i] ? scaledTotal : unscaledTotal)[c] += q;
        }
    charges.upload(chargeValues, true);
}

void CommonCalcSOGForceKernel::uploadParameters(const SOGForce& force) {
    vector<double> chargeValues(numParticles*numChannels);
    vector<double> particleCharges;
    for (int i = 0; i < numParticles; i++) {
        force.getParticleCharges(i, particleCharges);
        for (int c = 0; c < numChannels; c++)
            chargeValues[i*numChannels + c] = particleCharges[c];
    }
    setCharges(chargeValues);
    backgroundIntegrals = SOGForceImpl::getBackgroundIntegrals(force);
    weightSums = SOGForceImpl::calcWeightSums(force);
    // Per channel, (w pi^{3/2} sigma^3, sigma^2/4) pairs by increasing width: the convolve kernel
    // stops at the first term whose exponent exceeds the cut-off (all wider ones do too).
    vector<vector<pair<double, double> > > sorted(numChannels);
    selfKernelHost.assign(numChannels, 0.0);
    for (int l = 0; l < numGaussians; l++) {
        double weight, width;
        int channel;
        force.getGaussianParameters(l, weight, width, channel);
        sorted[channel].push_back(make_pair(0.25*width*width, weight*pow(M_PI, 1.5)*width*width*width));
        selfKernelHost[channel] += weight;
    }
    vector<vector<double> > terms(numChannels);
    for (int c = 0; c < numChannels; c++) {
        sort(sorted[c].begin(), sorted[c].end());
        for (auto& term : sorted[c]) {
            terms[c].push_back(term.second);
            terms[c].push_back(term.first);
        }
    }
    const int realSize = (cc.getUseDoublePrecision() ? sizeof(double) : sizeof(float));
    for (int c = 0; c < numChannels; c++) {
        if (terms[c].empty())
            terms[c].assign(2, 0.0); // a channel without Gaussians contributes nothing
        if (!gaussians[c].isInitialized() || gaussians[c].getSize() != terms[c].size()) {
            if (gaussians[c].isInitialized())
                gaussians[c].resize(terms[c].size());
            else
                gaussians[c].initialize(cc, terms[c].size(), realSize, "sogGaussians");
        }
        gaussians[c].upload(terms[c], true);
    }
    selfKernel.upload(selfKernelHost, true);
    uploadedEnergyScale = 1.0;
}

/*
 * The device functions kernelValues(v, w) and kernelDerivatives(v, w): the spreading weights and
 * their d/dz as polynomials in v (SOGSpreadingKernel), fitted to the round-off of real and scaled
 * by 1/phi(0) so that single precision sees values of order 1. Horner's rule, one literal
 * coefficient per term.
 */
string CommonCalcSOGForceKernel::createWeightFunctions() {
    const double fitTolerance = (cc.getUseDoublePrecision() ? 1e-14 : 2e-8);
    SOGSpreadingKernel kernel(grid.spreadWidth, grid.beta, fitTolerance);
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

void CommonCalcSOGForceKernel::compileKernels() {
    map<string, string> defines;
    defines["NUM_ATOMS"] = cc.intToString(cc.getNumAtoms());
    defines["PADDED_NUM_ATOMS"] = cc.intToString(cc.getPaddedNumAtoms());
    defines["NUM_CHANNELS"] = cc.intToString(numChannels);
    defines["GRID_SIZE_X"] = cc.intToString(gridSize[0]);
    defines["GRID_SIZE_Y"] = cc.intToString(gridSize[1]);
    defines["GRID_SIZE_Z"] = cc.intToString(gridSize[2]);
    // At most SOGForceImpl::maxGridPointsPerChannel (2^28): an int; channel offsets are 64-bit.
    defines["GRID_POINTS"] = to_string((long long) gridSize[0]*gridSize[1]*gridSize[2]);
    defines["SPREAD_WIDTH"] = cc.intToString(grid.spreadWidth);
    // OpenCL C defines M_PI, CUDA's run-time compiler does not.
    defines["TWO_PI"] = cc.doubleToString(2*M_PI);
    int derivIndex = -1;
    const vector<string>& derivNames = cc.getEnergyParamDerivNames();
    for (int i = 0; i < (int) derivNames.size(); i++)
        if (derivNames[i] == chargeScaleName)
            derivIndex = i;
    if (computeDerivative) {
        defines["HAS_DERIVATIVE"] = "1";
        defines["NUM_DERIVS"] = cc.intToString(derivNames.size());
        defines["DERIV_INDEX"] = cc.intToString(derivIndex);
    }
    if (computeChargeDerivatives)
        defines["HAS_CHARGE_DERIVATIVES"] = "1";
    if (computeChargeDerivatives && !longRangeEnergy.isInitialized()) {
        // The k-space energy goes to a buffer of its own, which downloadLongRangeEnergy() sums on
        // the host; sized like the context's energy buffer, which exists once evaluations start.
        ArrayInterface& energyBuffer = cc.getEnergyBuffer();
        longRangeEnergy.initialize(cc, energyBuffer.getSize(), energyBuffer.getElementSize(), "sogLongRangeEnergy");
    }
    ComputeProgram program = cc.compileProgram(createWeightFunctions() + CommonSOGKernelSources::sog, defines);
    spreadKernel = program->createKernel("spread");
    finishSpreadKernel = program->createKernel("finishSpread");
    convolveKernel = program->createKernel("convolve");
    collectKernel = program->createKernel("collectPotential");
    gatherKernel = program->createKernel("gatherForces");
    addForcesKernel = program->createKernel("addForces");
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
    // spread(posq, atomIndex, charges, isScaled, chargeScale, fixedGrid, recipX, recipY, recipZ, fixedScale)
    spreadKernel->addArg(cc.getPosq());
    spreadKernel->addArg(cc.getAtomIndexArray());
    spreadKernel->addArg(charges);
    spreadKernel->addArg(isScaled);
    addReal(spreadKernel, 1.0);
    spreadKernel->addArg(fixedGrid);
    for (int i = 0; i < 3; i++)
        addReal4(spreadKernel);
    addReal(spreadKernel, 1.0);
    // finishSpread(fixedGrid, grid, channel, inverseFixedScale)
    finishSpreadKernel->addArg(fixedGrid);
    finishSpreadKernel->addArg(spreadGrids[0]);
    finishSpreadKernel->addArg((int) 0);
    addReal(finishSpreadKernel, 1.0);
    // convolve(structureFactor, potential, energyBuffer, deconvolution, gaussians, numGaussians, maxMode, recipX, recipY, recipZ, invVolume, potentialScale)
    convolveKernel->addArg(fourierGrids[0]);
    convolveKernel->addArg(potentialGrids[0]);
    convolveKernel->addArg(computeChargeDerivatives ? longRangeEnergy : cc.getEnergyBuffer());
    convolveKernel->addArg(deconvolution);
    convolveKernel->addArg(gaussians[0]);
    convolveKernel->addArg((int) 0);
    convolveKernel->addArg(mm_int4(0, 0, 0, 0));
    for (int i = 0; i < 3; i++)
        addReal4(convolveKernel);
    addReal(convolveKernel, 1.0);
    addReal(convolveKernel, 1.0);
    // collectPotential(grid, potential, channel)
    collectKernel->addArg(spreadGrids[0]);
    collectKernel->addArg(potential);
    collectKernel->addArg((int) 0);
    // gatherForces(posq, atomIndex, charges, isScaled, chargeScale, potential, selfKernel, forceBuffers, energyParamDerivs, recipX, recipY, recipZ)
    gatherKernel->addArg(cc.getPosq());
    gatherKernel->addArg(cc.getAtomIndexArray());
    gatherKernel->addArg(charges);
    gatherKernel->addArg(isScaled);
    addReal(gatherKernel, 1.0);
    gatherKernel->addArg(potential);
    gatherKernel->addArg(selfKernel);
    gatherKernel->addArg(cc.getLongForceBuffer());
    if (computeDerivative)
        gatherKernel->addArg(cc.getEnergyParamDerivBuffer());
    else
        gatherKernel->addArg(cc.getEnergyBuffer()); // unused placeholder
    for (int i = 0; i < 3; i++)
        addReal4(gatherKernel);
    gatherKernel->addArg(computeChargeDerivatives ? chargeDerivatives : charges); // charges: unused placeholder
    if (computeChargeDerivatives) {
        // addForces(forces, atomIndex, forceBuffers)
        addForcesKernel->addArg(hostForces);
        addForcesKernel->addArg(cc.getAtomIndexArray());
        addForcesKernel->addArg(cc.getLongForceBuffer());
    }
    hasCompiledKernels = true;
}

void CommonCalcSOGForceKernel::setBoxArguments(const Vec3* recip, const int maxMode[3]) {
    const bool useDouble = cc.getUseDoublePrecision();
    auto setReal4 = [&](ComputeKernel& kernel, int index, const Vec3& v) {
        if (useDouble)
            kernel->setArg(index, mm_double4(v[0], v[1], v[2], 0));
        else
            kernel->setArg(index, mm_float4((float) v[0], (float) v[1], (float) v[2], 0));
    };
    for (int d = 0; d < 3; d++) {
        setReal4(spreadKernel, 6 + d, recip[d]);
        setReal4(convolveKernel, 7 + d, recip[d]);
        setReal4(gatherKernel, 9 + d, recip[d]);
    }
    if (useDouble)
        convolveKernel->setArg(10, 1.0/volume);
    else
        convolveKernel->setArg(10, (float) (1.0/volume));
    convolveKernel->setArg(6, mm_int4(maxMode[0], maxMode[1], maxMode[2], 0));
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
        convolveKernel->setArg(3, deconvolution);
        for (int d = 0; d < 3; d++)
            lastMaxMode[d] = maxMode[d];
    }
}

double CommonCalcSOGForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    ContextSelector selector(cc);
    const double scale = context.getParameter(chargeScaleName);
    checkCharges(chargeScaleName, scale);
    double energy = computeLongRange(scale, includeForces);
    // The net-charge background (no forces): computeLongRange() has set the volume.
    double backgroundDerivative;
    energy += SOGForceImpl::calcBackgroundEnergy(backgroundIntegrals, scaledTotal, unscaledTotal, scale, volume,
            backgroundDerivative);
    if (computeDerivative)
        cc.getEnergyParamDerivWorkspace()[chargeScaleName] += backgroundDerivative;
    return energy;
}

void CommonCalcSOGForceKernel::enableChargeDerivatives() {
    if (hasCompiledKernels)
        throw OpenMMException(forceName + ": enableChargeDerivatives() must come before the first evaluation");
    computeChargeDerivatives = true;
    const int realSize = (cc.getUseDoublePrecision() ? sizeof(double) : sizeof(float));
    chargeDerivatives.initialize(cc, numParticles*numChannels, realSize, "sogChargeDerivatives");
    hostForces.initialize(cc, 3*numParticles, realSize, "sogHostForces");
}

double CommonCalcSOGForceKernel::downloadLongRangeEnergy() {
    ContextSelector selector(cc);
    if (!computeChargeDerivatives)
        throw OpenMMException(forceName + ": downloadLongRangeEnergy() needs enableChargeDerivatives()");
    double sum = 0.0;
    if (longRangeEnergy.getElementSize() == sizeof(double)) {
        vector<double> values;
        longRangeEnergy.download(values);
        for (double value : values)
            sum += value;
    }
    else {
        vector<float> values;
        longRangeEnergy.download(values);
        for (float value : values)
            sum += value;
    }
    return sum;
}

void CommonCalcSOGForceKernel::getChargeDerivatives(vector<double>& derivatives) {
    ContextSelector selector(cc);
    chargeDerivatives.download(derivatives, true);
}

void CommonCalcSOGForceKernel::addHostForces(const vector<double>& forces) {
    ContextSelector selector(cc);
    hostForces.upload(forces, true);
    addForcesKernel->execute(numParticles);
}

double CommonCalcSOGForceKernel::computeLongRange(double scale, bool includeForces, double energyScale) {
    ContextSelector selector(cc);
    Vec3 box[3];
    cc.getPeriodicBoxVectors(box[0], box[1], box[2]);
    if (!SOGForceImpl::gridHoldsModes(box, grid.kCutoff, gridSize)) {
        // The box grew past the grid's room (a barostat): choose a grid for this box, again with
        // room to grow, refused with the reason before any allocation if it cannot fit.
        grid = SOGForceImpl::calcGridParameters(box, gridRequest);
        allocateGrids(box);
    }
    if (!hasCompiledKernels)
        compileKernels();
    Vec3 recip[3];
    int maxMode[3];
    SOGForceImpl::calcReciprocalBox(forceName, box, grid.kCutoff, gridSize, recip, volume, maxMode);
    setBoxArguments(recip, maxMode);
    // Fixed-point scale for spreading: the largest |grid value| is at most sum_j |q_j| (weights <= 1).
    double chargeBound = 0.0;
    for (int c = 0; c < numChannels; c++)
        chargeBound = max(chargeBound, fabs(scale)*scaledAbsCharge[c] + unscaledAbsCharge[c]);
    const double fixedScale = (chargeBound > 0 ? ldexp(1.0, 62)/chargeBound : 1.0);
    auto setReal = [&](ComputeKernel& kernel, int index, double value) {
        if (cc.getUseDoublePrecision())
            kernel->setArg(index, value);
        else
            kernel->setArg(index, (float) value);
    };
    setReal(spreadKernel, 4, scale);
    setReal(gatherKernel, 4, scale);
    setReal(spreadKernel, 9, fixedScale);
    setReal(finishSpreadKernel, 3, 1.0/fixedScale);
    // The energy scale multiplies the potential (so forces and dE/dq), and g_c(0) in dE/dq with it.
    setReal(convolveKernel, 11, energyScale);
    if (energyScale != uploadedEnergyScale) {
        vector<double> scaledSelfKernel(selfKernelHost);
        for (double& value : scaledSelfKernel)
            value *= energyScale;
        selfKernel.upload(scaledSelfKernel, true);
        uploadedEnergyScale = energyScale;
    }
    if (computeChargeDerivatives)
        cc.clearBuffer(longRangeEnergy);
    // Both at most SOGForceImpl::maxGridPointsPerChannel (2^28), so they fit execute()'s int.
    const long long gridPoints = (long long) gridSize[0]*gridSize[1]*gridSize[2];
    const long long numModes = (long long) (2*maxMode[0] + 1)*(2*maxMode[1] + 1)*(2*maxMode[2] + 1);

    // Type 1 and the k-space multiplication, channel by channel after one spreading pass.
    cc.clearBuffer(fixedGrid);
    spreadKernel->execute(numParticles);
    for (int c = 0; c < numChannels; c++) {
        finishSpreadKernel->setArg(1, spreadGrids[c]);
        finishSpreadKernel->setArg(2, c);
        finishSpreadKernel->execute((int) gridPoints);
        fft->execFFT(spreadGrids[c], fourierGrids[c], true);
        cc.clearBuffer(potentialGrids[c]);
        convolveKernel->setArg(0, fourierGrids[c]);
        convolveKernel->setArg(1, potentialGrids[c]);
        convolveKernel->setArg(4, gaussians[c]);
        convolveKernel->setArg(5, (int) gaussians[c].getSize()/2);
        convolveKernel->execute((int) numModes);
    }

    // Type 2: potentials of all channels, then one gathering pass.
    if (includeForces || computeDerivative) {
        for (int c = 0; c < numChannels; c++) {
            fft->execFFT(potentialGrids[c], spreadGrids[c], false);
            collectKernel->setArg(0, spreadGrids[c]);
            collectKernel->setArg(2, c);
            collectKernel->execute((int) gridPoints);
        }
        gatherKernel->execute(numParticles);
    }

    // The self term -1/2 sum_c g_c(0) sum_i q_ic^2 with the scaled charges (its lambda
    // derivative is part of the gathered dE/dq).
    double selfEnergy = 0.0;
    for (int c = 0; c < numChannels; c++)
        selfEnergy -= 0.5*selfKernelHost[c]*(scale*scale*scaledSelf[c] + unscaledSelf[c]);
    return selfEnergy;
}

void CommonCalcSOGForceKernel::getGridParameters(double& kCutoff, int& spreadWidth, int size[3]) const {
    kCutoff = grid.kCutoff;
    spreadWidth = grid.spreadWidth;
    for (int d = 0; d < 3; d++)
        size[d] = gridSize[d];
}

void CommonCalcSOGForceKernel::copyParametersToContext(ContextImpl& context, const SOGForce& force) {
    ContextSelector selector(cc);
    SOGForceImpl::validateParameterUpdate(force, context.getSystem(), numParticles, numGaussians, tolerance, minWidth);
    uploadParameters(force);
    cc.invalidateMolecules(info);
}
