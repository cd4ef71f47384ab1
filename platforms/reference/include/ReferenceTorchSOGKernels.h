#ifndef OPENMM_REFERENCETORCHSOGKERNELS_H_
#define OPENMM_REFERENCETORCHSOGKERNELS_H_

#include "ReferenceSOGIxn.h"
#include "SOGEvaluationProfile.h"
#include "SOGFreeSpaceSum.h"
#include "SOGRealSpaceSum.h"
#include "SOGTorchModel.h"
#include "TorchSOGKernels.h"
#include "internal/TorchSOGForceImpl.h"
#include "openmm/KernelFactory.h"
#include <memory>
#include <vector>
#include <string>

namespace SOGPlugin {

/**
 * The Reference (and CPU) platform's TorchSOGForce kernel: the model through SOGTorchModel, the
 * long range through the host engine SOGHostEngine and the real-space pair sum SOGRealSpaceSum
 * (periodic) or SOGFreeSpaceSum (non-periodic), coupled by one backward pass, all on the
 * modelled particles.
 */
class ReferenceCalcTorchSOGForceKernel : public CalcTorchSOGForceKernel {
public:
    ReferenceCalcTorchSOGForceKernel(std::string name, const OpenMM::Platform& platform) : CalcTorchSOGForceKernel(name, platform) {
    }
    void initialize(const OpenMM::System& system, const TorchSOGForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
private:
    std::unique_ptr<SOGTorchModel> model;
    std::unique_ptr<SOGHostEngine> ixn;            // periodic
    std::unique_ptr<SOGFreeSpaceSum> freeSpace;      // non-periodic
    std::unique_ptr<SOGRealSpaceSum> realSpace;      // periodic: the model's narrow Gaussians
    std::vector<double> weightSums; // per channel, sum of |w| (kJ/mol/e^2)
    TorchSOGScaleParameters scales;
    std::unique_ptr<SOGEvaluationProfile> profile; // OPENMM_SOG_PROFILE only
};

/**
 * Creates the TorchSOGForce kernel for the Reference and CPU platforms.
 */
class ReferenceTorchSOGKernelFactory : public OpenMM::KernelFactory {
public:
    OpenMM::KernelImpl* createKernelImpl(std::string name, const OpenMM::Platform& platform, OpenMM::ContextImpl& context) const;
};

} // namespace SOGPlugin

#endif /*OPENMM_REFERENCETORCHSOGKERNELS_H_*/
