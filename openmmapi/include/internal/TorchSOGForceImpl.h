#ifndef OPENMM_TORCHSOGFORCEIMPL_H_
#define OPENMM_TORCHSOGFORCEIMPL_H_

#include "TorchSOGForce.h"
#include "openmm/Kernel.h"
#include "openmm/internal/ForceImpl.h"
#include <map>
#include <string>
#include <vector>

namespace SOGPlugin {

/**
 * This is the internal implementation of TorchSOGForce: it validates the force and hands the
 * work to the platform's CalcTorchSOGForceKernel.
 */
class OPENMM_EXPORT_SOG TorchSOGForceImpl : public OpenMM::ForceImpl {
public:
    TorchSOGForceImpl(const TorchSOGForce& owner);
    ~TorchSOGForceImpl();
    void initialize(OpenMM::ContextImpl& context);
    const TorchSOGForce& getOwner() const {
        return owner;
    }
    void updateContextState(OpenMM::ContextImpl& context, bool& forcesInvalid) {
    }
    double calcForcesAndEnergy(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy, int groups);
    std::map<std::string, double> getDefaultParameters();
    std::vector<std::string> getKernelNames();
    /**
     * Check that a force is usable with a System; throws OpenMMException with a message starting
     * "TorchSOGForce: " otherwise. The model itself is checked when the kernel loads it.
     */
    static void validate(const TorchSOGForce& force, const OpenMM::System& system);
    /**
     * The System indices of the modelled particles (the ML region), in the order of the atomic
     * numbers: getParticles(), or every particle of the System when that is empty.
     */
    static std::vector<int> getRegion(const TorchSOGForce& force, int numSystemParticles);
    /**
     * For each modelled particle (in region order), whether the charge scale parameter multiplies
     * its latent charges: none without a charge scale parameter, every one when the charge-scaled
     * particle list is empty.
     */
    static std::vector<bool> getChargeScaledMask(const TorchSOGForce& force, const std::vector<int>& region);
    /**
     * Refuse a scale parameter whose name another force of the System uses with another default
     * value (the same default shares one parameter, e.g. one lambda for the ML and MM parts).
     */
    static void checkParameterClashes(const TorchSOGForce& force, const OpenMM::System& system);
    /**
     * The sums sum_k |q_kc| per channel (e) of the model's charges (entry k*P+c), refused as
     * SOGForceImpl::checkChargeMagnitude() does when the energy would overflow.
     *
     * @param weightSums  per channel, sum of |w| (kJ/mol/e^2); its length is P
     */
    static std::vector<double> checkModelCharges(const std::vector<double>& charges, const std::vector<double>& weightSums);
private:
    const TorchSOGForce& owner;
    OpenMM::Kernel kernel;
};

/**
 * A TorchSOGForce's two scale parameters as its kernels use them: the names, whether dU/d of each
 * was requested, and their values, read and checked once per evaluation.
 */
struct OPENMM_EXPORT_SOG TorchSOGScaleParameters {
    TorchSOGScaleParameters() = default;
    explicit TorchSOGScaleParameters(const TorchSOGForce& force);
    /**
     * The current values (dimensionless; 1 without the parameter); a non-finite one is refused
     * with an OpenMMException naming it.
     */
    void read(OpenMM::ContextImpl& context, double& chargeScale, double& energyScale) const;
    /**
     * Add the requested derivatives (kJ/mol): dU/dlambda_q and dU/ds, which is the unscaled energy.
     */
    void addDerivatives(std::map<std::string, double>& derivatives, double chargeScaleDerivative,
            double unscaledEnergy) const;
    std::string chargeScaleName, energyScaleName;
    bool hasChargeScaleDerivative = false, hasEnergyScaleDerivative = false;
};

} // namespace SOGPlugin

#endif /*OPENMM_TORCHSOGFORCEIMPL_H_*/
