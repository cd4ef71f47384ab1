#ifndef OPENMM_SOGCOULOMBREALSPACEFORCE_H_
#define OPENMM_SOGCOULOMBREALSPACEFORCE_H_

#include "openmm/Context.h"
#include "openmm/Force.h"
#include "internal/windowsExportSOG.h"
#include <string>
#include <vector>

namespace SOGPlugin {

/**
 * This class implements the real-space complement of SOG Coulomb: the part of prefactor/r that
 * the long-range Gaussians of a SOGForce leave out. With the long-range function
 *     g(r) = sum_l w_l exp(-r^2/s_l^2) + sum_k c_k r^(2k)
 * (weights w in kJ/mol/e^2, widths s in nm, polynomial coefficients c_k in kJ/mol/e^2/nm^(2k);
 * the polynomial stands in for Gaussians that are smooth within the cutoff), the energy is
 *     E = sum_{i<j, r_ij < r_c, (i,j) not an exception} f_i f_j q_i q_j [A/r_ij - g(r_ij)]
 *       + sum_{exceptions (i,j)} f_i f_j [p_ij A/r_ij - q_i q_j g(r_ij)],
 * where A is the Coulomb prefactor (kJ/mol nm/e^2), q the charges (proton charges), r_c the
 * cutoff (nm), p_ij an exception's charge product (e^2) and r_ij the minimum-image distance. The
 * exception term is what a SOGForce over the same charges needs for excluded and scaled (1-4)
 * pairs: its k-space sum includes every pair, so an exception removes the Gaussians' share and
 * adds its own Coulomb term. Exceptions are evaluated at any distance (they are bonded pairs).
 * f_i is 1, or the value of a global context parameter (the charge scale parameter, see
 * setChargeScaleParameterName()) for the particles marked as scaled; its energy derivative is
 * available through addEnergyParameterDerivative().
 * The force does not include the net-charge background of the complement; SOGForce carries it
 * (SOGForce::setBackgroundIntegral()). It always uses periodic boundary conditions, and the
 * cutoff must not exceed half the smallest distance between opposite faces of the box.
 *
 * The force also computes Lennard-Jones in the same pair pass, exactly as a NonbondedForce with a
 * cutoff does, so that a System needs no NonbondedForce besides it:
 *     E_LJ = sum_{i<j, r_ij < r_c, not an exception} S(r_ij) 4 eps_ij [(sig_ij/r_ij)^12 - (sig_ij/r_ij)^6]
 *          + sum_{exceptions (i,j)} 4 eps_e [(sig_e/r_ij)^12 - (sig_e/r_ij)^6]
 *          + C/V,
 * with Lorentz-Berthelot mixing sig_ij = (sig_i + sig_j)/2 (nm), eps_ij = sqrt(eps_i eps_j)
 * (kJ/mol); an exception's own sigma sig_e and epsilon eps_e replace the pair's (epsilon 0 and
 * charge product 0: a pure exclusion), at any distance and without switching, as NonbondedForce
 * exceptions. S is 1, or with a switching function (setUseSwitchingFunction()) NonbondedForce's
 * polynomial 1 - 10t^3 + 15t^4 - 6t^5, t = (r - r_s)/(r_c - r_s), beyond the switching distance
 * r_s. C/V is NonbondedForce's long-range dispersion correction (setUseDispersionCorrection();
 * off by default), C in kJ/mol nm^3 and V the current box volume (nm^3). The charge scale
 * parameter does not act on Lennard-Jones. Particles added without sigma and epsilon have no
 * Lennard-Jones (epsilon 0), nor have exceptions added without them.
 * Platforms: Reference (double precision), CPU (single precision, SIMD), OpenCL and CUDA (the
 * platform's precision; a term of OpenMM's nonbonded kernel, so, as for a NonbondedForce, the
 * other nonbonded forces of the System must have the same exclusions and the forces of one
 * force group one cutoff).
 */
class OPENMM_EXPORT_SOG SOGCoulombRealSpaceForce : public OpenMM::Force {
public:
    /**
     * Create a SOGCoulombRealSpaceForce with no particles, no Gaussians, a zero polynomial, a
     * cutoff of 1 nm and OpenMM's Coulomb prefactor 1/(4 pi eps0) = 138.935... kJ/mol nm/e^2.
     */
    SOGCoulombRealSpaceForce();
    /**
     * Get the number of particles that have been added.
     */
    int getNumParticles() const {
        return static_cast<int>(particles.size());
    }
    /**
     * Add a particle. Call this once for every particle of the System.
     *
     * @param charge  the particle's charge, measured in units of the proton charge
     * @param scaled  whether the charge scale parameter multiplies this particle's charge
     * @return the index of the particle that was added
     */
    int addParticle(double charge, bool scaled = false);
    /**
     * Add a particle with Lennard-Jones parameters. Call this once for every particle of the System.
     *
     * @param charge   the particle's charge, measured in units of the proton charge
     * @param sigma    the Lennard-Jones sigma, measured in nm (>= 0)
     * @param epsilon  the Lennard-Jones well depth, measured in kJ/mol (>= 0)
     * @param scaled   whether the charge scale parameter multiplies this particle's charge (it
     *                 never acts on sigma or epsilon)
     * @return the index of the particle that was added
     */
    int addParticle(double charge, double sigma, double epsilon, bool scaled = false);
    /**
     * Get the parameters of a particle.
     *
     * @param index        the index of the particle
     * @param[out] charge  the charge, measured in units of the proton charge
     * @param[out] scaled  whether the charge scale parameter multiplies the charge
     */
    void getParticleParameters(int index, double& charge, bool& scaled) const;
    /**
     * Set the parameters of a particle.
     *
     * @param index   the index of the particle
     * @param charge  the charge, measured in units of the proton charge
     * @param scaled  whether the charge scale parameter multiplies the charge
     */
    void setParticleParameters(int index, double charge, bool scaled);
    /**
     * Get the Lennard-Jones parameters of a particle.
     *
     * @param index         the index of the particle
     * @param[out] sigma    the Lennard-Jones sigma, measured in nm
     * @param[out] epsilon  the Lennard-Jones well depth, measured in kJ/mol
     */
    void getParticleLennardJonesParameters(int index, double& sigma, double& epsilon) const;
    /**
     * Set the Lennard-Jones parameters of a particle (its charge and scaled flag are kept).
     *
     * @param index    the index of the particle
     * @param sigma    the Lennard-Jones sigma, measured in nm (>= 0)
     * @param epsilon  the Lennard-Jones well depth, measured in kJ/mol (>= 0)
     */
    void setParticleLennardJonesParameters(int index, double sigma, double epsilon);
    /**
     * Get the number of exceptions.
     */
    int getNumExceptions() const {
        return static_cast<int>(exceptions.size());
    }
    /**
     * Add an exception: the pair is left out of the cutoff sum and gets the term
     * f_i f_j [p A/r - q_i q_j g(r)] at any distance instead, and no Lennard-Jones. An excluded
     * pair has p = 0.
     *
     * @param particle1    the index of the first particle
     * @param particle2    the index of the second particle
     * @param chargeProd   the pair's Coulomb charge product p, measured in e^2
     * @return the index of the exception that was added
     */
    int addException(int particle1, int particle2, double chargeProd);
    /**
     * Add an exception with Lennard-Jones parameters: the pair is left out of the cutoff sum and
     * gets f_i f_j [p A/r - q_i q_j g(r)] + 4 epsilon [(sigma/r)^12 - (sigma/r)^6] at any
     * distance instead (like a NonbondedForce exception: no switching function). An excluded
     * pair has p = 0 and epsilon = 0.
     *
     * @param particle1    the index of the first particle
     * @param particle2    the index of the second particle
     * @param chargeProd   the pair's Coulomb charge product p, measured in e^2
     * @param sigma        the pair's Lennard-Jones sigma, measured in nm (>= 0)
     * @param epsilon      the pair's Lennard-Jones well depth, measured in kJ/mol (>= 0)
     * @return the index of the exception that was added
     */
    int addException(int particle1, int particle2, double chargeProd, double sigma, double epsilon);
    /**
     * Get the parameters of an exception.
     *
     * @param index            the index of the exception
     * @param[out] particle1   the index of the first particle
     * @param[out] particle2   the index of the second particle
     * @param[out] chargeProd  the charge product, measured in e^2
     */
    void getExceptionParameters(int index, int& particle1, int& particle2, double& chargeProd) const;
    /**
     * Set the parameters of an exception.
     *
     * @param index       the index of the exception
     * @param particle1   the index of the first particle
     * @param particle2   the index of the second particle
     * @param chargeProd  the charge product, measured in e^2
     */
    void setExceptionParameters(int index, int particle1, int particle2, double chargeProd);
    /**
     * Get the Lennard-Jones parameters of an exception.
     *
     * @param index         the index of the exception
     * @param[out] sigma    the pair's Lennard-Jones sigma, measured in nm
     * @param[out] epsilon  the pair's Lennard-Jones well depth, measured in kJ/mol
     */
    void getExceptionLennardJonesParameters(int index, double& sigma, double& epsilon) const;
    /**
     * Set the Lennard-Jones parameters of an exception (its particles and charge product are kept).
     *
     * @param index    the index of the exception
     * @param sigma    the pair's Lennard-Jones sigma, measured in nm (>= 0)
     * @param epsilon  the pair's Lennard-Jones well depth, measured in kJ/mol (>= 0)
     */
    void setExceptionLennardJonesParameters(int index, double sigma, double epsilon);
    /**
     * Get the number of Gaussian terms of g.
     */
    int getNumGaussians() const {
        return static_cast<int>(gaussians.size());
    }
    /**
     * Add a Gaussian term w exp(-r^2/s^2) to g.
     *
     * @param weight  the amplitude w, measured in kJ/mol/e^2
     * @param width   the width s, measured in nm (must be positive)
     * @return the index of the Gaussian that was added
     */
    int addGaussian(double weight, double width);
    /**
     * Get the parameters of a Gaussian term of g.
     *
     * @param index        the index of the Gaussian
     * @param[out] weight  the amplitude w, measured in kJ/mol/e^2
     * @param[out] width   the width s, measured in nm
     */
    void getGaussianParameters(int index, double& weight, double& width) const;
    /**
     * Set the parameters of a Gaussian term of g.
     *
     * @param index   the index of the Gaussian
     * @param weight  the amplitude w, measured in kJ/mol/e^2
     * @param width   the width s, measured in nm (must be positive)
     */
    void setGaussianParameters(int index, double weight, double width);
    /**
     * Get the coefficients c_k of the polynomial part sum_k c_k r^(2k) of g.
     */
    const std::vector<double>& getPolynomialCoefficients() const {
        return polynomial;
    }
    /**
     * Set the coefficients c_k of the polynomial part sum_k c_k r^(2k) of g (k = 0, 1, ...).
     *
     * @param coefficients  c_k, measured in kJ/mol/e^2/nm^(2k); empty means no polynomial
     */
    void setPolynomialCoefficients(const std::vector<double>& coefficients);
    /**
     * Get the cutoff r_c, measured in nm.
     */
    double getCutoffDistance() const {
        return cutoff;
    }
    /**
     * Set the cutoff r_c of the pair sum.
     *
     * @param distance  the cutoff, measured in nm
     */
    void setCutoffDistance(double distance);
    /**
     * Get whether a switching function is applied to the Lennard-Jones interaction of the
     * non-exception pairs (the Coulomb complement is never switched).
     */
    bool getUseSwitchingFunction() const {
        return useSwitchingFunction;
    }
    /**
     * Set whether a switching function is applied to the Lennard-Jones interaction of the
     * non-exception pairs: NonbondedForce's 1 - 10t^3 + 15t^4 - 6t^5 with t = (r - r_s)/(r_c - r_s)
     * between the switching distance r_s and the cutoff r_c. Off by default.
     *
     * @param use  whether to use the switching function
     */
    void setUseSwitchingFunction(bool use);
    /**
     * Get the distance r_s at which the switching function begins to reduce Lennard-Jones,
     * measured in nm.
     */
    double getSwitchingDistance() const {
        return switchingDistance;
    }
    /**
     * Set the distance r_s at which the switching function begins to reduce Lennard-Jones. When
     * the switching function is used it must satisfy 0 <= r_s < r_c.
     *
     * @param distance  the switching distance, measured in nm
     */
    void setSwitchingDistance(double distance);
    /**
     * Get whether the long-range dispersion correction C/V of Lennard-Jones is added.
     */
    bool getUseDispersionCorrection() const {
        return useDispersionCorrection;
    }
    /**
     * Set whether to add the long-range dispersion correction C/V that accounts for Lennard-Jones
     * beyond the cutoff, with NonbondedForce's coefficient C (from the particles' sigma and
     * epsilon, the cutoff and the switching function; the exceptions do not enter) and the current
     * box volume V, so that a barostat sees it. Off by default.
     *
     * @param use  whether to add the correction
     */
    void setUseDispersionCorrection(bool use);
    /**
     * Get the Coulomb prefactor A, measured in kJ/mol nm/e^2.
     */
    double getCoulombPrefactor() const {
        return prefactor;
    }
    /**
     * Set the Coulomb prefactor A.
     *
     * @param value  A, measured in kJ/mol nm/e^2
     */
    void setCoulombPrefactor(double value);
    /**
     * Get the name of the global context parameter that scales the marked particles' charges
     * (empty: no parameter, every f_i is 1).
     */
    const std::string& getChargeScaleParameterName() const {
        return chargeScaleName;
    }
    /**
     * Set the name of the global context parameter that scales the marked particles' charges
     * (dimensionless; its default value is 1). An empty name removes the parameter.
     *
     * @param name  the parameter name
     */
    void setChargeScaleParameterName(const std::string& name);
    /**
     * Request the derivative of the energy with respect to the charge scale parameter, the only
     * parameter this force depends on. It is reported (kJ/mol per unit of the parameter) by
     * State::getEnergyParameterDerivatives().
     *
     * @param name  the name of the parameter
     */
    void addEnergyParameterDerivative(const std::string& name);
    /**
     * Get the number of global parameters whose energy derivative is computed.
     */
    int getNumEnergyParameterDerivatives() const {
        return static_cast<int>(energyParameterDerivatives.size());
    }
    /**
     * Get the name of a global parameter whose energy derivative is computed.
     *
     * @param index  the index of the derivative
     */
    const std::string& getEnergyParameterDerivativeName(int index) const;
    /**
     * Copy the charges, the scaled flags, the Lennard-Jones parameters and the exceptions' charge
     * products and Lennard-Jones parameters to a Context that already uses this force (the
     * dispersion correction is recomputed). The number of particles, the exception pairs, g, the
     * cutoff, the switching function, whether the dispersion correction is used and the charge
     * scale parameter are fixed when the Context is created (a changed cutoff, switching function
     * or dispersion-correction flag is refused); use Context::reinitialize() to change those.
     *
     * @param context  the Context to update
     */
    void updateParametersInContext(OpenMM::Context& context);
    /**
     * This force always uses periodic boundary conditions.
     */
    bool usesPeriodicBoundaryConditions() const {
        return true;
    }
    struct ParticleInfo {
        double charge;  // e
        double sigma;   // nm
        double epsilon; // kJ/mol
        bool scaled;
    };
    struct ExceptionInfo {
        int particle1, particle2;
        double chargeProd; // e^2
        double sigma;      // nm
        double epsilon;    // kJ/mol
    };
    struct GaussianInfo {
        double weight; // kJ/mol/e^2
        double width;  // nm
    };
protected:
    OpenMM::ForceImpl* createImpl() const;
private:
    double cutoff, prefactor, switchingDistance;
    bool useSwitchingFunction, useDispersionCorrection;
    std::string chargeScaleName;
    std::vector<ParticleInfo> particles;
    std::vector<ExceptionInfo> exceptions;
    std::vector<GaussianInfo> gaussians;
    std::vector<double> polynomial;
    std::vector<std::string> energyParameterDerivatives;
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGCOULOMBREALSPACEFORCE_H_*/
