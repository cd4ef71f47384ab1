#ifndef OPENMM_TORCHSOGFORCE_H_
#define OPENMM_TORCHSOGFORCE_H_

#include "openmm/Force.h"
#include "internal/windowsExportSOG.h"
#include <string>
#include <vector>

namespace SOGPlugin {

/**
 * This class implements a complete SOG-Net potential: a TorchScript model gives the local
 * energy and P latent charges of every particle, and the native SOG long-range kernel (the same
 * one as SOGForce, see there for the energy) acts on those charges. One evaluation
 *
 *   1. runs the model: E_local and q[N][P] as functions of the positions,
 *   2. runs the long-range kernel at fixed q: E_lr, its forces and dE_lr/dq,
 *   3. runs one backward pass through the model with dE_lr/dq as the gradient of q, which adds
 *      -dE_local/dr - sum_ic dE_lr/dq_ic dq_ic/dr to the forces (the charges' chain rule).
 *
 * The model file is written by `sognet export` (openmm_sog): a TorchScript module with a method
 *
 *     local_energy_and_charges(positions [N,3] Angstrom, atomic_numbers [N] int64,
 *                              cell [3,3] Angstrom, pbc bool) -> (E_local [1] eV, q [N,P] e)
 *
 * E_local is the model's energy except the lattice sum of this force's Gaussians: its short
 * range, plus the real-space part of any Gaussians too narrow for the k-space sum (an Ewald-like
 * split that keeps the grid coarse). The units at this boundary are the model's (Angstrom, eV,
 * proton charges) and are converted to OpenMM's here, once. The Gaussians are in OpenMM's
 * units (kJ/mol/e^2, nm); by default the force reads them, with the tolerance, the periodicity
 * and the model's species, from the export's metadata.json (see the constructor).
 *
 * The file may instead be an AOTInductor package (`sognet export --format aotinductor`, a .pt2
 * archive whose metadata.json names that format): two programs compiled for the CPU by the torch
 * this plugin was built with, local_forward (E_local and q) and local_vjp (their vector-Jacobian
 * product), which take the neighbour pairs the force builds with its own cell list. A package is
 * compiled for periodic or for free structures, and the force refuses the other kind; its entries
 * are checked against the SHA-256 (package_sha256) its metadata records before it is loaded.
 *
 * By default the model acts on every particle of a periodic System. setParticles() restricts it to
 * an ML region of a larger System (ML/MM); setUsesPeriodicBoundaryConditions(false) runs a model
 * of molecules or clusters in free space. Two global parameters make it usable in alchemical
 * free-energy calculations: a charge scale that multiplies the latent charges of chosen particles
 * in the long range, and an energy scale that multiplies the whole energy, both with exact
 * derivatives through addEnergyParameterDerivative().
 *
 * The force holds the model itself: the constructor reads the file's bytes once, and the force
 * (its copies, its XML serialization, a System saved with it) carries them, so the file is not
 * needed again, here or on another machine. fromBytes() creates the force from bytes already in
 * memory. The model is loaded from the bytes, and its weights checked against the SHA-256 that
 * its metadata.json records, when a Context is created. If it uses vesin-torch neighbour lists,
 * the vesin-torch library must already be loaded in the process (`import vesin_torch`, which
 * `import openmm_sog` does).
 */
class OPENMM_EXPORT_SOG TorchSOGForce : public OpenMM::Force {
public:
    /**
     * Create a TorchSOGForce. The file's bytes are read here (an unreadable or empty file throws
     * an OpenMMException naming it); the force does not read the file again.
     *
     * With numChannels = 0 (the default) the force configures itself from the export's
     * metadata.json: the number of channels, the Gaussians (in kJ/mol/e^2 and nm), the tolerance,
     * the periodicity the model was trained with (periodic when not recorded) and the model's
     * species, which the atomic numbers are checked against. A periodic force then sums the
     * Gaussians the metadata flags for k-space (the others are in the model's real-space part), a
     * non-periodic one all of them; setUsesPeriodicBoundaryConditions() switches between the two
     * sets until Gaussians are added or changed by hand. An export without metadata, for
     * openmm-torch's TorchForce, or without a long range is refused, naming the file.
     *
     * With numChannels > 0 the force starts without Gaussians (add them with addGaussian()),
     * periodic, with tolerance 1e-5; the metadata, if any, must then agree on the number of
     * channels.
     *
     * @param file           the TorchScript file (or AOTInductor package) written by `sognet export`
     * @param atomicNumbers  the atomic number of every particle of the System, in order (of every
     *                       particle of setParticles() when that is used)
     * @param numChannels    the number of latent charge channels P the model returns, or 0 to read
     *                       everything from the export's metadata
     */
    TorchSOGForce(const std::string& file, const std::vector<int>& atomicNumbers, int numChannels = 0);
    /**
     * Create a TorchSOGForce from the bytes of a model file (what getModelBytes() returns). The
     * caller owns the new object.
     *
     * @param modelBytes     the contents of a file written by `sognet export` (TorchScript or a package)
     * @param atomicNumbers  the atomic number of every particle of the System, in order
     * @param numChannels    as for the constructor: 0 to configure the force from the metadata
     * @param file           where the bytes came from, for getFile() and messages only (may be empty)
     * @return a new TorchSOGForce
     */
    static TorchSOGForce* fromBytes(const std::string& modelBytes, const std::vector<int>& atomicNumbers,
            int numChannels = 0, const std::string& file = "");
    /**
     * Get the atomic numbers the model was trained on (from its metadata; empty when unknown).
     */
    const std::vector<int>& getModelSpecies() const {
        return modelSpecies;
    }
    /**
     * Get the model's cutoff (nm) from its metadata, for information (0 when unknown): the reach
     * of its short range and of the real-space part of its long range.
     */
    double getModelCutoff() const {
        return modelCutoff;
    }
    /**
     * Get the path of the file the model was read from, for information: the force does not read it
     * again. Empty for a force created from bytes without a file name.
     */
    const std::string& getFile() const {
        return file;
    }
    /**
     * Get the model: the bytes of the exported file (in Python, a bytes object).
     */
    const std::string& getModelBytes() const {
        return modelBytes;
    }
    /**
     * Get the atomic number of every particle.
     */
    const std::vector<int>& getAtomicNumbers() const {
        return atomicNumbers;
    }
    /**
     * Get the number of modelled particles (the length of the atomic number list).
     */
    int getNumParticles() const {
        return static_cast<int>(atomicNumbers.size());
    }
    /**
     * Get the number of latent charge channels P.
     */
    int getNumChannels() const {
        return numChannels;
    }
    /**
     * Get the number of Gaussian terms summed over all channels.
     */
    int getNumGaussians() const {
        return static_cast<int>(gaussians.size());
    }
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
     * Set the parameters of a Gaussian term (before a Context is created).
     *
     * @param index    the index of the Gaussian
     * @param weight   the amplitude w, measured in kJ/mol/e^2
     * @param width    the width sigma, measured in nm (must be positive)
     * @param channel  the channel (0 to P-1) whose kernel the term belongs to
     */
    void setGaussianParameters(int index, double weight, double width, int channel);
    /**
     * Get the requested relative error of the long-range energy and forces against the exact
     * lattice sum (dimensionless).
     */
    double getTolerance() const {
        return tolerance;
    }
    /**
     * Set the requested relative error of the long-range energy and forces against the exact
     * lattice sum; it must lie in (1e-10, 1e-1).
     *
     * @param tol  the tolerance (dimensionless)
     */
    void setTolerance(double tol);
    /**
     * Get the System indices of the particles the model acts on (the ML region). An empty list
     * (the default) means every particle of the System, in order.
     */
    const std::vector<int>& getParticles() const {
        return particles;
    }
    /**
     * Model only some particles of the System (ML/MM): the model sees these particles alone, the
     * long range acts among them, and the other particles get no force from this one. The atomic
     * numbers are then those of the listed particles, in the same order.
     *
     * @param particles  System indices, each listed once; empty for every particle
     */
    void setParticles(const std::vector<int>& particles);
    /**
     * Whether the model runs in the System's periodic box (a periodic model) or as a free molecule
     * or cluster, whose long range is the exact free-space sum over pairs (a non-periodic model).
     */
    bool usesPeriodicBoundaryConditions() const {
        return periodic;
    }
    /**
     * Set whether the model runs in the periodic box (the default) or in free space. A periodic
     * force needs a periodic System; a non-periodic one, whose Gaussians are then all of the
     * model's, works in any System and ignores its box.
     *
     * @param periodic  true for periodic boundary conditions
     */
    void setUsesPeriodicBoundaryConditions(bool periodic);
    /**
     * Get the name of the global parameter that multiplies the latent charges of the scaled
     * particles in the long-range energy (dimensionless); empty if there is none.
     */
    const std::string& getChargeScaleParameterName() const {
        return chargeScaleName;
    }
    /**
     * Set the name of the global parameter that multiplies the latent charges of the scaled
     * particles in the long-range energy (their short-range energy is unchanged): lambda = 0
     * decouples their learned electrostatics from the other particles. Empty for none.
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
     * Set the default value of the charge scale parameter (dimensionless; 1 by default).
     */
    void setChargeScaleDefaultValue(double value);
    /**
     * Get the System indices of the particles whose latent charges the charge scale parameter
     * multiplies; empty means every modelled particle.
     */
    const std::vector<int>& getChargeScaledParticles() const {
        return chargeScaledParticles;
    }
    /**
     * Set the particles whose latent charges the charge scale parameter multiplies.
     *
     * @param particles  System indices, each one of the modelled particles; empty for all of them
     */
    void setChargeScaledParticles(const std::vector<int>& particles);
    /**
     * Get the name of the global parameter that multiplies the whole energy of this force
     * (dimensionless); empty if there is none.
     */
    const std::string& getEnergyScaleParameterName() const {
        return energyScaleName;
    }
    /**
     * Set the name of the global parameter that multiplies the whole energy (and forces) of this
     * force. Empty for none.
     *
     * @param name  the parameter name
     */
    void setEnergyScaleParameterName(const std::string& name);
    /**
     * Get the default value of the energy scale parameter (dimensionless).
     */
    double getEnergyScaleDefaultValue() const {
        return energyScaleDefault;
    }
    /**
     * Set the default value of the energy scale parameter (dimensionless; 1 by default).
     */
    void setEnergyScaleDefaultValue(double value);
    /**
     * Request the derivative of the energy with respect to a global parameter: the charge scale
     * or the energy scale parameter. The derivative (kJ/mol per unit of the parameter) is
     * reported by State::getEnergyParameterDerivatives().
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
    struct FromBytes {};
    TorchSOGForce(FromBytes, const std::string& modelBytes, const std::string& file, const std::vector<int>& atomicNumbers,
            int numChannels);
    /**
     * Read the export's metadata: configure the force from it (numChannels = 0) or check it.
     */
    void readMetadata(int requestedChannels);
    /**
     * The Gaussians of the model for the current periodicity.
     */
    void useModelGaussians();
    struct ModelGaussian {
        GaussianInfo gaussian;
        bool kspace;
    };
    std::vector<ModelGaussian> modelGaussians;
    std::vector<int> modelSpecies;
    double modelCutoff = 0.0;
    bool gaussiansFromModel = false;
    std::string file, modelBytes;
    std::vector<int> atomicNumbers, particles, chargeScaledParticles;
    int numChannels;
    double tolerance, chargeScaleDefault, energyScaleDefault;
    bool periodic;
    std::string chargeScaleName, energyScaleName;
    std::vector<std::string> energyParameterDerivatives;
    std::vector<GaussianInfo> gaussians;
};

} // namespace SOGPlugin

#endif /*OPENMM_TORCHSOGFORCE_H_*/
