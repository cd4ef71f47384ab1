#include "CudaTorchSOGKernels.h"
#include "internal/SOGForceImpl.h"
#include "internal/TorchSOGForceImpl.h"
#include "openmm/OpenMMException.h"
#include "openmm/common/ContextSelector.h"
#include "openmm/internal/ContextImpl.h"
#include <torch/cuda.h>
#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

// Positions (nm) of the modelled particles in region order from posq, which is in the device's
// atom order: slot[original index] is the particle's place in the region, or -1.
static const char* gatherPositionsSource = R"(
KERNEL void gatherRegionPositions(GLOBAL const real4* RESTRICT posq, GLOBAL const int* RESTRICT atomIndex,
        GLOBAL const int* RESTRICT slot, GLOBAL real* RESTRICT positions) {
    for (int i = GLOBAL_ID; i < NUM_ATOMS; i += GLOBAL_SIZE) {
        const int k = slot[atomIndex[i]];
        if (k >= 0) {
            const real4 pos = posq[i];
            positions[3*k] = pos.x;
            positions[3*k + 1] = pos.y;
            positions[3*k + 2] = pos.z;
        }
    }
}
)";

void CudaCalcTorchSOGForceKernel::initialize(const System& system, const TorchSOGForce& force) {
    CommonCalcTorchSOGForceKernel::initialize(system, force);
    // The model goes to the GPU only where libtorch has CUDA; a free-space model keeps its host sum.
    deviceResident = (engine != nullptr) && torch::cuda::is_available();
    if (!deviceResident)
        return;
    ContextSelector selector(cc);
    device = torch::Device(torch::kCUDA, cu.getDeviceIndex());
    model->setDevice(device);
    const vector<int>& region = model->getRegion();
    vector<int> slot(numSystemParticles, -1);
    for (int k = 0; k < (int) region.size(); k++)
        slot[region[k]] = k;
    regionSlot.initialize<int>(cc, numSystemParticles, "torchSOGRegionSlot");
    regionSlot.upload(slot);
    const int realSize = (cc.getUseDoublePrecision() ? sizeof(double) : sizeof(float));
    regionPositions.initialize(cc, 3*max<int>(1, region.size()), realSize, "torchSOGRegionPositions");
    vector<int64_t> indices(region.begin(), region.end());
    regionIndex = torch::tensor(indices, torch::kInt64).to(device);
    map<string, string> defines;
    defines["NUM_ATOMS"] = cc.intToString(cc.getNumAtoms());
    ComputeProgram program = cc.compileProgram(gatherPositionsSource, defines);
    gatherKernel = program->createKernel("gatherRegionPositions");
    gatherKernel->addArg(cc.getPosq());
    gatherKernel->addArg(cc.getAtomIndexArray());
    gatherKernel->addArg(regionSlot);
    gatherKernel->addArg(regionPositions);
}

torch::Tensor CudaCalcTorchSOGForceKernel::view(ComputeArray& array, int64_t rows, int64_t columns) {
    void* pointer = reinterpret_cast<void*>(cu.unwrap(array).getDevicePointer());
    auto type = (cc.getUseDoublePrecision() ? torch::kFloat64 : torch::kFloat32);
    return torch::from_blob(pointer, {rows, columns}, torch::TensorOptions().device(device).dtype(type));
}

double CudaCalcTorchSOGForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    if (!deviceResident)
        return CommonCalcTorchSOGForceKernel::execute(context, includeForces, includeEnergy);
    double lambda, scale;
    scales.read(context, lambda, scale);
    ContextSelector selector(cc);
    const int numRegion = model->getRegion().size();
    // 1. Positions on the device, region order; OpenMM's stream must have written posq.
    gatherKernel->execute(cc.getNumAtoms());
    cuStreamSynchronize(cu.getCurrentStream());
    torch::Tensor positions = view(regionPositions, numRegion, 3).to(torch::kFloat64)*SOGTorchModel::ANGSTROM_PER_NM;
    Vec3 box[3];
    cc.getPeriodicBoxVectors(box[0], box[1], box[2]);
    torch::Tensor cell = torch::tensor({box[0][0], box[0][1], box[0][2], box[1][0], box[1][1], box[1][2],
            box[2][0], box[2][1], box[2][2]}, torch::kFloat64).reshape({3, 3})*SOGTorchModel::ANGSTROM_PER_NM;
    // 2. The model on the GPU.
    torch::Tensor localEnergy, charges;
    try {
        tie(localEnergy, charges) = model->forward(positions, cell, lambda, includeForces);
    }
    catch (const c10::Error& error) {
        throw OpenMMException(string("TorchSOGForce: the model failed: ") + error.what_without_backtrace());
    }
    // 3. The charge sums per channel (P numbers to the host): the overflow check and the engine's
    //    fixed-point scale need them; NaN charges show here too.
    torch::Tensor sums = charges.detach().abs().sum(0).to(torch::kCPU, torch::kFloat64).contiguous();
    vector<double> absCharge(sums.data_ptr<double>(), sums.data_ptr<double>() + numChannels);
    for (double value : absCharge)
        if (!isfinite(value))
            throw OpenMMException("TorchSOGForce: the model returned a non-finite charge");
    SOGForceImpl::checkChargeMagnitude("TorchSOGForce", absCharge, weightSums);
    // 4. The charges into the engine's array (System order, zero outside the region), on the device.
    torch::Tensor engineCharges = view(engine->getCharges(), numSystemParticles, numChannels);
    engineCharges.zero_();
    engineCharges.index_copy_(0, regionIndex, charges.detach().to(engineCharges.scalar_type()));
    torch::cuda::synchronize(cu.getDeviceIndex());
    engine->compute(*max_element(absCharge.begin(), absCharge.end()), includeForces, 1.0, scale);
    const bool needEnergy = (includeEnergy || (includeForces && scales.hasEnergyScaleDerivative));
    double energy = 0.0;
    if (needEnergy)
        energy = localEnergy.item<double>()*SOGTorchModel::KJ_PER_MOL_PER_EV + engine->downloadEnergy();
    if (includeForces) {
        // 5. dE/dq (already times the energy scale) back into the model's backward pass.
        cuStreamSynchronize(cu.getCurrentStream());
        torch::Tensor derivatives = view(engine->getChargeDerivatives(), numSystemParticles, numChannels);
        auto [forces, lambdaGradient] = model->backward(derivatives.index_select(0, regionIndex), scale);
        // 6. The model's forces into OpenMM's force buffer, by original index.
        torch::Tensor hostForceView = view(hostForces, numSystemParticles, 3);
        hostForceView.zero_();
        hostForceView.index_copy_(0, regionIndex, forces.to(hostForceView.scalar_type()));
        torch::cuda::synchronize(cu.getDeviceIndex());
        addForcesKernel->execute(numSystemParticles);
        const double dEdLambda = (scales.hasChargeScaleDerivative ? lambdaGradient.item<double>() : 0.0);
        scales.addDerivatives(cc.getEnergyParamDerivWorkspace(), dEdLambda, energy);
    }
    return scale*energy;
}
