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
#include <string>
#include <vector>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

namespace {

void checkCuda(CUresult result, const string& what) {
    if (result != CUDA_SUCCESS) {
        const char* name = nullptr;
        cuGetErrorName(result, &name);
        throw OpenMMException("TorchSOGForce: " + what + " failed on CUDA: " + (name ? name : "unknown error"));
    }
}

/*
 * The device's primary context (libtorch's) current for a block. libtorch may make it current
 * itself (cudaSetDevice), which replaces the top of the stack by the same context, so popping
 * restores the caller's.
 */
class PrimaryContextScope {
public:
    explicit PrimaryContextScope(CUcontext primary) {
        checkCuda(cuCtxPushCurrent(primary), "making libtorch's context current");
    }
    ~PrimaryContextScope() {
        CUcontext popped;
        cuCtxPopCurrent(&popped);
    }
    PrimaryContextScope(const PrimaryContextScope&) = delete;
    PrimaryContextScope& operator=(const PrimaryContextScope&) = delete;
};

/*
 * OpenMM kernels that move data between OpenMM's arrays (device atom order, System order) and
 * libtorch's (region order). slot[System index] is the place in the region or -1; region[k] the
 * System index of the k-th modelled particle. The force buffer is OpenMM's 64-bit fixed point
 * (2^32 per kJ/mol/nm).
 */
const char* regionKernelsSource = R"(
extern "C" __global__ void gatherRegionPositions(const real4* __restrict__ posq, const int* __restrict__ atomIndex,
        const int* __restrict__ slot, real* __restrict__ positions) {
    for (int i = blockIdx.x*blockDim.x + threadIdx.x; i < NUM_ATOMS; i += blockDim.x*gridDim.x) {
        const int k = slot[atomIndex[i]];
        if (k >= 0) {
            const real4 pos = posq[i];
            positions[3*k] = pos.x;
            positions[3*k + 1] = pos.y;
            positions[3*k + 2] = pos.z;
        }
    }
}

extern "C" __global__ void scatterRegionCharges(const real* __restrict__ regionCharges, const int* __restrict__ region,
        real* __restrict__ charges) {
    for (int i = blockIdx.x*blockDim.x + threadIdx.x; i < NUM_REGION*NUM_CHANNELS; i += blockDim.x*gridDim.x)
        charges[region[i/NUM_CHANNELS]*NUM_CHANNELS + i%NUM_CHANNELS] = regionCharges[i];
}

extern "C" __global__ void gatherRegionDerivatives(const real* __restrict__ derivatives, const int* __restrict__ region,
        real* __restrict__ regionDerivatives) {
    for (int i = blockIdx.x*blockDim.x + threadIdx.x; i < NUM_REGION*NUM_CHANNELS; i += blockDim.x*gridDim.x)
        regionDerivatives[i] = derivatives[region[i/NUM_CHANNELS]*NUM_CHANNELS + i%NUM_CHANNELS];
}

extern "C" __global__ void addRegionForces(const real* __restrict__ forces, const int* __restrict__ atomIndex,
        const int* __restrict__ slot, unsigned long long* __restrict__ forceBuffers) {
    for (int i = blockIdx.x*blockDim.x + threadIdx.x; i < NUM_ATOMS; i += blockDim.x*gridDim.x) {
        const int k = slot[atomIndex[i]];
        if (k >= 0) {
            forceBuffers[i] += (unsigned long long) ((long long) (forces[3*k]*0x100000000));
            forceBuffers[i + PADDED_NUM_ATOMS] += (unsigned long long) ((long long) (forces[3*k + 1]*0x100000000));
            forceBuffers[i + 2*PADDED_NUM_ATOMS] += (unsigned long long) ((long long) (forces[3*k + 2]*0x100000000));
        }
    }
}
)";

} // namespace

CudaCalcTorchSOGForceKernel::~CudaCalcTorchSOGForceKernel() {
    if (primaryContext != nullptr)
        cuDevicePrimaryCtxRelease(cu.getDevice());
}

