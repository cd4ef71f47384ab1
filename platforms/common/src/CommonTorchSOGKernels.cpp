#include "CommonTorchSOGKernels.h"
#include "internal/SOGForceImpl.h"
#include "internal/TorchSOGForceImpl.h"
#include "openmm/common/ComputeForceInfo.h"
#include "openmm/common/ContextSelector.h"
#include "openmm/internal/ContextImpl.h"
#include <algorithm>
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
    weightSums = SOGForceImpl::calcWeightSums(force);
    const SOGKernelParameters parameters = SOGForceImpl::getKernelParameters(force);
    if (force.usesPeriodicBoundaryConditions()) {
        // The engine sums its energy in its own buffer: E, not s E, is needed for dU/ds.
        Vec3 box[3];
        system.getDefaultPeriodicBoxVectors(box[0], box[1], box[2]);
        engine.reset(new CommonSOGEngine(cc, parameters, numSystemParticles, box, "TorchSOGForce", deviceMemory));
        engine->enableChargeDerivatives();
        engine->useOwnEnergyBuffer();
    }
    else
        freeSpace.reset(new SOGFreeSpaceSum(parameters));
    scales = TorchSOGScaleParameters(force);
    for (int k = 0; k < force.getNumEnergyParameterDerivatives(); k++)
        cc.addEnergyParameterDerivative(force.getEnergyParameterDerivativeName(k));
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
    double lambda, scale;
    scales.read(context, lambda, scale);
    vector<Vec3> positions;
    context.getPositions(positions);  // original order, unwrapped, nm
    Vec3 box[3];
    cc.getPeriodicBoxVectors(box[0], box[1], box[2]);
    vector<double> charges, chargeDerivatives, modelForces;
    const double localEnergy = model->evaluate(positions, box, lambda, includeForces, charges);
    const vector<int>& region = model->getRegion();
    const int numRegion = region.size();
    const bool needEnergy = (includeEnergy || (includeForces && scales.hasEnergyScaleDerivative));
    double longRangeEnergy = 0.0;
    vector<double> hostForceValues(3*numSystemParticles, 0.0);
    // Charges too large for the energy are refused on every path (sum_i |q_ic| per channel).
    const vector<double> absCharge = TorchSOGForceImpl::checkModelCharges(charges, weightSums);
    if (engine) {
        // The charges of the System's particles: zero outside the region.
        vector<double> systemCharges(numSystemParticles*numChannels, 0.0);
        for (int k = 0; k < numRegion; k++)
            for (int c = 0; c < numChannels; c++)
                systemCharges[region[k]*numChannels + c] = charges[k*numChannels + c];
        ContextSelector selector(cc);
        engine->getCharges().upload(systemCharges, true);
        // Forces (added on the device) and dE/dq come multiplied by the energy scale.
        engine->compute(*max_element(absCharge.begin(), absCharge.end()), includeForces, 1.0, scale);
        if (needEnergy)
            longRangeEnergy = engine->downloadEnergy();
        if (includeForces) {
            vector<double> systemDerivatives;
            engine->getChargeDerivatives().download(systemDerivatives, true);
            chargeDerivatives.resize(numRegion*numChannels);
            for (int k = 0; k < numRegion; k++)
                for (int c = 0; c < numChannels; c++)
                    chargeDerivatives[k*numChannels + c] = systemDerivatives[region[k]*numChannels + c];
        }
    }
    else {
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
        scales.addDerivatives(cc.getEnergyParamDerivWorkspace(), dEdLambda, energy);
    }
    return scale*energy;
}
