#ifndef OPENMM_SOGSPREADINGKERNEL_H_
#define OPENMM_SOGSPREADINGKERNEL_H_

#include "internal/windowsExportSOG.h"
#include <vector>

namespace SOGPlugin {

/**
 * The NUFFT spreading weights of one particle along one axis, phi((x - j)/alpha) for the w grid
 * points j it covers, and their derivatives, as polynomials instead of Bessel series.
 *
 * A particle at grid coordinate x (in grid spacings) covers j = j0 ... j0+w-1 with
 * j0 = ceil(x - alpha), alpha = w/2. Its offset u = j0 - (x - alpha) lies in [0, 1), and weight t
 * is phi(z_t) with z_t = 1 - (u + t)/alpha. Each of the w functions u -> phi(z_t), and likewise
 * phi'(z_t), is smooth (phi(z) = I0(beta sqrt(1 - z^2)) - 1 is an entire function of z), so a
 * polynomial in u of modest degree reproduces it to round-off; the degree is chosen when the
 * object is built, by checking the fit against the series (SOGForceImpl::calcKernelValue()).
 * Evaluating all w polynomials at one u is a short loop over t that vectorises, where the series
 * cost a chain of divisions per weight. The host engine evaluates them here; the Common kernel
 * gets the coefficients (getCoefficients()) compiled into its source.
 */
class OPENMM_EXPORT_SOG SOGSpreadingKernel {
public:
    /**
     * @param width         w, the number of grid points covered per axis (at most 16)
     * @param beta          the kernel's shape parameter
     * @param fitTolerance  the largest error accepted, relative to the kernel's peak (values) or
     *                      its largest derivative; the lowest degree that meets it is used
     */
    SOGSpreadingKernel(int width, double beta, double fitTolerance = 1e-14);
    /**
     * The fit tolerance for weights rounded to single or double precision: their round-off
     * (2e-8 relative, float's 6e-8 halved to leave it the whole error; 1e-14 in double). Every
     * engine that fits for a precision uses this one rule.
     */
    static double getRoundOffTolerance(bool singlePrecision) {
        return (singlePrecision ? 2e-8 : 1e-14);
    }
    /**
     * Compute the weights of a particle with offset u in [0, 1).
     *
     * @param u                  j0 - (x - alpha), see the class description
     * @param[out] values        w values phi(z_t)
     * @param[out] derivatives   if not null, w values dphi/dz at z_t
     */
    void evaluate(double u, double* values, double* derivatives) const;
    /**
     * The largest difference from the series over a dense sample of offsets, relative to the
     * kernel's peak (values) or to the largest derivative (derivatives), when the object was built.
     */
    double getFitError() const {
        return fitError;
    }
    /**
     * The polynomial degree of the values (derivative = false) or of the derivatives.
     */
    int getDegree(bool derivative) const {
        return (derivative ? derivativeDegree : valueDegree);
    }
    /**
     * The monomial coefficients in v = 2u - 1: entry k*w + t is that of v^k in weight t.
     */
    const std::vector<double>& getCoefficients(bool derivative) const {
        return (derivative ? derivativeCoefficients : valueCoefficients);
    }
private:
    // Monomial coefficients in v = 2u - 1 in [-1, 1): entry k*width + t for power k.
    static std::vector<double> fit(int width, int degree, double alpha, double beta, bool derivative);
    static double maxError(const std::vector<double>& coefficients, int width, int degree, double alpha, double beta,
            bool derivative, double scale);
    int width, valueDegree, derivativeDegree;
    std::vector<double> valueCoefficients, derivativeCoefficients;
    double fitError;
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGSPREADINGKERNEL_H_*/
