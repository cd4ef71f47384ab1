#ifndef OPENMM_SOGREALSPACESUM_H_
#define OPENMM_SOGREALSPACESUM_H_

#include "SOGPairKernel.h"
#include "internal/SOGKernelParameters.h"
#include "openmm/Vec3.h"
#include <cstdint>
#include <vector>

namespace SOGPlugin {

/**
 * Neighbour pairs with their separations, as a SOG-Net's export returns them
 * (short_range_energy_and_charges): each pair in both orders, periodic images included.
 */
struct SOGPairSeparations {
    std::vector<int64_t> first, second;  // i and j, one entry per pair
    std::vector<double> separations;     // r_j - r_i + S h, three entries per pair, measured in nm
    int size() const {
        return first.size();
    }
};

/**
 * The real-space part of a periodic SOG-Net's long range: the Gaussians narrow enough to vanish
 * (to the model's tolerance) beyond its cutoff, summed over every pair within the cutoff, periodic
 * images included, minus their neutralising background,
 *
 *   E = 1/2 sum_{i,j,n}' sum_c q_ic q_jc g_c(|r_j - r_i + n|) - sum_c Q_c^2 ghat_c(0) / (2V),
 *
 * g_c(r) = sum_l w_l exp(-r^2/sigma_l^2), ghat_c(0) = sum_l w_l pi^(3/2) sigma_l^3, Q_c = sum_i q_ic,
 * as the model's own LatentLongRange.real_space (openmm_sog.model.long_range) computes it in torch.
 * TorchSOGForce's Reference and CPU kernels sum it here, over the model's own neighbour pairs,
 * instead of through the model's autograd graph: one pass over the pairs for the energy, forces
 * and dE/dq.
 */
class SOGRealSpaceSum {
public:
    /**
     * @param parameters  the real-space Gaussians (weights in kJ/mol/e^2, widths in nm); the
     *                    tolerance is not used
     * @param cutoff      the pairs' cutoff, measured in nm
     */
    SOGRealSpaceSum(const SOGKernelParameters& parameters, double cutoff);
    /**
     * Compute the energy and, if requested, add the forces and dE/dq at fixed charges.
     *
     * @param pairs                   the neighbour pairs (both orders); those at or beyond the
     *                                cutoff are left out
     * @param boxVectors              the periodic box vectors, measured in nm
     * @param charges                 entry i*P+c, in proton charges, for every particle
     * @param[out] forces             if not null, the forces (kJ/mol/nm) are added to it
     * @param[out] chargeDerivatives  if not null, dE/dq (kJ/mol/e) is added to it, entry i*P+c
     * @return the energy, measured in kJ/mol
     */
    double calculate(const SOGPairSeparations& pairs, const OpenMM::Vec3* boxVectors,
            const std::vector<double>& charges, std::vector<OpenMM::Vec3>* forces,
            std::vector<double>* chargeDerivatives) const;
private:
    SOGPairKernel kernel;
    std::vector<double> transformAtZero; // ghat_c(0) per channel, kJ/mol nm^3/e^2
    double cutoff;
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGREALSPACESUM_H_*/