void CudaCalcTorchSOGForceKernel::initialize(const System& system, const TorchSOGForce& force) {
    CommonCalcTorchSOGForceKernel::initialize(system, force);
    // The model goes to the GPU only where libtorch has CUDA; a free-space model keeps its host sum.
    deviceResident = (engine != nullptr) && torch::cuda::is_available();
    if (!deviceResident)
        return;
    const vector<int>& region = model->getRegion();
    const int numRegion = region.size();
    checkCuda(cuDevicePrimaryCtxRetain(&primaryContext, cu.getDevice()), "retaining the device's primary context");
    {
        PrimaryContextScope torchContext(primaryContext);
        device = torch::Device(torch::kCUDA, cu.getDeviceIndex());
        model->setDevice(device);
        auto options = torch::TensorOptions().device(device).dtype(
                cc.getUseDoublePrecision() ? torch::kFloat64 : torch::kFloat32);
        regionPositions = torch::zeros({numRegion, 3}, options);
        regionCharges = torch::zeros({numRegion, numChannels}, options);
        regionDerivatives = torch::zeros({numRegion, numChannels}, options);
        regionForces = torch::zeros({numRegion, 3}, options);
        torch::cuda::synchronize(cu.getDeviceIndex());
    }
    ContextSelector selector(cc);
    vector<int> slot(numSystemParticles, -1);
    for (int k = 0; k < numRegion; k++)
        slot[region[k]] = k;
    regionSlot.initialize<int>(cc, max(1, numSystemParticles), "torchSOGRegionSlot");
    regionSlot.upload(slot);
    regionAtoms.initialize<int>(cc, max(1, numRegion), "torchSOGRegionAtoms");
    if (numRegion > 0)
        regionAtoms.upload(region);
    map<string, string> defines;
    defines["NUM_ATOMS"] = cu.intToString(cu.getNumAtoms());
    defines["PADDED_NUM_ATOMS"] = cu.intToString(cu.getPaddedNumAtoms());
    defines["NUM_REGION"] = cu.intToString(numRegion);
    defines["NUM_CHANNELS"] = cu.intToString(numChannels);
    CUmodule module = cu.createModule(regionKernelsSource, defines);
    gatherPositionsKernel = cu.getKernel(module, "gatherRegionPositions");
    scatterChargesKernel = cu.getKernel(module, "scatterRegionCharges");
    gatherDerivativesKernel = cu.getKernel(module, "gatherRegionDerivatives");
    addRegionForcesKernel = cu.getKernel(module, "addRegionForces");
}

void CudaCalcTorchSOGForceKernel::launch(CUfunction kernel, vector<void*> arguments, int threads) {
    if (threads > 0)
        cu.executeKernel(kernel, arguments.data(), threads);
}

double CudaCalcTorchSOGForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    if (!deviceResident)
        return CommonCalcTorchSOGForceKernel::execute(context, includeForces, includeEnergy);
    double lambda, scale;
    scales.read(context, lambda, scale);
    const int numRegion = model->getRegion().size();
    const bool needEnergy = (includeEnergy || (includeForces && scales.hasEnergyScaleDerivative));
    CUdeviceptr posq = cu.getPosq().getDevicePointer(), atomIndex = cu.getAtomIndexArray().getDevicePointer();
    CUdeviceptr slot = cu.unwrap(regionSlot).getDevicePointer(), atoms = cu.unwrap(regionAtoms).getDevicePointer();
    CUdeviceptr charges = cu.unwrap(engine->getCharges()).getDevicePointer();
    void* positionsData = regionPositions.data_ptr();
    void* chargesData = regionCharges.data_ptr();
    void* derivativesData = regionDerivatives.data_ptr();
    void* forcesData = regionForces.data_ptr();

    // 1. The modelled particles' positions from posq into libtorch's array.
    {
        ContextSelector selector(cc);
        launch(gatherPositionsKernel, {&posq, &atomIndex, &slot, &positionsData}, cu.getNumAtoms());
        checkCuda(cuCtxSynchronize(), "synchronising OpenMM's context");
    }
    Vec3 box[3];
    cc.getPeriodicBoxVectors(box[0], box[1], box[2]);
    // 2. The model on the GPU; its charges into libtorch's array, and P charge sums to the host
    //    (the overflow check and the engine's fixed-point scale need them; NaN charges show here).
    vector<double> absCharge(numChannels);
    double localEnergy = 0.0;
    {
        PrimaryContextScope torchContext(primaryContext);
        torch::Tensor positions = regionPositions.to(torch::kFloat64)*SOGTorchModel::ANGSTROM_PER_NM;
        torch::Tensor cell = torch::tensor({box[0][0], box[0][1], box[0][2], box[1][0], box[1][1], box[1][2],
                box[2][0], box[2][1], box[2][2]}, torch::kFloat64).reshape({3, 3})*SOGTorchModel::ANGSTROM_PER_NM;
        torch::Tensor energyTensor, chargeTensor;
        try {
            tie(energyTensor, chargeTensor) = model->forward(positions, cell, lambda, includeForces);
        }
        catch (const c10::Error& error) {
            throw OpenMMException(string("TorchSOGForce: the model failed: ") + error.what_without_backtrace());
        }
        regionCharges.copy_(chargeTensor.detach());
        torch::Tensor sums = chargeTensor.detach().abs().sum(0).to(torch::kCPU, torch::kFloat64).contiguous();
        copy(sums.data_ptr<double>(), sums.data_ptr<double>() + numChannels, absCharge.begin());
        if (needEnergy)
            localEnergy = energyTensor.item<double>()*SOGTorchModel::KJ_PER_MOL_PER_EV;
        torch::cuda::synchronize(cu.getDeviceIndex());
    }
    for (double value : absCharge)
        if (!isfinite(value))
            throw OpenMMException("TorchSOGForce: the model returned a non-finite charge");
    SOGForceImpl::checkChargeMagnitude("TorchSOGForce", absCharge, weightSums);
    // 3. The long range: the charges into the engine's array (zero outside the region since its
    //    creation), the engine, and dE/dq (times the energy scale) back into libtorch's array.
    double energy = localEnergy;
    {
        ContextSelector selector(cc);
        launch(scatterChargesKernel, {&chargesData, &atoms, &charges}, numRegion*numChannels);
        engine->compute(*max_element(absCharge.begin(), absCharge.end()), includeForces, 1.0, scale);
        if (needEnergy)
            energy += engine->downloadEnergy();
        if (includeForces) {
            CUdeviceptr derivatives = cu.unwrap(engine->getChargeDerivatives()).getDevicePointer();
            launch(gatherDerivativesKernel, {&derivatives, &atoms, &derivativesData}, numRegion*numChannels);
        }
        checkCuda(cuCtxSynchronize(), "synchronising OpenMM's context");
    }
    if (!includeForces)
        return scale*energy;
    // 4. The model's backward pass with dE/dq held fixed: its forces into libtorch's array.
    double dEdLambda = 0.0;
    {
        PrimaryContextScope torchContext(primaryContext);
        auto [forces, lambdaGradient] = model->backward(regionDerivatives, scale);
        regionForces.copy_(forces);
        if (scales.hasChargeScaleDerivative)
            dEdLambda = lambdaGradient.item<double>();
        torch::cuda::synchronize(cu.getDeviceIndex());
    }
    // 5. Those forces into OpenMM's force buffer, by original index.
    ContextSelector selector(cc);
    CUdeviceptr forceBuffer = cu.getLongForceBuffer().getDevicePointer();
    launch(addRegionForcesKernel, {&forcesData, &atomIndex, &slot, &forceBuffer}, cu.getNumAtoms());
    scales.addDerivatives(cc.getEnergyParamDerivWorkspace(), dEdLambda, energy);
    return scale*energy;
}
