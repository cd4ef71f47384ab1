#include "CommonTorchSOGKernels.h"
#include "internal/SOGForceImpl.h"
#include "internal/TorchSOGForceImpl.h"
#include "openmm/common/ComputeForceInfo.h"
#include "openmm/common/ContextSelector.h"
#include "openmm/internal/ContextImpl.h"
#include <cmath>
#include <map>
#include <vector>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

/*
 * The model is invariant to permuting atoms of one element, so OpenMM may reorder those, as long
 * as both are modelled (or both not) and both charge-scaled (or both not).
 */
class CommonCalcTorchSOGForceKernel::ForceInfo : public ComputeForceInfo {
public:
    ForceInfo(const TorchSOGForce& force, int numSystemParticles) : kind(numSystemParticles, -1) {
        vector<int> region = TorchSOGForceImpl::getRegion(force, numSystemParticles);
        vector<bool> scaled = TorchSOGForceImpl::getChargeScaledMask(force, region);
        for (int k = 0; k < (int) region.size(); k++)
            kind[region[k]] = 2*force.getAtomicNumbers()[k] + (scaled[k] ? 1 : 0);
    }
    bool areParticlesIdentical(int particle1, int particle2) {
        return kind[particle1] == kind[particle2];
    }
private:
    vector<int> kind; // -1 outside the region, else 2 Z + (charge-scaled ? 1 : 0)
};

// Forces computed on the host (kJ/mol/nm, entry 3*atom+d by original index) into the fixed-point
// force buffer, which is in the device's atom order.
static const char* addHostForcesSource = R"(
KERNEL void addHostForces(GLOBAL const real* RESTRICT forces, GLOBAL const int* RESTRICT atomIndex,
        GLOBAL mm_ulong* RESTRICT forceBuffers) {
    for (int i = GLOBAL_ID; i < NUM_ATOMS; i += GLOBAL_SIZE) {
        const int atom = atomIndex[i];
        forceBuffers[i] += (mm_ulong) realToFixedPoint(forces[3*atom]);
        forceBuffers[i + PADDED_NUM_ATOMS] += (mm_ulong) realToFixedPoint(forces[3*atom + 1]);
        forceBuffers[i + 2*PADDED_NUM_ATOMS] += (mm_ulong) realToFixedPoint(forces[3*atom + 2]);
    }
}
)";

void CommonCalcTorchSOGForceKernel::initialize(const System& system, const TorchSOGForce& force) {
    ContextSelector selector(cc);
    numSystemParticles = system.getNumParticles();
    numChannels = force.getNumChannels();
    model.reset(new SOGTorchModel(force, numSystemParticles));
    vector<double> weights(force.getNumGaussians()), widths(force.getNumGaussians());
    vector<int> channels(force.getNumGaussians());
    for (int l = 0; l < force.getNumGaussians(); l++)
        force.getGaussianParameters(l, weights[l], widths[l], channels[l]);
    if (force.usesPeriodicBoundaryConditions()) {
        // The engine is the SOGForce kernel with the force's Gaussians; charges are set every step.
        kernelParameters = SOGForce(numChannels);
        kernelParameters.setTolerance(force.getTolerance());
        for (int l = 0; l < force.getNumGaussians(); l++)
            kernelParameters.addGaussian(weights[l], widths[l], channels[l]);
        vector<double> zero(numChannels, 0.0);
        for (int i = 0; i < numSystemParticles; i++)
            kernelParameters.addParticle(zero);
        engine.reset(new CommonCalcSOGForceKernel(CalcSOGForceKernel::Name(), getPlatform(), cc, deviceMemory, "TorchSOGForce"));
        engine->initialize(system, kernelParameters);
        engine->enableChargeDerivatives();
    }
    else {
        freeSpace.reset(new SOGFreeSpaceSum(weights, widths, channels, numChannels));
        weightSums = SOGForceImpl::calcWeightSums(force);
    }
    chargeScaleName = force.getChargeScaleParameterName();
    energyScaleName = force.getEnergyScaleParameterName();
    chargeScaleDerivative = energyScaleDerivative = false;
    for (int k = 0; k < force.getNumEnergyParameterDerivatives(); k++) {
        const string& name = force.getEnergyParameterDerivativeName(k);
        chargeScaleDerivative |= (name == chargeScaleName);
        energyScaleDerivative |= (name == energyScaleName);
        cc.addEnergyParameterDerivative(name);
    }
    const int realSize = (cc.getUseDoublePrecision() ? sizeof(double) : sizeof(float));
    hostForces.initialize(cc, 3*numSystemParticles, realSize, "torchSOGHostForces");
    map<string, string> defines;
    defines["NUM_ATOMS"] = cc.intToString(cc.getNumAtoms());
    defines["PADDED_NUM_ATOMS"] = cc.intToString(cc.getPaddedNumAtoms());
    ComputeProgram program = cc.compileProgram(addHostForcesSource, defines);
    addForcesKernel = program->createKernel("addHostForces");
    addForcesKernel->addArg(hostForces);
    addForcesKernel->addArg(cc.getAtomIndexArray());
    addForcesKernel->addArg(cc.getLongForceBuffer());
    cc.addForce(new ForceInfo(force, numSystemParticles));
}

double CommonCalcTorchSOGForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    const double lambda = (chargeScaleName.empty() ? 1.0 : context.getParameter(chargeScaleName));
    const double scale = (energyScaleName.empty() ? 1.0 : context.getParameter(energyScaleName));
    TorchSOGForceImpl::checkScaleValue("charge scale", chargeScaleName, lambda);
    TorchSOGForceImpl::checkScaleValue("energy scale", energyScaleName, scale);
    vector<Vec3> positions;
    context.getPositions(positions);  // original order, unwrapped, nm
    Vec3 box[3];
    cc.getPeriodicBoxVectors(box[0], box[1], box[2]);
    vector<double> charges, chargeDerivatives, modelForces;
    const double localEnergy = model->evaluate(positions, box, lambda, includeForces, charges);
    const vector<int>& region = model->getRegion();
    const int numRegion = region.size();
    const bool needEnergy = (includeEnergy || (includeForces && energyScaleDerivative));
    double longRangeEnergy = 0.0;
    vector<double> hostForceValues(3*numSystemParticles, 0.0);
    if (engine) {
        // The charges of the System's particles: zero outside the region.
        vector<double> systemCharges(numSystemParticles*numChannels, 0.0);
        for (int k = 0; k < numRegion; k++)
            for (int c = 0; c < numChannels; c++)
                systemCharges[region[k]*numChannels + c] = charges[k*numChannels + c];
        engine->setCharges(systemCharges);
        engine->checkCharges("", 1.0);
        // Forces (added on the device) and dE/dq come multiplied by the energy scale.
        const double selfEnergy = engine->computeLongRange(1.0, includeForces, scale);
        if (needEnergy)
            longRangeEnergy = engine->downloadLongRangeEnergy() + selfEnergy;
        if (includeForces) {
            vector<double> systemDerivatives;
            engine->getChargeDerivatives(systemDerivatives);
            chargeDerivatives.resize(numRegion*numChannels);
            for (int k = 0; k < numRegion; k++)
                for (int c = 0; c < numChannels; c++)
                    chargeDerivatives[k*numChannels + c] = systemDerivatives[region[k]*numChannels + c];
        }
    }
    else {
        vector<double> absCharge(numChannels, 0.0);
        for (int k = 0; k < (int) charges.size(); k++)
            absCharge[k % numChannels] += fabs(charges[k]);
        SOGForceImpl::checkChargeMagnitude("TorchSOGForce", absCharge, weightSums);
        vector<Vec3> longRangeForces;
        longRangeEnergy = freeSpace->calculate(model->getRegionPositions(), charges,
                includeForces ? &longRangeForces : nullptr, includeForces ? &chargeDerivatives : nullptr);
        if (includeForces) {
            for (double& derivative : chargeDerivatives)
                derivative *= scale;
            for (int k = 0; k < numRegion; k++)
                for (int d = 0; d < 3; d++)
                    hostForceValues[3*region[k] + d] = scale*longRangeForces[k][d];
        }
    }
    const double energy = localEnergy + longRangeEnergy;
    if (includeForces) {
        const double dEdLambda = model->backward(chargeDerivatives, scale, modelForces);
        for (int k = 0; k < numRegion; k++)
            for (int d = 0; d < 3; d++)
                hostForceValues[3*region[k] + d] += modelForces[3*k + d];
        ContextSelector selector(cc);
        hostForces.upload(hostForceValues, true);
        addForcesKernel->execute(numSystemParticles);
        map<string, double>& derivatives = cc.getEnergyParamDerivWorkspace();
        if (chargeScaleDerivative)
            derivatives[chargeScaleName] += dEdLambda;
        if (energyScaleDerivative)
            derivatives[energyScaleName] += energy;
    }
    return scale*energy;
}
