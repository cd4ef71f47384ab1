#ifndef OPENMM_SOGFORCE_H_
#define OPENMM_SOGFORCE_H_

#include "openmm/Context.h"
#include "openmm/Force.h"
#include "internal/windowsExportSOG.h"
#include <string>
#include <vector>

namespace SOGPlugin {

/**
 * This class implements the long-range sum-of-Gaussians (SOG) interaction of SOG-Net in a
 * periodic box. Every particle i carries P charge channels q[i][c] (measured in units of the
 * proton charge), and every channel c has a kernel made of Gaussians
 *
 *     g_c(r) = sum_l w_{c,l} exp(-r^2 / sigma_{c,l}^2)
 *
 * with weights w measured in kJ/mol/e^2 and widths sigma measured in nm. The energy is the
 * lattice sum over all periodic images with a uniform neutralising background,
 *
 *     E = sum_c [ 1/(2V) sum_{k != 0} ghat_c(k) |S_c(k)|^2 - 1/2 g_c(0) sum_i q[i][c]^2 ],
 *     ghat_c(k) = sum_l w_{c,l} pi^{3/2} sigma_{c,l}^3 exp(-sigma_{c,l}^2 k^2 / 4),
 *     S_c(k) = sum_j q[j][c] exp(-i k.r_j),
 *
 * where V is the box volume (nm^3) and k runs over the reciprocal lattice. This equals
 * 1/2 sum'_{i,j,n} q_i q_j g(|r_i - r_j + n h|) - Q^2 ghat(0)/(2V). It is evaluated with a
 * non-uniform FFT whose grid is chosen from a relative error tolerance.
 *
 * A global context parameter (by default "sog_lambda", default value 1) multiplies the charges
 * of a chosen subset of particles (all particles by default), so the force can be used in
 * alchemical calculations; its energy derivative is available through
 * addEnergyParameterDerivative().
 *
 * Each channel may also carry a background integral B_c (kJ/mol nm^3/e^2, default 0; see
 * setBackgroundIntegral()), which adds the net-charge background of a real-space complement:
 *
 *     E_bg = -sum_c B_c Q_c^2 / (2V),    Q_c = sum_i q[i][c]
 *
 * with the charge scale parameter applied to Q_c exactly as to the rest of the energy. E_bg does
 * not depend on the positions (no forces) but on the volume (barostats see it), and its
 * derivative with respect to the charge scale parameter is part of the energy derivative.
 *
 * To use it, create a SOGForce, add one Gaussian per term with addGaussian(), then call
 * addParticle() once per particle of the System. The force always uses periodic boundary
 * conditions.
 *
 * Limits (SOGForceImpl, the same on every platform): the FFT grid, set by the narrowest width,
 * the tolerance and the box, may have at most 2^28 points per channel and take at most half the
 * memory that holds it (the host's, or the OpenCL device's); a larger one is refused, when the
 * Context is created or when a barostat grows the box, with a message naming the Gaussian, the
 * grid and its memory (Gaussians that narrow belong in a real-space sum). Charges are refused
 * when sum_i |q_ic| exceeds 1e15 e or sum_c (sum_i |q_ic|)^2 sum_l |w_cl| exceeds 1e30 kJ/mol
 * (the energy would overflow), and a non-finite charge scale parameter is refused at evaluation.
 */
class OPENMM_EXPORT_SOG SOGForce : public OpenMM::Force {
public:
    /**
     * Create a SOGForce.
     *
     * @param numChannels  the number of charge channels P of every particle (at least 1)
     */
    explicit SOGForce(int numChannels = 1);
    /**
     * Get the number of charge channels P.
     */
    int getNumChannels() const {
        return numChannels;
    }
    /**
     * Get the number of particles that have been added.
     */
    int getNumParticles() const {
        return static_cast<int>(charges.size());
    }
    /**
     * Get the number of Gaussian terms summed over all channels.
     */
    int getNumGaussians() const {
        return static_cast<int>(gaussians.size());
    }
    /**
     * Add a particle. Call this once for every particle of the System.
     *
     * @param charges  the particle's P charges, measured in units of the proton charge
     * @return the index of the particle that was added
     */
    int addParticle(const std::vector<double>& charges);
    /**
     * Get the charges of a particle.
     *
     * @param index         the index of the particle
     * @param[out] charges  the particle's P charges, measured in units of the proton charge
     */
    void getParticleCharges(int index, std::vector<double>& charges) const;
    /**
     * Set the charges of a particle.
     *
     * @param index    the index of the particle
     * @param charges  the particle's P charges, measured in units of the proton charge
     */
    void setParticleCharges(int index, const std::vector<double>& charges);
    /**
     * Add a Gaussian term w exp(-r^2/sigma^2) to the kernel of one channel.
     *
     * @param weight   the amplitude w, measured in kJ/mol/e^2
     * @param width    the width sigma, measured in nm (must be positive)
     * @param channel  the channel (0 to P-1) whose kernel the term belongs to
     * @return the index of the Gaussian that was added
     */
    int addGaussian(double weight, double width, int channel = 0);
    /**
     * Get the parameters of a Gaussian term.
     *
     * @param index         the index of the Gaussian
     * @param[out] weight   the amplitude w, measured in kJ/mol/e^2
     * @param[out] width    the width sigma, measured in nm
     * @param[out] channel  the channel the term belongs to
     */
    void getGaussianParameters(int index, double& weight, double& width, int& channel) const;
    /**
     * Set the parameters of a Gaussian term.
     *
     * @param index    the index of the Gaussian
     * @param weight   the amplitude w, measured in kJ/mol/e^2
     * @param width    the width sigma, measured in nm (must be positive)
     * @param channel  the channel (0 to P-1) whose kernel the term belongs to
     */
    void setGaussianParameters(int index, double weight, double width, int channel);
    /**
     * Get the background integral B_c of a channel (see setBackgroundIntegral()).
     *
     * @param channel  the channel (0 to P-1)
     * @return B_c, measured in kJ/mol nm^3/e^2
     */
    double getBackgroundIntegral(int channel = 0) const;
    /**
     * Set the background integral B_c of a channel: the force adds -B_c Q_c^2/(2V), where Q_c is
     * the total (scaled) charge of the channel and V the box volume. For a real-space complement
     * f_c(r) summed over pairs within a cutoff (for example in a CustomNonbondedForce), B_c is its
     * integral over space, int f_c(r) d^3r, and the term is the neutralising background that
     * complement needs in a charged periodic system. The default is 0 (no term).
     *
     * @param integral  B_c, measured in kJ/mol nm^3/e^2 (must be finite)
     * @param channel   the channel (0 to P-1)
     */
    void setBackgroundIntegral(double integral, int channel = 0);
    /**
     * Get the requested relative error of energy and forces against the exact lattice sum
     * (dimensionless).
     */
    double getTolerance() const {
        return tolerance;
    }
    /**
     * Set the requested relative error of energy and forces against the exact lattice sum. It
     * determines the set of k-vectors and the grid, and must lie in (1e-10, 1e-1).
     *
     * @param tol  the tolerance (dimensionless)
     */
    void setTolerance(double tol);
    /**
     * Get the name of the global context parameter that scales charges (dimensionless).
     */
    const std::string& getChargeScaleParameterName() const {
        return chargeScaleName;
    }
    /**
     * Set the name of the global context parameter that scales charges.
     *
     * @param name  the parameter name
     */
    void setChargeScaleParameterName(const std::string& name);
    /**
     * Get the default value of the charge scale parameter (dimensionless).
     */
    double getChargeScaleDefaultValue() const {
        return chargeScaleDefault;
    }
    /**
     * Set the default value of the charge scale parameter.
     *
     * @param value  the default value (dimensionless)
     */
    void setChargeScaleDefaultValue(double value);
    /**
     * Get the particles whose charges the charge scale parameter multiplies. An empty list means
     * every particle.
     */
    const std::vector<int>& getScaledParticles() const {
        return scaledParticles;
    }
    /**
     * Set the particles whose charges the charge scale parameter multiplies.
     *
     * @param particles  particle indices; an empty list means every particle
     */
    void setScaledParticles(const std::vector<int>& particles);
    /**
     * Request the derivative of the energy with respect to a global parameter. The only
     * parameter this force depends on is the charge scale parameter. The derivative (kJ/mol per
     * unit of the parameter) is reported by State::getEnergyParameterDerivatives().
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
     * Copy the particle charges, Gaussian parameters (weights, widths, channels) and background
     * integrals to a Context that already uses this force. The grid is fixed when the Context is created, so the number
     * of particles and Gaussians and the tolerance cannot change, and the smallest width cannot
     * become smaller than it was then. The charge scale parameter and the scaled particles are
     * also fixed at Context creation. Use Context::reinitialize() for any of those changes.
     *
     * @param context  the Context to update
     */
    void updateParametersInContext(OpenMM::Context& context);
    /**
     * Get the parameters of the non-uniform FFT a Context uses for this force: they follow from
     * the tolerance, the narrowest width and the box (see SOGForce's class comment), and change
     * when a barostat grows the box beyond what the grid holds. Like NonbondedForce's
     * getPMEParametersInContext(), this shows what a Context chose; the Reference and CPU
     * platforms use the smallest grid the rule allows for the current box, OpenCL and CUDA one
     * with room for box growth rounded to their legal FFT sizes.
     *
     * @param context           the Context
     * @param[out] kCutoff      the k-space cutoff, measured in 1/nm
     * @param[out] spreadWidth  the spreading kernel's support in grid points per dimension
     * @param[out] nx           the fine grid's size along the first box vector
     * @param[out] ny           the fine grid's size along the second box vector
     * @param[out] nz           the fine grid's size along the third box vector
     */
    void getGridParametersInContext(const OpenMM::Context& context, double& kCutoff, int& spreadWidth, int& nx, int& ny,
            int& nz) const;
    /**
     * This force always uses periodic boundary conditions.
     */
    bool usesPeriodicBoundaryConditions() const {
        return true;
    }
    /**
     * One Gaussian term of a channel's kernel.
     */
    struct GaussianInfo {
        double weight; // kJ/mol/e^2
        double width;  // nm
        int channel;
    };
protected:
    OpenMM::ForceImpl* createImpl() const;
private:
    int numChannels;
    double tolerance;
    std::string chargeScaleName;
    double chargeScaleDefault;
    std::vector<std::vector<double> > charges;
    std::vector<GaussianInfo> gaussians;
    std::vector<double> backgroundIntegrals; // B_c per channel, kJ/mol nm^3/e^2
    std::vector<int> scaledParticles;
    std::vector<std::string> energyParameterDerivatives;
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGFORCE_H_*/
