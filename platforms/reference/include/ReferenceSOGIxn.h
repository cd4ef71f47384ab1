#ifndef OPENMM_REFERENCESOGIXN_H_
#define OPENMM_REFERENCESOGIXN_H_

#include "SOGFFT3D.h"
#include "SOGGridLoops.h"
#include "internal/SOGSpreadingKernel.h"
#include "internal/SOGForceImpl.h"
#include "openmm/Vec3.h"
#include <complex>
#include <memory>
#include <string>
#include <vector>

namespace SOGPlugin {

/**
 * The host (Reference and CPU platform) NUFFT engine, in either precision: what the kernels need
 * of it. Units: positions and box in nm, charges in proton charges, weights in kJ/mol/e^2,
 * widths in nm, energy in kJ/mol, forces in kJ/mol/nm.
 */
class SOGHostEngine {
public:
    virtual ~SOGHostEngine() {
    }
    /**
     * Create the engine for a force.
     *
     * @param request          the force (name, tolerance, narrowest Gaussian, channels); its
     *                         bytesPerGridPoint should be getBytesPerGridPoint(singlePrecision)
     * @param boxVectors       the periodic box vectors to choose the first grid for, measured in nm
     * @param singlePrecision  grids, weights and FFTs in float (SOGForceImpl::useSinglePrecisionHostGrid())
     */
    static std::unique_ptr<SOGHostEngine> create(const SOGGridRequest& request, const OpenMM::Vec3* boxVectors,
            bool singlePrecision);
    /**
     * Create the engine a host platform uses for a SOGForce or TorchSOGForce: in single precision
     * where SOGForceImpl::useSinglePrecisionHostGrid() says so, else in double.
     *
     * @param force         the force (its Gaussians, channels and tolerance)
     * @param forceName     the force's class name, for error messages
     * @param platformName  the platform's name
     * @param boxVectors    the periodic box vectors to choose the first grid for, measured in nm
     */
    template <class SOGKernelForce>
    static std::unique_ptr<SOGHostEngine> createForForce(const SOGKernelForce& force, const std::string& forceName,
            const std::string& platformName, const OpenMM::Vec3* boxVectors) {
        const bool singlePrecision = SOGForceImpl::useSinglePrecisionHostGrid(platformName, force.getTolerance());
        const SOGGridRequest request = SOGForceImpl::createGridRequest(force, forceName, getBytesPerGridPoint(singlePrecision));
        return create(request, boxVectors, singlePrecision);
    }
    /**
     * The engine's memory per grid point and channel (bytes): the real grid and the half spectrum
     * of the kept modes, n_x n_y (K_z + 1) complex values with n_z >= 4 K_z; 12 in double
     * precision, 6 in single.
     */
    static double getBytesPerGridPoint(bool singlePrecision) {
        return (singlePrecision ? 6.0 : 12.0);
    }
    /**
     * Set the Gaussian terms. All three vectors have one entry per term.
     *
     * @param weights   amplitudes, measured in kJ/mol/e^2
     * @param widths    widths, measured in nm
     * @param channels  the channel of each term
     */
    virtual void setGaussians(const std::vector<double>& weights, const std::vector<double>& widths,
            const std::vector<int>& channels) = 0;
    /**
     * Share the work among the threads of a pool (the CPU platform's); null means one thread.
     * Results do not depend on the number of threads, up to round-off in the energy sum.
     */
    virtual void setThreadPool(OpenMM::ThreadPool* pool) = 0;
    /**
     * Compute the energy and, if requested, forces and charge derivatives.
     *
     * @param positions               particle positions, measured in nm
     * @param boxVectors              the three periodic box vectors, measured in nm
     * @param charges                 charges, entry i*P+c for particle i and channel c, in proton charges
     * @param[out] forces             if not null, the forces (kJ/mol/nm) are added to it
     * @param[out] chargeDerivatives  if not null, resized and set to dE/dq (kJ/mol/e), same layout as charges
     * @return the energy, measured in kJ/mol
     */
    virtual double calculate(const std::vector<OpenMM::Vec3>& positions, const OpenMM::Vec3* boxVectors,
            const std::vector<double>& charges, std::vector<OpenMM::Vec3>* forces,
            std::vector<double>* chargeDerivatives) = 0;
    /**
     * The grid in use (chosen for the box of the last evaluation, or the first box).
     */
    virtual const SOGGridParameters& getGrid() const = 0;
};

/**
 * The SOG long-range energy, forces and charge derivatives by a non-uniform FFT on a fine grid in
 * fractional coordinates (see SOGForce for the energy). This is plain maths with no platform
 * glue. Real is the precision of the weights, grids and FFTs: double on the Reference platform,
 * float on the CPU platform where the tolerance allows it; fractional coordinates, the k-space
 * factors' arguments, energies and forces are computed in double precision in both.
 */
template <class Real>
class ReferenceSOGIxn : public SOGHostEngine {
public:
    /**
     * The grid is chosen for the given box with no room for growth: when a later box needs more
     * modes (a barostat), the grid is chosen again (SOGForceImpl::calcGridParameters(), which
     * refuses grids that cannot fit).
     *
     * @param request     the force (name, tolerance, narrowest Gaussian, channels); its
     *                    bytesPerGridPoint should be getBytesPerGridPoint(Real is float)
     * @param boxVectors  the periodic box vectors to choose the first grid for, measured in nm
     */
    ReferenceSOGIxn(const SOGGridRequest& request, const OpenMM::Vec3* boxVectors);
    void setGaussians(const std::vector<double>& weights, const std::vector<double>& widths,
            const std::vector<int>& channels) override;
    void setThreadPool(OpenMM::ThreadPool* pool) override {
        threads = pool;
    }
    double calculate(const std::vector<OpenMM::Vec3>& positions, const OpenMM::Vec3* boxVectors,
            const std::vector<double>& charges, std::vector<OpenMM::Vec3>* forces,
            std::vector<double>* chargeDerivatives) override;
    const SOGGridParameters& getGrid() const override {
        return grid;
    }
private:
    double calcKernelTransform(int channel, double k2) const;
    /**
     * Choose the grid again if the box needs more modes than the current one holds.
     */
    void fitGrid(const OpenMM::Vec3* boxVectors);
    /**
     * Compute modeFactors for this box unless they are already for it.
     */
    void updateModeFactors(const OpenMM::Vec3* boxVectors, const OpenMM::Vec3* recip, double volume, const int* maxMode);
    SOGGridRequest request;     // what the grid is chosen for
    int numChannels;
    SOGGridParameters grid;
    SOGFFT3D<Real> fft;
    SOGSpreadingKernel spreadingKernel; // the spreading weights (w and beta do not change with the grid),
                                        // fitted to Real's round-off
    const SOGGridLoops<Real>& loops;    // the spreading and interpolation loops for this processor
    double weightScale;                 // 1/phi(0): the weights and deconvolution factors are divided by phi(0)
    std::vector<std::vector<double> > channelWeights, channelWidths;
    std::vector<double> selfKernel; // g_c(0), kJ/mol/e^2
    // Work space kept between calls (allocating the grids each time costs page faults): per
    // channel, the spread grid (later the potential grid) and its half spectrum.
    std::vector<std::vector<Real> > grids;
    std::vector<std::vector<std::complex<Real> > > spectra;
    // Per channel and kept mode m_z >= 0 (index ((m_x+K_x)*(2K_y+1) + m_y+K_y)*(K_z+1) + m_z):
    // ghat_c(k)/(V prod_d D_d(m_d)^2), kJ/mol/e^2/nm^3 over the deconvolution's units, zero at m = 0.
    // They depend only on the box, the grid and the Gaussians, so MD at constant volume reuses them.
    std::vector<std::vector<Real> > modeFactors;
    OpenMM::Vec3 factorBox[3];   // the box modeFactors were computed for
    bool modeFactorsValid = false;
    // Per particle in grid order (entry k is the k-th particle of that order):
    std::vector<int> firstIndex;             // first grid index of its support, entry 3*k+d
    std::vector<double> sortedVariables;     // the weight polynomials' variable 2u - 1, entry 3*k+d
    std::vector<Real> weights, derivWeights; // spreading weights and d/ds, entry (3*k+d)*w+t
    std::vector<Real> sortedCharges;         // its charges, entry k*P+c, rounded to Real for spreading
    std::vector<double> sortedExactCharges;  // the same in double, for forces and charge derivatives
    std::vector<double> sortedForces;        // interpolated forces (kJ/mol/nm), entry 3*k+d
    std::vector<double> sortedPotentials;    // interpolated dE/dq (kJ/mol/e), entry k*P+c
    OpenMM::ThreadPool* threads = nullptr;
};

} // namespace SOGPlugin

#endif /*OPENMM_REFERENCESOGIXN_H_*/
