#include "SOGTorchModel.h"
#include "openmm/OpenMMException.h"
#include <cmath>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

// The model's units (Angstrom, eV) against OpenMM's (nm, kJ/mol); e is the same on both sides.
static const double ANGSTROM_PER_NM = 10.0;
static const double KJ_PER_MOL_PER_EV = 1.602176634e-19*6.02214076e23/1000.0;

SOGTorchModel::SOGTorchModel(const TorchSOGForce& force) : numParticles(force.getNumParticles()),
        numChannels(force.getNumChannels()) {
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
}

double SOGTorchModel::evaluate(const vector<Vec3>& positionsNm, const Vec3* box, bool includeForces, vector<double>& q) {
    // Whatever the caller's thread had set, the forces need autograd.
    torch::AutoGradMode gradMode(true);
    torch::Tensor r = torch::empty({numParticles, 3}, torch::kFloat64);
    torch::Tensor cell = torch::empty({3, 3}, torch::kFloat64);
    auto rAccess = r.accessor<double, 2>();
    for (int i = 0; i < numParticles; i++)
        for (int d = 0; d < 3; d++) {
            if (!isfinite(positionsNm[i][d]))
                throw OpenMMException("TorchSOGForce: particle " + to_string(i) + " has a non-finite position");
            rAccess[i][d] = positionsNm[i][d]*ANGSTROM_PER_NM;
        }
    auto cellAccess = cell.accessor<double, 2>();
    for (int v = 0; v < 3; v++)
        for (int d = 0; d < 3; d++)
            cellAccess[v][d] = box[v][d]*ANGSTROM_PER_NM;
    r.requires_grad_(includeForces);
    torch::Tensor localEnergy, modelCharges;
    try {
        c10::IValue output = module.get_method("local_energy_and_charges")({r, atomicNumbers, cell, true});
        auto elements = output.toTuple()->elements();
        if (elements.size() != 2)
            throw OpenMMException("TorchSOGForce: local_energy_and_charges() must return (energy, charges)");
        localEnergy = elements[0].toTensor().sum();  // eV
        modelCharges = elements[1].toTensor();       // [N, P] e
    }
    catch (const c10::Error& error) {
        throw OpenMMException(string("TorchSOGForce: the model failed: ") + error.what_without_backtrace());
    }
    if (modelCharges.dim() != 2 || modelCharges.size(0) != numParticles || modelCharges.size(1) != numChannels)
        throw OpenMMException("TorchSOGForce: the model returned charges of shape " + c10::str(modelCharges.sizes()) +
                " but the force expects [" + to_string(numParticles) + ", " + to_string(numChannels) + "]");
    torch::Tensor hostCharges = modelCharges.detach().to(torch::kFloat64).contiguous();
    q.assign(hostCharges.data_ptr<double>(), hostCharges.data_ptr<double>() + numParticles*numChannels);
    for (double value : q)
        if (!isfinite(value))
            throw OpenMMException("TorchSOGForce: the model returned a non-finite charge");
    if (includeForces) {
        positions = r;
        energy = localEnergy;
        charges = modelCharges;
    }
    return localEnergy.item<double>()*KJ_PER_MOL_PER_EV;
}

void SOGTorchModel::backward(const vector<double>& chargeDerivatives, vector<double>& forces) {
    if (!positions.defined())
        throw OpenMMException("TorchSOGForce: backward() without an evaluation with forces");
    torch::AutoGradMode gradMode(true);
    // dE_lr/dq (kJ/mol/e) enters as a constant: one backward pass gives dE_local/dr and the
    // chain rule sum_ic dE_lr/dq_ic dq_ic/dr together.
    vector<double> copy(chargeDerivatives);
    torch::Tensor chargeGradient = torch::from_blob(copy.data(), {numParticles, numChannels},
            torch::kFloat64).to(charges.dtype());
    torch::Tensor objective = energy*KJ_PER_MOL_PER_EV + (charges*chargeGradient).sum();
    vector<torch::Tensor> gradients;
    try {
        gradients = torch::autograd::grad({objective}, {positions}, {}, false, false, true);
    }
    catch (const c10::Error& error) {
        throw OpenMMException(string("TorchSOGForce: the model's backward pass failed: ") + error.what_without_backtrace());
    }
    forces.assign(3*numParticles, 0.0);
    if (gradients[0].defined()) {
        torch::Tensor gradient = gradients[0].to(torch::kFloat64).contiguous();  // kJ/mol/Angstrom
        const double* g = gradient.data_ptr<double>();
        for (int k = 0; k < 3*numParticles; k++)
            forces[k] = -g[k]*ANGSTROM_PER_NM;
    }
    positions = torch::Tensor();
    energy = torch::Tensor();
    charges = torch::Tensor();
}
