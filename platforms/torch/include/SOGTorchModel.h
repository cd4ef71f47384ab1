#ifndef OPENMM_SOGTORCHMODEL_H_
#define OPENMM_SOGTORCHMODEL_H_

#include "TorchSOGForce.h"
#include "openmm/Vec3.h"
#include <torch/csrc/autograd/autograd.h>
#include <torch/script.h>
#include <vector>

namespace SOGPlugin {

/**
 * The model half of a TorchSOGForce, on the host through libtorch, shared by every platform's
 * kernel: it loads the TorchScript model from the force's bytes and checks it, evaluates
 * local_energy_and_charges, and runs the backward pass that couples the model to the long range.
 * Units at its interface are OpenMM's (nm, kJ/mol, proton charges); the model's Angstrom and eV
 * are converted here.
 */
class SOGTorchModel {
public:
    /**
     * Load the model of a force; throws OpenMMException naming the problem. An export that
     * records a format_version (metadata.json) must not be newer than this build reads and its
     * named parameters and buffers must match the recorded weights_sha256 (the canonical stream
     * of openmm_sog/training/integrity.py).
     */
    explicit SOGTorchModel(const TorchSOGForce& force);
    /**
     * Evaluate the model's local energy and latent charges.
     *
     * @param positions      particle positions in the original order, measured in nm
     * @param boxVectors     the periodic box vectors, measured in nm
     * @param includeForces  keep the graph for backward()
     * @param[out] charges   the charges, entry i*P+c, measured in proton charges
     * @return the local energy, measured in kJ/mol
     */
    double evaluate(const std::vector<OpenMM::Vec3>& positions, const OpenMM::Vec3* boxVectors, bool includeForces,
            std::vector<double>& charges);
    /**
     * After evaluate(..., true): the forces -d/dr [E_local + sum_ic q_ic dE_lr/dq_ic] with
     * dE_lr/dq held fixed, which are the model's forces plus the charges' chain rule.
     *
     * @param chargeDerivatives  dE_lr/dq, entry i*P+c, measured in kJ/mol/e
     * @param[out] forces        entry 3*i+d, measured in kJ/mol/nm
     */
    void backward(const std::vector<double>& chargeDerivatives, std::vector<double>& forces);
private:
    int numParticles, numChannels;
    torch::jit::Module module;
    torch::Tensor atomicNumbers;          // [N] int64
    torch::Tensor positions, energy, charges; // of the last evaluation with forces
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGTORCHMODEL_H_*/
