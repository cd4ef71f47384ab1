#ifndef OPENMM_SOGFREESPACESUM_H_
#define OPENMM_SOGFREESPACESUM_H_

#include "SOGPairKernel.h"
#include "internal/SOGKernelParameters.h"
#include "openmm/Vec3.h"
#include <vector>

namespace SOGPlugin {

/**
 * The long range of a non-periodic SOG-Net (a molecule or cluster in free space): the exact pair
 * sum E = sum_{i<j} sum_c q_ic q_jc g_c(r_ij), g_c(r) = sum_l w_l exp(-r^2/sigma_l^2), with no
 * images and no self term, as the model's own free-space sum (openmm_sog.model.long_range). It
 * costs O(N^2 M), which suits the molecules and clusters such models are trained on; periodic
 * models use the NUFFT engines instead.
 */
class SOGFreeSpaceSum {
public:
    /**
     * @param parameters  the channels and Gaussians (weights in kJ/mol/e^2, widths in nm); the
     *                    tolerance is not used: the sum is exact
     */
    explicit SOGFreeSpaceSum(const SOGKernelParameters& parameters);
    /**
     * Compute the energy and, if requested, the forces at fixed charges and dE/dq.
     *
     * @param positions               particle positions, measured in nm
     * @param charges                 entry i*P+c, in proton charges
     * @param[out] forces             if not null, resized to the particles and set (kJ/mol/nm)
     * @param[out] chargeDerivatives  if not null, resized and set to dE/dq (kJ/mol/e), entry i*P+c
     * @return the energy, measured in kJ/mol
     */
    double calculate(const std::vector<OpenMM::Vec3>& positions, const std::vector<double>& charges,
            std::vector<OpenMM::Vec3>* forces, std::vector<double>* chargeDerivatives) const;
private:
    SOGPairKernel kernel;
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGFREESPACESUM_H_*/
