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
 * proton charges) and are converted to OpenMM's here, once. The Gaussians are given in OpenMM's
 * units (kJ/mol/e^2, nm); openmm_sog.openmm_model.create_sognet_force() reads them from the
 * export's metadata. The force always uses periodic boundary conditions.
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
     * @param file           the TorchScript file written by `sognet export`
     * @param atomicNumbers  the atomic number of every particle of the System, in order
     * @param numChannels    the number of latent charge channels P the model returns (at least 1)
     */
    TorchSOGForce(const std::string& file, const std::vector<int>& atomicNumbers, int numChannels = 1);
    /**
     * Create a TorchSOGForce from the bytes of a model file (what getModelBytes() returns). The
     * caller owns the new object.
     *
     * @param modelBytes     the contents of a TorchScript file written by `sognet export`
     * @param atomicNumbers  the atomic number of every particle of the System, in order
     * @param numChannels    the number of latent charge channels P the model returns (at least 1)
     * @param file           where the bytes came from, for getFile() and messages only (may be empty)
     * @return a new TorchSOGForce
     */
    static TorchSOGForce* fromBytes(const std::string& modelBytes, const std::vector<int>& atomicNumbers,
            int numChannels = 1, const std::string& file = "");
    /**
     * Get the path of the file the model was read from, for information: the force does not read it
     * again. Empty for a force created from bytes without a file name.
     */
    const std::string& getFile() const {
        return file;
    }
    /**
     * Get the model: the bytes of the TorchScript file (in Python, a bytes object).
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
     * Get the number of particles (the length of the atomic number list).
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
    struct FromBytes {};
    TorchSOGForce(FromBytes, const std::string& modelBytes, const std::string& file, const std::vector<int>& atomicNumbers,
            int numChannels);
    std::string file, modelBytes;
    std::vector<int> atomicNumbers;
    int numChannels;
    double tolerance;
    std::vector<GaussianInfo> gaussians;
};

} // namespace SOGPlugin

#endif /*OPENMM_TORCHSOGFORCE_H_*/
