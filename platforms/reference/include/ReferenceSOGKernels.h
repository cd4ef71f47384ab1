#ifndef OPENMM_REFERENCESOGKERNELS_H_
#define OPENMM_REFERENCESOGKERNELS_H_

#include "ReferenceSOGIxn.h"
#include "SOGKernels.h"
#include <memory>
#include <string>
#include <vector>

namespace SOGPlugin {

/**
 * The Reference platform's SOGForce kernel: it pulls positions, box and forces from the
 * platform data and hands the maths to the host engine (SOGHostEngine: double precision on
 * Reference, single on CPU where the tolerance allows). It also serves the CPU platform, which
 * shares the Reference platform data.
 */
class ReferenceCalcSOGForceKernel : public CalcSOGForceKernel {
public:
    ReferenceCalcSOGForceKernel(std::string name, const OpenMM::Platform& platform) : CalcSOGForceKernel(name, platform) {
    }
    void initialize(const OpenMM::System& system, const SOGForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    void copyParametersToContext(OpenMM::ContextImpl& context, const SOGForce& force);
    void getGridParameters(double& kCutoff, int& spreadWidth, int gridSize[3]) const;
private:
    void setParameters(const SOGForce& force);
    int numParticles, numChannels, numGaussians;
    double minWidth;                  // nm, the smallest width when the grid was chosen
    double tolerance;                 // the tolerance the grid was chosen for
    std::vector<double> charges;      // entry i*P+c, proton charges
    std::vector<int> isScaled;        // 1 if the charge scale parameter multiplies particle i
    std::vector<double> backgroundIntegrals;          // B_c, kJ/mol nm^3/e^2
    std::vector<double> scaledTotal, unscaledTotal;   // per channel, total charge of scaled / other particles
    std::vector<double> scaledAbs, unscaledAbs;       // per channel, sum of |q| over scaled / other particles
    std::vector<double> weightSums;                   // per channel, sum of |w| (kJ/mol/e^2)
    std::string chargeScaleName;
    bool computeChargeScaleDerivative;
    std::unique_ptr<SOGHostEngine> ixn;
};

} // namespace SOGPlugin

#endif /*OPENMM_REFERENCESOGKERNELS_H_*/
