#ifndef OPENMM_SOGREALSPACESUM_H_
#define OPENMM_SOGREALSPACESUM_H_

#include "SOGPairKernel.h"
#include "internal/SOGKernelParameters.h"
#include "openmm/Vec3.h"
#include <cstdint>
#include <vector>

namespace SOGPlugin {

/**
 * The pairs of a SOG-Net's real-space sum: each pair within the cutoff once, periodic images
 * included, with its separation. selectPairs() builds them from the model's neighbour list.
 */
struct SOGPairSeparations {
    // Entries 0 ... count-1 are the pairs; the arrays may be longer (storage kept from an
    // earlier, longer list, so that selectPairs() need not clear it on every call).
    int count = 0;
    std::vector<int> first, second;        // i <= j, one entry per pair
    std::vector<double> separations;       // r_j - r_i + S h, three entries per pair, measured in nm
    std::vector<double> squaredDistances;  // |r_j - r_i + S h|^2, one entry per pair, measured in nm^2
    int size() const {
        return count;
    }
};

/**
 * Keep each pair of a full neighbour list, as a SOG-Net's export returns it
 * (short_range_energy_and_charges: each pair in both orders, periodic images included, some
 * beyond the cutoff), once and only within the cutoff: the entry with i < j and, of an atom's own
 * images (i = j), the one whose first non-zero separation component is positive.
 *
 * @param first, second     i and j of each of the count entries
 * @param separations       r_j - r_i + S h, three per entry, in units of 1/unitsPerNm nm (Real: float or double)
 * @param count             the number of entries
 * @param numParticles      the number of particles (indices must lie in [0, numParticles))
 * @param unitsPerNm        the separations' units per nm (10 for Angstrom)
 * @param cutoff            the cutoff, measured in nm
 * @param[out] pairs        the pairs kept (its storage is reused from call to call)
 * @throws OpenMM::OpenMMException for an index outside [0, numParticles)
 */
template <class Real>
void selectPairs(const int64_t* first, const int64_t* second, const Real* separations, int64_t count, int numParticles,
        double unitsPerNm, double cutoff, SOGPairSeparations& pairs);

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
 * and dE/dq, each pair once.
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
     * @param pairs                   the pairs within the cutoff, each once (selectPairs())
     * @param boxVectors              the periodic box vectors, measured in nm
     * @param charges                 entry i*P+c, in proton charges, for every particle
     * @param[out] forces             if not null, the forces (kJ/mol/nm) are added to it
     * @param[out] chargeDerivatives  if not null, dE/dq (kJ/mol/e) is added to it, entry i*P+c
     * @return the energy, measured in kJ/mol
     */
    double calculate(const SOGPairSeparations& pairs, const OpenMM::Vec3* boxVectors,
            const std::vector<double>& charges, std::vector<OpenMM::Vec3>* forces,
            std::vector<double>* chargeDerivatives) const;
    /**
     * The cutoff, measured in nm.
     */
    double getCutoff() const {
        return cutoff;
    }
private:
    SOGPairKernel kernel;
    std::vector<double> transformAtZero;  // ghat_c(0) per channel, kJ/mol nm^3/e^2
    double cutoff;
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGREALSPACESUM_H_*/
