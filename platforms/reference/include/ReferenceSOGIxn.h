#ifndef OPENMM_REFERENCESOGIXN_H_
#define OPENMM_REFERENCESOGIXN_H_

#include "SOGFFT3D.h"
#include "internal/SOGSpreadingKernel.h"
#include "internal/SOGForceImpl.h"
#include "openmm/Vec3.h"
#include <complex>
#include <vector>

namespace SOGPlugin {

/**
 * The SOG long-range energy, forces and charge derivatives in double precision, by a
 * non-uniform FFT on a fine grid in fractional coordinates (see SOGForce for the energy). This
 * is plain maths with no platform glue. Units: positions and box in nm, charges in proton
 * charges, weights in kJ/mol/e^2, widths in nm, energy in kJ/mol, forces in kJ/mol/nm.
 */
class ReferenceSOGIxn {
public:
    /**
     * The grid is chosen for the given box with no room for growth: when a later box needs more
     * modes (a barostat), the grid is chosen again (SOGForceImpl::calcGridParameters(), which
     * refuses grids that cannot fit).
     *
     * @param request     the force (name, tolerance, narrowest Gaussian, channels); its
     *                    bytesPerGridPoint should be ReferenceSOGIxn::bytesPerGridPoint
     * @param boxVectors  the periodic box vectors to choose the first grid for, measured in nm
     */
    ReferenceSOGIxn(const SOGGridRequest& request, const OpenMM::Vec3* boxVectors);
    /**
     * The engine's memory per grid point and channel (bytes): the real grid (8) and the half
     * spectrum of the kept modes, n_x n_y (K_z + 1) complex values with n_z >= 4 K_z (4).
     */
    static constexpr double bytesPerGridPoint = 12.0;
    /**
     * Set the Gaussian terms. All three vectors have one entry per term.
     *
     * @param weights   amplitudes, measured in kJ/mol/e^2
     * @param widths    widths, measured in nm
     * @param channels  the channel of each term
     */
    void setGaussians(const std::vector<double>& weights, const std::vector<double>& widths, const std::vector<int>& channels);
    /**
     * Share the work among the threads of a pool (the CPU platform's); null means one thread.
     * Results do not depend on the number of threads, up to round-off in the energy sum.
     */
    void setThreadPool(OpenMM::ThreadPool* pool) {
        threads = pool;
    }
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
    double calculate(const std::vector<OpenMM::Vec3>& positions, const OpenMM::Vec3* boxVectors,
            const std::vector<double>& charges, std::vector<OpenMM::Vec3>* forces,
            std::vector<double>* chargeDerivatives);
    /**
     * The grid in use (chosen for the box of the last evaluation, or the first box).
     */
    const SOGGridParameters& getGrid() const {
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
    SOGFFT3D fft;
    SOGSpreadingKernel spreadingKernel; // the spreading weights (w and beta do not change with the grid)
    std::vector<std::vector<double> > channelWeights, channelWidths;
    std::vector<double> selfKernel; // g_c(0), kJ/mol/e^2
    // Work space kept between calls (allocating the grids each time costs page faults): per
    // channel, the spread grid (later the potential grid) and its half spectrum.
    std::vector<std::vector<double> > grids;
    std::vector<std::vector<std::complex<double> > > spectra;
    // Per channel and kept mode m_z >= 0 (index ((m_x+K_x)*(2K_y+1) + m_y+K_y)*(K_z+1) + m_z):
    // ghat_c(k)/(V prod_d D_d(m_d)^2), kJ/mol/e^2/nm^3 over the deconvolution's units, zero at m = 0.
    // They depend only on the box, the grid and the Gaussians, so MD at constant volume reuses them.
    std::vector<std::vector<double> > modeFactors;
    OpenMM::Vec3 factorBox[3];   // the box modeFactors were computed for
    bool modeFactorsValid = false;
    std::vector<int> firstIndex;              // first grid index of each particle's support, entry 3*i+d
    std::vector<double> weights, derivWeights; // spreading weights and d/ds, entry (3*i+d)*w+t
    OpenMM::ThreadPool* threads = nullptr;
};

} // namespace SOGPlugin

#endif /*OPENMM_REFERENCESOGIXN_H_*/
