#ifndef OPENMM_SOGCOULOMBREALSPACEFORCEIMPL_H_
#define OPENMM_SOGCOULOMBREALSPACEFORCEIMPL_H_

#include "SOGCoulombRealSpaceForce.h"
#include "openmm/Kernel.h"
#include "openmm/Vec3.h"
#include "openmm/internal/ForceImpl.h"
#include <map>
#include <string>
#include <vector>

namespace SOGPlugin {

/**
 * The pair function of SOGCoulombRealSpaceForce in double precision, shared by every kernel:
 * the long-range part g(r) = sum_l w_l exp(-a_l r^2) + sum_k c_k r^(2k) (a_l = 1/s_l^2) and the
 * complement A/r - g(r).
 */
struct OPENMM_EXPORT_SOG SOGComplementFunction {
    double prefactor;                  // A, kJ/mol nm/e^2
    std::vector<double> weights;       // w_l, kJ/mol/e^2
    std::vector<double> inverseWidths2; // a_l = 1/s_l^2, 1/nm^2
    std::vector<double> polynomial;    // c_k, kJ/mol/e^2/nm^(2k)
    explicit SOGComplementFunction(const SOGCoulombRealSpaceForce& force);
    /**
     * g at r^2 = r2 (nm^2), in kJ/mol/e^2, and dg/d(r^2) in kJ/mol/e^2/nm^2.
     */
    void evaluateLongRange(double r2, double& g, double& dgdr2) const;
};

/**
 * The settings of a SOGCoulombRealSpaceForce that a kernel fixes when it is created
 * (updateParametersInContext() cannot change them).
 */
struct OPENMM_EXPORT_SOG SOGComplementSettings {
    int numParticles;
    double cutoff;                                   // nm
    bool useSwitchingFunction;
    double switchingDistance;                        // nm
    bool useDispersionCorrection;
    std::string chargeScaleName;                     // empty: no scaling
    std::vector<std::pair<int, int> > exceptionPairs;
    explicit SOGComplementSettings(const SOGCoulombRealSpaceForce& force);
    /**
     * Check that updateParametersInContext() may copy a force into a kernel built with these
     * settings (validateParameterUpdate() plus the cutoff, the switching function and the
     * dispersion correction); throws OpenMMException otherwise.
     */
    void checkUpdate(const SOGCoulombRealSpaceForce& force) const;
};

/**
 * The per-particle and per-exception parameters of a SOGCoulombRealSpaceForce, read in one place
 * for every platform's kernel (at creation and by updateParametersInContext()).
 */
struct OPENMM_EXPORT_SOG SOGComplementParameters {
    std::vector<double> charges;                     // q_i, proton charges
    std::vector<int> isScaled;                       // 1 if the charge scale parameter multiplies particle i
    std::vector<double> sigmas, epsilons;            // per particle: nm, kJ/mol
    std::vector<double> exceptionChargeProds;        // per exception (the settings' pairs): e^2
    std::vector<double> exceptionSigmas, exceptionEpsilons;  // nm, kJ/mol
    bool hasLennardJones;                            // some particle has epsilon > 0
    double dispersionCoefficient;                    // C of the correction C/V, kJ/mol nm^3
    /**
     * @param system    the System the force belongs to
     * @param force     the force
     * @param settings  the kernel's settings (their exception pairs index the exceptions)
     */
    SOGComplementParameters(const OpenMM::System& system, const SOGCoulombRealSpaceForce& force,
            const SOGComplementSettings& settings);
};

/**
 * The ForceImpl of SOGCoulombRealSpaceForce: validation, default parameters and dispatch.
 */
class OPENMM_EXPORT_SOG SOGCoulombRealSpaceForceImpl : public OpenMM::ForceImpl {
public:
    SOGCoulombRealSpaceForceImpl(const SOGCoulombRealSpaceForce& owner);
    void initialize(OpenMM::ContextImpl& context);
    const SOGCoulombRealSpaceForce& getOwner() const {
        return owner;
    }
    void updateContextState(OpenMM::ContextImpl& context, bool& forcesInvalid) {
    }
    double calcForcesAndEnergy(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy, int groups);
    std::map<std::string, double> getDefaultParameters();
    std::vector<std::string> getKernelNames();
    void updateParametersInContext(OpenMM::ContextImpl& context);
    /**
     * Check that a force is usable with a System; throws OpenMMException with a message starting
     * "SOGCoulombRealSpaceForce: " otherwise.
     */
    static void validate(const SOGCoulombRealSpaceForce& force, const OpenMM::System& system);
    /**
     * Check that updateParametersInContext() may copy a force into a Context whose kernel was
     * built for the given particle count and exception pairs (those cannot change; charges and
     * charge products must be finite, Lennard-Jones parameters finite and >= 0). Throws
     * OpenMMException otherwise.
     *
     * @param force           the force with the new parameters
     * @param numParticles    the number of particles when the Context was created
     * @param exceptionPairs  the exceptions' particle pairs when the Context was created
     */
    static void validateParameterUpdate(const SOGCoulombRealSpaceForce& force, int numParticles,
            const std::vector<std::pair<int, int> >& exceptionPairs);
    /**
     * Check that the cutoff fits the current periodic box (at most half the smallest distance
     * between opposite faces); throws OpenMMException otherwise. A barostat may shrink the box.
     *
     * @param box     the periodic box vectors, measured in nm
     * @param cutoff  the cutoff, measured in nm
     */
    static void checkCutoffFitsBox(const OpenMM::Vec3* box, double cutoff);
    /**
     * The coefficient C of the long-range dispersion correction C/V (V the box volume, nm^3):
     * NonbondedForce's for the force's particle sigmas and epsilons, cutoff and switching
     * function; 0 when the force does not use the correction.
     *
     * @param force   the force
     * @param system  the System it belongs to
     * @return C, measured in kJ/mol nm^3
     */
    static double calcDispersionCoefficient(const SOGCoulombRealSpaceForce& force, const OpenMM::System& system);
private:
    const SOGCoulombRealSpaceForce& owner;
    OpenMM::Kernel kernel;
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGCOULOMBREALSPACEFORCEIMPL_H_*/
