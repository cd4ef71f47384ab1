#ifndef OPENMM_SOGTORCHMODEL_H_
#define OPENMM_SOGTORCHMODEL_H_

#include "SOGNeighborPairs.h"
#include "SOGRealSpaceSum.h"
#include "internal/SOGExportMetadata.h"
#include "internal/SOGKernelParameters.h"
#include "TorchSOGForce.h"
#include "openmm/Vec3.h"
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/script.h>
#include <memory>
#include <vector>

namespace SOGPlugin {

/**
 * The model half of a TorchSOGForce, on the host through libtorch, shared by every platform's
 * kernel: it loads the model from the force's bytes and checks it, evaluates its local energy and
 * charges, and runs the backward pass that couples the model to the long range. The model is
 * either a TorchScript export (local_energy_and_charges, then autograd) or an AOTInductor package
 * (`sognet export --format aotinductor`: a compiled local_forward and a compiled local_vjp, which
 * take the neighbour pairs this class builds; they run on the host whatever the device).
 * Units at its interface are OpenMM's (nm, kJ/mol, proton charges); the model's Angstrom and eV
 * are converted here.
 */
class SOGTorchModel {
public:
    // The model's units (Angstrom, eV) against OpenMM's (nm, kJ/mol); e is the same on both sides.
    static constexpr double ANGSTROM_PER_NM = 10.0;
    static constexpr double KJ_PER_MOL_PER_EV = 1.602176634e-19*6.02214076e23/1000.0;
    /**
     * Load the model of a force; throws OpenMMException naming the problem. An export that
     * records a format_version (metadata.json) must not be newer than this build reads and its
     * named parameters and buffers must match the recorded weights_sha256 (the canonical stream
     * of openmm_sog/training/integrity.py); a package's entries must match its package_sha256
     * (openmm_sog.training.compiled_export.package_digest) and its periodicity the force's. A force with a charge scale parameter needs an export
     * whose local_energy_and_charges takes the charge scale (openmm-sog 0.1.0 of 2026-12 and later).
     *
     * @param force               the force (its model bytes, atomic numbers, periodicity, scaling)
     * @param numSystemParticles  the number of particles of the System
     */
    SOGTorchModel(const TorchSOGForce& force, int numSystemParticles);
    /**
     * Evaluate the model's local energy and latent charges on the modelled particles.
     *
     * @param systemPositions  the positions of every particle of the System in its original order, measured in nm
     * @param boxVectors       the periodic box vectors, measured in nm (ignored by a non-periodic force)
     * @param chargeScale      the value of the charge scale parameter (dimensionless; 1 without one)
     * @param includeForces    keep the graph for backward()
     * @param[out] charges     the charges of the modelled particles (region order), entry k*P+c,
     *                         measured in proton charges, with the charge scale applied
     * @return the local energy, measured in kJ/mol
     */
    double evaluate(const std::vector<OpenMM::Vec3>& systemPositions, const OpenMM::Vec3* boxVectors,
            double chargeScale, bool includeForces, std::vector<double>& charges);
    /**
     * The positions (nm) of the modelled particles at the last evaluation, in region order.
     */
    const std::vector<OpenMM::Vec3>& getRegionPositions() const {
        return regionPositions;
    }
    /**
     * The System indices of the modelled particles, in region order.
     */
    const std::vector<int>& getRegion() const {
        return region;
    }
    /**
     * After evaluate(..., true): the forces -d/dr [s E_local + sum_kc q_kc D_kc] with D held fixed.
     * With D = s dE_lr/dq these are s times the model's forces plus the charges' chain rule.
     *
     * @param chargeDerivatives   D, entry k*P+c (region order), measured in kJ/mol/e
     * @param energyScale         s, the energy scale (dimensionless)
     * @param[out] forces         entry 3*k+d for the k-th modelled particle, measured in kJ/mol/nm
     * @return the derivative of the same objective with respect to the charge scale (kJ/mol);
     *         0 when the force has no charge scale parameter
     */
    double backward(const std::vector<double>& chargeDerivatives, double energyScale, std::vector<double>& forces);
    /*
     * The same on tensors, on the model's device (setDevice()), for callers that keep the data
     * there (the CUDA kernel): no host copies.
     */
    /**
     * Move the model and its constant inputs to a device (CPU by default).
     */
    void setDevice(const torch::Device& device);
    const torch::Device& getDevice() const {
        return device;
    }
    /**
     * Evaluate the model: (E_local [] eV, charges [N, P] e, charge scale applied). c10::Error
     * propagates (the caller names the cause).
     *
     * @param positionsAngstrom  [N, 3] positions of the modelled particles in region order, Angstrom
     * @param cellAngstrom       [3, 3] box vectors as rows, Angstrom (ignored by a non-periodic force)
     */
    std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& positionsAngstrom,
            const torch::Tensor& cellAngstrom, double chargeScale, bool includeForces);
    /**
     * After forward(..., true): (forces [N, 3] kJ/mol/nm float64, d/dlambda [] kJ/mol or undefined
     * without a charge scale) of s E_local + sum_kc q_kc D_kc with D = chargeGradient ([N, P]
     * kJ/mol/e) held fixed.
     */
    std::pair<torch::Tensor, torch::Tensor> backward(const torch::Tensor& chargeGradient, double energyScale);
    /**
     * Whether the model is a compiled (AOTInductor) package rather than TorchScript.
     */
    bool isCompiled() const {
        return compiled;
    }
    /**
     * Leave the real-space Gaussians of a periodic model (those not in its metadata's sog.kspace)
     * to the caller: evaluate() then returns the short-range energy alone (the export's
     * short_range_energy_and_charges) and keeps the model's neighbour pairs (getPairs()), over
     * which the caller adds their sum (SOGRealSpaceSum with getRealSpaceGaussians() within
     * getCutoff()) and its dE/dq. Returns false and changes nothing where that is not possible: a
     * compiled package, a non-periodic force, a model without real-space Gaussians, or an export
     * that predates the method.
     */
    bool leaveRealSpaceToCaller();
    /**
     * After evaluate() with the real space left to the caller: the model's neighbour pairs of
     * the modelled particles (region order).
     */
    const SOGPairSeparations& getPairs() const {
        return pairs;
    }
    /**
     * The model's real-space Gaussians (weights kJ/mol/e^2, widths nm), from its metadata.
     */
    const SOGKernelParameters& getRealSpaceGaussians() const {
        return realSpaceGaussians;
    }
    /**
     * The model's cutoff, measured in nm (0 when its metadata does not record it).
     */
    double getCutoff() const {
        return cutoffNm;
    }
private:
    void loadCompiled(const TorchSOGForce& force, const SOGExportMetadata& metadata, const std::string& file);
    std::pair<torch::Tensor, torch::Tensor> forwardCompiled(const torch::Tensor& positionsAngstrom,
            const torch::Tensor& cellAngstrom, double chargeScale, bool includeForces);
    std::pair<torch::Tensor, torch::Tensor> backwardCompiled(const torch::Tensor& chargeGradient, double energyScale);
    int numParticles, numChannels;
    bool periodic, hasChargeScale, compiled = false;
    std::string forwardMethod = "local_energy_and_charges"; // of a TorchScript export
    SOGKernelParameters realSpaceGaussians;
    double cutoffNm = 0.0;
    SOGPairSeparations pairs;
    std::vector<int> region;
    std::vector<OpenMM::Vec3> regionPositions;
    torch::jit::Module module;
    torch::Device device = torch::kCPU;
    torch::Tensor atomicNumbers;          // [N] int64
    torch::Tensor scaledMask;             // [N] bool: the charge scale multiplies these
    torch::Tensor positions, energy, charges, chargeScale; // of the last evaluation with forces
    // A compiled package: its two programs, the cutoff of its neighbour list (Angstrom), and the
    // inputs of the last evaluation with forces (on the host), which local_vjp takes again.
    std::unique_ptr<torch::inductor::AOTIModelPackageLoader> forwardProgram, vjpProgram;
    double cutoffAngstrom = 0.0;
    torch::Tensor hostAtomicNumbers, hostScaledMask;
    std::vector<torch::Tensor> compiledInputs;
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGTORCHMODEL_H_*/
