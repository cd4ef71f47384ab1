#include "ReferenceTorchSOGKernels.h"
#include "internal/SOGForceImpl.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/windowsExport.h"
#include "openmm/reference/ReferencePlatform.h"
#include <cmath>
#include <vector>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

// The model's units (Angstrom, eV) against OpenMM's (nm, kJ/mol); e is the same on both sides.
static const double ANGSTROM_PER_NM = 10.0;
static const double KJ_PER_MOL_PER_EV = 1.602176634e-19*6.02214076e23/1000.0;

extern "C" OPENMM_EXPORT void registerPlatforms() {
}

extern "C" OPENMM_EXPORT void registerKernelFactories() {
    // The CPU platform derives from the Reference platform and shares its platform data.
    for (int i = 0; i < Platform::getNumPlatforms(); i++) {
        Platform& platform = Platform::getPlatform(i);
        if (dynamic_cast<ReferencePlatform*>(&platform) != nullptr)
            platform.registerKernelFactory(CalcTorchSOGForceKernel::Name(), new ReferenceTorchSOGKernelFactory());
    }
}

KernelImpl* ReferenceTorchSOGKernelFactory::createKernelImpl(string name, const Platform& platform, ContextImpl& context) const {
    if (name == CalcTorchSOGForceKernel::Name())
        return new ReferenceCalcTorchSOGForceKernel(name, platform);
    throw OpenMMException("TorchSOGForce: the Reference kernel factory was asked for unknown kernel '" + name + "'");
}

static ReferencePlatform::PlatformData& getPlatformData(ContextImpl& context) {
    return *reinterpret_cast<ReferencePlatform::PlatformData*>(context.getPlatformData());
}

void ReferenceCalcTorchSOGForceKernel::initialize(const System& system, const TorchSOGForce& force) {
    numParticles = force.getNumParticles();
    numChannels = force.getNumChannels();
    const string& file = force.getFile();
    try {
        module = torch::jit::load(file, torch::kCPU);
    }
    catch (const c10::Error& error) {
        throw OpenMMException("TorchSOGForce: cannot load '" + file + "' as a TorchScript model (write it with "
                "`sognet export`; a model with vesin neighbour lists needs `import vesin_torch` first): " +
                error.what_without_backtrace());
    }
    if (!module.find_method("local_energy_and_charges"))
        throw OpenMMException("TorchSOGForce: the model in '" + file + "' has no method local_energy_and_charges("
                "positions, atomic_numbers, cell, pbc) -> (energy, charges); write it with `sognet export`");
    module.eval();
    vector<int64_t> numbers(force.getAtomicNumbers().begin(), force.getAtomicNumbers().end());
    atomicNumbers = torch::tensor(numbers, torch::kInt64);
    Vec3 box[3];
    system.getDefaultPeriodicBoxVectors(box[0], box[1], box[2]);
    double minWidth = SOGForceImpl::findMinimumWidth(force);
    ixn.reset(new ReferenceSOGIxn(numChannels, SOGForceImpl::calcGridParameters(box, force.getTolerance(), minWidth)));
    vector<double> weights(force.getNumGaussians()), widths(force.getNumGaussians());
    vector<int> channels(force.getNumGaussians());
    for (int l = 0; l < force.getNumGaussians(); l++)
        force.getGaussianParameters(l, weights[l], widths[l], channels[l]);
    ixn->setGaussians(weights, widths, channels);
}

double ReferenceCalcTorchSOGForceKernel::execute(ContextImpl& context, bool includeForces, bool includeEnergy) {
    ReferencePlatform::PlatformData& data = getPlatformData(context);
    const vector<Vec3>& positionsNm = *data.positions;
    const Vec3* box = data.periodicBoxVectors;
    // Whatever the caller's thread had set, the forces need autograd.
    torch::AutoGradMode gradMode(true);
    torch::Tensor positions = torch::empty({numParticles, 3}, torch::kFloat64);
    torch::Tensor cell = torch::empty({3, 3}, torch::kFloat64);
    {
        auto r = positions.accessor<double, 2>();
        for (int i = 0; i < numParticles; i++)
            for (int d = 0; d < 3; d++) {
                if (!isfinite(positionsNm[i][d]))
                    throw OpenMMException("TorchSOGForce: particle " + to_string(i) + " has a non-finite position");
                r[i][d] = positionsNm[i][d]*ANGSTROM_PER_NM;
            }
        auto h = cell.accessor<double, 2>();
        for (int v = 0; v < 3; v++)
            for (int d = 0; d < 3; d++)
                h[v][d] = box[v][d]*ANGSTROM_PER_NM;
    }
    positions.requires_grad_(includeForces);
    torch::Tensor localEnergy, charges;
    try {
        c10::IValue output = module.get_method("local_energy_and_charges")({positions, atomicNumbers, cell, true});
        auto elements = output.toTuple()->elements();
        if (elements.size() != 2)
            throw OpenMMException("TorchSOGForce: local_energy_and_charges() must return (energy, charges)");
        localEnergy = elements[0].toTensor().sum();   // eV
        charges = elements[1].toTensor();                  // [N, P] e
    }
    catch (const c10::Error& error) {
        throw OpenMMException(string("TorchSOGForce: the model failed: ") + error.what_without_backtrace());
    }
    if (charges.dim() != 2 || charges.size(0) != numParticles || charges.size(1) != numChannels)
        throw OpenMMException("TorchSOGForce: the model returned charges of shape " + c10::str(charges.sizes()) +
                " but the force expects [" + to_string(numParticles) + ", " + to_string(numChannels) + "]");
    torch::Tensor hostCharges = charges.detach().to(torch::kFloat64).contiguous();
    vector<double> q(hostCharges.data_ptr<double>(), hostCharges.data_ptr<double>() + numParticles*numChannels);
    for (double value : q)
        if (!isfinite(value))
            throw OpenMMException("TorchSOGForce: the model returned a non-finite charge");
    vector<double> chargeDerivatives;
    ixn->setThreadPool(&data.threads);
    double longRangeEnergy = ixn->calculate(positionsNm, box, q, includeForces ? data.forces : nullptr,
            includeForces ? &chargeDerivatives : nullptr);
    double energy = localEnergy.item<double>()*KJ_PER_MOL_PER_EV + longRangeEnergy;
    if (includeForces) {
        // One backward pass: dE_local/dr plus the charges' chain rule sum_ic dE_lr/dq_ic dq_ic/dr,
        // with dE_lr/dq (kJ/mol/e) held fixed as the gradient of q.
        torch::Tensor chargeGradient = torch::from_blob(chargeDerivatives.data(), {numParticles, numChannels},
                torch::kFloat64).to(charges.dtype());
        torch::Tensor objective = localEnergy*KJ_PER_MOL_PER_EV + (charges*chargeGradient).sum();
        vector<torch::Tensor> gradients;
        try {
            gradients = torch::autograd::grad({objective}, {positions}, {}, false, false, true);
        }
        catch (const c10::Error& error) {
            throw OpenMMException(string("TorchSOGForce: the model's backward pass failed: ") + error.what_without_backtrace());
        }
        if (gradients[0].defined()) {
            torch::Tensor gradient = gradients[0].to(torch::kFloat64).contiguous();   // kJ/mol/Angstrom
            auto g = gradient.accessor<double, 2>();
            vector<Vec3>& forces = *data.forces;
            for (int i = 0; i < numParticles; i++)
                forces[i] -= Vec3(g[i][0], g[i][1], g[i][2])*ANGSTROM_PER_NM;
        }
    }
    return energy;
}
