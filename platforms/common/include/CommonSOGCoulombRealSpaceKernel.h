#ifndef OPENMM_COMMONSOGCOULOMBREALSPACEKERNEL_H_
#define OPENMM_COMMONSOGCOULOMBREALSPACEKERNEL_H_

#include "SOGKernels.h"
#include "internal/SOGCoulombRealSpaceForceImpl.h"
#include "openmm/common/ComputeArray.h"
#include "openmm/common/ComputeContext.h"
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace SOGPlugin {

/**
 * SOGCoulombRealSpaceForce on the OpenCL and CUDA platforms. The cutoff pair sum (the Coulomb
 * complement A/r - g(r) and Lennard-Jones with its switching function) is an interaction of
 * OpenMM's shared nonbonded kernel (NonbondedUtilities: its neighbour list, its exclusion tiles),
 * and the exceptions are a bonded interaction (BondedUtilities), so that the force adds no kernel
 * launch of its own. Both compute in the platform's `real` precision and accumulate the energy as
 * OpenMM's nonbonded kernel does; g is evaluated directly (exponentials and the polynomial), with
 * its constants compiled into the source. The charge scale parameter enters through the per-particle
 * and per-exception parameters, which the host recomputes and uploads only when it changes. The
 * dispersion correction C/V is added on the host. The maths is the Reference kernel's
 * (ReferenceCalcSOGCoulombRealSpaceForceKernel).
 *
 * As with OpenMM's own nonbonded forces on these platforms, every force in the System that uses
 * the nonbonded kernel must have the same exclusions (here: the exception pairs), and forces in
 * one force group must share one cutoff.
 */
class CommonCalcSOGCoulombRealSpaceForceKernel : public CalcSOGCoulombRealSpaceForceKernel {
public:
    CommonCalcSOGCoulombRealSpaceForceKernel(std::string name, const OpenMM::Platform& platform, OpenMM::ComputeContext& cc) :
            CalcSOGCoulombRealSpaceForceKernel(name, platform), cc(cc) {
    }
    void initialize(const OpenMM::System& system, const SOGCoulombRealSpaceForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    void copyParametersToContext(OpenMM::ContextImpl& context, const SOGCoulombRealSpaceForce& force);
private:
    class ForceInfo;
    /**
     * Read the per-particle and per-exception parameters and the dispersion coefficient from a
     * force (the device arrays follow at the next execute()).
     */
    void setParameters(const OpenMM::System& system, const SOGCoulombRealSpaceForce& force);
    /**
     * Upload the device parameters for charge scale value `lambda`.
     */
    void uploadParameters(double lambda);
    /**
     * The source that sets `sogG` = g(r) and `sogDG` = dg/d(r^2) from `r2` (nm^2), with the
     * Gaussians and polynomial coefficients as literals.
     */
    std::string createLongRangeSource(const SOGCoulombRealSpaceForce& force) const;
    OpenMM::ComputeContext& cc;
    ForceInfo* info = nullptr;                        // owned by cc
    std::unique_ptr<SOGComplementSettings> settings;   // fixed when the kernel is created
    std::unique_ptr<SOGComplementParameters> params;   // replaced by updateParametersInContext()
    bool computeDerivative = false;                   // dE/dlambda requested
    bool parametersValid = false;                     // whether the device arrays hold the values for uploadedLambda
    double uploadedLambda = 0.0;
    // Per particle (padded): f_i q_i (e), dq_eff/dlambda (e), sigma_i/2 (nm), 2 sqrt(epsilon_i).
    OpenMM::ComputeArray particleParams;
    // Per exception: f_i f_j p (e^2), f_i f_j q_i q_j (e^2), sigma (nm), 4 epsilon (kJ/mol); and
    // with the derivative, d(f_i f_j)/dlambda times p and q_i q_j.
    OpenMM::ComputeArray exceptionParams, exceptionDerivParams;
};

} // namespace SOGPlugin

#endif /*OPENMM_COMMONSOGCOULOMBREALSPACEKERNEL_H_*/
