#ifndef OPENMM_REFERENCESOGCOULOMBREALSPACEKERNEL_H_
#define OPENMM_REFERENCESOGCOULOMBREALSPACEKERNEL_H_

#include "SOGKernels.h"
#include "internal/SOGCoulombRealSpaceForceImpl.h"
#include "openmm/Vec3.h"
#include "openmm/reference/ReferencePlatform.h"
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace SOGPlugin {

/**
 * SOGCoulombRealSpaceForce on the Reference platform: every pair by minimum image in double
 * precision (the oracle of the CPU kernel), plus the exception terms and the dispersion
 * correction. The CPU kernel derives from it and replaces the cutoff pair sum (calcPairSum) and
 * spreads the exceptions over its threads (calcExceptions).
 */
class ReferenceCalcSOGCoulombRealSpaceForceKernel : public CalcSOGCoulombRealSpaceForceKernel {
public:
    ReferenceCalcSOGCoulombRealSpaceForceKernel(std::string name, const OpenMM::Platform& platform) :
            CalcSOGCoulombRealSpaceForceKernel(name, platform) {
    }
    void initialize(const OpenMM::System& system, const SOGCoulombRealSpaceForce& force);
    double execute(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy);
    void copyParametersToContext(OpenMM::ContextImpl& context, const SOGCoulombRealSpaceForce& force);
protected:
    /**
     * The sum over non-exception pairs within the cutoff: the Coulomb complement and
     * Lennard-Jones (with the switching function if used).
     *
     * @param context            the context
     * @param scaledCharges      f_i q_i per particle, proton charges
     * @param derivativeCharges  dq_eff/dlambda per particle (q_i if scaled, else 0), proton charges
     * @param includeForces      whether to add the forces (kJ/mol/nm) to the context's forces
     * @param includeEnergy      whether the energy is needed (a kernel may return 0 otherwise)
     * @param[out] derivative    dE/dlambda (kJ/mol), only when the derivative is requested
     * @return the energy, measured in kJ/mol
     */
    virtual double calcPairSum(OpenMM::ContextImpl& context, const std::vector<double>& scaledCharges,
            const std::vector<double>& derivativeCharges, bool includeForces, bool includeEnergy, double& derivative);
    /**
     * The sum over the exceptions, in double precision: f_i f_j [p A/r - q_i q_j g(r)] plus each
     * exception's own Lennard-Jones (unscaled, unswitched).
     *
     * @param context            the context
     * @param factors            f_i per particle: lambda for scaled particles, else 1
     * @param includeForces      whether to add the forces (kJ/mol/nm) to the context's forces
     * @param[out] derivative    dE/dlambda (kJ/mol) is added to it, only when requested
     * @return the energy, measured in kJ/mol
     */
    virtual double calcExceptions(OpenMM::ContextImpl& context, const std::vector<double>& factors, bool includeForces,
            double& derivative);
    /**
     * One exception's terms (see calcExceptions).
     *
     * @param e                  the exception's index
     * @param positions          nm
     * @param box                the periodic box vectors, nm
     * @param factors            f_i per particle
     * @param[out] derivative    its dE/dlambda (kJ/mol) is added to it, only when requested
     * @param[out] force         the force on its first particle (kJ/mol/nm); the second gets -force
     * @return its energy, measured in kJ/mol
     */
    double exceptionTerms(int e, const std::vector<OpenMM::Vec3>& positions, const OpenMM::Vec3* box,
            const std::vector<double>& factors, double& derivative, OpenMM::Vec3& force) const;
    /**
     * The context's positions, forces, box and parameter derivatives (the Reference platform's
     * data, which the CPU platform also keeps).
     */
    static OpenMM::ReferencePlatform::PlatformData& getPlatformData(OpenMM::ContextImpl& context);
    /**
     * Minimum-image displacement r1 - r2 in a (reduced, possibly triclinic) periodic box, nm.
     */
    static OpenMM::Vec3 minimumImage(const OpenMM::Vec3& r1, const OpenMM::Vec3& r2, const OpenMM::Vec3* box);
    /**
     * Lennard-Jones 4 epsilon [(sigma/r)^12 - (sigma/r)^6] of one pair, unswitched.
     *
     * @param r2            the squared distance, nm^2
     * @param sigma         nm
     * @param epsilon       kJ/mol
     * @param[out] energy   kJ/mol
     * @param[out] forceOverR  -dE/dr / r, kJ/mol/nm^2
     */
    static void lennardJones(double r2, double sigma, double epsilon, double& energy, double& forceOverR);
    /**
     * The switching function S(r) and dS/dr (1/nm) beyond the switching distance (1 and 0 below).
     */
    void switchingFunction(double r, double& value, double& derivative) const;
    std::unique_ptr<SOGComplementSettings> settings;     // fixed when the kernel is created
    std::unique_ptr<SOGComplementParameters> params;     // replaced by updateParametersInContext()
    std::unique_ptr<SOGComplementFunction> function;
    std::vector<std::set<int> > exclusions;          // the exception partners of each particle
    bool computeDerivative;
};

} // namespace SOGPlugin

#endif /*OPENMM_REFERENCESOGCOULOMBREALSPACEKERNEL_H_*/
