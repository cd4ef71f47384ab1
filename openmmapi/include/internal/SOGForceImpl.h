#ifndef OPENMM_SOGFORCEIMPL_H_
#define OPENMM_SOGFORCEIMPL_H_

#include "SOGForce.h"
#include "internal/SOGKernelParameters.h"
#include "openmm/Kernel.h"
#include "openmm/Vec3.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ForceImpl.h"
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace SOGPlugin {

/**
 * The grid and kernel parameters of the non-uniform FFT, all derived from the tolerance, the
 * smallest Gaussian width and the box. Every platform uses these same values.
 */
struct SOGGridParameters {
    double kCutoff;     // largest |k| that is kept, measured in 1/nm
    int spreadWidth;    // number of fine-grid points w the spreading kernel covers per dimension
    double beta;        // Kaiser-Bessel shape parameter (dimensionless)
    double upsampling;  // grid points per kept mode and dimension, at least (SOGNufftRule)
    int gridSize[3];    // fine FFT grid n_d along the three box vectors
};

/**
 * The NUFFT's grid upsampling, window shape and error bound for a tolerance
 * (SOGForceImpl::getNufftRule(); docs/design.md section 2.4): with beta = betaPerPoint w the
 * transform's force error is about 10^(errorOffset - w) of the force norm or less on grids of
 * at least upsampling (2K + 1) points per dimension.
 */
struct SOGNufftRule {
    double upsampling;
    double betaPerPoint;
    double errorOffset;
};

/**
 * What the grid planner (SOGForceImpl::calcGridParameters()) needs to know about a force and
 * about the engine that will hold the grids, to choose a grid or refuse one that cannot fit.
 */
struct SOGGridRequest {
    std::string forceName;     // "SOGForce" or "TorchSOGForce", for messages
    double tolerance;          // the relative error tolerance (dimensionless)
    int narrowestIndex;        // the narrowest Gaussian, which sets k_cut: its index,
    double minWidth;           // its width (nm)
    int narrowestChannel;      // and its channel
    int numChannels;           // P; every channel has its own grids
    double bytesPerGridPoint;  // the engine's memory per grid point and channel (bytes)
    double memoryBytes;        // the memory that holds the grids (bytes); 0 means the host's physical memory
};

/**
 * This is the internal implementation of SOGForce. It validates the force and owns the static
 * helpers that choose the NUFFT parameters.
 */
class OPENMM_EXPORT_SOG SOGForceImpl : public OpenMM::ForceImpl {
public:
    SOGForceImpl(const SOGForce& owner);
    ~SOGForceImpl();
    void initialize(OpenMM::ContextImpl& context);
    const SOGForce& getOwner() const {
        return owner;
    }
    void updateContextState(OpenMM::ContextImpl& context, bool& forcesInvalid) {
    }
    double calcForcesAndEnergy(OpenMM::ContextImpl& context, bool includeForces, bool includeEnergy, int groups);
    std::map<std::string, double> getDefaultParameters();
    std::vector<std::string> getKernelNames();
    void updateParametersInContext(OpenMM::ContextImpl& context);
    void getGridParameters(double& kCutoff, int& spreadWidth, int gridSize[3]) const;
    /**
     * Check that a force is usable with a System; throws OpenMMException with a message starting
     * "SOGForce: " otherwise.
     */
    static void validate(const SOGForce& force, const OpenMM::System& system);
    /**
     * Check that updateParametersInContext() may copy a force into a Context whose kernel was
     * built for the given sizes; throws OpenMMException with a message starting "SOGForce: ".
     *
     * @param force         the force with the new parameters
     * @param system        the Context's System
     * @param numParticles  the number of particles when the Context was created
     * @param numGaussians  the number of Gaussians when the Context was created
     * @param tolerance     the tolerance when the Context was created (dimensionless)
     * @param minWidth      the smallest width when the Context was created, measured in nm
     */
    static void validateParameterUpdate(const SOGForce& force, const OpenMM::System& system, int numParticles,
            int numGaussians, double tolerance, double minWidth);
    /**
     * For each particle, 1 if the charge scale parameter multiplies its charges, else 0.
     */
    static std::vector<int> findScaledParticles(const SOGForce& force);
    /**
     * The background integrals B_c of all channels, measured in kJ/mol nm^3/e^2.
     */
    static std::vector<double> getBackgroundIntegrals(const SOGForce& force);
    /**
     * The net-charge background energy E_bg = -sum_c B_c Q_c^2/(2V) with the total charge
     * Q_c = scale*scaledCharge[c] + unscaledCharge[c] of each channel, and its derivative with
     * respect to the charge scale parameter. Every platform evaluates the term with this function.
     *
     * @param integrals        B_c per channel, measured in kJ/mol nm^3/e^2
     * @param scaledCharge     per channel, the total unscaled charge of the scaled particles (e)
     * @param unscaledCharge   per channel, the total charge of the other particles (e)
     * @param scale            the value of the charge scale parameter (dimensionless)
     * @param volume           the box volume, measured in nm^3
     * @param[out] derivative  dE_bg/dscale, measured in kJ/mol
     * @return E_bg, measured in kJ/mol
     */
    static double calcBackgroundEnergy(const std::vector<double>& integrals, const std::vector<double>& scaledCharge,
            const std::vector<double>& unscaledCharge, double scale, double volume, double& derivative);
    /**
     * Check that a System has a box with positive volume and no explicitly non-periodic
     * nonbonded force (a cluster, which a lattice sum would give periodic images it does not
     * have); throws OpenMMException with a message starting "forceName: ".
     */
    static void validatePeriodicSystem(const OpenMM::System& system, const std::string& forceName);
    /**
     * Check the Gaussians and the tolerance of a force with SOGForce's kernel interface
     * (SOGForce or TorchSOGForce); throws OpenMMException with a message starting "forceName: ".
     */
    template <class SOGKernelForce>
    static void validateKernel(const SOGKernelForce& force, const std::string& forceName) {
        if (force.getNumGaussians() == 0)
            throw OpenMM::OpenMMException(forceName + ": no Gaussians were added; call addGaussian() at least once");
        for (int i = 0; i < force.getNumGaussians(); i++) {
            double weight, width;
            int channel;
            force.getGaussianParameters(i, weight, width, channel);
            if (!std::isfinite(weight) || !std::isfinite(width))
                throw OpenMM::OpenMMException(forceName + ": Gaussian " + std::to_string(i) + " has a non-finite weight or width");
            if (width <= 0)
                throw OpenMM::OpenMMException(forceName + ": Gaussian " + std::to_string(i) + " has width " +
                        std::to_string(width) + " nm; widths must be positive");
            if (channel < 0 || channel >= force.getNumChannels())
                throw OpenMM::OpenMMException(forceName + ": Gaussian " + std::to_string(i) + " belongs to channel " +
                        std::to_string(channel) + " but the force has " + std::to_string(force.getNumChannels()) + " channels");
        }
        double tol = force.getTolerance();
        if (!(tol > 1e-10 && tol < 1e-1))
            throw OpenMM::OpenMMException(forceName + ": the tolerance " + std::to_string(tol) + " is outside (1e-10, 1e-1)");
    }
    /**
     * Per channel, the total weight sum_l |w_cl| of its Gaussians (kJ/mol/e^2), for
     * checkChargeMagnitude().
     */
    template <class SOGKernelForce>
    static std::vector<double> calcWeightSums(const SOGKernelForce& force) {
        std::vector<double> sums(force.getNumChannels(), 0.0);
        for (int i = 0; i < force.getNumGaussians(); i++) {
            double weight, width;
            int channel;
            force.getGaussianParameters(i, weight, width, channel);
            if (channel >= 0 && channel < force.getNumChannels())
                sums[channel] += std::fabs(weight);
        }
        return sums;
    }
    /**
     * Refuse charges so large that the energy would overflow (or lose all precision), on every
     * platform: per channel, the charge sum A_c = sum_i |q_ic| (with the charge scale applied)
     * must be at most maxChargeSum and the energy scale sum_c A_c^2 sum_l |w_cl| at most
     * maxEnergyScale. Throws an OpenMMException naming the channel and the numbers otherwise.
     *
     * @param forceName   the force's class name, for messages
     * @param absCharge   per channel, A_c, measured in e
     * @param weightSums  per channel, sum_l |w_cl| (calcWeightSums()), measured in kJ/mol/e^2
     */
    static void checkChargeMagnitude(const std::string& forceName, const std::vector<double>& absCharge,
            const std::vector<double>& weightSums);
    /**
     * Refuse a non-finite value of the charge scale parameter (at evaluation): throws an
     * OpenMMException naming the parameter.
     */
    static void checkChargeScale(const std::string& forceName, const std::string& name, double value);
    /**
     * Refuse a non-finite charge scale (checkChargeScale()), then charges too large at that scale
     * (checkChargeMagnitude() with A_c = |scale| scaledAbs[c] + unscaledAbs[c]).
     *
     * @param forceName    the force's class name, for messages
     * @param scaleName    the charge scale parameter's name
     * @param scale        its value (dimensionless)
     * @param scaledAbs    per channel, sum of |q| over the scaled particles (e)
     * @param unscaledAbs  per channel, sum of |q| over the other particles (e)
     * @param weightSums   per channel, sum_l |w_cl| (calcWeightSums()), measured in kJ/mol/e^2
     */
    static void checkScaledCharges(const std::string& forceName, const std::string& scaleName, double scale,
            const std::vector<double>& scaledAbs, const std::vector<double>& unscaledAbs,
            const std::vector<double>& weightSums);
    /**
     * The largest charge sum per channel sum_i |q_ic| (e): 1e15, so that structure factors
     * squared stay far inside single precision's range.
     */
    static constexpr double maxChargeSum = 1e15;
    /**
     * The largest energy scale sum_c (sum_i |q_ic|)^2 sum_l |w_cl| (kJ/mol): 1e30, 23 orders of
     * magnitude above any molecular energy and 8 below single precision's overflow.
     */
    static constexpr double maxEnergyScale = 1e30;
    /**
     * The channels, Gaussians and tolerance of a force (SOGForce or TorchSOGForce), as the
     * engines take them.
     */
    template <class SOGKernelForce>
    static SOGKernelParameters getKernelParameters(const SOGKernelForce& force) {
        SOGKernelParameters parameters;
        parameters.numChannels = force.getNumChannels();
        parameters.tolerance = force.getTolerance();
        const int numGaussians = force.getNumGaussians();
        parameters.weights.resize(numGaussians);
        parameters.widths.resize(numGaussians);
        parameters.channels.resize(numGaussians);
        for (int i = 0; i < numGaussians; i++)
            force.getGaussianParameters(i, parameters.weights[i], parameters.widths[i], parameters.channels[i]);
        return parameters;
    }
    /**
     * Describe the grid a force (SOGForce or TorchSOGForce) needs, for calcGridParameters().
     *
     * @param force              the force
     * @param forceName          its class name, for messages
     * @param bytesPerGridPoint  the engine's memory per grid point and channel (bytes)
     * @param memoryBytes        the memory that holds the grids (bytes); 0 means the host's physical memory
     */
    template <class SOGKernelForce>
    static SOGGridRequest createGridRequest(const SOGKernelForce& force, const std::string& forceName,
            double bytesPerGridPoint, double memoryBytes = 0.0) {
        SOGGridRequest request;
        request.forceName = forceName;
        request.tolerance = force.getTolerance();
        request.narrowestIndex = -1;
        request.minWidth = INFINITY;
        request.narrowestChannel = 0;
        for (int i = 0; i < force.getNumGaussians(); i++) {
            double weight, width;
            int channel;
            force.getGaussianParameters(i, weight, width, channel);
            if (width < request.minWidth) {
                request.narrowestIndex = i;
                request.minWidth = width;
                request.narrowestChannel = channel;
            }
        }
        request.numChannels = force.getNumChannels();
        request.bytesPerGridPoint = bytesPerGridPoint;
        request.memoryBytes = memoryBytes;
        return request;
    }
    /**
     * Get the smallest Gaussian width of a force (SOGForce or TorchSOGForce), measured in nm.
     */
    template <class SOGKernelForce>
    static double findMinimumWidth(const SOGKernelForce& force) {
        double minWidth = INFINITY;
        for (int i = 0; i < force.getNumGaussians(); i++) {
            double weight, width;
            int channel;
            force.getGaussianParameters(i, weight, width, channel);
            minWidth = std::min(minWidth, width);
        }
        return minWidth;
    }
    /**
     * The largest |k| (1/nm) that matters: beyond it exp(-sigma^2 k^2/4) < tol/10.
     *
     * @param tolerance  the relative error tolerance (dimensionless)
     * @param minWidth   the smallest Gaussian width, measured in nm
     */
    static double calcKCutoff(double tolerance, double minWidth);
    /**
     * Whether a host engine runs its grids, weights and FFTs in single precision: on the CPU
     * platform (single precision, as OpenMM's own CPU PME) when the tolerance is at least
     * 1e-4, so that float round-off (2-4e-6 of the RMS force, measured) stays well below what
     * was asked for; the Reference platform and tighter tolerances use double precision.
     *
     * @param platformName  the name of the platform the kernel runs on
     * @param tolerance     the relative error tolerance (dimensionless)
     */
    static bool useSinglePrecisionHostGrid(const std::string& platformName, double tolerance);
    /**
     * Read an environment variable that chooses between two implementations (for A/B runs): true
     * when it is unset, empty or defaultValue, false when it is otherValue.
     *
     * @param forceName     names the force in the error
     * @param variable      the variable's name, for example "OPENMM_SOG_KSPACE_QUEUE"
     * @throws OpenMMException naming the variable and both values for any other value
     */
    static bool readDefaultChoice(const std::string& forceName, const std::string& variable,
            const std::string& defaultValue, const std::string& otherValue);
    /**
     * The NUFFT rule for a force's tolerance (the NUFFT gets nufftErrorShare of it): the fine
     * grid (upsampling 2, beta = 2.75 w, error 0.21-1.11 of 10^(1.75 - w), measured; the Beatty
     * et al. beta pi sqrt((0.75 w)^2 - 0.8), optimal for the window's values, gives 4-40x
     * larger force errors) or, when the NUFFT's share is at least coarseGridMinTolerance, the
     * coarse grid (upsampling 1.25, beta = 2.3 w, error at most 10^(2.5 - w) for w <= 7 and
     * 0.45 of the NUFFT's share at w = 8, the widest it takes there, measured by
     * bench/calibrate_upsampling.py): the same or one more point per dimension on a grid with
     * 4x fewer points. The torch layer's copy is openmm_sog.nufft.nufft_rule, and
     * tests/plugin/test_grid_rules.py checks that they agree.
     *
     * @param tolerance  the relative error tolerance (dimensionless)
     */
    static SOGNufftRule getNufftRule(double tolerance);
    /**
     * The number of fine-grid points the spreading kernel covers per dimension.
     *
     * @param tolerance  the relative error tolerance (dimensionless)
     */
    static int calcSpreadWidth(double tolerance);
    /**
     * The Kaiser-Bessel shape parameter beta for a spreading width under a tolerance's rule.
     *
     * @param tolerance    the relative error tolerance (dimensionless)
     * @param spreadWidth  the kernel width in fine-grid points
     */
    static double calcKaiserBesselBeta(double tolerance, int spreadWidth);
    static constexpr SOGNufftRule fineGridRule = {2.0, 2.75, 1.75};
    static constexpr SOGNufftRule coarseGridRule = {1.25, 2.3, 2.5};
    static constexpr double coarseGridMinTolerance = 1e-5;
    static constexpr double nufftErrorShare = 0.1;
    static constexpr int minSpreadWidth = 4;
    static constexpr int maxSpreadWidth = 16;
    /**
     * The largest mode index K_d kept along each box vector: |m_d| <= K_d.
     *
     * @param boxVectors   the periodic box vectors, measured in nm
     * @param kCutoff      the largest |k| kept, measured in 1/nm
     * @param[out] maxMode K_d for each box vector
     */
    static void calcMaxModes(const OpenMM::Vec3* boxVectors, double kCutoff, int maxMode[3]);
    /**
     * The reciprocal-space quantities of a box for one evaluation, checking that the modes fit the
     * grid in use (throws OpenMMException "<forceName>: the periodic box grew ..." otherwise; the
     * engines choose a larger grid before they get here).
     *
     * @param forceName     the force's class name, for messages
     * @param boxVectors    the periodic box vectors h (rows), measured in nm
     * @param kCutoff       the largest |k| kept, measured in 1/nm
     * @param upsampling    the grid's upsampling factor (SOGGridParameters::upsampling)
     * @param gridSize      the grid in use along each box vector
     * @param[out] recip    the columns of h^{-1}, measured in 1/nm: fractional coordinate s_d = r.recip[d]
     * @param[out] volume   det h, measured in nm^3
     * @param[out] maxMode  K_d for each box vector
     */
    static void calcReciprocalBox(const std::string& forceName, const OpenMM::Vec3* boxVectors, double kCutoff,
            double upsampling, const int gridSize[3], OpenMM::Vec3 recip[3], double& volume, int maxMode[3]);
    /**
     * Whether the modes a box needs fit a grid (upsampling (2 K_d + 1) <= n_d along every box
     * vector).
     *
     * @param boxVectors  the periodic box vectors, measured in nm
     * @param kCutoff     the largest |k| kept, measured in 1/nm
     * @param upsampling  the grid's upsampling factor (SOGGridParameters::upsampling)
     * @param gridSize    the grid along each box vector
     */
    static bool gridHoldsModes(const OpenMM::Vec3* boxVectors, double kCutoff, double upsampling, const int gridSize[3]);
    /**
     * The smallest even integer >= minimum whose only prime factors are 2, 3 and 5.
     */
    static int findFFTSize(int minimum);
    /**
     * Choose all NUFFT parameters. The grid leaves room for each box vector to grow by
     * growthAllowance (for example under a barostat) before the engine must choose a larger one;
     * the host engine asks for none. Grids that cannot fit are refused (checkGridSize()) before
     * any size is converted to an int.
     *
     * @param boxVectors       the periodic box vectors, measured in nm
     * @param request          the force and the engine's memory
     * @param growthAllowance  relative growth of each box vector the grid must accommodate
     */
    static SOGGridParameters calcGridParameters(const OpenMM::Vec3* boxVectors, const SOGGridRequest& request,
            double growthAllowance = boxGrowthAllowance);
    /**
     * The one limit on grids, on every platform: a grid may have at most maxGridPointsPerChannel
     * points per channel, and its memory (points x channels x request.bytesPerGridPoint) may take
     * at most maxGridMemoryFraction of the memory that holds it (request.memoryBytes, or the host's
     * physical memory). Otherwise this throws an OpenMMException that names the narrowest
     * Gaussian, the grid (n1 x n2 x n3), the memory it would take (GiB) and the remedies.
     *
     * @param request   the force and the engine's memory
     * @param boxVectors the periodic box vectors the grid is for, measured in nm
     * @param gridSize  the grid along each box vector (as doubles, so that no product overflows)
     */
    static void checkGridSize(const SOGGridRequest& request, const OpenMM::Vec3* boxVectors, const double gridSize[3]);
    /**
     * The host's physical memory, measured in bytes (0 if unknown).
     */
    static double getPhysicalMemory();
    /**
     * The largest number of grid points per channel (2^28, for example 645^3): about 20 times
     * the grid of a 50 nm box with 0.3 nm as the narrowest width at tolerance 1e-5, and small
     * enough that grid indices and the FFTs' 32-bit sizes never overflow.
     */
    static constexpr double maxGridPointsPerChannel = 268435456.0;
    /**
     * The largest fraction of the memory holding the grids (host or device) they may take.
     */
    static constexpr double maxGridMemoryFraction = 0.5;
    /**
     * The Kaiser-Bessel spreading kernel phi(z) = I0(beta sqrt(1-z^2)) - 1 for |z| < 1, 0 otherwise.
     *
     * @param z     the distance from the kernel centre in units of its half-width (dimensionless)
     * @param beta  the shape parameter (dimensionless)
     */
    static double calcKernelValue(double z, double beta);
    /**
     * The derivative d phi/dz of the spreading kernel.
     *
     * @param z     the distance from the kernel centre in units of its half-width (dimensionless)
     * @param beta  the shape parameter (dimensionless)
     */
    static double calcKernelDerivative(double z, double beta);
    /**
     * The Fourier transform psihat(omega) = int_{-1}^{1} phi(z) exp(i omega z) dz of the spreading
     * kernel, for |omega| < beta. The deconvolution factor of mode m along a grid of n points is
     * alpha psihat(2 pi m alpha / n) with alpha = w/2.
     *
     * @param omega  the angular frequency (dimensionless)
     * @param beta   the shape parameter (dimensionless)
     */
    static double calcKernelTransform(double omega, double beta);
    /**
     * Relative growth of each box vector's length that the grid chosen at Context creation
     * accommodates (dimensionless).
     */
    static constexpr double boxGrowthAllowance = 0.1;
private:
    const SOGForce& owner;
    OpenMM::Kernel kernel;
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGFORCEIMPL_H_*/
